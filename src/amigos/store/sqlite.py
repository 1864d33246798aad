"""SQLite backend: one file, WAL journal, every commit durable."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from ..errors import StoreError
from .base import Writes, prefix_end

SCHEMA = """
CREATE TABLE IF NOT EXISTS state (
    key   BLOB PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
"""


class SQLiteStore:
    """State in an SQLite database. ``path=None`` keeps it in memory."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else Path(path)
        target = ":memory:" if path is None else str(path)
        try:
            self._db = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit that returned survives power loss, not only a process crash.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA cache_size=-65536")  # 64 MiB of pages: hot Map entries stay in memory
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open state database {target}: {exc}") from exc
        self._lock = threading.Lock()

    def get(self, key: bytes) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def scan(
        self, prefix: bytes, start: bytes | None = None, limit: int | None = None
    ) -> list[tuple[bytes, bytes]]:
        low = prefix if start is None or start < prefix else start
        high = prefix_end(prefix)
        sql = "SELECT key, value FROM state WHERE key >= ?"
        params: list[object] = [low]
        if high is not None:
            sql += " AND key < ?"
            params.append(high)
        sql += " ORDER BY key"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [(bytes(k), bytes(v)) for k, v in rows]

    def apply(self, writes: Writes) -> None:
        if not writes:
            return
        upserts = [(k, v) for k, v in writes.items() if v is not None]
        deletes = [(k,) for k, v in writes.items() if v is None]
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                if upserts:
                    self._db.executemany(
                        "INSERT INTO state(key, value) VALUES (?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        upserts,
                    )
                if deletes:
                    self._db.executemany("DELETE FROM state WHERE key = ?", deletes)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()
