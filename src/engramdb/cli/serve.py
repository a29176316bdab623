"""``engram serve`` (HTTP API + /ui) and ``engram keys`` (API keys)."""

from __future__ import annotations

import logging
import sys

import click

from engramdb.cli.output import emit_json, want_json
from engramdb.core.errors import ConfigError
from engramdb.core.grants import DEFAULT_TENANT
from engramdb.server.net import is_loopback


@click.command()
@click.option("--db", envvar="ENGRAM_DB", default=None, metavar="PATH",
              help="The default tenant's database; other tenants live beside it (env ENGRAM_DB).")
@click.option("--embedder", envvar="ENGRAM_EMBEDDER", default=None, help="local (default), hash[:DIM] or openai:MODEL.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option("--worker-threads", type=click.IntRange(0, 16), default=2, show_default=True,
              help="Background embedding threads per open tenant; 0 leaves the queue to `engram worker` processes.")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="One JSON line per request on stderr.")
def serve(db: str | None, embedder: str | None, host: str, port: int, worker_threads: int, access_log: bool) -> None:
    """Serve the HTTP API (/v1, OpenAPI at /openapi.json), the web inspector (/ui) and /metrics."""
    import uvicorn

    from engramdb.registry import open_keys
    from engramdb.server.app import ServerConfig, create_app

    ring = open_keys(db)
    active = ring.active()
    ring.close()
    if not active and not is_loopback(host):
        raise ConfigError(f"refusing to serve on {host} without API keys: create one with `engram keys create` "
                          "(anyone who reaches the port could read and change every memory)")
    if not active:
        click.echo("engram: warning: no API keys exist, so every process on this machine can read and change "
                   "every memory; `engram keys create` turns authentication on", err=True)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("engramdb.access").disabled = not access_log
    app = create_app(ServerConfig(db=db, embedder=embedder, worker_threads=worker_threads))
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")


@click.group()
def keys() -> None:
    """API keys of a database (stored hashed in <db>.keys.db, or in a PostgreSQL database's own
    engram_api_keys table; a secret is shown once)."""


def _db_option(fn: click.decorators.FC) -> click.decorators.FC:
    return click.option("--db", envvar="ENGRAM_DB", default=None, metavar="PATH",
                        help="The database the keys are for (env ENGRAM_DB).")(fn)


@keys.command("create")
@_db_option
@click.option("--tenant", default=DEFAULT_TENANT, show_default=True,
              help="The tenant the key belongs to (its own database file, or PostgreSQL schema; "
                   "'default' is --db itself).")
@click.option("--user", "users", multiple=True, metavar="U", help="Only this user_id (repeatable).")
@click.option("--agent", "agents", multiple=True, metavar="A", help="Only this agent_id (repeatable).")
@click.option("--read-only", is_flag=True, help="Reads only: search, list, get, history, export, status.")
@click.option("--name", default=None, help="A label to recognise the key by.")
@click.option("--json", "as_json", is_flag=True)
def create_key(db: str | None, tenant: str, users: tuple[str, ...], agents: tuple[str, ...], read_only: bool,
               name: str | None, as_json: bool) -> None:
    """Create a key and print its secret (shown once): only the secret on stdout, so that
    KEY=$(engram keys create ...) works; --json gives the key's record with it."""
    from engramdb.registry import open_keys

    ring = open_keys(db)
    try:
        key, secret = ring.create(tenant, users=list(users) or None, agents=list(agents) or None,
                                  read_only=read_only, name=name)
    finally:
        ring.close()
    if as_json:
        emit_json([{**key.to_dict(), "secret": secret}])
    else:
        click.echo(secret)
        click.echo(f"key {key.id} for tenant {tenant!r}: store the secret above now, it is not shown again",
                   err=True)


@keys.command("list")
@_db_option
@click.option("--json", "as_json", is_flag=True)
def list_keys(db: str | None, as_json: bool) -> None:
    """Keys (never their secrets), revoked ones included."""
    from engramdb.registry import open_keys

    ring = open_keys(db)
    try:
        found = ring.list()
    finally:
        ring.close()
    if want_json(as_json):
        emit_json(k.to_dict() for k in found)
        return
    for k in found:
        limits = [f"users={','.join(sorted(k.grant.users))}" if k.grant.users is not None else "",
                  f"agents={','.join(sorted(k.grant.agents))}" if k.grant.agents is not None else "",
                  "read-only" if k.grant.read_only else "", f"REVOKED {k.revoked_at:%Y-%m-%d}" if k.revoked_at else ""]
        click.echo(f"{k.id}  tenant={k.grant.tenant}  {' '.join(x for x in limits if x)}  {k.name or ''}".rstrip())


@keys.command("revoke")
@click.argument("key_id")
@_db_option
def revoke_key(key_id: str, db: str | None) -> None:
    """Revoke a key: the next request with it is refused (401)."""
    from engramdb.registry import open_keys

    ring = open_keys(db)
    try:
        ring.revoke(key_id)
    finally:
        ring.close()
    click.echo(f"revoked {key_id}", err=True)
