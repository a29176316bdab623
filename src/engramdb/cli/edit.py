"""``engram update`` and ``engram supersede``: change a memory, keeping its history."""

from __future__ import annotations

import json
from typing import Any

import click

from engramdb.cli.options import db_options, scope_options
from engramdb.cli.output import emit_json, print_kv, want_json
from engramdb.engine.memory import Memory


def _object(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise click.BadParameter("--metadata must be a JSON object") from None
    if not isinstance(value, dict):
        raise click.BadParameter("--metadata must be a JSON object")
    return value


def _show(as_json: bool, data: dict[str, Any]) -> None:
    if want_json(as_json):
        emit_json([data])
    else:
        print_kv(data)


@click.command()
@click.argument("memory_id")
@db_options
@scope_options
@click.option("--content", default=None, help="The new text.")
@click.option("--metadata", default=None, help="New metadata (a JSON object; replaces the old).")
@click.option("--timestamp", default=None, help="New event time (ISO 8601).")
def update(memory_id: str, db: str | None, embedder: str | None, as_json: bool, user_id: str | None,
           agent_id: str | None, session_id: str | None, content: str | None, metadata: str | None,
           timestamp: str | None) -> None:
    """Give a memory new content, metadata or time; the old version stays in its history."""
    with Memory(db, embedder=embedder, create=False) as mem:
        record = mem.update(memory_id, content=content, metadata=_object(metadata), timestamp=timestamp,
                            user_id=user_id, agent_id=agent_id, session_id=session_id)
    _show(as_json, record.to_dict())


@click.command()
@click.argument("memory_id")
@click.argument("text")
@db_options
@scope_options
@click.option("--metadata", default=None, help="Metadata of the new memory (a JSON object).")
@click.option("--timestamp", default=None, help="Event time of the new memory (ISO 8601); default now.")
@click.option("--kind", default=None, help="Kind of the new memory (default: the old one's).")
def supersede(memory_id: str, text: str, db: str | None, embedder: str | None, as_json: bool,
              user_id: str | None, agent_id: str | None, session_id: str | None, metadata: str | None,
              timestamp: str | None, kind: str | None) -> None:
    """Replace an outdated memory with TEXT; the old one stays readable with --as-of and in history."""
    with Memory(db, embedder=embedder, create=False) as mem:
        record = mem.supersede(memory_id, text, metadata=_object(metadata), timestamp=timestamp, kind=kind,
                               user_id=user_id, agent_id=agent_id, session_id=session_id)
    _show(as_json, record.to_dict())
