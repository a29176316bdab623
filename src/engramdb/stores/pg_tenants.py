"""Tenants of a PostgreSQL deployment: one schema each in the one database.

The default tenant uses the URL as given (its schema search path, usually ``public``); tenant
``acme`` gets schema ``engram_t_acme_<8 hex>`` (the name made safe for an identifier, plus a
hash of the exact tenant name so two names never share a schema), reached through the same URL
with ``options=-csearch_path=<schema>,public`` (``public`` for the ``vector`` type). Every
table, index and term statistic of a tenant lives in its schema: nothing is shared between
tenants but the server process, as with one SQLite file per tenant."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from engramdb.core.grants import DEFAULT_TENANT, check_tenant
from engramdb.stores.pg_conn import safe_url, translate


def schema_for(tenant: str) -> str | None:
    """The schema of ``tenant`` (None: the default tenant's, the URL's own)."""
    if check_tenant(tenant) == DEFAULT_TENANT:
        return None
    readable = re.sub(r"[^a-z0-9_]", "_", tenant)[:40]
    return f"engram_t_{readable}_{hashlib.sha256(tenant.encode()).hexdigest()[:8]}"


def with_search_path(url: str, schema: str) -> str:
    """``url`` whose sessions use ``schema`` first (kept options and parameters stay)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = " ".join(v for k, v in query if k == "options")
    query = [(k, v) for k, v in query if k != "options"]
    query.append(("options", f"{options} -csearch_path={schema},public".strip()))
    return urlunsplit(parts._replace(query=urlencode(query)))


def tenant_url(url: str, tenant: str) -> str:
    """The URL of ``tenant``'s store; its schema (and the ``vector`` extension) exist after this."""
    schema = schema_for(tenant)
    if schema is None:
        return url
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    except psycopg.Error as exc:
        raise translate(exc, f"tenant {tenant!r} at {safe_url(url)}") from exc
    return with_search_path(url, schema)
