"""LoCoMo conversations (Maharana et al., 2024).

Only the dialogue is imported: speakers, dates, text and the captions of
shared photos. The hindsight annotations (session_summary, observation,
event_summary) and the QA are never imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engramdb.core.errors import ImportFormatError, ValidationError
from engramdb.core.timeparse import parse_datetime
from engramdb.formats.base import Batch, need

_SESSION = re.compile(r"^session_(\d+)$")


@dataclass(frozen=True)
class LocomoTurn:
    dia_id: str
    speaker: str
    content: str
    session: int
    timestamp: str


def is_locomo(data: Any) -> bool:
    return isinstance(data, list) and bool(data) and isinstance(data[0], dict) and "conversation" in data[0]


def turn_content(turn: dict[str, Any]) -> str:
    """The turn's text plus the caption of a shared photo (the caption often holds the answer)."""
    text = str(turn.get("text") or "").strip()
    caption = turn.get("blip_caption")
    if caption:
        text = f"{text} [shares a photo: {str(caption).strip()}]".strip()
    return text


def conversation_turns(sample: dict[str, Any], path: Path, where: str) -> list[LocomoTurn]:
    conv = need(sample, "conversation", dict, where, path)
    numbers = sorted(int(m.group(1)) for k in conv if (m := _SESSION.match(k)))
    turns: list[LocomoTurn] = []
    for n in numbers:
        session = conv[f"session_{n}"]
        if not isinstance(session, list) or not session:
            continue
        when = need(conv, f"session_{n}_date_time", str, f"{where} session {n}", path)
        try:
            parse_datetime(when)
        except ValidationError as exc:
            raise ImportFormatError(f"{where} session {n}: {exc}", path=str(path)) from None
        for i, turn in enumerate(session):
            tw = f"{where} session {n} turn {i}"
            speaker = need(turn, "speaker", str, tw, path)
            content = turn_content(turn)
            if not content:
                continue
            turns.append(LocomoTurn(str(turn.get("dia_id", f"D{n}:{i + 1}")), speaker, content, n, when))
    return turns


def locomo_batches(data: Any, path: Path, *, user_id: str | None, agent_id: str | None) -> list[Batch]:
    if not isinstance(data, list):
        raise ImportFormatError("a LoCoMo file is a JSON list of samples", path=str(path))
    batches: list[Batch] = []
    for idx, sample in enumerate(data):
        where = f"sample {idx}"
        sample_id = str(need(sample, "sample_id", str, where, path))
        conv = need(sample, "conversation", dict, where, path)
        speaker_a = conv.get("speaker_a")
        by_session: dict[int, list[LocomoTurn]] = {}
        for t in conversation_turns(sample, path, f"{where} ({sample_id})"):
            by_session.setdefault(t.session, []).append(t)
        for n, turns in by_session.items():
            messages = [{
                "content": t.content,
                "speaker": t.speaker,
                "role": "user" if t.speaker == speaker_a else "other",
                "timestamp": t.timestamp,
                "metadata": {"dia_id": t.dia_id, "source": "locomo"},
            } for t in turns]
            session_id = f"{sample_id}:session_{n}" if user_id else f"session_{n}"
            batches.append(Batch(messages, user_id or sample_id, agent_id, session_id))
    return batches
