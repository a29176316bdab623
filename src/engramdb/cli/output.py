"""Output: JSON lines when piped or asked, a readable table on a terminal."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engramdb.core.models import MemoryRecord


def want_json(as_json: bool) -> bool:
    return as_json or not sys.stdout.isatty()


def emit_json(items: Iterable[dict[str, Any]]) -> None:
    for item in items:
        sys.stdout.write(json.dumps(item, ensure_ascii=False, default=str) + "\n")


def short(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def records_table(records: Sequence[MemoryRecord], title: str | None = None,
                  scores: Sequence[float] | None = None) -> None:
    table = Table(title=title, show_lines=False)
    if scores is not None:
        table.add_column("score", justify="right")
    table.add_column("id", no_wrap=True, min_width=26)  # ids are for copying into show/history/delete
    for col in ("when", "kind", "who"):
        table.add_column(col, overflow="ellipsis")
    table.add_column("content", overflow="fold", ratio=1)
    for i, rec in enumerate(records):
        row = [rec.id, rec.event_time.strftime("%Y-%m-%d %H:%M"), rec.kind.value,
               rec.speaker or rec.role or "", short(rec.content)]
        if scores is not None:
            row.insert(0, f"{scores[i]:.3f}")
        table.add_row(*row)
    Console().print(table)


def print_kv(pairs: dict[str, Any]) -> None:
    console = Console()
    for key, value in pairs.items():
        console.print(f"[bold]{key}[/bold]: {escape(str(value))}", highlight=False, soft_wrap=True)
