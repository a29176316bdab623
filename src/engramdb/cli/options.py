"""Flags shared by every command, so they are spelled the same everywhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def db_options(fn: F) -> F:
    fn = click.option("--embedder", envvar="ENGRAM_EMBEDDER", default=None,
                      help="local (default), hash[:DIM] or openai:MODEL.")(fn)
    fn = click.option("--json", "as_json", is_flag=True, help="JSON lines (the default when piped).")(fn)
    fn = click.option("--db", envvar="ENGRAM_DB", default=None, metavar="PATH",
                      help="Database file (default: the user data dir; env ENGRAM_DB).")(fn)
    return fn


def scope_options(fn: F) -> F:
    fn = click.option("--session", "session_id", default=None, metavar="S", help="Session id.")(fn)
    fn = click.option("--agent", "agent_id", default=None, metavar="A", help="Agent id.")(fn)
    fn = click.option("--user", "user_id", default=None, metavar="U", help="User id.")(fn)
    return fn


def budget_options(fn: F) -> F:
    fn = click.option("-k", "k", type=click.IntRange(1, 10_000), default=None, help="Number of hits.")(fn)
    fn = click.option("--budget", "budget", type=click.IntRange(1), default=None, metavar="TOKENS",
                      help="Token budget of the packed context (cl100k_base tokens).")(fn)
    return fn


def time_options(fn: F) -> F:
    fn = click.option("--valid-at", default=None, metavar="TIME",
                      help="Event time: only what had been said (was dated) by TIME.")(fn)
    fn = click.option("--as-of", default=None, metavar="TIME",
                      help="System time: memory as it knew things at TIME (before later updates).")(fn)
    return fn
