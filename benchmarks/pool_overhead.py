"""What process isolation costs: token transfers in confined workers versus in-process.

    python benchmarks/pool_overhead.py [--transfers N] [--batch B] [--stretch S]

Runs hub/token.py's ``transfer`` through ``LocalRuntime.call_many`` in batches of B calls (one
round trip to a worker per batch) on two runtimes side by side, ``isolation="process"`` and
``isolation="none"``, once every recipient has been read (steady state). Each runtime runs S
batches back to back, then the other does, and so on, which side goes first alternating: both
see the same drift of a shared machine, and each runs as a busy node runs it. (With S = 1 the
worker sits idle through every in-process batch, and on a virtual machine waking an idle CPU
costs each pooled batch a few percent that a node's back-to-back batches do not pay.) Prints transfers/s for both, their
ratio (target: >= 0.7) over all batches and over the median batch, and where the pooled time
goes: CPU per transfer in the parent and in the worker. Also prints how long a worker takes to
start (interpreter, imports, confinement, bubblewrap where present), one batch's round trip,
and the cost of a transfer whose recipient was never read (a cache miss: in a worker, a round
trip to the parent).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import amigos  # noqa: E402
from amigos.vm.pool import DEFAULT_LIMITS, Worker  # noqa: E402

TOKEN = "hub.amigos.dev/amigos/token"
SOURCE = (ROOT / "hub" / "token.py").read_text()
ISOLATIONS = ("process", "none")


def token_runtime(isolation: str) -> amigos.LocalRuntime:
    rt = amigos.LocalRuntime(isolation=isolation, clock=lambda: 1_700_000_000)
    rt.deploy(TOKEN, SOURCE, signer="alice")
    return rt


def side_by_side(n: int, batch: int, stretch: int) -> None:
    calls = [amigos.Call(TOKEN, "transfer", (f"u{i % 1000}", 1), signer="alice") for i in range(n)]
    runtimes = {isolation: token_runtime(isolation) for isolation in ISOLATIONS}
    rounds: dict[str, list[float]] = {isolation: [] for isolation in ISOLATIONS}
    parent_cpu = 0.0
    try:
        for rt in runtimes.values():
            for first in range(0, 1000, batch):  # warm: module loaded, every recipient read once
                rt.call_many(calls[first:first + batch])
        pool = runtimes["process"].pool
        assert pool is not None
        worker_cpu = -pool.idle[0].cpu_seconds
        firsts = range(0, n, batch)
        for k in range(0, len(firsts), stretch):
            order = ISOLATIONS if (k // stretch) % 2 else ISOLATIONS[::-1]  # neither always runs first
            for isolation in order:
                for first in firsts[k:k + stretch]:
                    cpu, start = time.process_time(), time.perf_counter()
                    receipts = runtimes[isolation].call_many(calls[first:first + batch])
                    rounds[isolation].append(time.perf_counter() - start)
                    if isolation == "process":
                        parent_cpu += time.process_time() - cpu
                    assert all(r.ok for r in receipts), receipts[0].error
        worker_cpu += pool.idle[0].cpu_seconds
        assert runtimes["process"].state_root() == runtimes["none"].state_root()
    finally:
        for rt in runtimes.values():
            rt.close()
    pooled, inline = (n / sum(rounds[isolation]) for isolation in ISOLATIONS)
    medians = {isolation: statistics.median(rounds[isolation]) for isolation in ISOLATIONS}
    ratio = pooled / inline
    print(f"in-process (isolation='none'):          {inline:10,.0f} transfers/s")
    print(f"confined workers (isolation='process'): {pooled:10,.0f} transfers/s  (batches of {batch}, {stretch} in a row)")
    print(f"ratio pooled / in-process:              {ratio:10.2f}   target >= 0.7: {'met' if ratio >= 0.7 else 'NOT met'}")
    print(f"ratio of the median batches:            {medians['none'] / medians['process']:10.2f}")
    print(f"batch round trip (median):              {medians['process'] * 1000:10.2f} ms pooled, "
          f"{medians['none'] * 1000:.2f} ms in-process")
    print(f"CPU per pooled transfer:                {parent_cpu / n * 1e6:10.1f} us parent, "
          f"{worker_cpu / n * 1e6:.1f} us worker; wall {sum(rounds['process']) / n * 1e6:.1f} us "
          f"(in-process {sum(rounds['none']) / n * 1e6:.1f} us)")


def cold_read_seconds(isolation: str, n: int = 2000) -> float:
    """Per transfer to a recipient never read before: one state read that misses every cache
    (in a worker, a round trip to the parent)."""
    with token_runtime(isolation) as rt:
        rt.call_many([amigos.Call(TOKEN, "transfer", ("warm", 1), signer="alice")])
        calls = [amigos.Call(TOKEN, "transfer", (f"fresh{i}", 1), signer="alice") for i in range(n)]
        start = time.perf_counter()
        for first in range(0, n, 100):
            rt.call_many(calls[first:first + 100])
        return (time.perf_counter() - start) / n


def worker_start_seconds(samples: int = 5) -> float:
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        worker = Worker(DEFAULT_LIMITS, True, "amigos.vm.worker", 30.0)
        times.append(time.perf_counter() - start)
        worker.stop()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--stretch", type=int, default=10, help="batches each runtime runs in a row (default 10)")
    args = parser.parse_args()
    if args.stretch < 1 or args.batch < 1 or args.transfers < args.batch:
        parser.error("--stretch and --batch must be at least 1, and --transfers at least one batch")
    side_by_side(args.transfers, args.batch, args.stretch)
    print(f"worker start (median of 5):             {worker_start_seconds() * 1000:10.1f} ms")
    cold_pooled, cold_inline = cold_read_seconds("process"), cold_read_seconds("none")
    print(f"transfer to a new recipient:            {cold_pooled * 1e6:10.1f} us pooled, {cold_inline * 1e6:.1f} us in-process")


if __name__ == "__main__":
    main()
