"""Imports, atomicity, read-only calls, Map scaling and gas determinism."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import amigos
from amigos.errors import ReadOnlyViolation

HUB = Path(__file__).resolve().parent.parent / "hub"

COUNTER = """
import std
count = 0
def increment(by=1):
    global count
    count += by
    std.emit("incremented", by=by)
    return count
def get():
    return count
def who():
    return [std.caller(), std.origin(), std.current_service()]
def fail_after(by):
    global count
    count += by
    std.emit("never", by=by)
    raise ValueError("nope")
"""

CALLER = """
import std
from hub.alice import counter
calls = 0
log = std.Map()
def bump(by):
    global calls
    calls += 1
    log[calls] = by
    return counter.increment(by)
def who():
    return counter.who()
def bump_then_fail(by):
    global calls
    calls += 1
    log[calls] = by
    counter.increment(by)
    std.emit("bumped")
    raise ValueError("after the callee changed its state")
def callee_fails():
    try:
        counter.fail_after(5)
    except Exception:
        return "caught"
def poke_global():
    counter.count = 99
def read_global():
    return counter.count()
def get():
    return [calls, log.items()]
"""


@pytest.fixture
def pair(rt, deploy):
    counter = deploy("counter", COUNTER)
    caller = deploy("caller", CALLER, signer="bob")
    return counter, caller


def test_import_calls_in_callee_context(rt, pair):
    counter, caller = pair
    r = rt.call(caller, "bump", 3, signer="carol")
    assert r.ok and r.result == 3
    assert [(e.service, e.name) for e in r.events] == [(counter, "incremented")]
    assert rt.call(caller, "who", signer="carol").result == [caller, "carol", counter]
    assert rt.service(caller).dependencies == [counter]


def test_failure_rolls_back_caller_callee_maps_and_events(rt, pair):
    counter, caller = pair
    rt.call(caller, "bump", 1, signer="carol")
    root = rt.state_root()
    r = rt.call(caller, "bump_then_fail", 7, signer="carol")
    assert not r.ok and r.error.type == "ServiceError" and r.events == []
    assert rt.query(counter, "get") == 1
    assert rt.query(caller, "get") == [1, [(1, 1)]]
    # Only height/time moved.
    assert [k for k, _ in rt.state_items() if not k.startswith(b"r/")] == [
        k for k, _ in rt.state_items() if not k.startswith(b"r/")
    ]
    r = rt.call(counter, "fail_after", 4, signer="carol")
    assert not r.ok and rt.query(counter, "get") == 1
    assert root != rt.state_root()  # height advanced, nothing else
    assert rt.call(caller, "bump", 1, signer="carol").result == 2


def test_callee_failure_is_not_catchable(rt, pair):
    counter, caller = pair
    r = rt.call(caller, "callee_fails", signer="carol")
    assert not r.ok and r.error.type == "ServiceError"
    assert counter in r.error.message
    assert rt.query(counter, "get") == 0


def test_caller_cannot_assign_or_read_callee_globals(rt, pair):
    counter, caller = pair
    r = rt.call(caller, "poke_global", signer="carol")
    assert not r.ok and "cannot set attribute" in r.error.message
    r = rt.call(caller, "read_global", signer="carol")
    assert not r.ok and r.error.type == "NotFound" and "count" in r.error.message
    assert rt.query(counter, "get") == 0


def test_callee_gets_copies_of_arguments(rt, deploy):
    keeper = deploy("keeper", """
        kept = []
        def keep(items):
            kept.append(items)
            items.append("callee")
            return kept
        def get():
            return kept
    """)
    user = deploy("user", """
        from hub.alice import keeper
        mine = ["mine"]
        def go():
            got = keeper.keep(mine)
            got.append("caller")
            return [mine, got]
    """, signer="bob")
    r = rt.call(user, "go", signer="carol")
    assert r.result == [["mine"], [["mine", "callee"], "caller"]]
    assert rt.query(keeper, "get") == [["mine", "callee"]]


def test_reentrancy_is_refused(rt, deploy):
    deploy("a", """
        def ping():
            return 1
    """)
    deploy("b", """
        from hub.alice import a
        def relay():
            return a.ping()
    """, signer="bob")
    rt.deploy("hub.amigos.dev/alice/a", textwrap.dedent("""
        from hub.bob import b
        def ping():
            return b.relay()
        def start():
            return b.relay()
    """), signer="alice")
    r = rt.call("hub.amigos.dev/alice/a", "start", signer="carol")
    assert not r.ok and r.error.type == "Reentrancy"


def test_importing_a_missing_service_fails_the_deploy(rt):
    with pytest.raises(amigos.DeployError) as caught:
        rt.deploy("hub.amigos.dev/bob/x", "import std\nfrom hub.nobody import nothing\n", signer="bob")
    assert caught.value.rule == "missing-import" and caught.value.line == 2


def test_unknown_function_and_service(rt, pair):
    counter, _ = pair
    assert rt.call(counter, "nope", signer="x").error.type == "NotFound"
    assert rt.call(counter, "_private", signer="x").error.type == "NotFound"
    assert rt.call("hub.amigos.dev/zed/none", "f", signer="x").error.type == "NotFound"


@pytest.mark.parametrize("arg", [1.5, {1, 2}, object(), len, [1, {2.0}]], ids=repr)
def test_arguments_must_be_plain_data(rt, pair, arg):
    counter, _ = pair
    r = rt.call(counter, "increment", arg, signer="x")
    assert not r.ok and r.error.type == "InvalidArgument"


def test_a_batch_with_calls_that_cannot_run_runs_the_others_as_alone(rt, deploy):
    """call_many hands a worker plain calls as they are and checks the rest one by one: any
    sequence of arguments, keyword arguments, values that are not plain data (refused where
    they are, the rest of the batch unaffected) and arguments too large for the call's gas."""
    path = deploy("echo", """
        def echo(a, b=0):
            return [a, b]
    """)
    calls = [
        amigos.Call(path, "echo", (1,), signer="bob"),
        amigos.Call(path, "echo", [2, "two"], signer="bob"),
        amigos.Call(path, "echo", range(3, 4), signer="bob"),
        amigos.Call(path, "echo", (), {"a": [4], "b": {"k": None}}, signer="bob"),
        amigos.Call(path, "echo", (1.5,), signer="bob"),
        amigos.Call(path, "echo", (object(),), signer="bob"),
        amigos.Call(path, "echo", ("x" * 100_000,), signer="bob", gas=1_000),
        amigos.Call(path, "echo", (b"\x00bytes", (7,)), signer="bob"),
        amigos.Call(path, "nope", (), signer="bob"),
        amigos.Call(path, "echo", (9,), signer="bob"),
    ]
    receipts = rt.call_many(calls)
    assert [(r.ok, r.result) for r in receipts[:4]] == [(True, [1, 0]), (True, [2, "two"]), (True, [3, 0]),
                                                         (True, [[4], {"k": None}])]
    assert [r.error.type for r in receipts[4:7]] == ["InvalidArgument", "InvalidArgument", "OutOfGas"]
    assert receipts[6].gas_used == 1_000
    assert (receipts[7].ok, receipts[7].result) == (True, [b"\x00bytes", (7,)])
    assert receipts[8].error.type == "NotFound"
    assert (receipts[9].ok, receipts[9].result) == (True, [9, 0])
    alone = [rt.call(c.path, c.function, *c.args, signer=c.signer, gas=c.gas, kwargs=c.kwargs) for c in calls]
    assert [(r.ok, r.result, r.gas_used) for r in receipts] == [(r.ok, r.result, r.gas_used) for r in alone]


def test_queries_and_render_cannot_change_state(rt, deploy):
    path = deploy("ro", """
        import std
        n = 0
        m = std.Map()
        def bump():
            global n
            n += 1
            return n
        def put():
            m["k"] = 1
        def shout():
            std.emit("x")
        def render(path):
            global n
            n += 1
            return "changed"
    """)
    for fn in ("bump", "put", "shout"):
        with pytest.raises(ReadOnlyViolation):
            rt.query(path, fn)
    with pytest.raises(ReadOnlyViolation):
        rt.render(path, "")
    assert rt.call(path, "bump", signer="x").result == 1


def test_render_returns_markdown(rt):
    path = "hub.amigos.dev/alice/counter"
    rt.deploy(path, (HUB / "counter.py").read_text(), signer="alice")
    rt.call(path, "increment", 5, signer="x")
    assert "**5**" in rt.render(path)


def _transfer_gas(holders: int) -> int:
    rt = amigos.LocalRuntime()
    src = (HUB / "token.py").read_text() + textwrap.dedent("""
        def _seed(n):
            i = 0
            while i < n:
                balances["h" + str(i)] = 1
                i += 1
        def seed(n):
            _seed(n)
    """)
    rt.deploy("hub.amigos.dev/amigos/token", src, signer="alice")
    with rt.batch():
        for start in range(0, holders, 10_000):
            assert rt.call("hub.amigos.dev/amigos/token", "seed", min(10_000, holders - start), signer="x", gas=50_000_000).ok
    reads: list[bytes] = []
    original_get = rt.store.get
    rt.store.get = lambda key: reads.append(key) or original_get(key)  # type: ignore[method-assign]
    rt.view.clear_cache()
    r = rt.call("hub.amigos.dev/amigos/token", "transfer", "h5", 10, signer="alice")
    assert r.ok
    assert len(reads) < 20, "a transfer must read a handful of keys, never the whole Map"
    return r.gas_used


def test_map_transfer_cost_does_not_grow_with_size():
    assert _transfer_gas(1_000) == _transfer_gas(30_000)


def test_gas_and_state_are_identical_across_processes_and_hash_seeds(tmp_path):
    script = textwrap.dedent(f"""
        import amigos, json, sys
        rt = amigos.LocalRuntime(clock=lambda: 1_700_000_000)
        src = open({str(HUB / 'token.py')!r}).read() + '''
        def mixed(words):
            d = {{}}
            for w in words:
                d[w] = d.get(w, 0) + len(w)
            out = sorted(d.items())
            return [out, str(d), 7 / 2]
        '''
        rt.deploy("hub.amigos.dev/amigos/token", src, signer="alice")
        gas = []
        for i in range(50):
            r = rt.call("hub.amigos.dev/amigos/token", "transfer", "u" + str(i % 7), i + 1, signer="alice")
            gas.append(r.gas_used)
        r = rt.call("hub.amigos.dev/amigos/token", "mixed", ["pear", "fig", "apple", "fig", "kiwi"], signer="bob")
        gas.append(r.gas_used)
        print(json.dumps([gas, rt.state_root(), repr(r.result)]))
    """)
    outputs = []
    for seed in ("1", "987654"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    assert "Decimal('3.5')" in outputs[0]


def test_gas_grows_with_work(rt, deploy):
    path = deploy("work", """
        def loop(n):
            total = 0
            for i in range(n):
                total += i
            return total
        def comp(n):
            return len([i for i in range(n)])
        def text(n):
            return len("-".join(["ab"] * n))
    """)
    for fn in ("loop", "comp", "text"):
        small = rt.call(path, fn, 10, signer="x").gas_used
        big = rt.call(path, fn, 1000, signer="x").gas_used
        assert big > small * 10, fn


def test_gas_limit_is_enforced(rt, pair):
    counter, _ = pair
    r = rt.call(counter, "increment", 1, signer="x", gas=30)
    assert not r.ok and r.error.type == "OutOfGas" and r.gas_used == 30
    assert rt.query(counter, "get") == 0
    with pytest.raises(amigos.errors.UsageError):
        rt.call(counter, "increment", signer="x", gas=10**12)
