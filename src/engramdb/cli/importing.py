"""``engram import``: LoCoMo, LongMemEval, JSONL chat, or an engramdb export."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from engramdb.cli.options import db_options, scope_options
from engramdb.cli.output import emit_json, want_json
from engramdb.engine.memory import Memory
from engramdb.formats.base import Batch
from engramdb.formats.detect import FORMATS, parse_file

PROGRESS_EVERY_S = 5.0  # piped runs: a progress line at least this often...
PROGRESS_STEP = 0.1  # ...and at every tenth of the way
SHOWN_SCOPES = 10  # the import summary names this many scopes; `engram scopes` lists all


@click.command(name="import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@db_options
@scope_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True)
@click.option("--limit", type=click.IntRange(1), default=None, help="Import only the first N sessions.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait until everything imported is embedded (--no-wait: leave it to `engram worker`).")
def import_(path: Path, db: str | None, embedder: str | None, as_json: bool, user_id: str | None,
            agent_id: str | None, session_id: str | None, fmt: str, limit: int | None, wait: bool) -> None:
    """Import a conversation file. The whole file is checked before anything is written; what is
    written is keyword-searchable at once and found by meaning once embedded."""
    from engramdb.cli.pipeline import check_report, flush_with_progress

    parsed = parse_file(path, fmt=fmt, user_id=user_id, agent_id=agent_id, session_id=session_id)
    with Memory(db, embedder=embedder, close_timeout=0) as mem:
        started = time.monotonic()
        if parsed.format == "export":
            written = mem.import_jsonl(parsed.export_lines, source=str(path))
            summary = {"format": "export", "records": written, "scopes": export_scopes(parsed.export_lines)}
        else:
            batches = parsed.batches[:limit] if limit else parsed.batches
            summary = {"format": parsed.format, "records": write_batches(mem, batches),
                       "sessions": len(batches), "scopes": batch_scopes(batches)}
        summary["written_s"] = round(time.monotonic() - started, 3)
        report = flush_with_progress(mem) if wait else None
        summary["embedded_s"] = None if report is None else round(report.seconds, 3)
        summary["queued"] = mem.pipeline.store.open_jobs()
    if want_json(as_json):
        emit_json([summary])
    else:
        print_summary(summary)
    if report is not None:
        check_report(report)


def print_summary(summary: dict[str, Any]) -> None:
    found = summary["scopes"]
    click.echo(f"imported {summary['records']} memories ({summary['format']}) into {len(found)} "
               f"scope{'' if len(found) == 1 else 's'}:")
    for s in found[:SHOWN_SCOPES]:
        click.echo(f"  {_flags(s) or '(sessions only)'}: {s['memories']} memories, {s['sessions']} sessions")
    if len(found) > SHOWN_SCOPES:
        click.echo(f"  ... and {len(found) - SHOWN_SCOPES} more")
    if "written_s" in summary:
        click.echo(f"written in {summary['written_s']:.2f} s (keyword-searchable); " + (
            f"embedded in {summary['embedded_s']:.2f} s more" if summary.get("embedded_s") is not None else
            f"{summary['queued']} jobs queued for embedding: `engram flush` or `engram worker`"))
    example = next((_flags(s) for s in found if _flags(s)), "--user USER")
    click.echo(f"search with: engram search QUESTION {example}   (engram scopes lists every scope)")


def _flags(scope: dict[str, Any]) -> str:
    return " ".join(f"--{key} {scope[field]}" for key, field in (("user", "user_id"), ("agent", "agent_id"))
                    if scope[field] is not None)


def batch_scopes(batches: Sequence[Batch]) -> list[dict[str, Any]]:
    """What an import wrote, per (user, agent): memories and sessions."""
    memories: Counter[tuple[str | None, str | None]] = Counter()
    sessions: dict[tuple[str | None, str | None], set[str | None]] = {}
    for b in batches:
        key = (b.user_id, b.agent_id)
        memories[key] += len(b.messages)
        sessions.setdefault(key, set()).add(b.session_id)
    return [{"user_id": u, "agent_id": a, "memories": n, "sessions": len(sessions[(u, a)] - {None})}
            for (u, a), n in sorted(memories.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1])))]


def export_scopes(lines: Sequence[str]) -> list[dict[str, Any]]:
    """The scopes an export's record lines carry (distinct memory ids per (user, agent))."""
    batches: dict[tuple[str | None, str | None, str], Batch] = {}
    for line in lines:
        item = json.loads(line) if line.strip() else None
        if isinstance(item, dict) and item.get("type") == "record":
            key = (item.get("user_id"), item.get("agent_id"), str(item.get("id")))
            batches.setdefault(key, Batch([{}], key[0], key[1], item.get("session_id")))
    return batch_scopes(list(batches.values()))


def write_batches(mem: Memory, batches: list[Batch], *, show: bool | None = None) -> int:
    """One transaction per session; a progress bar on a terminal, progress lines when piped (stderr)."""
    total = sum(len(b.messages) for b in batches)
    show = sys.stderr.isatty() if show is None else show
    if not show:
        return mem.add_many(batches, on_written=progress_lines(total, lambda line: click.echo(line, err=True)))
    with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True) as bar:
        task = bar.add_task("import", total=total)
        written = mem.add_many(batches, on_written=lambda b, recs: bar.advance(task, len(b.messages)))
    return written


def progress_lines(total: int, say: Callable[[str], None],
                   clock: Callable[[], float] = time.monotonic) -> Callable[[Batch, Any], None]:
    """An ``on_written`` callback saying "imported N/TOTAL turns" every tenth and every few seconds."""
    done = said = 0
    at = clock()

    def on_written(batch: Batch, records: Any) -> None:
        nonlocal done, said, at
        done += len(batch.messages)
        now = clock()
        if done == total or done - said >= PROGRESS_STEP * total or now - at >= PROGRESS_EVERY_S:
            say(f"imported {done}/{total} turns")
            said, at = done, now

    return on_written
