"""``engram migrate``: apply the pending schema migrations of a database (SQLite or PostgreSQL)."""

from __future__ import annotations

import click

from engramdb.cli.output import emit_json, want_json
from engramdb.registry import migrate as apply_migrations
from engramdb.registry import resolve_db


@click.command()
@click.option("--db", envvar="ENGRAM_DB", default=None, metavar="PATH|URL",
              help="Database file or postgresql:// URL (default: the user data dir; env ENGRAM_DB).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines (the default when piped).")
def migrate(db: str | None, as_json: bool) -> None:
    """Apply the migrations the database has not had yet (opening a store does it too; this
    does it ahead of time, e.g. before starting many workers). Prints each file applied."""
    applied = apply_migrations(db)
    if want_json(as_json):
        emit_json([{"db": _shown(db), "applied": applied}])
    elif applied:
        for name in applied:
            click.echo(f"applied {name}")
    else:
        click.echo(f"{_shown(db)} is up to date")


def _shown(db: str | None) -> str:
    target = str(resolve_db(db))
    head, sep, tail = target.rpartition("@")
    return f"{head.split('://', 1)[0]}://...@{tail}" if sep else target
