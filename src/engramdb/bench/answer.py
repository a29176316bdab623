"""Answer quality with an LLM reader and an LLM judge (LoCoMo "J" protocol).

For every category 1-4 question, a reader model answers from the packed
context a method returned within a budget; a judge model compares the answer
with the gold answer and returns ``{"label": "CORRECT"}`` or ``{"label": "WRONG"}``.
The prompts follow the protocol used by the published LoCoMo numbers (a short
answer from memories; a generous judge that accepts the same topic or the same
date in another format), in our own words. Accuracy is reported as mean ± std
over ``runs`` repetitions of the whole answer-and-judge pass.

This measures the reader as much as retrieval: it is not comparable with
recall, and only comparable with other systems' accuracy when reader, judge
and prompts match.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engramdb.bench.common import percentiles
from engramdb.bench.runner import Answered, progress_bar
from engramdb.core.ports import LLM, ChatMessage, Completion

ANSWER_SYSTEM = (
    "You are a memory assistant. You answer questions about past conversations using only the memories "
    "you are given."
)
ANSWER_PROMPT = """Memories from the conversations, oldest first. Each line is [date] speaker: what was said.

{context}

Question: {question}

How to answer:
- Use only the memories above. Read them all; the answer may be spread over several lines.
- When memories contradict each other, trust the most recent one.
- A memory that says "last year", "yesterday" or "next month" is relative to the date of that memory:
  turn it into the actual date, month or year.
- A photo someone shares is described in brackets; its description counts as a memory.
- Answer in a few words (at most about ten), with no explanation.

Answer:"""

JUDGE_PROMPT = """You will label a generated answer to a question as CORRECT or WRONG.

You are given a question (one person asking about another person, based on their past conversations), \
the gold answer (the ground truth, usually short) and a generated answer.

Grade generously. A generated answer that is longer than the gold answer, or phrased differently, is CORRECT \
as long as it refers to the same thing as the gold answer. For questions about time, the gold answer is a date, \
month or year: a generated answer that refers to the same date or period is CORRECT even in another format \
("May 7th" and "7 May") or as a relative expression that resolves to it. An answer about a different thing, \
a different time, or one that says it does not know is WRONG.

Question: {question}
Gold answer: {gold}
Generated answer: {generated}

Think in one short sentence, then give the label. Never write both labels.
Return only a JSON object whose key "label" is "CORRECT" or "WRONG"."""

NO_MEMORIES = "(no memories were retrieved)"
_LABEL = re.compile(r'"label"\s*:\s*"(CORRECT|WRONG)"', re.IGNORECASE)


@dataclass(frozen=True)
class AnswerSetup:
    reader: LLM
    judge: LLM
    runs: int = 1
    budget: int = 1000
    methods: tuple[str, ...] = ("engramdb",)


@dataclass(frozen=True)
class AnswerTask:
    """One question to answer; ``gold`` is read by the judge step only."""

    qid: str
    group: str
    question: str
    gold: str


def answer(reader: LLM, question: str, context: str) -> Completion:
    messages: list[ChatMessage] = [
        {"role": "system", "content": ANSWER_SYSTEM},
        {"role": "user", "content": ANSWER_PROMPT.format(context=context.strip() or NO_MEMORIES, question=question)},
    ]
    return reader.complete(messages, temperature=0.0, max_tokens=64)


def judge(judge_llm: LLM, question: str, gold: str, generated: str) -> bool | None:
    """True (CORRECT), False (WRONG), or None when the judge's reply holds no usable label."""
    prompt = JUDGE_PROMPT.format(question=question, gold=gold, generated=generated.strip())
    reply = judge_llm.complete([{"role": "user", "content": prompt}], temperature=0.0, max_tokens=128,
                               json_mode=True)
    return parse_label(reply.text)


def parse_label(text: str) -> bool | None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict) and str(data.get("label", "")).upper() in ("CORRECT", "WRONG"):
        return str(data["label"]).upper() == "CORRECT"
    found = _LABEL.search(text)
    if found:
        return found.group(1).upper() == "CORRECT"
    has_correct, has_wrong = "CORRECT" in text.upper(), "WRONG" in text.upper()
    if has_correct != has_wrong:
        return has_correct
    return None


def run_answers(setup: AnswerSetup, tasks: Sequence[AnswerTask], results: Mapping[str, Sequence[Answered]],
                index: Mapping[str, int], *, progress: bool = False) -> dict[str, Any]:
    """Answer and judge every task with each method's packed context; aggregate over runs."""
    out: dict[str, Any] = {"reader": setup.reader.model_id, "judge": setup.judge.model_id,
                           "budget_tokens": setup.budget, "runs": setup.runs, "methods": {}}
    methods = [m for m in setup.methods if m in results]
    with progress_bar(progress) as bar:
        task_bar = bar.add_task("answer", total=len(methods) * setup.runs * len(tasks))
        for method in methods:
            per_run: list[dict[str, bool]] = []
            latencies: list[float] = []
            unparsed = 0
            for _ in range(setup.runs):
                labels: dict[str, bool] = {}
                for t in tasks:
                    got = results[method][index[t.qid]]
                    reply = answer(setup.reader, t.question, got.context or "")
                    latencies.append(reply.latency_ms)
                    verdict = judge(setup.judge, t.question, t.gold, reply.text)
                    unparsed += verdict is None
                    labels[t.qid] = bool(verdict)  # a judge reply without a label counts as WRONG
                    bar.advance(task_bar)
                per_run.append(labels)
            tokens = [results[method][index[t.qid]].context_tokens.get(setup.budget, 0) for t in tasks]
            out["methods"][method] = {
                **aggregate(per_run, {t.qid: t.group for t in tasks}),
                "unlabeled_judgments": unparsed,
                "context_tokens_mean": round(sum(tokens) / len(tokens), 1) if tokens else 0.0,
                "reader_latency": percentiles(latencies),
            }
    return out


def aggregate(per_run: Sequence[Mapping[str, bool]], groups: Mapping[str, str]) -> dict[str, Any]:
    """Accuracy per run, then mean and std (sample std; 0 for one run) overall and per group."""
    names = ["overall", *sorted(set(groups.values()))]
    out: dict[str, Any] = {}
    for name in names:
        accs = []
        n = 0
        for labels in per_run:
            members = [q for q in labels if name == "overall" or groups[q] == name]
            n = len(members)
            if members:
                accs.append(sum(labels[q] for q in members) / n)
        if not accs:
            continue
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        out[name] = {"n": n, "accuracy_mean": round(statistics.fmean(accs), 4), "accuracy_std": round(std, 4),
                     "per_run": [round(a, 4) for a in accs]}
    return {"accuracy": out}
