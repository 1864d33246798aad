"""Globals persist after each successful call and across restarts, by value."""

import textwrap
from decimal import Decimal

import pytest

import amigos

KINDS = '''
import std
n = None
b = True
i = 2 ** 200
s = "héllo"
raw = b"\\x00\\x01"
t = (1, "a")
l = [1, [2, 3]]
d = {"k": [1], 2: "two"}
dec = Decimal("1.25")
m = std.Map()

class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def norm1(self):
        return abs(self.x) + abs(self.y)

p = Point(3, -4)

def mutate():
    l[1].append(4)
    d["k"].append(2)
    p.x = 10
    m["key"] = [1, 2]
    return l

def snapshot():
    return [n, b, i, s, raw, t, l, d, dec, m["key"], p.norm1()]
'''


def test_every_kind_of_value_survives_a_restart(tmp_path):
    path = "hub.amigos.dev/alice/kinds"
    with amigos.LocalRuntime(tmp_path) as rt:
        rt.deploy(path, KINDS, signer="alice")
        assert rt.call(path, "mutate", signer="bob").ok
        before = rt.query(path, "snapshot")
        root = rt.state_root()
    with amigos.LocalRuntime(tmp_path) as rt:
        after = rt.query(path, "snapshot")
        assert after == before
        assert after[6] == [1, [2, 3, 4]]
        assert after[7] == {"k": [1, 2], 2: "two"}
        assert after[8] == Decimal("1.25")
        assert after[10] == 14
        assert rt.state_root() == root


def test_nested_mutation_persists(rt, deploy):
    path = deploy("todo", """
        items = [[]]
        def add(x):
            items[0].append(x)
        def get():
            return items
    """)
    for x in range(3):
        assert rt.call(path, "add", x, signer="bob").ok
    assert rt.query(path, "get") == [[0, 1, 2]]


def test_a_global_holding_a_function_fails_the_call_cleanly(rt, deploy):
    path = deploy("bad", """
        handler = None
        count = 0
        def _helper():
            return 1
        def store_function():
            global handler, count
            count += 1
            handler = _helper
        def store_generator():
            global handler
            handler = (x for x in range(3))
        def get():
            return [handler, count]
    """)
    for fn in ("store_function", "store_generator"):
        r = rt.call(path, fn, signer="bob")
        assert not r.ok and r.error.type == "ServiceError"
        assert "cannot be stored" in r.error.message
    assert rt.query(path, "get") == [None, 0]
    assert rt.call(path, "get", signer="bob").ok


def test_aliasing_between_globals_does_not_survive_a_call(rt, deploy):
    # By value: a restarted node must behave exactly like one that kept modules in memory.
    path = deploy("alias", """
        a = []
        b = a
        def push():
            a.append(1)
        def get():
            return [a, b]
    """)
    rt.call(path, "push", signer="bob")
    assert rt.query(path, "get") == [[1], []]


def test_new_globals_created_in_a_call_persist(tmp_path):
    src = textwrap.dedent("""
        def make():
            global late
            late = {"x": 1}
        def get():
            return late
    """)
    with amigos.LocalRuntime(tmp_path) as rt:
        rt.deploy("hub.amigos.dev/alice/late", src, signer="alice")
        assert not rt.call("hub.amigos.dev/alice/late", "get", signer="bob").ok
        assert rt.call("hub.amigos.dev/alice/late", "make", signer="bob").ok
    with amigos.LocalRuntime(tmp_path) as rt:
        assert rt.query("hub.amigos.dev/alice/late", "get") == {"x": 1}


def test_upgrade_keeps_state_and_initialises_new_names(rt, deploy):
    path = deploy("up", """
        count = 0
        def inc():
            global count
            count += 1
            return count
    """)
    rt.call(path, "inc", signer="bob")
    rt.deploy(path, textwrap.dedent("""
        count = 0
        label = "v2"
        def inc():
            global count
            count += 10
            return count
        def get():
            return [count, label]
    """), signer="alice")
    assert rt.query(path, "get") == [1, "v2"]
    assert rt.call(path, "inc", signer="bob").result == 11
    info = rt.service(path)
    assert info.version == 2 and len(info.versions) == 2
    assert info.versions[0]["code_hash"] != info.versions[1]["code_hash"]


def test_namespace_belongs_to_its_first_deployer(rt, deploy):
    deploy("one", "x = 1\n")
    with pytest.raises(amigos.DeployError) as caught:
        rt.deploy("hub.amigos.dev/alice/two", "x = 2\n", signer="mallory")
    assert caught.value.rule == "namespace-owner"


def test_init_failure_is_a_deploy_error_and_leaves_nothing(rt):
    with pytest.raises(amigos.DeployError) as caught:
        rt.deploy("hub.amigos.dev/alice/boom", "x = 1\ny = 1 // 0\n", signer="alice")
    assert caught.value.rule == "init" and caught.value.line == 2
    assert "ZeroDivisionError" in caught.value.message
    assert rt.services() == []
    assert not any(k.startswith((b"c/", b"g/", b"i/")) for k, _ in rt.state_items())


def test_state_dump(rt, deploy):
    path = deploy("dump", """
        import std
        total = 3
        m = std.Map()
        m["a"] = 1
        m[2] = [1]
    """)
    state = rt.state(path)
    assert state["globals"] == {"total": 3, "m": {"$map": "#0"}}
    assert state["maps"]["#0"] == {"size": 2, "entries": [[2, [1]], ["a", 1]]}


def _cache_bytes_recounted(view: "amigos.runtime.StateView") -> int:
    return sum(view._entry_size(k, v) for k, v in view.cache.items())


def test_view_cache_is_bounded_in_bytes_and_stays_correct():
    from amigos.runtime import StateView
    from amigos.store import SQLiteStore

    view = StateView(SQLiteStore())
    view.CACHE_BYTES = 20_000
    committed: dict[bytes, bytes] = {}
    for round_ in range(5):
        writes = {b"k%05d" % i: b"v%d-%d" % (i, round_) for i in range(round_ * 50, round_ * 50 + 300)}
        view.apply(writes)
        view.commit()
        committed.update(writes)
        for key in list(committed)[::7] + [b"missing%d" % i for i in range(100)]:
            assert view.get(key) == committed.get(key)
        assert view.cache_bytes == _cache_bytes_recounted(view) <= view.CACHE_BYTES
    assert 0 < len(view.cache) < len(committed)


def test_view_cache_keeps_no_large_entries():
    from amigos.runtime import StateView
    from amigos.store import SQLiteStore

    view = StateView(SQLiteStore())
    huge_key = b"m/" + b"x" * 100_000
    assert view.get(huge_key) is None
    view.apply({b"big": b"v" * 100_000, b"small": b"v"})
    view.commit()
    assert view.get(b"big") == b"v" * 100_000
    assert huge_key not in view.cache and b"big" not in view.cache and b"small" in view.cache
    view.apply({b"small": b"w" * 100_000})  # an entry that grows too large leaves the cache
    view.commit()
    assert b"small" not in view.cache and view.get(b"small") == b"w" * 100_000
    assert view.cache_bytes == _cache_bytes_recounted(view)
