"""The runtime on PostgreSQL (``LocalRuntime(db=url)``): the same services, calls and state as on
SQLite, byte for byte, and state that outlives the runtime."""

from __future__ import annotations

import textwrap

import pytest

import amigos
from amigos.errors import StoreError

CLOCK = lambda: 1_700_000_000  # noqa: E731

BOOK = textwrap.dedent('''
    """Entries in a Map: state that is scanned in key order."""
    import std

    entries = std.Map()
    count = 0

    def add(key, value):
        global count
        std.require(key not in entries, "taken")
        entries[key] = value
        count += 1
        return count

    def fail_after_add(key):
        global count
        entries[key] = "never"
        count += 1
        raise ValueError("nope")

    def get(key):
        return entries.get(key)

    def total():
        return count
''')
PATH = "hub.amigos.dev/alice/book"
KEYS = ["", "a", "a\x00", "\xff", "é", "z" * 50, "b", "A", "0", "\x00"]


def _play(rt: amigos.LocalRuntime) -> None:
    rt.deploy(PATH, BOOK, signer="alice")
    for i, key in enumerate(KEYS):
        assert rt.call(PATH, "add", key, i, signer="bob").ok
    failed = rt.call(PATH, "fail_after_add", "ghost", signer="bob")
    assert not failed.ok and failed.error.type == "ServiceError"
    with rt.batch():
        for i in range(5):
            rt.call(PATH, "add", f"batch{i}", [i, b"\x00\xff"], signer="carol")


def test_the_same_calls_give_the_same_state_on_sqlite_and_postgres(pg_db: str):
    with amigos.LocalRuntime(clock=CLOCK) as reference:
        _play(reference)
        expected = reference.state_items()
    with amigos.LocalRuntime(db=pg_db, clock=CLOCK) as rt:
        _play(rt)
        assert rt.state_items() == expected
        assert rt.query(PATH, "get", "ghost") is None
        assert rt.query(PATH, "total") == len(KEYS) + 5
        assert rt.state(PATH)["maps"]["#0"]["size"] == len(KEYS) + 5


def test_state_outlives_the_runtime(pg_db: str):
    with amigos.LocalRuntime(db=pg_db, clock=CLOCK) as rt:
        _play(rt)
        root, height = rt.state_root(), rt.height
    with amigos.LocalRuntime(db=pg_db, clock=CLOCK) as rt:
        assert (rt.state_root(), rt.height) == (root, height)
        assert rt.query(PATH, "get", "batch3") == [3, b"\x00\xff"]
        assert rt.service(PATH).version == 1
        assert rt.call(PATH, "add", "late", 1, signer="bob").height == height + 1
    with amigos.LocalRuntime(db=pg_db, clock=CLOCK) as rt:
        assert rt.query(PATH, "get", "late") == 1


def test_process_isolation_on_postgres(pg_db: str):
    with amigos.LocalRuntime(db=pg_db, isolation="process", clock=CLOCK) as rt:
        rt.deploy(PATH, BOOK, signer="alice")
        receipts = rt.call_many([amigos.Call(PATH, "add", (f"k{i}", i), signer="bob") for i in range(20)])
        assert all(r.ok for r in receipts)
    with amigos.LocalRuntime(db=pg_db, clock=CLOCK) as rt:
        assert rt.query(PATH, "total") == 20


def test_a_bad_database_url_is_a_store_error_without_the_password(pg_url: str):
    url = pg_url.rsplit("/", 1)[0] + "/no_such_database"
    password = pg_url.split("@", 1)[0].rsplit(":", 1)[1]
    with pytest.raises(StoreError, match="no_such_database") as info:
        amigos.LocalRuntime(db=url)
    assert password not in str(info.value)


def test_db_may_name_an_sqlite_file(tmp_path):
    with amigos.LocalRuntime(db=f"sqlite://{tmp_path}/s.sqlite", clock=CLOCK) as rt:
        _play(rt)
        root = rt.state_root()
    with amigos.LocalRuntime(db=str(tmp_path / "s.sqlite"), clock=CLOCK) as rt:
        assert rt.state_root() == root
