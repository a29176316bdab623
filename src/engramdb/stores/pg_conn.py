"""PostgreSQL connections: a pool, one transaction per logical write, numbered migrations.

``with conn.write() as cur:`` is one transaction (committed at the end of the block, rolled
back on any error); writes serialise on one advisory lock, as SQLite's writers do on the
database lock, so the read-then-write steps of a logical write (the next version number,
the closure of a delete) see no concurrent writer. ``with conn.read() as cur:`` is one
read-only REPEATABLE READ snapshot; a read inside a write on the same thread reads in the
write's transaction (and sees its rows). Driver errors become EngramErrors here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import psycopg
from pgvector.psycopg import register_vector
from psycopg import errors as pgerrors
from psycopg_pool import ConnectionPool, PoolTimeout

from engramdb.core.errors import ConflictError, EngramError, NotFoundError, StoreError, ValidationError

Cursor = psycopg.Cursor[tuple[Any, ...]]
POOL_SIZE = 8
WRITE_LOCK = 0x656E6772  # pg_advisory_xact_lock (class, key) of the store's writers ("engr", schema)
MIGRATE_LOCK = 0x656E6D69  # key of migrations ("enmi"), so concurrent openers do not race
# Every statement is planned for its own parameters: psycopg prepares a statement run five times,
# and PostgreSQL's generic plan for it (made without the user id) reads the full-text index of
# every user for a user of 500 turns (100-375 ms instead of 10-30 in a database of 100 such
# users), or walks the HNSW graph for a small scope; planning costs a millisecond or two. Set
# per session, not through the connection's ``options`` (those of the URL name a tenant's schema).
def _configure(conn: psycopg.Connection[tuple[Any, ...]]) -> None:
    register_vector(conn)
    conn.execute("SET plan_cache_mode = force_custom_plan")


_MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS engram_migrations (
    version integer PRIMARY KEY, name text NOT NULL, applied_at double precision NOT NULL)"""


def migrations() -> list[tuple[int, str, str]]:
    """(number, file name, sql) for every file in sql/postgresql, in order."""
    folder = resources.files("engramdb.stores").joinpath("sql", "postgresql")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def translate(exc: BaseException, where: str) -> EngramError:
    """A driver error as the EngramError a caller can act on."""
    if isinstance(exc, UnicodeEncodeError):
        return ValidationError("text is not valid UTF-8 (it holds a lone surrogate)")
    if isinstance(exc, pgerrors.UntranslatableCharacter) or (isinstance(exc, psycopg.DataError) and "NUL" in str(exc)):
        # text fields and JSON strings alike (jsonb refuses the escape \u0000)
        return ValidationError("PostgreSQL text cannot hold NUL (U+0000) characters")
    if isinstance(exc, pgerrors.UniqueViolation | pgerrors.SerializationFailure | pgerrors.DeadlockDetected):
        return ConflictError(f"{where}: {exc}")
    if isinstance(exc, pgerrors.InvalidCatalogName) or (
            isinstance(exc, psycopg.OperationalError) and "does not exist" in str(exc)):  # at connect time
        return NotFoundError(f"{where}: {exc}")
    return StoreError(f"{where}: {exc}")


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    head, sep, tail = url.rpartition("@")
    if not sep:
        return url
    scheme, _, userinfo = head.partition("://")
    return f"{scheme}://{userinfo.split(':', 1)[0]}@{tail}"


def _apply(cur: Cursor, create: bool) -> list[str]:
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
    cur.execute("SELECT to_regclass('engram_migrations') IS NOT NULL")
    row = cur.fetchone()
    if not (row and row[0]) and not create:
        raise NotFoundError("no engramdb database there (no migrations applied)")
    cur.execute(_MIGRATIONS_TABLE)
    cur.execute("SELECT version FROM engram_migrations")
    done = {int(r[0]) for r in cur.fetchall()}
    applied = []
    for number, name, script in migrations():
        if number in done:
            continue
        cur.execute(script.encode())  # bytes: a script, not a template for parameters
        cur.execute("INSERT INTO engram_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                    (number, name, time.time()))
        applied.append(name)
    return applied


def migrate_url(url: str, *, create: bool = True) -> list[str]:
    """Apply the pending migrations of the database at ``url``; returns the files applied."""
    try:
        with psycopg.connect(url, autocommit=True) as conn, conn.transaction(), conn.cursor() as cur:
            return _apply(cur, create)
    except psycopg.Error as exc:
        raise translate(exc, safe_url(url)) from exc


def _schema_key(url: str) -> int:
    """A 32-bit advisory lock key naming the schema ``url``'s sessions write to."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT hashtext(current_schema())").fetchone()
    except psycopg.Error as exc:
        raise translate(exc, safe_url(url)) from exc
    return int(row[0]) if row else 0


class Connection:
    """A pool of connections to one database, migrated when opened."""

    def __init__(self, url: str, *, create: bool = True, pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self.name = safe_url(url)
        migrate_url(url, create=create)
        # writers of one store (one schema: one tenant) serialise; other tenants' writers do not wait
        self._write_key = _schema_key(url)
        self.pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]] = ConnectionPool(
            url, min_size=1, max_size=pool_size, kwargs={"autocommit": True}, configure=_configure,
            open=True, name="engramdb", num_workers=1)
        self._local = threading.local()

    def _held(self) -> Cursor | None:
        cur: Cursor | None = getattr(self._local, "cursor", None)
        return cur

    @contextmanager
    def write(self, *, serialize: bool = True) -> Iterator[Cursor]:
        """One transaction; ``serialize=False`` skips the writers' lock (queue claims)."""
        held = self._held()
        if held is not None:
            yield held  # a write inside a write joins it
            return
        try:
            with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                if serialize:
                    cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (WRITE_LOCK, self._write_key))
                self._local.cursor = cur
                try:
                    yield cur
                finally:
                    self._local.cursor = None
        except (psycopg.Error, UnicodeEncodeError, PoolTimeout) as exc:
            raise translate(exc, self.name) from exc

    @contextmanager
    def read(self, *, snapshot: bool = True) -> Iterator[Cursor]:
        """One read-only snapshot; ``snapshot=False`` for a read of one statement, which is its own
        snapshot in autocommit (no BEGIN / ROLLBACK round trips: reads that retrieval makes many
        times per search)."""
        held = self._held()
        if held is not None:
            yield held
            return
        try:
            with self.pool.connection() as conn, conn.cursor() as cur:
                if snapshot:
                    cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    yield cur
                finally:
                    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                        conn.execute("ROLLBACK")
        except (psycopg.Error, UnicodeEncodeError, PoolTimeout) as exc:
            raise translate(exc, self.name) from exc

    def close(self) -> None:
        self.pool.close()
