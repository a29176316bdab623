"""SQLite connections: WAL, serialized writers with retry, numbered migrations."""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from engramdb.core.errors import EngramError, StoreError, ValidationError
from engramdb.stores.sql_common import scope_tag

# How long a writer keeps retrying BEGIN IMMEDIATE before giving up. Generous:
# several processes importing into one file queue behind each other.
LOCK_TIMEOUT_S = 120.0
MAX_IDLE_READERS = 4  # read connections kept open for the next reads


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


def migrations() -> list[tuple[int, str]]:
    """(number, sql) for every file in sql/sqlite, in order."""
    folder = resources.files("engramdb.stores").joinpath("sql", "sqlite")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate_path(path: str | Path) -> list[str]:
    """Apply the pending migrations of the SQLite file at ``path`` (created if missing);
    returns the names of the files applied."""
    folder = resources.files("engramdb.stores").joinpath("sql", "sqlite")
    before = 0
    if str(path) != ":memory:" and Path(path).is_file():
        probe = sqlite3.connect(str(path))
        try:
            before = int(probe.execute("PRAGMA user_version").fetchone()[0])
        finally:
            probe.close()
    Connection(path).close()
    names = sorted(e.name for e in folder.iterdir() if e.name.endswith(".sql"))
    return [name for name in names if int(name.split("_", 1)[0]) > before]


# The page size of new files: SQLite's 4096 unless $ENGRAM_SQLITE_PAGE_SIZE says otherwise (SQLite
# ignores a size that is not a power of two from 512 to 65536). A long turn's row (text, vector
# and sentence keys: ~8 kB) spans a chain of 4 kB overflow pages; 8 or 16 kB pages read a
# search's candidates' vectors ~1.5x faster at 100k memories, but cost ~35-45% of the
# throughput of single-memory writes (measured on 2 cores), so the default stays.
_PAGE = os.environ.get("ENGRAM_SQLITE_PAGE_SIZE", "").strip()
PAGE_SIZE = int(_PAGE) if _PAGE.isdigit() else None


class Connection:
    """One sqlite3 connection with explicit transactions.

    ``isolation_level=None`` turns off the driver's implicit transactions, so
    each logical write is exactly one BEGIN IMMEDIATE ... COMMIT.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=5.0, check_same_thread=False)
            if PAGE_SIZE is not None:
                # a new file only (WAL fixes the page size); see PAGE_SIZE
                self.db.execute(f"PRAGMA page_size={PAGE_SIZE}")
            # SQLite answers this one with SQLITE_BUSY without calling the busy
            # handler while another process is opening the same new file
            self._retry_while_locked("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a committed transaction survives a process
            # crash (kill -9); only an OS crash/power loss may lose the last ones.
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            # Deleted content is overwritten on disk, not just unlinked.
            self.db.execute("PRAGMA secure_delete=ON")
            self.db.create_function("engram_scope_tag", 3, scope_tag, deterministic=True)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        self._lock = threading.RLock()
        self._readers: list[sqlite3.Connection] = []  # idle read connections (WAL: readers run side by side)
        self._all_readers: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self._closed = False
        self._wal_pending = False  # an erasure's checkpoint found the WAL busy
        self._migrate()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; retries while another process holds the lock."""
        with self._lock:
            self._begin_immediate()
            try:
                yield self.db
            except (sqlite3.Error, UnicodeEncodeError) as exc:
                self._rollback()
                raise self._translate(exc) from exc
            except BaseException:
                self._rollback()
                raise
            try:
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreError(f"commit failed: {exc}") from exc

    def _rollback(self) -> None:
        # SQLite has already rolled back after some errors (SQLITE_FULL, SQLITE_IOERR, ...): a
        # second ROLLBACK would raise "no transaction is active" in place of the real error
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for multi-statement reads. Each concurrent reader gets a
        connection of its own from a small pool (SQLite runs WAL readers side by side, outside
        Python's interpreter lock), so searches from several threads use several cores; a
        thread inside a write (or an in-memory database) reads on the write connection."""
        if self.path == ":memory:" or self._lock._is_owned():  # type: ignore[attr-defined]
            with self._lock:
                yield from self._snapshot(self.db)
            return
        conn = self._reader()
        try:
            yield from self._snapshot(conn)
        finally:
            with self._pool_lock:
                if self._closed or len(self._readers) >= MAX_IDLE_READERS:
                    self._all_readers.remove(conn)
                    conn.close()
                else:
                    self._readers.append(conn)

    def _snapshot(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        conn.execute("BEGIN")
        try:
            yield conn
        except (sqlite3.Error, UnicodeEncodeError) as exc:
            raise self._translate(exc) from exc
        finally:
            conn.execute("COMMIT")

    def _reader(self) -> sqlite3.Connection:
        with self._pool_lock:
            if self._closed:
                raise StoreError(f"{self.path} is closed")
            if self._readers:
                return self._readers.pop()
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=5.0, check_same_thread=False)
            conn.execute("PRAGMA query_only=ON")
            conn.create_function("engram_scope_tag", 3, scope_tag, deterministic=True)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        with self._pool_lock:
            self._all_readers.append(conn)
        return conn

    def _translate(self, exc: sqlite3.Error | UnicodeEncodeError) -> EngramError:
        """Driver errors never reach callers: bad text is the caller's, the rest is the store's."""
        if isinstance(exc, UnicodeEncodeError):
            return ValidationError("text is not valid UTF-8 (it holds a lone surrogate)")
        return StoreError(f"{self.path}: {exc}")

    def _begin_immediate(self) -> None:
        try:
            self._retry_while_locked("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"could not start a write on {self.path}: {exc}") from exc

    def _retry_while_locked(self, statement: str) -> None:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        delay = 0.005
        while True:
            try:
                self.db.execute(statement)
                return
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.25)

    def _migrate(self) -> None:
        wanted = migrations()
        current = self.db.execute("PRAGMA user_version").fetchone()[0]
        if current >= wanted[-1][0]:
            return
        with self.write() as db:
            current = db.execute("PRAGMA user_version").fetchone()[0]  # re-read under the lock
            for number, sql in wanted:
                if number > current:
                    for statement in _split_sql(sql):
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version={int(number)}")

    def checkpoint(self) -> bool:
        """Copy the WAL into the database file and truncate it to zero bytes, so it holds no
        page image (and no text) of what was erased. False when another process kept the WAL
        busy (a reader of an older snapshot, a writer): the next erasure, or close, retries."""
        with self._lock:
            try:
                busy = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.Error as exc:
                raise StoreError(f"checkpoint of {self.path} failed: {exc}") from exc
            self._wal_pending = bool(busy)
            return not busy

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._wal_pending:
                    self.checkpoint()
            finally:
                with self._pool_lock:
                    readers, self._readers = self._readers, []
                    for conn in readers:
                        self._all_readers.remove(conn)
                for conn in readers:
                    conn.close()
                self.db.close()


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit our transaction)."""
    statements, buf = [], []
    for line in script.splitlines():
        if line.strip().startswith("--"):
            continue
        buf.append(line)
        joined = "\n".join(buf)
        if sqlite3.complete_statement(joined):
            statements.append(joined.strip())
            buf = []
    if "".join(buf).strip():
        statements.append("\n".join(buf).strip())
    return statements
