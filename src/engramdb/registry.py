"""Composition: the one place that turns settings into adapters.

Stores: a filesystem path or ``sqlite:///path`` -> SQLiteStore; ``postgresql://...`` (or
``postgres://``) -> PostgresStore (the ``postgres`` extra).
Embedders: ``local`` (the packaged default model), ``hash`` / ``hash:DIM``
(deterministic, for tests), ``openai:MODEL`` (any OpenAI-compatible
``/embeddings`` endpoint; ``ENGRAM_EMBEDDER_BASE_URL``, ``ENGRAM_EMBEDDER_API_KEY``).
"""

from __future__ import annotations

import os
from pathlib import Path

from engramdb.core.errors import ConfigError, NotFoundError
from engramdb.core.grants import KeyStore
from engramdb.core.ports import LLM, Embedder, Store

ENV_DB = "ENGRAM_DB"
ENV_EMBEDDER = "ENGRAM_EMBEDDER"
ENV_FACTS = "ENGRAM_FACTS"
_PG_EXTRA = "PostgreSQL needs the postgres extra (pip install 'engramdb[postgres]')"


def default_db_path() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("engramdb", appauthor=False)) / "memory.db"


def resolve_db(path_or_url: str | Path | None) -> str | Path:
    if path_or_url is None:
        path_or_url = os.environ.get(ENV_DB) or default_db_path()
    return path_or_url


def open_store(path_or_url: str | Path | None, *, must_exist: bool = False) -> Store:
    """``must_exist``: a database that is not there is a NotFoundError (reads), not a new file."""
    target = resolve_db(path_or_url)
    text = str(target)
    if _is_postgres(text):
        return _open_postgres(text, must_exist=must_exist)
    target = _sqlite_path(text)
    if must_exist and str(target) != ":memory:" and not Path(target).is_file():
        raise NotFoundError(f"no database at {target}")
    from engramdb.stores.sqlite import SQLiteStore

    return SQLiteStore(target)


def migrate(path_or_url: str | Path | None) -> list[str]:
    """Apply the pending schema migrations of a database (creating it when it is a new SQLite
    file); returns the migration files applied, in order."""
    text = str(resolve_db(path_or_url))
    if _is_postgres(text):
        try:
            from engramdb.stores.pg_conn import migrate_url
        except ImportError as exc:
            raise ConfigError(f"{_PG_EXTRA}: {exc}") from exc

        return migrate_url(text)
    from engramdb.stores.sqlite_conn import migrate_path

    return migrate_path(_sqlite_path(text))


def _sqlite_path(text: str) -> Path:
    if "://" in text:
        if not text.startswith("sqlite:///"):
            raise ConfigError(f"unsupported database URL {text!r}; use a path or sqlite:///path")
        return Path(text.removeprefix("sqlite:///"))  # sqlite:////abs/path keeps its leading slash
    return Path(text)


def _open_postgres(url: str, *, must_exist: bool) -> Store:
    try:
        from engramdb.stores.postgres import PostgresStore
    except ImportError as exc:
        raise ConfigError(f"{_PG_EXTRA}: {exc}") from exc
    return PostgresStore(url, create=not must_exist)


def open_embedder(spec: str | None = None, *, threads: int | None = None) -> Embedder:
    """``threads`` bounds a local model's compute threads (the background worker uses 1)."""
    spec = spec or os.environ.get(ENV_EMBEDDER) or "local"
    name, _, arg = spec.partition(":")
    if name == "hash":
        from engramdb.embedders.hashing import HashEmbedder

        try:
            return HashEmbedder(int(arg) if arg else 256)
        except ValueError:
            raise ConfigError(f"hash embedder dimension must be an integer, got {arg!r}") from None
    if name == "local":
        from engramdb.embedders.local import LocalEmbedder

        return LocalEmbedder.load(arg or None, threads=threads)
    if name == "openai":
        from engramdb.embedders.openai import OpenAIEmbedder, OpenAIEmbedderOptions

        return OpenAIEmbedder(OpenAIEmbedderOptions.from_env(model=arg or None))
    raise ConfigError(f"unknown embedder {spec!r}; use local, hash[:DIM] or openai:MODEL")


def _is_postgres(text: str) -> bool:
    return text.startswith(("postgres://", "postgresql://"))


def _sqlite_base(path_or_url: str | Path | None) -> Path:
    text = str(resolve_db(path_or_url))
    if "://" in text and not text.startswith("sqlite:///"):
        raise ConfigError(f"serving needs a SQLite path or a postgresql:// URL, got {text!r}")
    if text == ":memory:":
        raise ConfigError("serving needs a database file, not :memory:")
    return Path(text.removeprefix("sqlite:///"))


def tenant_db(path_or_url: str | Path | None, tenant: str) -> str | Path:
    """Where a tenant's memories live, so that no query, index or term statistic is ever shared
    between tenants: with SQLite, the default tenant in the database itself and every other
    tenant in a file of its own beside it (``memory.db`` -> ``memory.tenants/acme.db``); with
    PostgreSQL, a schema of its own in the same database (stores/pg_tenants.py)."""
    from engramdb.core.grants import DEFAULT_TENANT, check_tenant

    text = str(resolve_db(path_or_url))
    if _is_postgres(text):
        from engramdb.stores.pg_tenants import tenant_url

        return tenant_url(text, tenant)
    base = _sqlite_base(path_or_url)
    if check_tenant(tenant) == DEFAULT_TENANT:
        return base
    return base.with_name(base.stem + ".tenants") / f"{tenant}.db"


def keys_path(path_or_url: str | Path | None) -> Path:
    """The API key file that belongs to a SQLite database (``memory.db`` -> ``memory.keys.db``)."""
    base = _sqlite_base(path_or_url)
    return base.with_name(base.stem + ".keys.db")


def open_keys(path_or_url: str | Path | None) -> KeyStore:
    """The API keys of a database: ``<db>.keys.db`` beside a SQLite file, the table
    ``engram_api_keys`` inside a PostgreSQL database (shared by every server on it)."""
    text = str(resolve_db(path_or_url))
    if _is_postgres(text):
        from engramdb.stores.pg_keys import PgKeyRing

        return PgKeyRing(text)
    from engramdb.stores.sqlite_keys import KeyRing

    return KeyRing(keys_path(path_or_url))


def open_llm(spec: str | None = None) -> LLM | None:
    """The chat model for LLM stages, or None when none is configured: everything else in
    engramdb works without one. ``spec`` (else ``$ENGRAM_LLM``) is ``openai:MODEL``, any
    OpenAI-compatible endpoint at ``$ENGRAM_LLM_BASE_URL`` (default OpenAI's), key from
    ``$ENGRAM_LLM_API_KEY`` or ``$OPENAI_API_KEY``."""
    spec = spec or os.environ.get("ENGRAM_LLM") or None
    if spec is None:
        return None
    name, _, model = spec.partition(":")
    if name != "openai" or not model:
        raise ConfigError(f"unknown LLM {spec!r}; use openai:MODEL (any OpenAI-compatible endpoint)")
    from engramdb.llms.openai import OpenAIChat, OpenAIChatOptions
    from engramdb.retrieval.tokens import count_tokens

    values: dict[str, str] = {"model": model}
    if base_url := os.environ.get("ENGRAM_LLM_BASE_URL"):
        values["base_url"] = base_url
    return OpenAIChat(OpenAIChatOptions.build(**values), count_tokens=count_tokens)


def facts_from_env() -> bool:
    """Whether writes extract facts (``ENGRAM_FACTS``: 1 by default, 0 turns it off)."""
    value = os.environ.get(ENV_FACTS, "1").strip().lower()
    if value not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
        raise ConfigError(f"{ENV_FACTS} must be 0 or 1, got {value!r}")
    return value in ("1", "true", "yes", "on")
