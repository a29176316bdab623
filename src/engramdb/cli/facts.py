"""``engram facts`` and ``engram profile``: the facts of a scope with their validity, and the
profile read from them (each slot's current value and history)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engramdb.cli.options import db_options, scope_options, time_options
from engramdb.cli.output import emit_json, short, want_json
from engramdb.core.errors import ScopeError
from engramdb.core.models import MemoryRecord
from engramdb.core.profile import Profile
from engramdb.engine.memory import Memory
from engramdb.lifecycle.facts import USER


def _day(value: datetime | None, none: str = "now") -> str:
    return f"{value:%Y-%m-%d}" if value is not None else none


@click.command()
@db_options
@scope_options
@click.option("--subject", default=None, help='Only facts about this subject ("user", a name).')
@click.option("--attribute", default=None, help='Only facts of this slot ("home city", "employer", ...).')
@time_options
@click.option("--all", "include_superseded", is_flag=True,
              help="Every fact, superseded ones too (with valid_to and superseded_by).")
@click.option("--limit", type=click.IntRange(0), default=100)
@click.option("--offset", type=click.IntRange(0), default=0)
def facts(db: str | None, embedder: str | None, as_json: bool, user_id: str | None, agent_id: str | None,
          session_id: str | None, subject: str | None, attribute: str | None, as_of: str | None,
          valid_at: str | None, include_superseded: bool, limit: int, offset: int) -> None:
    """The facts of a scope that hold now (--valid-at: then; --all: every one, with its validity)."""
    if user_id is None and agent_id is None and session_id is None:
        raise ScopeError("give --user, --agent or --session; `engram scopes` lists the ones in this database")
    with Memory(db, embedder=embedder, create=False) as mem:
        found = mem.facts(user_id=user_id, agent_id=agent_id, session_id=session_id, subject=subject,
                          attribute=attribute, valid_at=valid_at, as_of=as_of,
                          include_superseded=include_superseded, limit=limit, offset=offset)
    if want_json(as_json):
        emit_json(f.to_dict() for f in found)
    else:
        facts_table(found, every=include_superseded)


def facts_table(found: Sequence[MemoryRecord], *, every: bool) -> None:
    table = Table(title=f"{len(found)} fact{'' if len(found) == 1 else 's'}")
    columns = ["id", "valid from", "valid to", "slot", "fact"] + (["superseded by"] if every else [])
    for col in columns:
        table.add_column(col, no_wrap=col in ("id", "valid from", "valid to"),
                         overflow="fold" if col == "fact" else "ellipsis", ratio=1 if col == "fact" else None)
    for f in found:
        slot = f"{f.subject or ''} / {f.attribute}" if f.attribute else ""
        row = [f.id, _day(f.event_time), _day(f.valid_to), slot, short(f.content)]
        if every:
            row.append(f.superseded_by or "")
        table.add_row(*(escape(c) for c in row), style="strike dim" if f.superseded_by else None)
    Console().print(table)


@click.command()
@db_options
@click.option("--user", "user_id", default=None, metavar="U", help="User id.")
@click.option("--agent", "agent_id", default=None, metavar="A", help="Agent id.")
@click.option("--subject", default=USER, show_default=True, help='Whose profile ("user", or a name).')
@click.option("--valid-at", default=None, metavar="TIME", help="Event time: the profile as it held at TIME.")
def profile(db: str | None, embedder: str | None, as_json: bool, user_id: str | None, agent_id: str | None,
            subject: str, valid_at: str | None) -> None:
    """A user's profile: every slot its facts name, with the value that holds now (or at
    --valid-at) and every value it held."""
    if user_id is None and agent_id is None:
        raise ScopeError("give --user or --agent; `engram scopes` lists the ones in this database")
    with Memory(db, embedder=embedder, create=False) as mem:
        found = mem.profile(user_id, agent_id=agent_id, subject=subject, valid_at=valid_at)
    if want_json(as_json):
        emit_json([found.to_dict()])
    else:
        profile_table(found)


def profile_table(found: Profile) -> None:
    who = found.user_id or found.agent_id or ""
    at = f" at {found.valid_at:%Y-%m-%d %H:%M}" if found.valid_at else ""
    table = Table(title=f"profile of {who} ({found.subject}){at}: {len(found.slots)} slots")
    for col in ("slot", "current", "history"):
        table.add_column(col, overflow="fold")
    for slot in found.slots:
        current = "; ".join(v.value for v in slot.current) or "—"
        history = "\n".join(f"{v.value}: {_day(v.valid_from)} → {_day(v.valid_to)}" for v in slot.history)
        table.add_row(escape(slot.attribute), escape(current), escape(history))
    console = Console()
    console.print(table)
    if found.text():
        console.print(escape(found.text()), highlight=False, soft_wrap=True)
