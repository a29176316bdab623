"""``engram scopes``: which users, agents and sessions a database holds, with counts."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from engramdb.cli.options import db_options, scope_options
from engramdb.cli.output import emit_json, want_json
from engramdb.core.models import ScopeSummary
from engramdb.engine.memory import Memory


@click.command()
@db_options
@scope_options
@click.option("--sessions", "by_session", is_flag=True, help="One line per session.")
def scopes(db: str | None, embedder: str | None, as_json: bool, user_id: str | None, agent_id: str | None,
           session_id: str | None, by_session: bool) -> None:
    """List the scopes that hold memories (per user and agent, or per session), with counts."""
    with Memory(db, embedder=embedder, create=False) as mem:
        found = mem.scopes(user_id=user_id, agent_id=agent_id, session_id=session_id, by_session=by_session)
    if want_json(as_json):
        emit_json(s.to_dict() for s in found)
    else:
        scopes_table(found, by_session)


def scopes_table(found: list[ScopeSummary], by_session: bool) -> None:
    table = Table(title=f"{len(found)} scope{'' if len(found) == 1 else 's'}")
    middle = ("session",) if by_session else ("sessions",)
    for col in ("user", "agent", *middle, "memories", "from", "to"):
        table.add_column(col, justify="right" if col in ("memories", "sessions") else "left")
    for s in found:
        row = [s.user_id or "", s.agent_id or "", (s.session_id or "") if by_session else str(s.sessions),
               str(s.memories), f"{s.first:%Y-%m-%d}", f"{s.last:%Y-%m-%d}"]
        table.add_row(*row)
    Console().print(table)
