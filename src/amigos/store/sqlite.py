"""SQLite backend: one file, WAL journal, every commit durable.

State lives in two tables. ``state`` is a B-tree keyed by state key. ``log`` holds the writes of
recent commits in commit order, and is kept in memory as well (``_recent``: latest value per key,
``None`` for a deletion). A state key's value is its latest ``log`` entry if it has one, else its
``state`` row.

Why the log: a commit that updates keys scattered over a large B-tree dirties one page per key,
and the whole page is written to the WAL and again at checkpoint, so a thousand updates to a
Map of a million entries write ~8 MB where the same updates to a Map of a thousand entries write a
few pages. Appending them to ``log`` writes only a few pages, whatever the size of ``state``.

Once the log holds MERGE_ROWS rows or MERGE_BYTES of data, what it holds becomes a *generation
being written back*: a background thread writes its latest value per key to ``state`` in key
order (updates to neighbouring keys and repeated updates to the same key then cost one page
write between them), then removes its rows from the log, oldest first, in slices of a few
hundred, each its own short transaction. New commits go on appending meanwhile: a busy node never
stops for the whole of it (100,000 rows took ~0.6 s in one commit), and the writing mostly runs
in SQLite, without the GIL, on a core the node leaves idle. Should the log fill up again first,
the commit that fills it finishes the last generation itself.

Every ``apply`` is one transaction, durable when it returns. Writing back changes nothing a read
sees: a key's value is its latest ``log`` row if it has one, and its ``state`` row never gets
ahead of that (a generation's rows leave the log only after all its keys are in ``state``, and
a newer row of the same key stays in the log after them). So its slices commit without waiting
for the disk: the next ``apply``'s sync covers them, and SQLite's WAL never keeps a later
transaction without the earlier ones. A restart reads the log back whole and starts over.
``_recent`` holds up to MERGE_BYTES in memory, twice that while a generation is being written
back.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from bisect import bisect_left, bisect_right
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Collection, TypeVar

from ..errors import StoreError
from .base import Writes, check_key, check_writes, scan_range

log = logging.getLogger(__name__)

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

UPSERT = "INSERT INTO state(key, value) VALUES {} ON CONFLICT(key) DO UPDATE SET value = excluded.value"
ROWS_PER_STATEMENT = 256
"""Rows one statement carries (512 parameters: SQLite allows 32,766)."""

Row = tuple[bytes, bytes]
Rows = Collection[tuple[bytes, "bytes | None"]]
"""Writes as (key, value) pairs: a mapping's items, or the log's rows (a key may repeat)."""
FRESH_KEYS = 4096
"""New logged keys kept apart from the long sorted list, at least (see _sorted_recent_keys)."""
WRITEBACK_SLICE = 256
"""Keys written back (or log rows removed) per transaction: about a millisecond, the longest
a commit waits for the thread doing it (reads never do: it has a connection of its own)."""
SCAN_STRETCH = 256
"""Logged keys of each generation a scan merges at a time while a write-back is under way."""
WRITEBACK_PAUSE = 0.0005
"""Seconds the writing-back thread lets go of the store between slices."""


@dataclass
class Writeback:
    """A generation of the log on its way to ``state``: what it holds, and how far it got."""

    values: dict[bytes, bytes | None]
    """Its latest value of each key (``None``: deleted)."""
    keys: list[bytes]
    """Those keys in order: ``keys[:written]`` are in ``state`` already."""
    last_seq: int
    """Its rows are the log's rows up to this ``seq``; those up to ``trimmed`` are gone."""
    trimmed: int
    written: int = 0

    def done(self) -> bool:
        return self.trimmed >= self.last_seq


class SQLiteStore:
    """State in an SQLite database. ``path=None`` keeps it in memory."""

    MERGE_ROWS = 25_000
    """Log rows that make the log a generation to write back to ``state``. The sorted list of
    logged keys is as long as a generation, and what keeps it sorted runs inside a block
    (:meth:`_sorted_recent_keys` folding fresh keys in, :meth:`_start_writeback`): about 3 ms at
    25,000 keys, 10–15 ms at 60,000. With 100,000 rows, a node taking 64 clients' transfers
    one per request had a p99 10 ms higher and 5–10% less throughput (benchmarks/node_throughput.py)."""
    MERGE_BYTES = 32 * 1024 * 1024
    """Bytes of logged keys and values that make the log a generation too (this bounds the
    memory ``_recent`` holds)."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, background: bool = True) -> None:
        """``background=False``: a full log is written back only by :meth:`write_back_slice`
        calls (tests take the steps one at a time) and by the commit that fills it again."""
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
        """Guards the connection and what is kept in memory."""
        self._write_lock = threading.Lock()
        """Taken first by whatever writes to the database: commits, and writing back."""
        self._writeback_db: sqlite3.Connection | None = None
        self._recent: dict[bytes, bytes | None] = {}
        self._recent_keys: list[bytes] = []
        """Keys of ``_recent`` in order (scans need it); the newest are in ``_fresh_keys``, and
        the very newest, not sorted yet, in ``_new_keys``."""
        self._fresh_keys: list[bytes] = []
        self._new_keys: list[bytes] = []
        self._log_rows = 0
        self._log_bytes = 0
        self._writeback: Writeback | None = None
        self._background = background
        self._writer: threading.Thread | None = None
        self._wake = threading.Event()
        self._closing = False
        self.merges = 0
        """How many generations of the log this store wrote back (benchmarks report it)."""
        rows = [(bytes(k), None if v is None else bytes(v)) for k, v in logged]
        self._remember_logged(rows, _size(rows))

    # ------------------------------------------------------------ reads

    def get(self, key: bytes) -> bytes | None:
        check_key(key)
        with self._lock:
            recent = self._recent
            if key in recent:
                return recent[key]
            writeback = self._writeback
            if writeback is not None and key in writeback.values:
                return writeback.values[key]
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
            writeback = self._writeback
            if writeback is None:
                return self._scan_logged(low, high, limit, keys)
            # Both generations may have logged keys here. Their union is built a stretch at a
            # time, as far as the scan reads: a short scan of a long range stays short.
            out: list[Row] = []
            while True:
                end, logged = union_stretch(keys, writeback.keys, writeback.written, low, high, SCAN_STRETCH)
                want = None if limit is None else limit - len(out)
                out += self._scan_logged(low, end, want, logged)
                if end == high or len(out) == limit:
                    return out
                assert end is not None
                low = end

    def _scan_logged(self, low: bytes, high: bytes | None, limit: int | None, keys: list[bytes]) -> list[Row]:
        """Rows from ``low`` to ``high``, where ``keys`` hold (at least) every logged key of that
        range, in order."""
        first = bisect_left(keys, low)
        end = len(keys) if high is None else bisect_left(keys, high, first)
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
                value = recent[key] if key in recent else self._writeback.values[key]  # type: ignore[union-attr]
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
        with self._write_lock, self._lock:
            if self._log_rows + len(rows) >= self.MERGE_ROWS or self._log_bytes + size >= self.MERGE_BYTES:
                if self._writeback is not None:  # the log filled up again first
                    self._finish_writeback()
                self._start_writeback()
            transaction(self._db, lambda db: execute_rows(db, "INSERT INTO log(key, value) VALUES {}", rows))
            self._remember_logged(rows, size)

    def _start_writeback(self) -> None:
        """Make the log so far a generation to write back, and start a new one. Nothing changes
        on disk: this only decides which rows later commits write back."""
        first_seq, last_seq = self._db.execute("SELECT min(seq), max(seq) FROM log").fetchone()
        if last_seq is not None:
            keys = self._sorted_recent_keys(b"", None)  # every key: all are folded in
            self._writeback = Writeback(self._recent, keys, last_seq, trimmed=first_seq - 1)
            self._wake_writer()
        self._recent = {}
        self._recent_keys = []
        self._fresh_keys = []
        self._new_keys = []
        self._log_rows = 0
        self._log_bytes = 0

    def _finish_writeback(self) -> None:
        """Write back the rest of the generation under way at once, in one durable transaction."""
        writeback = self._writeback
        assert writeback is not None
        budget = len(writeback.keys) + writeback.last_seq - writeback.trimmed
        self._record_progress(writeback, transaction(self._db, lambda db: write_back(db, writeback, budget)))

    def write_back_slice(self) -> bool:
        """Write back one slice of the generation under way, if there is one: whether there is
        more to do. A file's slices go through a connection of their own, which commits without
        waiting for the disk: reads go on meanwhile, and only commits wait for the slice."""
        with self._write_lock:
            writeback = self._writeback  # replaced only under the write lock: it stays
            if writeback is None or self._closing:
                return False
            # In memory, the store's own connection (a second one to ":memory:" is another
            # database), which reads share.
            shared = self.path is None
            with self._lock if shared else nullcontext():
                db = self._db if shared else self._writeback_connection()
                progress = transaction(db, lambda db: write_back(db, writeback, WRITEBACK_SLICE))
            with self._lock:
                self._record_progress(writeback, progress)
                return self._writeback is not None

    def _record_progress(self, writeback: Writeback, progress: tuple[int, int]) -> None:
        writeback.written, writeback.trimmed = progress
        if writeback.done():
            self._writeback = None
            self.merges += 1

    def _writeback_connection(self) -> sqlite3.Connection:
        if self._writeback_db is None:
            db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            # What it writes changes nothing a read sees, and a later commit's sync covers it.
            db.execute("PRAGMA synchronous=NORMAL")
            self._writeback_db = db
        return self._writeback_db

    def _wake_writer(self) -> None:
        if not self._background:
            return
        if self._writer is None:
            self._writer = threading.Thread(target=self._keep_writing_back, name="amigos-store-writeback",
                                            daemon=True)
            self._writer.start()
        self._wake.set()

    def _keep_writing_back(self) -> None:
        while not self._closing:
            self._wake.wait()
            self._wake.clear()
            try:
                while self.write_back_slice():
                    time.sleep(WRITEBACK_PAUSE)
            except Exception:  # the commit that fills the log again finishes it
                log.exception("writing the log back to the state table failed; the next full log retries")

    def _remember_logged(self, rows: Rows, size: int) -> None:
        """Record in memory the rows just appended to the log, in log order."""
        recent = self._recent
        self._new_keys.extend({k: None for k, _ in rows if k not in recent})
        recent.update(rows)
        self._log_rows += len(rows)
        self._log_bytes += size

    def close(self) -> None:
        self._closing = True
        if self._writer is not None:
            self._wake.set()
            self._writer.join()
        with self._write_lock, self._lock:
            if self._writeback_db is not None:
                self._writeback_db.close()
            self._db.close()


T = TypeVar("T")


def union_stretch(
    newer: list[bytes], older: list[bytes], older_from: int, low: bytes, high: bytes | None, most: int
) -> tuple[bytes | None, list[bytes]]:
    """The sorted union of two sorted lists of keys (``older`` from index ``older_from`` on) in
    the range from ``low`` to ``high``, or a first stretch of it with at most ``most`` keys of
    each: ``(end, keys)``, where ``end`` is where that stretch stops (``high`` if it is all)."""
    end = high
    runs = []
    for run, first in ((newer, 0), (older, older_from)):
        first = max(first, bisect_left(run, low))
        last = len(run) if high is None else bisect_left(run, high, first)
        if last - first > most and (end is None or run[first + most] < end):
            end = run[first + most]
        runs.append((run, first, last))
    stretch: set[bytes] = set()
    for run, first, last in runs:
        if end is not None:
            last = bisect_left(run, end, first, last)
        stretch.update(run[first:last])
    return end, sorted(stretch)


def transaction(db: sqlite3.Connection, body: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``body`` in one write transaction of ``db``: all of it, or nothing."""
    try:
        db.execute("BEGIN IMMEDIATE")
        result = body(db)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return result


def write_back(db: sqlite3.Connection, writeback: Writeback, budget: int) -> tuple[int, int]:
    """Write up to ``budget`` more of the generation's keys to ``state``, in key order; once all
    are there, remove up to ``budget`` of its rows from the log, oldest first (a row may go only
    when its key's value is in ``state``, and keys and rows do not come in the same order).
    Returns how far it got: (keys written, last seq removed)."""
    written, trimmed = writeback.written, writeback.trimmed
    if written < len(writeback.keys):
        values = writeback.values
        chunk = writeback.keys[written:written + budget]
        upserts = [(k, v) for k in chunk if (v := values[k]) is not None]
        deletes = [(k,) for k in chunk if values[k] is None]
        execute_rows(db, UPSERT, upserts)
        execute_rows(db, "DELETE FROM state WHERE key IN (VALUES {})", deletes)
        written += len(chunk)
        budget -= len(chunk)
    if written == len(writeback.keys) and budget > 0:
        trimmed = min(writeback.last_seq, trimmed + budget)
        db.execute("DELETE FROM log WHERE seq <= ?", (trimmed,))
    return written, trimmed


def execute_rows(db: sqlite3.Connection, sql: str, rows: Collection[tuple[object, ...]]) -> None:
    """Run ``sql`` over ``rows``, its ``{}`` a list of them, a few hundred per statement. Not
    ``executemany``: it lets go of the GIL around each row's step, and on a busy node each
    time waits for it back (up to the switch interval), holding the store meanwhile."""
    rows = list(rows)
    if not rows:
        return
    width = len(rows[0])
    one = "(" + ", ".join("?" * width) + ")"
    for first in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[first:first + ROWS_PER_STATEMENT]
        db.execute(sql.format(", ".join([one] * len(chunk))), [value for row in chunk for value in row])


def _size(rows: Rows) -> int:
    return sum(len(k) + (0 if v is None else len(v)) for k, v in rows)
