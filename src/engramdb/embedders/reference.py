"""Built-in reference texts for checking a derived (quantised) model against its source.

Conversational turns of the kinds a memory holds: short replies, facts with
names, dates and numbers, plans, long multi-sentence turns, an assistant
answer. Written for this check (no benchmark text), so the check never depends
on data outside the package.

The thresholds were set from measurement (docs/embedders.md): the per-channel
int8 model reaches a mean cosine of about 0.99 and a minimum of about 0.97 to
the source on these texts and on 3,000 LoCoMo turns and sentence keys; a
per-tensor quantisation, which lost recall, has a minimum near 0.78.
"""

from __future__ import annotations

import numpy as np

from engramdb.core.ports import Matrix

MIN_MEAN_COSINE = 0.98
MIN_COSINE = 0.93

TEXTS: tuple[str, ...] = (
    "Thanks!",
    "Sounds great, see you then.",
    "My cat is called Pimenta and she hates the vacuum cleaner.",
    "I adopted a kitten from the shelter last Saturday.",
    "We shipped the robot arm to Porto on 3 March 2024.",
    "The stock market fell sharply today after the rate decision.",
    "I'm allergic to peanuts, so please leave them out of the recipe.",
    "My sister Ana moved to Berlin for a job at a solar energy startup.",
    "I started running in January and finished my first 10k in 52 minutes.",
    "Can you remind me what time the dentist appointment is on Thursday?",
    "Our flight to Tokyo leaves at 7:40 am from gate B12.",
    "I switched from the night shift to mornings, so I'm up at five now.",
    "Yesterday I painted the living room a pale green; it took two coats.",
    "Melanie signed up for a pottery class that meets every Wednesday evening.",
    "We are thinking about getting solar panels, but the quote was 11,000 euros.",
    "I finally read the book you recommended and loved the ending.",
    "Caroline went to an LGBTQ support group meeting and said it was really powerful.",
    "The kids made a volcano for the science fair and won second place.",
    "Remember that I prefer window seats and vegetarian meals on long flights.",
    "I've been learning to play the violin for about eight months now.",
    "Honestly, the last few weeks have been exhausting, but things are getting better.",
    "My new phone number ends in 4471, the old one no longer works.",
    "We celebrated our tenth wedding anniversary with a trip to the coast.",
    "He told me the project deadline moved from June to the end of September.",
    "I think the blue one is nicer, but the red one was cheaper.",
    "To reset the router, hold the button on the back for ten seconds and wait for the light to blink.",
    "Yep, taking care of ourselves is vital. I'm off to go swimming with the kids. Talk to you soon!",
    "Wow, that's amazing! I had no idea you could paint like that. How long have you been doing it?",
    "I went hiking in the mountains with friends last weekend. We camped near a lake, cooked over a fire, "
    "and saw a family of deer in the morning. It was the most relaxing weekend I've had in months.",
    "The doctor said my blood pressure is fine now, but I should keep cutting back on salt and coffee, "
    "and come back for another check in six months.",
    "Here is a summary of your options: the annual plan costs less per month but cannot be cancelled, "
    "while the monthly plan can be stopped at any time. Given that you travel a lot, the monthly plan "
    "is probably the better fit for you.",
    "I used to live in Lisbon, then Madrid for three years, and now I'm back home near my parents. "
    "Moving so often was fun, but I missed having a garden. This spring I planted tomatoes, basil and "
    "strawberries, and the strawberries are already turning red.",
)


def cosine_report(source: Matrix, derived: Matrix) -> dict[str, float]:
    """Mean and minimum row cosine of two matrices of unit rows."""
    cos = np.sum(np.asarray(source, dtype=np.float64) * np.asarray(derived, dtype=np.float64), axis=1)
    return {"cosine_mean": round(float(cos.mean()), 5), "cosine_min": round(float(cos.min()), 5)}
