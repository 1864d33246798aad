"""Key-value state behind one small interface.

The VM sees state as ordered byte keys mapped to byte values. A backend only has to read one
key, scan a key range in order, and apply a set of writes atomically and durably. SQLite (WAL)
is the embedded default; PostgreSQL comes with the node. :func:`open_store` picks one from a
path or URL.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ..errors import StoreError
from .base import Store, Writes, check_key, check_writes, prefix_end
from .sqlite import SQLiteStore
from .urls import redact

if TYPE_CHECKING:
    from .postgres import PostgresStore

__all__ = ["Store", "Writes", "SQLiteStore", "PostgresStore", "open_store", "prefix_end", "check_key", "check_writes"]


def open_store(target: str | os.PathLike[str] | None = None) -> Store:
    """The store ``target`` names:

    * ``None``: SQLite in memory;
    * a path, or ``sqlite:///absolute/path`` (``sqlite://`` alone: in memory): an SQLite file;
    * ``postgresql://user:password@host:port/database`` (or ``postgres://``): PostgreSQL.

    Raises :class:`~amigos.errors.StoreError` for another URL scheme or a store that cannot be
    opened; messages never show a password.
    """
    if target is None:
        return SQLiteStore(None)
    if isinstance(target, os.PathLike):
        return SQLiteStore(Path(target))
    if not isinstance(target, str):
        raise TypeError(f"a store is named by a path or URL string, not {type(target).__name__}")
    scheme, sep, rest = target.partition("://")
    if not sep:
        if not target:
            raise StoreError("an empty store path")
        return SQLiteStore(Path(target))
    scheme = scheme.lower()
    if scheme in ("postgresql", "postgres"):
        from .postgres import PostgresStore

        return PostgresStore(target)
    if scheme == "sqlite":
        if rest in ("", "/:memory:"):
            return SQLiteStore(None)
        if not rest.startswith("/") or rest == "/":
            raise StoreError(f"an SQLite URL names an absolute path: sqlite:///path/to/state.sqlite, not {target!r}")
        return SQLiteStore(Path(unquote(rest.split("?", 1)[0])))
    raise StoreError(f"unsupported store URL {redact(target)!r} (use a path, sqlite:///path or postgresql://…)")


def __getattr__(name: str) -> Any:
    # PostgresStore imports psycopg: only when it is asked for, not in every worker process.
    if name == "PostgresStore":
        from .postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
