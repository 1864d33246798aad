"""SQLite backend: one file, WAL journal, every commit durable.

State lives in two tables. ``state`` is a B-tree keyed by state key. ``log`` holds the writes of
recent commits in commit order, and is kept in memory as well (``_recent``: latest value per key,
``None`` for a deletion). A state key's value is its latest ``log`` entry if it has one, else its
``state`` row.

Why the log: a commit that updates keys scattered over a large B-tree dirties one page per key,
and the whole page is written to the WAL and again at checkpoint, so a thousand updates to a
Map of a million entries write ~8 MB where the same updates to a Map of a thousand entries write a
few pages. Appending them to ``log`` writes only a few pages, whatever the size of ``state``.
Once the log holds MERGE_ROWS rows or MERGE_BYTES of data, one commit writes every logged key to
``state`` and empties the log: updates to neighbouring keys and repeated updates to the same
key then cost one page write between them.

Every ``apply`` is still one transaction, durable when it returns: either its writes are in the
log, or (when it merges) they and the whole log are in ``state`` and the log is empty. The price:
the commit that merges takes longer (about as long as writing the logged keys straight to
``state`` would have taken once), and ``_recent`` holds up to MERGE_BYTES in memory.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from bisect import bisect_left, bisect_right
from pathlib import Path
from typing import Callable, Collection

from ..errors import StoreError
from .base import Writes, check_key, check_writes, scan_range

SCHEMA = """
CREATE TABLE IF NOT EXISTS state (
    key   BLOB PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log (
    seq   INTEGER PRIMARY KEY,
    key   BLOB NOT NULL,
    value BLOB
);
"""

UPSERT = "INSERT INTO state(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"

Row = tuple[bytes, bytes]
Rows = Collection[tuple[bytes, "bytes | None"]]
"""Writes as (key, value) pairs: a mapping's items, or the log's rows (a key may repeat)."""
FRESH_KEYS = 4096
"""New logged keys kept apart from the long sorted list, at least (see _sorted_recent_keys)."""


class SQLiteStore:
    """State in an SQLite database. ``path=None`` keeps it in memory."""

    MERGE_ROWS = 100_000
    """Log rows that trigger a merge into ``state``."""
    MERGE_BYTES = 32 * 1024 * 1024
    """Bytes of logged keys and values that trigger a merge (bounds the memory ``_recent`` holds)."""

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
            logged = self._db.execute("SELECT key, value FROM log ORDER BY seq").fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open state database {target}: {exc}") from exc
        self._lock = threading.Lock()
        self._recent: dict[bytes, bytes | None] = {}
        self._recent_keys: list[bytes] = []
        """Keys of ``_recent`` in order (scans need it); the newest are in ``_fresh_keys``, and
        the very newest, not sorted yet, in ``_new_keys``."""
        self._fresh_keys: list[bytes] = []
        self._new_keys: list[bytes] = []
        self._log_rows = 0
        self._log_bytes = 0
        self.merges = 0
        """How many merges this store ran (benchmarks report it)."""
        rows = [(bytes(k), None if v is None else bytes(v)) for k, v in logged]
        self._remember_logged(rows, _size(rows))

    # ------------------------------------------------------------ reads

    def get(self, key: bytes) -> bytes | None:
        check_key(key)
        with self._lock:
            recent = self._recent
            if key in recent:
                return recent[key]
            row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def scan(
        self, prefix: bytes, start: bytes | None = None, limit: int | None = None
    ) -> list[tuple[bytes, bytes]]:
        low, high, limit = scan_range(prefix, start, limit)
        if limit == 0:
            return []
        with self._lock:
            keys = self._sorted_recent_keys(low, high)
            first = bisect_left(keys, low)
            end = len(keys) if high is None else bisect_left(keys, high)
            if first == end:  # nothing logged in the range: the table alone answers
                return self._scan_state(low, high, limit)
            return self._scan_merged(low, high, limit, keys, first, end)

    def _scan_state(self, low: bytes, high: bytes | None, limit: int | None) -> list[Row]:
        sql = "SELECT key, value FROM state WHERE key >= ?"
        params: list[object] = [low]
        if high is not None:
            sql += " AND key < ?"
            params.append(high)
        sql += " ORDER BY key"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [(bytes(k), bytes(v)) for k, v in self._db.execute(sql, params).fetchall()]

    def _scan_merged(
        self, low: bytes, high: bytes | None, limit: int | None, keys: list[bytes], first: int, end: int
    ) -> list[Row]:
        """Rows of ``state`` from ``low`` merged with logged keys ``keys[first:end]``, reading
        only as far as ``limit`` needs: logged deletions can hide table rows, so the table is read
        again past its last row until enough are found or it has no more."""
        recent = self._recent
        out: list[Row] = []
        while True:
            want = None if limit is None else limit - len(out)
            rows = self._scan_state(low, high, want)
            more = want is not None and len(rows) == want  # the table may hold rows past these
            stop = bisect_right(keys, rows[-1][0], first, end) if more else end
            r = 0
            while first < stop or r < len(rows):
                if limit is not None and len(out) == limit:
                    return out
                if first == stop or (r < len(rows) and rows[r][0] < keys[first]):
                    out.append(rows[r])
                    r += 1
                    continue
                key = keys[first]
                first += 1
                if r < len(rows) and rows[r][0] == key:
                    r += 1  # the logged value replaces the table's
                value = recent[key]
                if value is not None:
                    out.append((key, value))
            if not more or len(out) == limit:
                return out
            low = rows[-1][0] + b"\x00"

    def _sorted_recent_keys(self, low: bytes, high: bytes | None) -> list[bytes]:
        """The logged keys in order, complete at least from ``low`` to ``high``.

        Merging every commit's new keys into one sorted list of up to MERGE_ROWS keys costs
        milliseconds a block, for scans that mostly look where no recent commit wrote (the
        ledger scans the unbonding queue every block). So new keys are sorted into a short
        list of their own, and folded into the long one only when a scan's range holds one of
        them or the short list grew to an eighth of the long one (each key is then moved a
        bounded number of times)."""
        new = self._new_keys
        if new:  # two sorted runs: Timsort merges them in linear time
            self._fresh_keys = sorted(self._fresh_keys + sorted(new))
            self._new_keys = []
        fresh = self._fresh_keys
        if fresh:
            end = len(fresh) if high is None else bisect_left(fresh, high)
            if bisect_left(fresh, low) < end or len(fresh) > max(FRESH_KEYS, len(self._recent_keys) // 8):
                self._recent_keys = sorted(self._recent_keys + fresh)
                self._fresh_keys = []
        return self._recent_keys

    # ------------------------------------------------------------ writes

    def apply(self, writes: Writes) -> None:
        check_writes(writes)
        if not writes:
            return
        rows = writes.items()
        size = _size(rows)
        with self._lock:
            if self._log_rows + len(rows) >= self.MERGE_ROWS or self._log_bytes + size >= self.MERGE_BYTES:
                self._merge(rows)
            else:
                self._append(rows, size)

    def _append(self, rows: Rows, size: int) -> None:
        self._transaction(lambda db: db.executemany("INSERT INTO log(key, value) VALUES (?, ?)", rows))
        self._remember_logged(rows, size)

    def _merge(self, rows: Rows) -> None:
        """Write the log and ``rows`` to ``state`` and empty the log, in one transaction."""
        latest = dict(self._recent)
        latest.update(rows)
        ordered = sorted(latest.items())  # in key order: neighbouring keys share page writes
        upserts = [(k, v) for k, v in ordered if v is not None]
        deletes = [(k,) for k, v in ordered if v is None]

        def write(db: sqlite3.Connection) -> None:
            if upserts:
                db.executemany(UPSERT, upserts)
            if deletes:
                db.executemany("DELETE FROM state WHERE key = ?", deletes)
            db.execute("DELETE FROM log")

        self._transaction(write)
        self.merges += 1
        self._recent = {}
        self._recent_keys = []
        self._fresh_keys = []
        self._new_keys = []
        self._log_rows = 0
        self._log_bytes = 0

    def _transaction(self, body: Callable[[sqlite3.Connection], object]) -> None:
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            body(db)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _remember_logged(self, rows: Rows, size: int) -> None:
        """Record in memory the rows just appended to the log, in log order."""
        recent = self._recent
        self._new_keys.extend({k: None for k, _ in rows if k not in recent})
        recent.update(rows)
        self._log_rows += len(rows)
        self._log_bytes += size

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _size(rows: Rows) -> int:
    return sum(len(k) + (0 if v is None else len(v)) for k, v in rows)
