"""``engram import``: LoCoMo, LongMemEval, JSONL chat, or an engramdb export."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from engramdb.cli.options import db_options, scope_options
from engramdb.cli.output import emit_json, want_json
from engramdb.engine.memory import Memory
from engramdb.formats.base import Batch
from engramdb.formats.detect import FORMATS, parse_file


@click.command(name="import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@db_options
@scope_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True)
@click.option("--limit", type=click.IntRange(1), default=None, help="Import only the first N sessions.")
def import_(path: Path, db: str | None, embedder: str | None, as_json: bool, user_id: str | None,
            agent_id: str | None, session_id: str | None, fmt: str, limit: int | None) -> None:
    """Import a conversation file. The whole file is checked before anything is written."""
    parsed = parse_file(path, fmt=fmt, user_id=user_id, agent_id=agent_id, session_id=session_id)
    with Memory(db, embedder=embedder) as mem:
        if parsed.format == "export":
            written = mem.import_jsonl(parsed.export_lines, source=str(path))
            summary = {"format": "export", "records": written}
        else:
            batches = parsed.batches[:limit] if limit else parsed.batches
            summary = {"format": parsed.format, "records": write_batches(mem, batches),
                       "sessions": len(batches)}
    if want_json(as_json):
        emit_json([summary])
    else:
        click.echo(f"imported {summary['records']} memories ({summary['format']})")


def write_batches(mem: Memory, batches: list[Batch], *, show: bool | None = None) -> int:
    """One transaction per session; a progress bar on a terminal (stderr)."""
    total = sum(len(b.messages) for b in batches)
    show = sys.stderr.isatty() if show is None else show
    with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  disable=not show, transient=True) as bar:
        task = bar.add_task("import", total=total)
        written = mem.add_many(batches, on_written=lambda b, recs: bar.advance(task, len(b.messages)))
    return written
