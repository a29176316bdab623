"""``engram worker``, ``engram flush``, ``engram status`` and ``engram jobs``: the background pipeline."""

from __future__ import annotations

import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from engramdb.cli.options import db_options, scope_options
from engramdb.cli.output import emit_json, print_kv, want_json
from engramdb.core.errors import EngramError
from engramdb.core.jobs import FlushReport, QueueStatus
from engramdb.core.models import Scope
from engramdb.engine.memory import Memory
from engramdb.pipeline.worker import WorkerOptions

PROGRESS_EVERY_S = 5.0  # piped flushes print a progress line this often


@click.command()
@click.option("--db", envvar="ENGRAM_DB", default=None, metavar="PATH",
              help="Database file (default: the user data dir; env ENGRAM_DB).")
@click.option("--embedder", envvar="ENGRAM_EMBEDDER", default=None, help="local (default), hash[:DIM] or openai:MODEL.")
@click.option("--batch", type=click.IntRange(1, 10_000), default=64, show_default=True,
              help="Memories claimed (and embedded together) per batch.")
@click.option("--lease", type=click.FloatRange(min=0.1), default=120.0, show_default=True,
              help="Seconds a claim holds before another worker may take the jobs over.")
@click.option("--max-attempts", type=click.IntRange(1), default=5, show_default=True)
@click.option("--backoff", type=click.FloatRange(min=0.001), default=2.0, show_default=True,
              help="Seconds before the first retry of a failed batch (doubling after).")
@click.option("--idle-exit", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Exit after the queue has been empty this long (default: run until stopped).")
def worker(db: str | None, embedder: str | None, batch: int, lease: float, max_attempts: int, backoff: float,
           idle_exit: float | None) -> None:
    """Run the background pipeline as a process of its own (several may share a database).
    SIGTERM or Ctrl-C stops it after the batch in hand."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    options = WorkerOptions(batch=batch, lease_s=lease, max_attempts=max_attempts, backoff_s=backoff)
    started = time.monotonic()
    with Memory(db, embedder=embedder, create=False, worker=options, close_timeout=0) as mem:
        click.echo(f"engram worker: working on {db or 'the default database'} (batch {batch})", err=True)
        result = mem.pipeline.work(stop, idle_exit_s=idle_exit)
    click.echo(f"engram worker: stopped after {time.monotonic() - started:.1f} s: {result.done} jobs done, "
               f"{result.failed} failed, {result.retried} to retry", err=True)


@click.command()
@db_options
@scope_options
@click.option("--timeout", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Give up waiting after this long (the rest stays queued).")
def flush(db: str | None, embedder: str | None, as_json: bool, user_id: str | None, agent_id: str | None,
          session_id: str | None, timeout: float | None) -> None:
    """Do (or wait for) every queued job of the database or a scope: afterwards every memory is
    found by meaning too. Exits 1 if jobs failed or are left after --timeout."""
    with Memory(db, embedder=embedder, create=False) as mem:
        report = flush_with_progress(mem, timeout=timeout, user_id=user_id, agent_id=agent_id, session_id=session_id)
        # jobs that had failed before this flush count too: their memories are not embedded
        failed = mem.status(user_id=user_id, agent_id=agent_id, session_id=session_id).failed
        report = FlushReport(report.done, max(report.failed, failed), report.remaining, report.seconds)
    if want_json(as_json):
        emit_json([report.to_dict()])
    else:
        print_kv({"done": report.done, "failed": report.failed, "remaining": report.remaining,
                  "seconds": round(report.seconds, 2)})
    check_report(report)


def flush_with_progress(mem: Memory, *, timeout: float | None = None, **scope: Any) -> FlushReport:
    """``Memory.flush`` with a progress bar on a terminal, a line every few seconds when piped."""
    fields = {k: v for k, v in scope.items() if v is not None}
    total = mem.pipeline.store.open_jobs(Scope(**fields) if fields else None)
    if not total:
        return mem.flush(timeout=timeout, **scope)
    console = Console(stderr=True)
    if console.is_terminal:
        columns = (TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("flush", total=total)
            return mem.flush(timeout=timeout, on_progress=lambda left: bar.update(task, completed=total - left),
                             **scope)
    last = [time.monotonic()]

    def line(left: int) -> None:
        if time.monotonic() - last[0] >= PROGRESS_EVERY_S:
            last[0] = time.monotonic()
            click.echo(f"engram: embedding: {total - left}/{total} jobs done", err=True)

    return mem.flush(timeout=timeout, on_progress=line, **scope)


def check_report(report: FlushReport) -> None:
    """Failed or leftover jobs make the command fail, in one line."""
    if report.failed:
        raise EngramError(f"{report.failed} jobs failed for good; see `engram jobs --state failed` and retry "
                          "them with `engram jobs --retry`")
    if report.remaining:
        raise EngramError(f"{report.remaining} jobs are still queued after the timeout; run `engram flush` "
                          "again or an `engram worker`")


@click.command()
@db_options
@scope_options
def status(db: str | None, embedder: str | None, as_json: bool, user_id: str | None, agent_id: str | None,
           session_id: str | None) -> None:
    """The background pipeline: pending, running and failed jobs per stage, the age of the
    oldest pending job, and recent throughput."""
    with Memory(db, embedder=embedder, create=False) as mem:
        state = mem.status(user_id=user_id, agent_id=agent_id, session_id=session_id)
    if want_json(as_json):
        emit_json([state.to_dict()])
        return
    print_status(state)


def print_status(state: QueueStatus) -> None:
    data = state.to_dict()
    table = Table(title="pipeline")
    for column in ("stage", "pending", "running", "failed", "oldest pending", "done (1 min / 1 h)", "jobs/s"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for s in state.stages:
        age = "" if s.oldest_pending is None else f"{(state.at - s.oldest_pending).total_seconds():.1f} s ago"
        rate = s.jobs_per_second
        table.add_row(s.stage, str(s.pending), str(s.running), str(s.failed), age,
                      f"{s.done_last_minute} / {s.done_last_hour}", "" if rate is None else f"{rate:.1f}")
    Console().print(table)
    if not state.stages:
        click.echo("the queue is empty: every memory is embedded")
    elif data["failed"]:
        click.echo(f"{data['failed']} failed: `engram jobs --state failed` shows why, `engram jobs --retry` retries")
        for s in state.stages:
            if s.last_error:
                click.echo(f"  {s.stage}, last error: {s.last_error[:200]}")


@click.command()
@click.option("--db", envvar="ENGRAM_DB", default=None, metavar="PATH",
              help="Database file (default: the user data dir; env ENGRAM_DB).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines (the default when piped).")
@click.option("--state", type=click.Choice(["pending", "running", "failed"]), default=None)
@click.option("--stage", default=None, help="Only this stage's jobs (e.g. embed).")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=50, show_default=True)
@click.option("--retry", is_flag=True, help="Put the failed jobs (of --stage) back in the queue.")
def jobs(db: str | None, as_json: bool, state: str | None, stage: str | None, limit: int, retry: bool) -> None:
    """List queued jobs (oldest first), or retry the failed ones."""
    # background=False: a retry only queues the jobs again (as it says); a worker thread here
    # would run them before this command could exit, for up to close_timeout
    with Memory(db, create=False, background=False) as mem:
        if retry:
            if state not in (None, "failed"):
                raise click.UsageError("--retry retries failed jobs; drop --state or use --state failed")
            n = mem.retry(stage=stage)
            click.echo(f"{n} failed jobs queued again; `engram flush` or an `engram worker` runs them", err=True)
            if want_json(as_json):
                emit_json([{"retried": n}])
            return
        found = mem.jobs(state=state, stage=stage, limit=limit)
    if want_json(as_json):
        emit_json(j.to_dict() for j in found)
        return
    table = Table(title=f"jobs ({len(found)})")
    for column in ("id", "stage", "memory", "state", "attempts", "enqueued", "error"):
        table.add_column(column)
    for j in found:
        table.add_row(str(j.id), j.stage, j.memory_id, j.state, str(j.attempts),
                      j.enqueued_at.strftime("%Y-%m-%d %H:%M:%S"), (j.error or "")[:80])
    Console().print(table)
    if not found:
        click.echo("no jobs", err=sys.stdout.isatty())
