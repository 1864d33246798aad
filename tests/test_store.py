"""The store contract, against every backend: SQLite in memory, an SQLite file, and PostgreSQL
(a real server, tests/pgserver.py). Gets, scans and applies agree with a dict; keys sort
bytewise; a failing apply leaves nothing; a commit survives reopening; garbage is refused."""

from __future__ import annotations

import random
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterator

import psycopg
import pytest

from amigos.errors import StoreError
from amigos.store import PostgresStore, SQLiteStore, Store, open_store, prefix_end

BOOM = b"\xffboom"
"""A key that sorts after every other key the tests write: armed, writing it fails."""


class Backend:
    """Opens (and reopens) one store of one kind, and reaches into it for fault injection."""

    def __init__(self, kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        self.durable = kind != "sqlite-memory"
        self.target: str | Path | None = {
            "sqlite-memory": None,
            "sqlite-file": tmp_path / "state.sqlite",
            "postgres": request.getfixturevalue("pg_db") if kind == "postgres" else None,
        }[kind]
        self.opened: list[Store] = []

    def open(self) -> Store:
        store = open_store(self.target)
        self.opened.append(store)
        return store

    def arm(self, store: Store) -> None:
        """Make every write of BOOM fail inside the database, after the other rows were written."""
        if isinstance(store, SQLiteStore):
            for table in ("log", "state"):
                store._db.execute(
                    f"CREATE TRIGGER boom_{table} BEFORE INSERT ON {table} WHEN NEW.key = X'{BOOM.hex()}' "
                    "BEGIN SELECT RAISE(ABORT, 'boom'); END"
                )
            return
        with psycopg.connect(self.target, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(
                "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'boom'; END $$"
            )
            conn.execute(
                "CREATE TRIGGER boom BEFORE INSERT OR UPDATE ON state FOR EACH ROW "
                f"WHEN (NEW.key = '\\x{BOOM.hex()}'::bytea) EXECUTE FUNCTION boom()"
            )

    def close_all(self) -> None:
        for store in self.opened:
            store.close()


@pytest.fixture(params=["sqlite-memory", "sqlite-file", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path):
    b = Backend(request.param, tmp_path, request)
    yield b
    b.close_all()


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()


def _model_scan(model: dict[bytes, bytes], prefix: bytes, start: bytes | None, limit: int | None) -> list[tuple[bytes, bytes]]:
    low = prefix if start is None or start < prefix else start
    high = prefix_end(prefix)
    rows = sorted((k, v) for k, v in model.items() if k >= low and (high is None or k < high))
    return rows if limit is None or limit < 0 else rows[:limit]


def _random_key(rng: random.Random) -> bytes:
    return rng.choice([b"a", b"b", b"ab", b"\xff", b""]) + bytes(rng.randrange(4) for _ in range(rng.randrange(3)))


def _check(store: Store, model: dict[bytes, bytes], rng: random.Random, rounds: int = 20) -> None:
    for _ in range(rounds):
        key = _random_key(rng)
        assert store.get(key) == model.get(key)
        prefix = _random_key(rng)[: rng.randrange(3)]
        start = rng.choice([None, _random_key(rng)])
        limit = rng.choice([None, 0, 1, 2, 3, 7, 50])
        assert store.scan(prefix, start, limit) == _model_scan(model, prefix, start, limit), (prefix, start, limit)


def _apply_random(store: Store, model: dict[bytes, bytes], rng: random.Random, step: int) -> None:
    writes: dict[bytes, bytes | None] = {}
    for _ in range(rng.randrange(1, 8)):
        key = _random_key(rng)
        writes[key] = None if rng.random() < 0.3 else bytes([step % 256]) * rng.randrange(1, 4)
    _apply_both(store, model, writes)


def _apply_both(store: Store, model: dict[bytes, bytes], writes: dict[bytes, bytes | None]) -> None:
    """Apply ``writes`` to the store and to the dict it is checked against."""
    store.apply(writes)
    for key, value in writes.items():
        if value is None:
            model.pop(key, None)
        else:
            model[key] = value


# ---------------------------------------------------------------- every backend


def test_get_apply_and_delete(store: Store):
    assert store.get(b"k") is None
    store.apply({b"k": b"1", b"": b"empty key", b"e": b""})
    assert (store.get(b"k"), store.get(b""), store.get(b"e")) == (b"1", b"empty key", b"")
    store.apply({b"k": b"2"})  # overwrite
    assert store.get(b"k") == b"2"
    store.apply({b"k": None, b"never there": None})  # deleting a missing key is no error
    assert store.get(b"k") is None
    assert store.scan(b"") == [(b"", b"empty key"), (b"e", b"")]
    store.apply({})  # nothing to do
    assert store.scan(b"") == [(b"", b"empty key"), (b"e", b"")]


TRICKY = [
    b"", b"\x00", b"\x00\x00", b"\x00\x01", b"\x01", b"\x7f", b"\x80", b"\x80\x00", b"\xc3\xa9",
    b"\xfe\xff", b"\xff", b"\xff\x00", b"\xff\xfe", b"\xff\xff", b"\xff\xff\xff", b"A", b"B", b"a",
    b"a\x00", b"a\x00\x00", b"a\x01", b"a\xff", b"a\xff\xff", b"ab", b"b", b"z" * 300, b"\x00" * 40,
]


def test_keys_sort_bytewise_with_zero_and_ff_bytes(store: Store):
    rng = random.Random(7)
    shuffled = TRICKY[:]
    rng.shuffle(shuffled)
    model = {k: bytes([i]) * (i + 1) for i, k in enumerate(shuffled)}
    store.apply(model)
    assert store.scan(b"") == sorted(model.items())
    for prefix in (b"", b"\x00", b"\x00\x00", b"\xff", b"\xff\xff", b"a", b"a\x00", b"a\xff", b"\x80", b"zz"):
        for start in (None, b"", b"\x00", b"a\x00", b"a\x01", b"\xff\x00", b"\xff\xff\xff\xff"):
            for limit in (None, 0, 1, 2, 100, -1):
                assert store.scan(prefix, start, limit) == _model_scan(model, prefix, start, limit), (prefix, start, limit)
    for key in TRICKY:
        assert store.get(key) == model[key]
    assert store.get(b"\x00\x00\x00") is None and store.get(b"\xff\xff\xff\xff") is None


def test_all_byte_values_in_keys_and_values(store: Store):
    every = bytes(range(256))
    model = {bytes([b]): every for b in range(256)} | {every: every[::-1], every[::-1]: b"\x00"}
    store.apply(model)
    assert store.scan(b"") == sorted(model.items())
    assert store.get(every) == every[::-1]


def test_scan_limits_and_starts(store: Store):
    model = {bytes([b"p"[0], i]): bytes([i]) for i in range(20)} | {b"o": b"before", b"q": b"after"}
    store.apply(model)
    rows = _model_scan(model, b"p", None, None)
    assert len(rows) == 20
    assert store.scan(b"p") == rows
    assert store.scan(b"p", limit=0) == []
    assert store.scan(b"p", limit=1) == rows[:1]
    assert store.scan(b"p", limit=19) == rows[:19]
    assert store.scan(b"p", limit=20) == rows
    assert store.scan(b"p", limit=1000) == rows
    assert store.scan(b"p", limit=-1) == rows  # a negative limit is no limit
    assert store.scan(b"p", start=b"a") == rows  # a start below the prefix is the prefix
    assert store.scan(b"p", start=b"p\x05", limit=3) == rows[5:8]
    assert store.scan(b"p", start=b"p\x05\x00") == rows[6:]
    assert store.scan(b"p", start=b"q") == []
    assert store.scan(b"", start=b"p\x13") == [(b"p\x13", b"\x13"), (b"q", b"after")]


def test_store_agrees_with_a_dict(backend: Backend):
    rng = random.Random(backend.kind)
    store = backend.open()
    model: dict[bytes, bytes] = {}
    for step in range(120):
        _apply_random(store, model, rng, step)
        _check(store, model, rng, rounds=6)
    if backend.durable:
        store.close()
        store = backend.open()
        _check(store, model, rng, rounds=30)


def test_a_failing_apply_leaves_nothing(backend: Backend):
    store = backend.open()
    before = {bytes([i]): b"old" for i in range(50)}
    store.apply(before)
    backend.arm(store)
    writes: dict[bytes, bytes | None] = {bytes([i]): None for i in range(0, 50, 2)}  # deletions
    writes |= {bytes([i]): b"new" for i in range(1, 50, 2)}  # updates
    writes |= {b"new" + bytes([i]): b"new" for i in range(100)}  # inserts
    writes[BOOM] = b"fails last"
    with pytest.raises((StoreError, sqlite3.Error), match="boom"):
        store.apply(writes)
    assert store.scan(b"") == sorted(before.items())
    if isinstance(store, SQLiteStore):  # the same when the failing apply is the one that merges
        store.MERGE_ROWS = 1
        with pytest.raises(sqlite3.Error, match="boom"):
            store.apply(writes)
        assert store.merges == 0
        assert store.scan(b"") == sorted(before.items())
    store.apply({b"after": b"ok"})  # the store is still usable
    assert store.get(b"after") == b"ok"
    if backend.durable:
        store.close()
        store = backend.open()
        assert store.scan(b"") == sorted((before | {b"after": b"ok"}).items())


def test_commits_survive_reopening(backend: Backend):
    if not backend.durable:
        pytest.skip("an in-memory store ends with its connection")
    store = backend.open()
    store.apply({b"a": b"1", b"b": b"2", b"c": b"3"})
    store.apply({b"b": None, b"d": b"4" * 100_000})
    store.close()
    reopened = backend.open()
    assert reopened.scan(b"") == [(b"a", b"1"), (b"c", b"3"), (b"d", b"4" * 100_000)]


def test_large_batches_and_values(store: Store):
    batch = {i.to_bytes(4, "big"): i.to_bytes(4, "little") * 8 for i in range(5000)}
    store.apply(batch)
    store.apply({b"big": b"\xab" * (2 << 20)})
    assert store.get(b"big") == b"\xab" * (2 << 20)
    assert store.scan(b"\x00\x00\x13", limit=3) == sorted(batch.items())[0x1300:0x1303]
    store.apply({k: None for k in batch})
    assert store.scan(b"") == [(b"big", b"\xab" * (2 << 20))]


@pytest.mark.parametrize(
    "writes",
    [
        {"k": b"1"},
        {b"ok": b"1", "k": b"1"},
        {b"k": "1"},
        {b"k": 1},
        {b"k": bytearray(b"1")},
        {b"k": [1, 2]},
        {1: b"1"},
        {memoryview(b"k"): b"1"},
        [(b"k", b"1")],
        None,
    ],
    ids=["str-key", "str-key-after-good", "str-value", "int-value", "bytearray-value", "list-value",
         "int-key", "memoryview-key", "list-of-pairs", "none"],
)
def test_garbage_writes_are_refused_and_write_nothing(store: Store, writes):
    store.apply({b"before": b"x"})
    with pytest.raises(TypeError, match="bytes|mapping"):
        store.apply(writes)
    assert store.scan(b"") == [(b"before", b"x")]


def test_garbage_reads_are_refused(store: Store):
    store.apply({b"a": b"1"})
    for call in (lambda: store.get("a"), lambda: store.get(None), lambda: store.scan("a"),  # type: ignore[arg-type]
                 lambda: store.scan(b"", start="a"), lambda: store.scan(b"", limit="3"),  # type: ignore[arg-type]
                 lambda: store.scan(b"", limit=1.5)):  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            call()
    assert store.get(b"a") == b"1"


# ---------------------------------------------------------------- SQLite: the append log and merges


@pytest.mark.parametrize("merge_rows", [1, 5, 40, 10**9])
def test_sqlite_agrees_with_a_dict_through_appends_merges_and_reopening(tmp_path, merge_rows):
    rng = random.Random(merge_rows)
    path = tmp_path / "state.sqlite"
    store = SQLiteStore(path)
    store.MERGE_ROWS = merge_rows
    model: dict[bytes, bytes] = {}
    for step in range(300):
        _apply_random(store, model, rng, step)
        _check(store, model, rng)
        if step % 50 == 49:  # what was logged but not merged must survive a restart
            store.close()
            store = SQLiteStore(path)
            store.MERGE_ROWS = merge_rows
            _check(store, model, rng)
    store.close()


def test_sqlite_writes_a_full_log_back_in_slices_while_commits_go_on(tmp_path):
    """A full log is written back to ``state`` a slice at a time, never all in one commit (one
    of 100,000 rows stopped a node 0.6 s): keys first, then the log's rows, while new commits
    append a new generation; and a restart at any step reads the same state back."""
    from amigos.store import sqlite

    path = tmp_path / "state.db"
    store = SQLiteStore(path, background=False)
    store.MERGE_ROWS = 2000
    model = {b"k%05d" % i: b"v%d" % i for i in range(1999)}
    store.apply(model)

    def counts() -> tuple[int, int]:
        return tuple(store._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ("state", "log"))

    seen, restarts, step = [], [3, 12], 0
    while True:
        _apply_both(store, model, {b"n%03d" % step: b"new", b"k%05d" % (step * 7): None})
        before = counts()
        more = store.write_back_slice()
        # a slice need not wait for the disk, but every commit after it must
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        seen.append(counts())
        assert seen[-1][0] - before[0] <= sqlite.WRITEBACK_SLICE and before[1] - seen[-1][1] <= sqlite.WRITEBACK_SLICE
        assert store.scan(b"") == sorted(model.items())
        if step in restarts:  # mid-way through the keys, and through the rows
            store.close()
            store = SQLiteStore(path, background=False)  # it starts over, the log read back whole
            store.MERGE_ROWS = 2000
            assert store.scan(b"") == sorted(model.items())
        step += 1
        if not more:
            break
    first, second = seen[restarts[0]], seen[restarts[1]]
    assert seen[0] == (256, 2001) and first == (1024, 2007)  # mid-way through the keys
    assert second[0] >= 1999 and second[1] < 2000, seen  # all keys in state, some rows gone
    assert store._writeback is None and store.scan(b"") == sorted(model.items())
    store.close()


@pytest.mark.parametrize("merge_rows", [12, 40])
@pytest.mark.parametrize("in_memory", [False, True], ids=["file", "memory"])
def test_sqlite_agrees_with_a_dict_while_it_writes_the_log_back(tmp_path, monkeypatch, merge_rows, in_memory):
    """Writing back one key or one row per slice, a slice now and then, so that commits, gets,
    scans and reopening meet every stage of it: keys partly in ``state``, rows partly gone from
    the log, two generations, a log full again before the last one was done. In memory the
    slices share the store's one connection, and there is nothing to reopen."""
    from amigos.store import sqlite

    monkeypatch.setattr(sqlite, "WRITEBACK_SLICE", 1)
    monkeypatch.setattr(sqlite, "SCAN_STRETCH", 2)  # scans merge the generations a stretch at a time
    rng = random.Random(merge_rows)
    path = None if in_memory else tmp_path / "state.sqlite"
    store = SQLiteStore(path, background=False)
    store.MERGE_ROWS = merge_rows
    model: dict[bytes, bytes] = {}
    stages, merges = set(), 0
    for step in range(400):
        _apply_random(store, model, rng, step)
        for _ in range(rng.randrange(8)):
            store.write_back_slice()
        writeback = store._writeback
        if writeback is not None:
            stages.add("keys" if writeback.written < len(writeback.keys) else "rows")
        _check(store, model, rng, rounds=5)
        if step % 37 == 36 and not in_memory:  # a restart reads the log back whole, whatever stage it was at
            merges += store.merges
            store.close()
            store = SQLiteStore(path, background=False)
            store.MERGE_ROWS = merge_rows
            _check(store, model, rng)
    assert stages == {"keys", "rows"} and merges + store.merges >= 2
    store.close()


def test_sqlite_writes_back_in_the_background_while_it_is_used(tmp_path, monkeypatch):
    """The store's own thread writes a full log back while commits and reads go on."""
    from amigos.store import sqlite

    monkeypatch.setattr(sqlite, "WRITEBACK_SLICE", 7)
    rng = random.Random(5)
    store = SQLiteStore(tmp_path / "state.db")
    store.MERGE_ROWS = 60
    model: dict[bytes, bytes] = {}
    for step in range(300):
        _apply_random(store, model, rng, step)
        _check(store, model, rng, rounds=3)
    deadline = time.monotonic() + 30
    while store._writeback is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store._writeback is None and store.merges >= 3
    assert store.scan(b"") == sorted(model.items())
    store.close()
    assert store._writer is not None and not store._writer.is_alive()
    reopened = SQLiteStore(tmp_path / "state.db")
    assert reopened.scan(b"") == sorted(model.items())
    reopened.close()


# ---------------------------------------------------------------- opening stores by name


def test_open_store_by_path_and_url(tmp_path: Path):
    memory = open_store(None)
    assert isinstance(memory, SQLiteStore) and memory.path is None
    for target, path in [
        (tmp_path / "a.sqlite", tmp_path / "a.sqlite"),
        (str(tmp_path / "b.sqlite"), tmp_path / "b.sqlite"),
        (f"sqlite://{tmp_path}/c%20d.sqlite", tmp_path / "c d.sqlite"),
    ]:
        s = open_store(target)
        assert isinstance(s, SQLiteStore) and s.path == path
        s.apply({b"k": b"v"})
        s.close()
        assert path.exists()
    for target in ("sqlite://", "sqlite:///:memory:"):
        s = open_store(target)
        assert isinstance(s, SQLiteStore) and s.path is None
    for bad in ("sqlite://relative/path", "", "mysql://root:hunter2@db/state", "redis://:hunter2@h"):
        with pytest.raises(StoreError) as info:
            open_store(bad)
        assert "hunter2" not in str(info.value)
    with pytest.raises(TypeError):
        open_store(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------- PostgreSQL specifics


def _server(url: str) -> str:
    return url.split("@", 1)[1].split("/", 1)[0]


def _password(url: str) -> str:
    return url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


def test_postgres_errors_are_store_errors_without_the_password(pg_url: str):
    host = _server(pg_url)
    cases = {
        f"postgresql://amigos:wrong-pw-1234@{host}/postgres": "password authentication failed",
        pg_url.rsplit("/", 1)[0] + "/no_such_db": "does not exist",
        "postgresql://amigos:wrong-pw-1234@127.0.0.1:1/x?connect_timeout=2": "refused",
        "postgresql://amigos:wrong-pw-1234@127.0.0.1:notaport/x": "port",
        "postgresql://amigos:wrong-pw-1234@h/x?no_such_option=1": "no_such_option",
        "postgres://amigos:wrong%2Dpw%2D1234@127.0.0.1:1/x?password=wrong-pw-1234&connect_timeout=2": "refused",
        # A one-letter password is not scrubbed from every word ("r***fus***d"), only where it stands.
        "postgresql://amigos:e@127.0.0.1:1/x?connect_timeout=2": "refused",
        "postgresql://amigos:e@127.0.0.1:1/x?password=e&connect_timeout=2": "refused",
    }
    for url, says in cases.items():
        with pytest.raises(StoreError, match=says) as info:
            PostgresStore(url)
        text = str(info.value)
        assert "wrong-pw-1234" not in text and "wrong%2Dpw" not in text, text
        assert ":e@" not in text and "password=e" not in text, text
        assert _password(pg_url) not in text
        assert info.value.__cause__ is None and "***" in text  # no chained driver error to leak it
    with pytest.raises(StoreError, match="not a PostgreSQL URL"):
        PostgresStore("mysql://u:pw@h/x")


def test_postgres_settings_and_schema(pg_db: str):
    store = PostgresStore(pg_db)
    try:
        assert "***" in repr(store) and _password(pg_db) not in repr(store)
        with store._pool.connection() as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
            assert conn.execute("SHOW fsync").fetchone()[0] == "on"
            columns = conn.execute(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                "WHERE table_name = 'state' ORDER BY ordinal_position"
            ).fetchall()
        assert columns == [("key", "bytea", "NO"), ("value", "bytea", "NO")]
    finally:
        store.close()
    PostgresStore(pg_db).close()  # the table exists already: opening again is fine


def test_postgres_reads_survive_dropped_connections(pg_db: str, pg_url: str):
    """A server restart or an idle timeout closes the pool's connections: reads reconnect."""
    store = PostgresStore(pg_db)
    try:
        store.apply({b"k": b"v"})
        assert store.get(b"k") == b"v"
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (pg_db.rsplit("/", 1)[1],),
            )
        assert store.get(b"k") == b"v"
        assert store.scan(b"") == [(b"k", b"v")]
        store.apply({b"k2": b"v2"})
        assert store.get(b"k2") == b"v2"
    finally:
        store.close()
    with pytest.raises(StoreError, match="closed"):
        store.get(b"k")
    store.close()  # twice is fine


def test_two_postgres_stores_see_each_others_commits(pg_db: str):
    a, b = PostgresStore(pg_db), PostgresStore(pg_db)
    try:
        a.apply({b"x": b"1"})
        assert b.get(b"x") == b"1"
        b.apply({b"x": None, b"y": b"2"})
        assert a.scan(b"") == [(b"y", b"2")]
    finally:
        a.close()
        b.close()


@pytest.fixture
def black_hole() -> Iterator[str]:
    """``host:port`` of a server that never answers: the socket listens, so the kernel
    completes the TCP handshake, but nothing ever reads or writes (as a firewalled or hung
    server looks to a client)."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(16)
        yield f"127.0.0.1:{listening.getsockname()[1]}"


def _opening_fails(url: str) -> BaseException:
    """What opening ``url`` raises, from a thread, so a hang fails the test (after a minute)
    instead of stalling the suite."""
    outcome: list[BaseException] = []

    def open_it() -> None:
        try:
            PostgresStore(url).close()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=open_it, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), f"opening {url} hangs"
    assert outcome, f"{url} opened"
    return outcome[0]


def test_a_server_that_never_answers_is_a_clear_error_after_the_connect_timeout(
        black_hole: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    failure = _opening_fails(f"postgresql://amigos:pw-5678@{black_hole}/x?connect_timeout=3")
    assert isinstance(failure, StoreError) and "did not answer within 3 s (connect_timeout)" in str(failure)
    assert black_hole in str(failure) and "pw-5678" not in str(failure)
    monkeypatch.setattr(PostgresStore, "CONNECT_TIMEOUT", 2)  # the default, when nothing sets it
    failure = _opening_fails(f"postgresql://amigos:pw-5678@{black_hole}/x")
    assert isinstance(failure, StoreError) and "within 2 s" in str(failure)
    monkeypatch.setattr(PostgresStore, "CONNECT_TIMEOUT", 3600)
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "2")  # libpq's variable, when the URL does not set it
    failure = _opening_fails(f"postgresql://amigos:pw-5678@{black_hole}/x")
    assert isinstance(failure, StoreError) and "within 2 s" in str(failure)


@pytest.mark.parametrize("timeout", ["0", "-1", "abc", "1.5", "%20"])
def test_a_connect_timeout_that_would_wait_forever_or_is_not_one_is_refused(black_hole: str, timeout: str):
    """libpq waits forever for 0 or less (psycopg: 130 s); garbage is not a timeout either."""
    failure = _opening_fails(f"postgresql://amigos:pw-5678@{black_hole}/x?connect_timeout={timeout}")
    assert isinstance(failure, StoreError), failure
    assert "connect_timeout must be a whole number of seconds, at least 1" in str(failure)


def test_scans_see_fresh_keys_whether_or_not_they_fold_them_in(tmp_path) -> None:
    """SQLite keeps the newest logged keys apart from the sorted ones and folds them in only
    when a scan's range holds one (or there are many): scans of ranges nobody wrote lately, of
    ranges somebody just did, and of everything agree with a dict all along."""
    from amigos.store.sqlite import FRESH_KEYS, SQLiteStore

    rng = random.Random(11)
    store = SQLiteStore(tmp_path / "state.db")
    model: dict[bytes, bytes] = {}
    for step in range(60):
        writes: dict[bytes, bytes | None] = {b"m/%06d" % rng.randrange(10**6): b"v%d" % step for _ in range(200)}
        if step % 7 == 3:
            writes[b"q/%03d" % rng.randrange(50)] = None if step % 2 else b"queued"
        _apply_both(store, model, writes)
        scans = [(b"q/", 1), (b"q/", None), (b"m/x", 3), (b"n/", None)] + ([(b"m/0", 3)] if step % 10 == 9 else [])
        for prefix, limit in scans:
            assert store.scan(prefix, None, limit) == _model_scan(model, prefix, None, limit), (step, prefix)
        if step == 30:
            assert store._fresh_keys, "the scans above should have left fresh keys unfolded"
            assert len(store._fresh_keys) <= max(FRESH_KEYS, len(store._recent_keys) // 8)
    assert store.scan(b"") == sorted(model.items())
    store.close()
