"""``engram maintain``: one maintenance pass (archive what is forgotten, erase what expired)."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from engramdb.cli.options import db_options
from engramdb.cli.output import emit_json, want_json
from engramdb.engine.maintenance import MaintenanceReport
from engramdb.engine.memory import Memory


@click.command()
@db_options
@click.option("--dry-run", is_flag=True, help="Print what the pass would do; change nothing.")
def maintain(db: str | None, embedder: str | None, as_json: bool, dry_run: bool) -> None:
    """Archive memories whose retention fell below the threshold and erase expired ones, over the
    whole database (README "Forgetting"). Prints one line per operation (JSON lines when piped)."""
    with Memory(db, embedder=embedder, create=False) as mem:
        report = mem.maintain(dry_run=dry_run)
    if want_json(as_json):
        emit_json(operations(report))
    else:
        report_table(report)


def operations(report: MaintenanceReport) -> list[dict[str, object]]:
    """One dict per operation, then a summary line."""
    done = "would " if report.dry_run else ""
    out: list[dict[str, object]] = [{"op": f"{done}archive", "id": a.memory_id, "kind": a.kind.value,
                                     "retention": round(a.retention, 6)} for a in report.archived]
    out += [{"op": f"{done}erase", "id": mid} for mid in report.erased]
    out.append({"op": "summary", "dry_run": report.dry_run, "at": report.at.isoformat(), "scanned": report.scanned,
                "archived": len(report.archived), "erased": len(report.erased), "complete": report.complete})
    return out


def report_table(report: MaintenanceReport) -> None:
    verb = "would be " if report.dry_run else ""
    table = Table(title=f"{len(report.archived)} {verb}archived, {len(report.erased)} {verb}erased "
                        f"({report.scanned} memories looked at{'' if report.complete else '; more left: run again'})")
    for col in ("operation", "id", "kind", "retention"):
        table.add_column(col, justify="right" if col == "retention" else "left")
    for a in report.archived:
        table.add_row("archive", a.memory_id, a.kind.value, f"{a.retention:.4f}")
    for mid in report.erased:
        table.add_row("erase", mid, "", "")
    Console().print(table)
