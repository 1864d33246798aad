"""The SQLite store against a dict: gets, scans and reopening agree through appends and merges."""

import random
import sqlite3

import pytest

from amigos.store import SQLiteStore, prefix_end


def _model_scan(model: dict[bytes, bytes], prefix: bytes, start: bytes | None, limit: int | None) -> list[tuple[bytes, bytes]]:
    low = prefix if start is None or start < prefix else start
    high = prefix_end(prefix)
    rows = sorted((k, v) for k, v in model.items() if k >= low and (high is None or k < high))
    return rows if limit is None else rows[:limit]


def _random_key(rng: random.Random) -> bytes:
    return rng.choice([b"a", b"b", b"ab", b"\xff", b""]) + bytes(rng.randrange(4) for _ in range(rng.randrange(3)))


def _check(store: SQLiteStore, model: dict[bytes, bytes], rng: random.Random) -> None:
    for _ in range(20):
        key = _random_key(rng)
        assert store.get(key) == model.get(key)
        prefix = _random_key(rng)[: rng.randrange(3)]
        start = rng.choice([None, _random_key(rng)])
        limit = rng.choice([None, 0, 1, 2, 3, 7, 50])
        assert store.scan(prefix, start, limit) == _model_scan(model, prefix, start, limit), (prefix, start, limit)


@pytest.mark.parametrize("merge_rows", [1, 5, 40, 10**9])
def test_store_agrees_with_a_dict_through_appends_merges_and_reopening(tmp_path, merge_rows):
    rng = random.Random(merge_rows)
    path = tmp_path / "state.sqlite"
    store = SQLiteStore(path)
    store.MERGE_ROWS = merge_rows
    model: dict[bytes, bytes] = {}
    for step in range(300):
        writes = {}
        for _ in range(rng.randrange(1, 8)):
            key = _random_key(rng)
            writes[key] = None if rng.random() < 0.3 else bytes([step % 256]) * rng.randrange(1, 4)
        store.apply(writes)
        for key, value in writes.items():
            if value is None:
                model.pop(key, None)
            else:
                model[key] = value
        _check(store, model, rng)
        if step % 50 == 49:  # what was logged but not merged must survive a restart
            store.close()
            store = SQLiteStore(path)
            store.MERGE_ROWS = merge_rows
            _check(store, model, rng)
    store.close()


def test_a_merge_is_one_transaction(tmp_path):
    store = SQLiteStore(tmp_path / "state.sqlite")
    store.MERGE_ROWS = 3
    store.apply({b"a": b"1", b"b": b"2"})
    # Writing "d" fails inside SQLite, after "c" was written in the same merge.
    store._db.execute("CREATE TRIGGER boom BEFORE INSERT ON state WHEN NEW.key = X'64' BEGIN SELECT RAISE(ABORT, 'boom'); END")
    with pytest.raises(sqlite3.Error, match="boom"):
        store.apply({b"c": b"3", b"d": b"4"})
    assert store.merges == 0
    assert [store.get(k) for k in (b"a", b"b", b"c")] == [b"1", b"2", None]
    store.close()
    reopened = SQLiteStore(tmp_path / "state.sqlite")
    assert reopened.scan(b"") == [(b"a", b"1"), (b"b", b"2")]
    reopened.close()


@pytest.mark.parametrize("writes", [{"k": b"1"}, {b"ok": b"1", "k": b"1"}, {b"k": "1"}, {b"k": [1, 2]}, [(b"k", b"1")]])
def test_garbage_writes_are_refused_and_write_nothing(writes):
    store = SQLiteStore()
    store.apply({b"before": b"x"})
    with pytest.raises(TypeError, match="bytes|mapping"):
        store.apply(writes)
    assert store.scan(b"") == [(b"before", b"x")]
    for call in (lambda: store.get("a"), lambda: store.scan("a"), lambda: store.scan(b"", limit="3")):
        with pytest.raises(TypeError):
            call()
