"""LongMemEval haystacks (Wu et al., 2025): one scope per question.

``has_answer`` flags, answers and answer session ids are never imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engramdb.core.errors import ImportFormatError, ValidationError
from engramdb.core.timeparse import parse_datetime
from engramdb.formats.base import Batch, need


def is_longmemeval(data: Any) -> bool:
    return isinstance(data, list) and bool(data) and isinstance(data[0], dict) and "haystack_sessions" in data[0]


def longmemeval_batches(data: Any, path: Path, *, user_id: str | None, agent_id: str | None) -> list[Batch]:
    if not isinstance(data, list):
        raise ImportFormatError("a LongMemEval file is a JSON list of questions", path=str(path))
    batches: list[Batch] = []
    for idx, item in enumerate(data):
        where = f"question {idx}"
        qid = str(need(item, "question_id", str, where, path))
        sessions = need(item, "haystack_sessions", list, where, path)
        dates = need(item, "haystack_dates", list, where, path)
        sids = need(item, "haystack_session_ids", list, where, path)
        if not len(sessions) == len(dates) == len(sids):
            raise ImportFormatError(f"{where}: haystack sessions, dates and ids differ in length", path=str(path))
        for sid, date, turns in zip(sids, dates, sessions, strict=True):
            batch = _session(turns, str(sid), date, path, f"{where} session {sid}")
            if batch:
                batches.append(Batch(batch, user_id or qid, agent_id, str(sid)))
    return batches


def _session(turns: Any, sid: str, date: Any, path: Path, where: str) -> list[dict[str, Any]]:
    try:
        parse_datetime(date)
    except ValidationError as exc:
        raise ImportFormatError(f"{where}: {exc}", path=str(path)) from None
    if not isinstance(turns, list):
        raise ImportFormatError(f"{where}: a session is a list of turns", path=str(path))
    messages = []
    for j, turn in enumerate(turns):
        role = need(turn, "role", str, f"{where} turn {j}", path)
        content = need(turn, "content", str, f"{where} turn {j}", path)
        if content.strip():
            messages.append({"role": role, "content": content, "timestamp": date,
                             "metadata": {"turn": j, "source": "longmemeval"}})
    return messages
