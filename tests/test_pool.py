"""The worker pool: confinement seen from outside, recovery from dying workers, and caches
that never serve stale state. (The runtime and escape suites also run under the pool: their
``rt`` fixtures are parametrised over both isolations.)"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

import amigos
from amigos.vm.confine import Limits
from amigos.vm.pool import WorkerPool

COUNTER = """
import std
count = 0
log = std.Map()

def bump():
    global count
    count += 1
    log[count] = std.origin()
    return count

def slow(n):
    global count
    i = 0
    while i < n:
        i = i + 1
    count += 1
    log[count] = n
    return count

def get():
    return count

def crash_worker():
    return "unreachable: the faulty worker dies first"

def send_garbage():
    return 0

def hang():
    return 0

def burn_cpu():
    return 0

def send_bad_writes():
    return 0
def forge_code():
    return 0
"""
PATH = "hub.amigos.dev/alice/counter"
CLOCK = lambda: 1_700_000_000  # noqa: E731 - fixed block time, so state roots compare


def worker_pids() -> list[int]:
    """This process's worker processes (under bubblewrap they are grandchildren)."""
    found = []
    todo = [os.getpid()]
    while todo:
        pid = todo.pop()
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            children = [Path(f"/proc/{pid}/task/{t}/children").read_text() for t in os.listdir(f"/proc/{pid}/task")]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if b"amigos.vm.worker" in cmdline and not cmdline[0].endswith(b"bwrap"):
            found.append(pid)
        todo += [int(c) for text in children for c in text.split()]
    return found


def pool_runtime(monkeypatch: pytest.MonkeyPatch, **options: object) -> amigos.LocalRuntime:
    """A process-isolated runtime whose pool takes ``options`` (a faulty worker, limits…)."""
    import amigos.runtime as runtime_module

    monkeypatch.setattr(runtime_module, "WorkerPool", lambda view: WorkerPool(view, **options))
    return amigos.LocalRuntime(isolation="process", clock=CLOCK)


def test_workers_are_confined() -> None:
    with amigos.LocalRuntime(isolation="process") as rt:
        rt.deploy(PATH, COUNTER, signer="alice")
        pids = worker_pids()
        assert pids, "no worker process found"
        for pid in pids:
            status = Path(f"/proc/{pid}/status").read_text()
            assert "\nNoNewPrivs:\t1\n" in status
            assert "\nSeccomp:\t2\n" in status
            limits = Path(f"/proc/{pid}/limits").read_text()
            assert any(line.startswith("Max address space") and "2147483648" in line for line in limits.splitlines())
            assert any(line.startswith("Max cpu time") and "600" in line for line in limits.splitlines())
            assert any(line.startswith("Max processes") and line.split()[2] == "0" for line in limits.splitlines())
            assert sorted(os.listdir(f"/proc/{pid}/fd")) != [], "the worker keeps its two pipes"
            assert len(os.listdir(f"/proc/{pid}/fd")) == 2


def test_unknown_isolation_is_a_usage_error() -> None:
    with pytest.raises(amigos.errors.UsageError):
        amigos.LocalRuntime(isolation="thread")


def test_a_crashing_call_fails_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    rt = pool_runtime(monkeypatch, worker_module="faulty_worker", namespaces=False)
    with rt:
        rt.deploy(PATH, COUNTER, signer="alice")
        calls = [amigos.Call(PATH, name, signer="bob") for name in ["bump", "bump", "crash_worker", "bump", "bump"]]
        receipts = rt.call_many(calls)
        assert [r.ok for r in receipts] == [True, True, False, True, True]
        assert receipts[2].error.type == "WorkerCrashed"
        assert [r.result for r in receipts if r.ok] == [1, 2, 3, 4]
        assert rt.query(PATH, "get") == 4
        assert rt.call(PATH, "bump", signer="bob").result == 5


@pytest.mark.parametrize("name", ["crash_worker", "send_bad_writes"])
def test_a_call_that_kills_its_worker_mid_batch_costs_two_workers(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """The calls a dead worker finished but had not sent yet run again one at a time until
    the one that kills a worker alone is found: a block's calls run together must not start a
    worker again for each of them (each start costs a quarter of a second and more)."""
    rt = pool_runtime(monkeypatch, worker_module="faulty_worker", namespaces=False)
    with rt:
        rt.deploy(PATH, COUNTER, signer="alice")
        assert rt.pool is not None
        before = rt.pool.started
        names = ["bump"] + ["get"] * 63  # get reads nothing new: the worker sends no outcome before half the batch
        names[25] = name  # so 24 finished calls are lost with the worker
        receipts = rt.call_many([amigos.Call(PATH, n, signer="bob") for n in names])
        assert [i for i, r in enumerate(receipts) if not r.ok] == [25]
        assert receipts[25].error.type == "WorkerCrashed"
        assert [r.result for r in receipts if r.ok] == [1] * 63
        assert rt.pool.started - before <= 2, f"{rt.pool.started - before} workers started for one bad call"


def _amount(n: int) -> bytes:
    from amigos import codec

    return codec.encode(n)


def writes_fields(sets: list[bytes], deletes: list[bytes], counts: list[int] | None = None) -> list[object]:
    """A results message's last fields for these writes: counts (by default: all of job 0),
    lengths and the attachment."""
    from amigos.vm.channel import join_parts

    return [[len(sets) // 2, len(deletes)] if counts is None else counts, *join_parts(sets + deletes)]


@pytest.mark.parametrize("sets, deletes", [
    ([b"c/hub.amigos.dev/x/y", b"evil = 1"], []),        # code is the parent's to write
    ([b"i/hub.amigos.dev/x/y", b"record"], []),          # so are service records
    ([b"o/x", b"mallory"], []),                          # and namespace owners
    ([b"x/n/anything", b"1"], []),                       # and the ledger's keys
    (["a/s/amigo1…".encode(), b"session"], []),          # and the accounts' other keys
    ([b"a/b/amigo1mallory", _amount(10**9)], []),        # AMI out of nothing
    ([b"a/b/amigo1mallory", b"not an amount"], []),
    ([b"a/b/amigo1mallory", _amount(0)], []),            # a zero balance is a deletion, never a value
    ([], [b"a/b/amigo1rich"]),                           # AMI burnt: changes must add up to zero
])
def test_a_worker_cannot_write_what_service_code_cannot(sets: list[bytes], deletes: list[bytes]) -> None:
    """A worker whose language wall fell still cannot forge code, owners, ledger or account
    keys, nor make or destroy AMI: the parent refuses the message whole."""
    from amigos import codec
    from amigos.vm.pool import WorkerDied, take_finished

    view = {b"a/b/amigo1rich": codec.encode(500)}
    applied: list[object] = []
    with pytest.raises(WorkerDied):
        take_finished(_Judge(), ["results", *OK_COLUMNS, *writes_fields(sets, deletes)], [], 1,
                      applied.append, view)  # type: ignore[arg-type]
    assert applied == []


def test_balance_moves_that_add_up_are_applied() -> None:
    from amigos import codec
    from amigos.vm.pool import take_finished

    view = {b"a/b/amigo1rich": codec.encode(500)}
    applied: list[object] = []
    sets = [b"a/b/amigo1rich", _amount(200), b"a/b/amigo1poor", _amount(300)]
    take_finished(_Judge(), ["results", *OK_COLUMNS, *writes_fields(sets, [])], [], 1, applied.append,
                  view)  # type: ignore[arg-type]
    assert applied == [{b"a/b/amigo1rich": codec.encode(200), b"a/b/amigo1poor": codec.encode(300)}]


def test_a_worker_forging_code_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    rt = pool_runtime(monkeypatch, worker_module="faulty_worker", namespaces=False)
    with rt:
        rt.deploy(PATH, COUNTER, signer="alice")
        receipts = rt.call_many([amigos.Call(PATH, name, signer="bob") for name in ["bump", "forge_code", "bump"]])
        assert [r.ok for r in receipts] == [True, False, True]
        assert receipts[1].error.type == "WorkerCrashed"
        assert rt.source(PATH) == COUNTER and rt.query(PATH, "get") == 2


def test_a_message_with_malformed_writes_applies_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bad message carries a finished bump: it is not applied, and the bump is run again
    (once) on a fresh worker."""
    rt = pool_runtime(monkeypatch, worker_module="faulty_worker", namespaces=False)
    with rt:
        rt.deploy(PATH, COUNTER, signer="alice")
        calls = [amigos.Call(PATH, name, signer="bob") for name in ["bump", "bump", "send_bad_writes", "bump"]]
        receipts = rt.call_many(calls)
        assert [r.ok for r in receipts] == [True, True, False, True]
        assert receipts[2].error.type == "WorkerCrashed"
        assert [r.result for r in receipts if r.ok] == [1, 2, 3]
        assert rt.query(PATH, "get") == 3


@pytest.mark.parametrize("name", ["send_garbage", "hang"])
def test_a_misbehaving_worker_is_replaced(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    rt = pool_runtime(monkeypatch, worker_module="faulty_worker", namespaces=False, answer_timeout=1.0)
    with rt:
        rt.deploy(PATH, COUNTER, signer="alice")
        receipts = rt.call_many([amigos.Call(PATH, "bump", signer="bob"), amigos.Call(PATH, name, signer="bob"),
                                 amigos.Call(PATH, "bump", signer="bob")])
        assert [r.ok for r in receipts] == [True, False, True]
        assert receipts[1].error.type == "WorkerCrashed"
        assert rt.query(PATH, "get") == 2


def test_cpu_limit_kills_only_that_call(monkeypatch: pytest.MonkeyPatch) -> None:
    rt = pool_runtime(monkeypatch, worker_module="faulty_worker", namespaces=False,
                      limits=Limits(address_space=2 << 30, cpu_seconds=1))
    with rt:
        rt.deploy(PATH, COUNTER, signer="alice")
        receipts = rt.call_many([amigos.Call(PATH, "burn_cpu", signer="bob"), amigos.Call(PATH, "bump", signer="bob")])
        assert receipts[0].error.type == "LimitExceeded" and "CPU" in receipts[0].error.message
        assert receipts[1].ok and receipts[1].result == 1


def run_slow_batch(rt: amigos.LocalRuntime, kill_after: float | None) -> list[amigos.Receipt]:
    rt.deploy(PATH, COUNTER, signer="alice")
    calls = [amigos.Call(PATH, "slow", (20_000,), signer=f"user{i}") for i in range(40)]
    killer = None
    if kill_after is not None:
        def kill() -> None:
            time.sleep(kill_after)
            for pid in worker_pids():
                os.kill(pid, signal.SIGKILL)
        killer = threading.Thread(target=kill)
        killer.start()
    receipts = rt.call_many(calls)
    if killer is not None:
        killer.join()
    return receipts


def test_sigkill_mid_batch_loses_and_repeats_nothing() -> None:
    with amigos.LocalRuntime(clock=CLOCK) as reference:
        expected = run_slow_batch(reference, None)
        expected_root = reference.state_root()
    with amigos.LocalRuntime(isolation="process", clock=CLOCK) as rt:
        receipts = run_slow_batch(rt, kill_after=0.15)
        assert rt.pool is not None and rt.pool.started >= 2, "the worker was not killed mid-batch"
        assert [(r.ok, r.result, r.gas_used) for r in receipts] == [(r.ok, r.result, r.gas_used) for r in expected]
        assert rt.state_root() == expected_root


def test_caches_see_changes_made_by_other_workers() -> None:
    with amigos.LocalRuntime(isolation="process") as rt:
        rt.deploy(PATH, COUNTER, signer="alice")
        assert rt.call(PATH, "bump", signer="bob").result == 1  # the first worker caches the counter
        assert rt.pool is not None
        first = rt.pool.idle.pop()  # park it: the next calls start another worker
        assert rt.call(PATH, "bump", signer="bob").result == 2
        rt.deploy(PATH, COUNTER.replace("count += 1", "count += 10"), signer="alice")
        rt.pool.idle.append(first)  # the parked worker, with its stale module, runs next (the last idle one)
        assert rt.call(PATH, "bump", signer="bob").result == 12
        assert rt.query(PATH, "get") == 12


def test_a_worker_that_fell_behind_the_change_log_drops_its_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The change log keeps about MAX_LOG keys: a parked worker that missed more than that is
    told to drop every cache, and still sees the latest state."""
    import amigos.vm.pool as pool_module

    monkeypatch.setattr(pool_module, "MAX_LOG", 8)
    with amigos.LocalRuntime(isolation="process") as rt:
        rt.deploy(PATH, COUNTER, signer="alice")
        assert rt.call(PATH, "bump", signer="bob").result == 1
        assert rt.pool is not None
        first = rt.pool.idle.pop()
        for expected in range(2, 12):  # another worker writes far more than 8 keys meanwhile
            assert rt.call(PATH, "bump", signer="bob").result == expected
        assert rt.pool.logged_keys <= 8 + 8 and rt.pool._changes_for(first) is None
        rt.pool.idle.append(first)  # the next call takes it (the last idle worker)
        assert rt.call(PATH, "bump", signer="bob").result == 12
        assert rt.pool._changes_for(first) is not None  # it caught up


def test_a_failed_block_drops_worker_caches() -> None:
    with amigos.LocalRuntime(isolation="process") as rt:
        rt.deploy(PATH, COUNTER, signer="alice")
        with pytest.raises(RuntimeError):
            with rt.batch():
                assert rt.call(PATH, "bump", signer="bob").result == 1
                raise RuntimeError("the block is abandoned")
        assert rt.query(PATH, "get") == 0
        assert rt.call(PATH, "bump", signer="bob").result == 1


def test_workers_run_in_their_own_namespaces_where_bubblewrap_works() -> None:
    from amigos.vm.confine import bwrap_command

    if bwrap_command(["/bin/true"]) is None:
        pytest.skip("bubblewrap is missing or cannot create namespaces here")
    with amigos.LocalRuntime(isolation="process") as rt:
        assert rt.pool is not None and all(w.in_namespaces for w in rt.pool.idle)
        for pid in worker_pids():
            for ns in ["net", "pid", "mnt", "ipc"]:
                assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns


def test_a_worker_that_cannot_start_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(amigos.errors.SandboxUnavailable, match="could not start"):
        pool_runtime(monkeypatch, worker_module="no_such_worker_module", namespaces=False)


ECHO = """
def echo(text):
    return text + "!"
"""


def test_a_batch_larger_than_the_pipes_neither_side_waits_for_the_other() -> None:
    """Megabytes of arguments one way and of results the other: the parent reads results
    while it still writes jobs (with both pipes full, a blocking writer on each side would
    wait for ever)."""
    path = "hub.amigos.dev/alice/echo"
    texts = [f"{i}:" + "x" * 60_000 for i in range(40)]
    receipts: list[amigos.Receipt] = []
    with amigos.LocalRuntime(isolation="process") as rt:
        rt.deploy(path, ECHO, signer="alice")
        runner = threading.Thread(target=lambda: receipts.extend(
            rt.call_many([amigos.Call(path, "echo", (text,), signer="bob", gas=10_000_000) for text in texts])))
        runner.start()
        runner.join(timeout=120)
        assert not runner.is_alive(), "the batch is stuck"
    assert [r.result for r in receipts] == [text + "!" for text in texts]


LEDGER = """
import std
total = 0
entries = std.Map()

def put(key, amount):
    global total
    total += amount
    entries[key] = entries.get(key, 0) + amount
    return entries[key]

def drop(key):
    global total
    total -= entries.get(key, 0)
    return entries.pop(key, None)

def listing():
    return [[k, v] for k, v in entries.items()], total
"""


def ledger_calls() -> list[amigos.Call]:
    """Keys set, set again, deleted and set anew within the same batch, with scans (which
    the worker must ask the parent for) in between."""
    path = "hub.amigos.dev/alice/ledger"
    script = [("put", ("a", 1)), ("put", ("a", 2)), ("put", ("b", 5)), ("drop", ("a",)), ("listing", ()),
              ("put", ("a", 7)), ("drop", ("b",)), ("drop", ("b",)), ("put", ("c", 1)), ("listing", ())]
    return [amigos.Call(path, name, args, signer="bob") for _ in range(7) for name, args in script]


@pytest.mark.parametrize("batch", [1, 3, 70])
def test_merged_writes_leave_the_state_of_calls_applied_one_by_one(batch: int) -> None:
    calls = ledger_calls()
    results = {}
    roots = {}
    for isolation in ("none", "process"):
        with amigos.LocalRuntime(isolation=isolation, clock=CLOCK) as rt:
            rt.deploy("hub.amigos.dev/alice/ledger", LEDGER, signer="alice")
            receipts = [r for first in range(0, len(calls), batch) for r in rt.call_many(calls[first:first + batch])]
            results[isolation] = [(r.ok, r.result, r.error, r.gas_used) for r in receipts]
            roots[isolation] = rt.state_root()
    assert all(ok for ok, *_ in results["none"])
    assert results["process"] == results["none"]
    assert roots["process"] == roots["none"]


EMITTER = """
import std

def shapes(n):
    std.emit("moved", amount=n, to="u" + str(n))
    std.emit("moved", amount=n, to="v")
    std.emit("moved", to="w", amount=n)
    std.emit("noted")
    std.emit("moved", amount=n, to=["nested", {"n": n}])
    if n % 3 == 0:
        std.emit("moved", amount=n, to="x")
        std.require(False, "no multiples of three")
    return n

def plain(n):
    std.emit("moved", amount=n, to="y")
    return n
"""


def test_events_of_every_shape_cross_as_they_were_emitted() -> None:
    """Events go to the parent in runs of one shape (service, name, attribute names): runs
    that break at every change of shape, attribute order, nested values, events of a failed
    call (dropped with its writes) and calls without events all come back as in-process."""
    path = "hub.amigos.dev/alice/emitter"
    calls = [amigos.Call(path, "shapes" if n % 4 else "plain", (n,), signer="bob") for n in range(1, 40)]
    receipts = {}
    for isolation in ("none", "process"):
        with amigos.LocalRuntime(isolation=isolation, clock=CLOCK) as rt:
            rt.deploy(path, EMITTER, signer="alice")
            receipts[isolation] = [r for first in range(0, len(calls), 13) for r in rt.call_many(calls[first:first + 13])]
    got = [(r.ok, r.result, [(e.service, e.name, e.attrs, list(e.attrs)) for e in r.events]) for r in receipts["process"]]
    assert got == [(r.ok, r.result, [(e.service, e.name, e.attrs, list(e.attrs)) for e in r.events]) for r in receipts["none"]]
    assert sum(len(r.events) for r in receipts["process"]) > 100 and not all(r.ok for r in receipts["process"])


def test_a_workers_cache_holds_no_large_entry_and_starts_afresh_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries a worker read or wrote are cached, but not one past CACHE_ITEM_BYTES (a service
    could otherwise pin memory by reading or writing them), and a full cache starts afresh."""
    from amigos.vm import worker
    from amigos.vm.channel import text
    from amigos.vm.machine import Outcome

    class Parent:
        def send(self, *messages: list[object]) -> None:
            self.asked = messages[-1]

        def receive(self) -> list[object]:
            return ["value", text(b"y" * worker.CACHE_ITEM_BYTES if self.asked[1] == "m/huge" else b"7")]

    monkeypatch.setattr(worker, "CACHE_ENTRIES", 4)
    reader = worker.RemoteReader(Parent())  # type: ignore[arg-type]
    big = b"x" * worker.CACHE_ITEM_BYTES
    reader.finish(Outcome(True, 1, None, 10, [], {b"m/a": b"1", b"m/big": big, b"m/gone": None}))
    assert reader.finished_message("results")[5:] == [[2, 1], [3, 1, 5, len(big), 6], b"m/a1m/big" + big + b"m/gone"]
    assert reader.cache == {b"m/a": b"1", b"m/gone": None}
    assert reader.get(b"m/huge") == b"y" * worker.CACHE_ITEM_BYTES and reader.get(b"m/b") == b"7"
    assert reader.cache == {b"m/a": b"1", b"m/gone": None, b"m/b": b"7"}
    reader.finish(Outcome(True, 1, None, 10, [], {b"m/c": b"3", b"m/d": b"4"}))  # 3 + 2 > 4
    assert reader.cache == {b"m/c": b"3", b"m/d": b"4"}
    reader.get(b"m/e")
    reader.get(b"m/f")
    assert len(reader.cache) == 4
    reader.get(b"m/g")  # the fifth: afresh
    assert reader.cache == {b"m/g": b"7"}


def test_a_workers_own_writes_leave_its_caches_warm() -> None:
    """Calls one by one (a node's way): what a worker wrote is not invalidated in it (only
    what others changed is), and a worker that did not write it is told. What no worker
    reads (the block's height and time here) is not logged at all."""
    from amigos.vm import keys
    from amigos.vm.channel import raw

    with amigos.LocalRuntime(isolation="process") as rt:
        rt.deploy(PATH, COUNTER, signer="alice")
        assert rt.pool is not None
        rt.call(PATH, "bump", signer="bob")
        (worker,) = rt.pool.idle
        assert rt.pool._changes_for(worker) == []
        other = rt.pool._start()
        rt.pool.idle.append(other)
        rt.call(PATH, "bump", signer="bob")  # the new worker runs it
        stale = [raw(k) for k in rt.pool._changes_for(worker)]
        assert keys.global_(PATH, "count") in stale and all(k[2:].startswith(PATH.encode()) for k in stale)
        assert rt.query(PATH, "get") == 2


class _Judge:
    """Stands in for a worker when a message is judged on its own: the verdict is WorkerDied."""

    def died(self, reason: str) -> Exception:
        from amigos.vm.pool import WorkerDied

        return WorkerDied(reason, None)


OK_COLUMNS = [[1], [10], [], []]
"""One successful call's outcome as a message's columns: results, gas, failures, events."""
FAILED = [[None], [10], [[0, "ServiceError", "no", None]], []]
EVENT = ["svc", "moved", ["n"], [0], [1]]
"""A run of one event, of job 0: service, name, attribute names, jobs, attribute values."""


@pytest.mark.parametrize("columns", [
    [[1, 1], [10, 10], [], []],  # more outcomes than jobs
    [[1], ["10"], [], []],
    [[1], [True], [], []],  # gas is an int, not a bool
    [[1], [-1], [], []],
    [[1], [10, 5], [], []],  # columns of different lengths
    [[1], [10], "none", []],
    [[1], [10], [], "none"],
    [[[0, [[1]]]], [10], [], []],  # a nested value in the flat form
    [[1], [10], [], [["svc", "name", ["n"], [0], []]]],  # names without values
    [[1], [10], [], [["svc", "name", ["n"], [0], [1, 2]]]],  # values without names
    [[1], [10], [], [["svc", "name", ["n", "n"], [0], [1, 2]]]],  # a name twice
    [[1], [10], [], [["svc", "name", [1], [0], [1]]]],  # a name that is not text
    [[1], [10], [], [["svc", "name", ["n"], [0], [[0, [[1]]]]]]],  # a nested value in the flat form
    [[1], [10], [], [["svc", "name", ["n"], [0], [[1, "\u00ff"]]]]],  # codec bytes that are no value
    [[1], [10], [], [["svc", "name", [], [0]]]],  # a run of four fields
    [[1], [10], [], [[7, "name", [], [0], []]]],
    [[1], [10], [], [["svc", "name", [], "0", []]]],
    [[1], [10], [], [["svc", "name", [], [1], []]]],  # an event of no call
    [[1], [10], [], [["svc", "name", [], [-1], []]]],
    [[1], [10], [], [["svc", "name", [], ["0"], []]]],
    [[1], [10], [], [["svc", "name", [], [False], []]]],
    [[None], [10], [[0, "ServiceError", "no", None]], [EVENT]],  # an event of a failed call
    [[1], [10], [[0, "ServiceError", "no", None]], []],  # a failure with a result
    [[None], [10], [[1, "ServiceError", "no", None]], []],  # a failure of no call
    [[None], [10], [[0, "ServiceError", "no", None], [0, "ServiceError", "no", None]], []],
    [[None], [10], [[0, "ServiceError", 7, None]], []],
    [[None], [10], [[0, "ServiceError", "no"]], []],
])
def test_a_malformed_results_message_is_refused_whole(columns: list[object]) -> None:
    jobs = len(columns[0]) if type(columns[0]) is list else 1  # type: ignore[arg-type]
    assert_refused_whole([*columns, *writes_fields([], [], [0, 0] * jobs)])


@pytest.mark.parametrize("columns, writes", [
    (OK_COLUMNS, [[1, 0], [1], b"k"]),  # a key without its entry
    (OK_COLUMNS, [[1, 0], [1, 1, 1], b"kvx"]),  # a part more than the counts say
    (OK_COLUMNS, [[1, 0], [2, 1], b"kv"]),  # lengths past the attachment
    (OK_COLUMNS, [[1, 0], [1, 1], b"kvx"]),  # an attachment longer than its parts
    (OK_COLUMNS, [[1, 0], [-1, 3], b"kv"]),  # a negative length that adds up
    (OK_COLUMNS, [[1, 0], [True, True], b"kv"]),  # lengths are ints, not bools
    (OK_COLUMNS, [[1, 0], ["1", "1"], b"kv"]),
    (OK_COLUMNS, [[1, 0], "11", b"kv"]),
    (OK_COLUMNS, [[1, 0], [1, 1], "kv"]),  # the writes not as an attachment
    (OK_COLUMNS, [[1, 0], [1, 1], None]),
    (OK_COLUMNS, [[0, 1], [1, 1], b"kv"]),  # two deletes counted as one
    (FAILED, [[1, 0], [1, 1], b"kv"]),  # writes nobody made
    ([[], [], [], []], [[0, 1], [1], b"k"]),
])
def test_malformed_writes_are_refused_whole(columns: list[object], writes: list[object]) -> None:
    assert_refused_whole([*columns, *writes])


@pytest.mark.parametrize("counts", [
    "none", [1], [1, 0, 0], [1.0, 0], [True, 0], [-1, 2], [0, 1], [2, 0], [1, 1], None,
])
def test_malformed_write_counts_are_refused_whole(counts: object) -> None:
    assert_refused_whole([*OK_COLUMNS, counts, *writes_fields([b"g/k", b"v"], [])[1:]])


def assert_refused_whole(fields: list[object]) -> None:
    from amigos.vm.pool import WorkerDied, take_finished

    applied: list[object] = []
    outcomes: list[object] = []
    for keep_writes in (False, True):
        with pytest.raises(WorkerDied):
            take_finished(_Judge(), ["results", *fields], outcomes, 1, applied.append, {},  # type: ignore[arg-type]
                          keep_writes=keep_writes)
    assert applied == [] and outcomes == []


def test_each_jobs_own_writes_are_kept_when_asked() -> None:
    """A ledger hashes each call's writes into its receipt: a key two jobs wrote is in both
    jobs' writes with each one's entry, and the merged writes keep the order (a delete, then
    a set, of one key leaves it set)."""
    from amigos.vm.machine import Outcome
    from amigos.vm.pool import take_finished

    for keep_writes in (False, True):
        applied: list[object] = []
        outcomes: list[Outcome] = []
        writes = writes_fields([b"g/a", b"1", b"g/a", b"2", b"g/c", b"3"], [b"g/c"], [1, 1, 0, 0, 2, 0])
        take_finished(_Judge(), ["results", [1, None, 2], [10, 5, 7], [[1, "ServiceError", "no", None]], [], *writes],
                      outcomes, 3, applied.append, {}, keep_writes=keep_writes)  # type: ignore[arg-type]
        assert applied == [{b"g/a": b"2", b"g/c": b"3"}]
        if keep_writes:
            assert [o.writes for o in outcomes] == [{b"g/a": b"1", b"g/c": None}, {}, {b"g/a": b"2", b"g/c": b"3"}]


def test_a_results_message_applies_its_writes_merged() -> None:
    from amigos.vm.pool import take_finished

    applied: list[object] = []
    outcomes: list[object] = []
    take_finished(_Judge(), ["results", [1, None, [0, [2]]], [10, 5, 7], [[1, "ServiceError", "no", 3]],
                             [EVENT, ["svc", "a", [], [2], []], ["svc", "b", ["to", "n"], [2, 2], ["x", [0, [1]], "y", 2]]],
                             *writes_fields([b"g/a", b"1", b"m/b\xff", b"2"], [b"g/c"], [1, 0, 0, 0, 1, 1])],
                  outcomes, 3, applied.append, {})  # type: ignore[arg-type]
    assert applied == [{b"g/a": b"1", b"m/b\xff": b"2", b"g/c": None}]
    assert [(o.ok, o.result, o.gas_used) for o in outcomes] == [(True, 1, 10), (False, None, 5), (True, [2], 7)]  # type: ignore[attr-defined]
    assert outcomes[1].error.type == "ServiceError" and outcomes[1].error.line == 3  # type: ignore[attr-defined]
    assert [[(e.service, e.name, e.attrs) for e in o.events] for o in outcomes] == [  # type: ignore[attr-defined]
        [("svc", "moved", {"n": 1})], [], [("svc", "a", {}), ("svc", "b", {"to": "x", "n": [1]}), ("svc", "b", {"to": "y", "n": 2})]]


def bump_jobs(rt: amigos.LocalRuntime, n: int) -> list[list[object]]:
    from amigos.vm.machine import Context
    from amigos.vm.pool import call_job

    return [call_job(PATH, "bump", (), {}, Context("bob", rt.height + 1, rt.time), 100_000, False) for _ in range(n)]


def test_a_started_batch_runs_while_the_parent_works_and_ends_as_a_run_would() -> None:
    """start() sends the jobs and returns at once; the worker runs them while the parent does
    other work (here it writes a key no worker reads and sleeps); outcomes() then gives what
    run() would have, and the state is the same."""
    with amigos.LocalRuntime(isolation="process", clock=CLOCK) as rt, amigos.LocalRuntime(isolation="process", clock=CLOCK) as twin:
        for runtime in (rt, twin):
            runtime.deploy(PATH, COUNTER, signer="alice")
        assert rt.pool is not None and twin.pool is not None
        with rt.batch(), twin.batch():
            running = rt.pool.start(bump_jobs(rt, 50), rt.view.apply, keep_writes=True)
            rt.view.apply({b"x/n/not-read-by-services": b"1"})
            time.sleep(0.2)  # the worker finishes meanwhile: its outcomes wait in the pipe
            started = running.outcomes()
            ran = twin.pool.run(bump_jobs(twin, 50), twin.view.apply, keep_writes=True)
            rt.view.apply({b"x/n/not-read-by-services": None})
        assert [(o.ok, o.result, o.writes) for o in started] == [(o.ok, o.result, o.writes) for o in ran]
        assert [o.result for o in started] == list(range(1, 51))
        assert rt.state_root() == twin.state_root()
        assert rt.pool.running is None


def test_a_batch_runs_against_the_state_it_was_sent_with() -> None:
    """While a batch runs, the parent may not change what it could read (the pool refuses,
    loudly, rather than let the worker see a change from its future), nor start another."""
    from amigos.vm import keys

    with amigos.LocalRuntime(isolation="process", clock=CLOCK) as rt:
        rt.deploy(PATH, COUNTER, signer="alice")
        assert rt.pool is not None
        with pytest.raises(RuntimeError, match="while a batch that may read it runs"), rt.batch():
            running = rt.pool.start(bump_jobs(rt, 5), rt.view.apply)
            with pytest.raises(RuntimeError, match="take its outcomes"):
                rt.pool.start(bump_jobs(rt, 1), rt.view.apply)
            rt.view.apply({keys.global_(PATH, "count"): b"\x03\x01\x07"})
        assert rt.pool.running is None  # the failed block dropped the batch with its state
        assert running.worker is None
        assert rt.query(PATH, "get") == 0
        assert [r.result for r in rt.call_many([amigos.Call(PATH, "bump", signer="bob")] * 3)] == [1, 2, 3]


def test_a_started_batch_whose_worker_dies_before_its_outcomes_are_taken_recovers() -> None:
    """SIGKILL while the batch is in flight and nobody reads the pipe: outcomes() replaces the
    worker and runs the lost calls again, applying each exactly once."""
    with amigos.LocalRuntime(isolation="process", clock=CLOCK) as rt:
        rt.deploy(PATH, COUNTER, signer="alice")
        assert rt.pool is not None
        with rt.batch():
            running = rt.pool.start(bump_jobs(rt, 40), rt.view.apply)
            assert running.worker is not None
            os.killpg(running.worker.pid, signal.SIGKILL)
            outcomes = running.outcomes()
        assert [o.result for o in outcomes] == list(range(1, 41))
        assert rt.query(PATH, "get") == 40


def test_a_batch_whose_reads_fail_leaves_no_worker_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    """A read the parent cannot serve (its database went away, say) fails the block; the
    worker it left mid-batch is stopped, not left waiting for an answer for ever."""
    from amigos.errors import StoreError

    def unreadable(key: bytes) -> bytes | None:
        raise StoreError("the database went away")

    with amigos.LocalRuntime(isolation="process", clock=CLOCK) as rt:
        rt.deploy(PATH, COUNTER, signer="alice")
        assert rt.pool is not None
        rt.pool.forget()  # the worker's caches go: the batch must read the code and the globals
        with pytest.raises(StoreError), rt.batch():
            running = rt.pool.start(bump_jobs(rt, 3), rt.view.apply)
            worker = running.worker
            assert worker is not None
            monkeypatch.setattr(rt.view, "get", unreadable)
            running.outcomes()
        assert worker.process.poll() is not None
        monkeypatch.undo()
        assert rt.call(PATH, "bump", signer="bob").result == 1


def test_a_batch_no_worker_could_start_for_leaves_the_pool_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    """No worker could start for a batch (its warm one gone, and processes refused, say): the
    call fails clearly, and the next one, once workers start again, runs."""
    with amigos.LocalRuntime(isolation="process", clock=CLOCK) as rt:
        rt.deploy(PATH, COUNTER, signer="alice")
        assert rt.pool is not None
        rt.pool.close()  # its warm worker is gone
        monkeypatch.setattr(rt.pool, "worker_module", "no_such_worker_module")
        with pytest.raises(amigos.errors.SandboxUnavailable, match="could not start"):
            rt.query(PATH, "get")
        monkeypatch.undo()
        assert rt.query(PATH, "get") == 0


def test_a_worker_reads_only_what_its_cache_is_kept_valid_for() -> None:
    """The pool tells workers only of changes to service code and state: a worker that read
    anything else could hold it stale, so it refuses to, before asking the parent."""
    from amigos.vm.worker import RemoteReader

    parent, child = channel_pair(5.0)
    reader = RemoteReader(child)  # type: ignore[arg-type]
    for key in (b"x/n/nonce", b"a/s/session", b"r/height", b"i/hub.amigos.dev/alice/counter", b""):
        with pytest.raises(RuntimeError, match="service code and state only"):
            reader.get(key)
        with pytest.raises(RuntimeError, match="service code and state only"):
            reader.scan(key)
    assert parent.inbox == bytearray()  # type: ignore[attr-defined]  # nothing was asked


def test_what_no_worker_reads_is_not_logged_for_workers() -> None:
    """A ledger's nonces, log leaves and tree hashes (most of what a block writes) are not
    sent to workers as invalidations; service state the host changes (a call's coins) is."""
    from amigos.vm import keys
    from amigos.vm.pool import SERVICE_READABLE

    with amigos.LocalRuntime(isolation="process") as rt:
        assert rt.pool is not None
        (worker,) = rt.pool.idle
        rt.view.apply({b"x/n/nonce": b"1", b"x/l/leaf": b"2", b"r/height": b"3"})
        assert rt.pool._changes_for(worker) == []
        rt.view.apply({b"x/n/nonce": b"4", keys.balance("alice"): b"5", keys.code(PATH): b"6"})
        assert rt.pool._changes_for(worker) == [keys.balance("alice").decode(), keys.code(PATH).decode()]
        assert all(key.startswith(SERVICE_READABLE) for key in (keys.global_(PATH, "x"), keys.map_sequence(PATH)))


def channel_pair(timeout: float) -> tuple[object, object]:
    """A parent's end (with a timeout) and a worker's end of a pair of pipes."""
    from amigos.vm.channel import Channel

    parent_read, worker_write = os.pipe()
    worker_read, parent_write = os.pipe()
    return Channel(parent_read, parent_write, timeout), Channel(worker_read, worker_write)


def test_the_parents_end_reads_while_it_writes() -> None:
    """Both ends send more than a pipe holds before reading: the worker's end blocks, the
    parent's keeps what arrives meanwhile, and both messages arrive whole."""
    parent, worker = channel_pair(timeout=5.0)
    up = ["results", "w" * 300_000]
    down = ["jobs", "p" * 300_000]
    received: dict[str, object] = {}

    def worker_side() -> None:
        worker.send(up)  # type: ignore[attr-defined]
        received["worker"] = worker.receive()  # type: ignore[attr-defined]

    def parent_side() -> None:
        parent.send(down)  # type: ignore[attr-defined]
        received["parent"] = parent.receive()  # type: ignore[attr-defined]

    threads = [threading.Thread(target=side, daemon=True) for side in (worker_side, parent_side)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert received == {"worker": down, "parent": up}, "the two ends wait for each other"
    for end in (parent, worker):
        end.close()  # type: ignore[attr-defined]


def test_a_message_carries_bytes_as_its_attachment() -> None:
    """A message that ends in bytes sends them as they are, after its JSON (an empty
    attachment too); frames whose attachment is too large, or attached to what is not a
    list, close the channel."""
    import struct

    from amigos.vm.channel import MAX_MESSAGE, ChannelClosed

    parent, worker = channel_pair(timeout=5.0)
    worker.send(["results", [1], b"\x00\xff\"raw"], ["get", "k"], ["empty", b""])  # type: ignore[attr-defined]
    assert parent.receive() == ["results", [1], b"\x00\xff\"raw"]  # type: ignore[attr-defined]
    assert parent.receive() == ["get", "k"]  # type: ignore[attr-defined]
    assert parent.receive() == ["empty", b""]  # type: ignore[attr-defined]
    for frame, problem in [
        (struct.pack(">II", 3, 2) + b'"x"a', "not a list"),
        (struct.pack(">II", 2, MAX_MESSAGE) + b"[]", "over the limit"),
        (struct.pack(">II", 2, 2**32 - 1) + b"[]", "over the limit"),
    ]:
        os.write(worker.write_fd, frame)  # type: ignore[attr-defined]
        with pytest.raises(ChannelClosed, match=problem):
            parent.receive()  # type: ignore[attr-defined]
        parent.inbox.clear()  # type: ignore[attr-defined]
    for end in (parent, worker):
        end.close()  # type: ignore[attr-defined]


def test_the_parents_end_gives_up_on_a_worker_that_neither_reads_nor_writes() -> None:
    from amigos.vm.channel import ChannelClosed

    parent, worker = channel_pair(timeout=0.2)
    with pytest.raises(ChannelClosed, match="no room"):
        parent.send(["jobs", "p" * 300_000])  # type: ignore[attr-defined]
    for end in (parent, worker):
        end.close()  # type: ignore[attr-defined]


def test_jobs_cross_as_columns_and_come_back_the_same() -> None:
    """Columns shared by every job go once; 1 and True, equal in Python, are not merged."""
    from amigos.vm.channel import from_columns, to_columns

    rows = [["call", "p", 1, [["a", 1], {}]], ["call", "p", True, [["a", True], {}]], ["call", "p", 1, [["b"], {"k": 2}]]]
    packed = to_columns(rows)
    assert packed[1][0] == ["call"] and packed[1][1] == ["p"] and len(packed[1][2]) == 3
    assert [list(row) for row in from_columns(packed)] == rows
    assert [type(row[2]) for row in from_columns(packed)] == [int, bool, int]
    assert [list(row) for row in from_columns(to_columns([["only", 1]]))] == [["only", 1]]
