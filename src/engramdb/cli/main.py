"""The ``engram`` command: thin wrappers over :class:`engramdb.Memory`."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from engramdb.cli.options import budget_options, db_options, scope_options, time_options
from engramdb.cli.output import emit_json, print_kv, records_table, want_json
from engramdb.core.errors import EngramError, ScopeError
from engramdb.engine.memory import Memory


def _open(db: str | None, embedder: str | None, *, create: bool = False) -> Memory:
    """Only writes that bring data (add, import) create a database; every other command needs one."""
    return Memory(db, embedder=embedder, create=create)


def _scope(user_id: str | None, agent_id: str | None, session_id: str | None) -> dict[str, Any]:
    return {"user_id": user_id, "agent_id": agent_id, "session_id": session_id}


def _need_scope(user_id: str | None, agent_id: str | None, session_id: str | None) -> dict[str, Any]:
    if user_id is None and agent_id is None and session_id is None:
        raise ScopeError("give --user, --agent or --session; `engram scopes` lists the ones in this database")
    return _scope(user_id, agent_id, session_id)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="engramdb")
def cli() -> None:
    """engramdb: long-term memory for LLM agents."""


@cli.command()
@click.argument("text", required=False)
@db_options
@scope_options
@click.option("--role", default=None, help="Role of the message (user, assistant, ...).")
@click.option("--speaker", default=None, help="Name of who said it.")
@click.option("--kind", default=None, help="turn, fact, summary, profile or note (default: note).")
@click.option("--timestamp", default=None, help="When it was said (ISO 8601); default now.")
@click.option("--metadata", default=None, help="A JSON object.")
@click.option("--subject", default=None, help='A fact\'s slot: who it is about ("user", a name).')
@click.option("--attribute", default=None, help='A fact\'s slot: what ("home city"); a later fact of it supersedes.')
@click.option("--expires-at", default=None, metavar="TIME", help="Expire at TIME (reads skip it, cleanup erases it).")
@click.option("--ttl", type=click.FloatRange(0, min_open=True), default=None, metavar="SECONDS",
              help="Expire SECONDS from now.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the new memory's id (ID=$(engram add ... -q)).")
def add(text: str | None, db: str | None, embedder: str | None, as_json: bool, user_id: str | None,
        agent_id: str | None, session_id: str | None, role: str | None, speaker: str | None, kind: str | None,
        timestamp: str | None, metadata: str | None, subject: str | None, attribute: str | None,
        expires_at: str | None, ttl: float | None, quiet: bool) -> None:
    """Add TEXT (or stdin when TEXT is -) as a memory."""
    data: str | bytes | None = text
    if text is None or text == "-":
        data = sys.stdin.buffer.read().strip()  # bytes: add() names the byte that is not UTF-8
    meta = _json_object(metadata)
    with _open(db, embedder, create=True) as mem:
        records = mem.add(data or "", **_scope(user_id, agent_id, session_id), role=role, speaker=speaker, kind=kind,
                          timestamp=timestamp, metadata=meta, subject=subject, attribute=attribute,
                          expires_at=expires_at, ttl=ttl)
        # a one-shot process embeds what it wrote before it exits, as long as that is quick
        left = mem.flush(timeout=mem.close_timeout).remaining
    if left:
        click.echo(f"engram: warning: {left} jobs are still queued (not yet found by meaning); "
                   "`engram flush` or an `engram worker` finishes them", err=True)
    if quiet:
        click.echo("\n".join(r.id for r in records))
    elif want_json(as_json):
        emit_json(r.to_dict() for r in records)
    else:
        records_table(records, title="added")


@cli.command()
@click.argument("query")
@db_options
@scope_options
@budget_options
@click.option("--filter", "filters", default=None, help='Filters as JSON, e.g. \'{"topic": "work"}\'.')
@time_options
@click.option("--context/--no-context", default=True, help="Print the packed context (terminal).")
def search(query: str, db: str | None, embedder: str | None, as_json: bool, user_id: str | None,
           agent_id: str | None, session_id: str | None, k: int | None, budget: int | None, filters: str | None,
           as_of: str | None, valid_at: str | None, context: bool) -> None:
    """Search memories; prints ranked hits and the context an agent would be given."""
    scope = _need_scope(user_id, agent_id, session_id)
    with _open(db, embedder) as mem:
        result = mem.search(query, **scope, k=k, budget_tokens=budget,
                            filters=_json_object(filters), as_of=as_of, valid_at=valid_at)
    for warning in result.warnings:
        click.echo(f"engram: warning: {warning}", err=True)
    if want_json(as_json):
        emit_json([result.to_dict()])
        return
    records_table([h.record for h in result.hits], title=f"hits for {query!r}",
                  scores=[h.score for h in result.hits])
    if context:
        print_kv({"context tokens": result.context_tokens, "context": "\n" + result.context})


@cli.command()
@db_options
@scope_options
def reindex(db: str | None, embedder: str | None, as_json: bool, user_id: str | None, agent_id: str | None,
            session_id: str | None) -> None:
    """Embed a scope's memories again with the configured embedder (after changing models, or to
    add sentence keys to memories written by an older engramdb)."""
    with _open(db, embedder) as mem:
        count = mem.reindex(**_scope(user_id, agent_id, session_id))
    if want_json(as_json):
        emit_json([{"reindexed": count}])
    else:
        print_kv({"reindexed": count})


@cli.command(name="list")
@db_options
@scope_options
@click.option("--kind", "kinds", multiple=True, help="Only these kinds (repeatable).")
@click.option("--filter", "filters", default=None, help="Filters as JSON.")
@click.option("--limit", type=click.IntRange(0), default=100)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--all-versions", "include_superseded", is_flag=True, help="Include superseded memories.")
@click.option("--newest-first", is_flag=True, help="Latest event time first.")
@time_options
def list_(db: str | None, embedder: str | None, as_json: bool, user_id: str | None, agent_id: str | None,
          session_id: str | None, kinds: tuple[str, ...], filters: str | None, limit: int, offset: int,
          include_superseded: bool, newest_first: bool, as_of: str | None, valid_at: str | None) -> None:
    """List memories of a scope in event-time order."""
    scope = _need_scope(user_id, agent_id, session_id)
    with _open(db, embedder) as mem:
        records = mem.list(**scope, kinds=kinds or None, filters=_json_object(filters), limit=limit,
                           offset=offset, include_superseded=include_superseded, as_of=as_of, valid_at=valid_at,
                           newest_first=newest_first)
    if want_json(as_json):
        emit_json(r.to_dict() for r in records)
    else:
        records_table(records)


@cli.command()
@click.argument("memory_id")
@db_options
@scope_options
def show(memory_id: str, db: str | None, embedder: str | None, as_json: bool, user_id: str | None,
         agent_id: str | None, session_id: str | None) -> None:
    """Show one memory."""
    with _open(db, embedder) as mem:
        record = mem.get(memory_id, **_scope(user_id, agent_id, session_id))
    if want_json(as_json):
        emit_json([record.to_dict()])
    else:
        print_kv(record.to_dict())


@cli.command()
@click.argument("memory_id")
@db_options
@scope_options
def history(memory_id: str, db: str | None, embedder: str | None, as_json: bool, user_id: str | None,
            agent_id: str | None, session_id: str | None) -> None:
    """Show every change to one memory."""
    with _open(db, embedder) as mem:
        events = mem.history(memory_id, **_scope(user_id, agent_id, session_id))
    if want_json(as_json):
        emit_json(e.to_dict() for e in events)
        return
    for e in events:
        after = (e.after or {}).get("content", "")
        print_kv({f"{e.at:%Y-%m-%d %H:%M:%S} {e.action.value}": after})


@cli.command()
@click.argument("memory_id", required=False)
@db_options
@scope_options
@click.option("--all-in-scope", is_flag=True, help="Delete every memory of the given scope.")
def delete(memory_id: str | None, db: str | None, embedder: str | None, as_json: bool, user_id: str | None,
           agent_id: str | None, session_id: str | None, all_in_scope: bool) -> None:
    """Delete a memory for good (or a whole scope with --all-in-scope)."""
    with _open(db, embedder) as mem:
        if all_in_scope:
            if memory_id:
                raise click.UsageError("give a MEMORY_ID or --all-in-scope, not both")
            n = mem.delete_scope(**_scope(user_id, agent_id, session_id))
        elif memory_id:
            mem.delete(memory_id, **_scope(user_id, agent_id, session_id))
            n = 1
        else:
            raise click.UsageError("give a MEMORY_ID or --all-in-scope")
    if want_json(as_json):
        emit_json([{"deleted": n}])
    else:
        click.echo(f"deleted {n} memor{'y' if n == 1 else 'ies'}")


@cli.command(name="export")
@click.argument("out", type=click.Path(dir_okay=False, allow_dash=True), default="-")
@db_options
@scope_options
def export_(out: str, db: str | None, embedder: str | None, as_json: bool, user_id: str | None,
            agent_id: str | None, session_id: str | None) -> None:
    """Export memories and their history as JSONL (to OUT or stdout)."""
    with _open(db, embedder) as mem:
        if out == "-":
            n = mem.export_jsonl(sys.stdout, **_scope(user_id, agent_id, session_id))
        else:
            with open(out, "w", encoding="utf-8") as fh:
                n = mem.export_jsonl(fh, **_scope(user_id, agent_id, session_id))
    if out != "-":
        click.echo(f"exported {n} lines to {out}", err=True)


def _json_object(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise click.BadParameter("JSON nested too deep") from None
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object")
    return value


def _register_more() -> None:
    from engramdb.cli.bench import bench
    from engramdb.cli.demo import demo
    from engramdb.cli.edit import supersede, update
    from engramdb.cli.facts import facts, profile
    from engramdb.cli.importing import import_
    from engramdb.cli.maintain import maintain
    from engramdb.cli.mcp_cmd import mcp
    from engramdb.cli.migrate import migrate
    from engramdb.cli.pipeline import flush, jobs, status, worker
    from engramdb.cli.scopes import scopes
    from engramdb.cli.serve import keys, serve

    cli.add_command(import_)
    cli.add_command(scopes)
    cli.add_command(demo)
    cli.add_command(bench)
    for command in (update, supersede, worker, flush, status, jobs, serve, keys, mcp, maintain,
                    facts, profile, migrate):
        cli.add_command(command)


_register_more()


def main() -> None:
    """Entry point: every error is one line on stderr and a non-zero exit (usage errors: 2,
    with a hint to --help; EngramError: 1). A bug shows its traceback only with ENGRAM_DEBUG=1."""
    try:
        code = cli.main(prog_name="engram", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Abort:
        _fail("aborted", 130)
    except click.exceptions.NoArgsIsHelpError as exc:  # plain `engram`: the help text is the answer
        exc.show()
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "engram"
        _fail(f"{exc.format_message()} (try '{command} --help')", exc.exit_code)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except EngramError as exc:
        _fail(str(exc), 1)
    except (UnicodeDecodeError, UnicodeEncodeError) as exc:  # a non-UTF-8 file or path
        _fail(f"input is not valid UTF-8 ({exc.reason})", 1)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # the entry point: a bug still gets one line, not a traceback
        if os.environ.get("ENGRAM_DEBUG"):
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (set ENGRAM_DEBUG=1 for the traceback)", 1)


def _fail(message: str, code: int) -> None:
    one_line = " ".join(message.split())
    click.echo(f"engram: error: {one_line}", err=True)
    sys.exit(code)
