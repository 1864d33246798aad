"""What process isolation costs: token transfers in confined workers versus in-process.

    python benchmarks/pool_overhead.py [--transfers N] [--batch B]

Runs hub/token.py's ``transfer`` through ``LocalRuntime.call_many`` in batches of B calls (one
round trip to a worker per batch), with ``isolation="process"`` and ``isolation="none"`` in the
same run, and prints transfers/s for both and their ratio (target: >= 0.7), once every recipient
has been read (steady state). Also prints how long a worker takes to start (interpreter,
imports, confinement, bubblewrap where present), one batch's round trip, and the cost of a
transfer whose recipient was never read (a cache miss: in a worker, a round trip to the parent).
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
from amigos.vm.pool import Worker  # noqa: E402

TOKEN = "hub.amigos.dev/amigos/token"
SOURCE = (ROOT / "hub" / "token.py").read_text()


def transfers_per_second(isolation: str, n: int, batch: int) -> tuple[float, list[float]]:
    with amigos.LocalRuntime(isolation=isolation, clock=lambda: 1_700_000_000) as rt:
        rt.deploy(TOKEN, SOURCE, signer="alice")
        calls = [amigos.Call(TOKEN, "transfer", (f"u{i % 1000}", 1), signer="alice") for i in range(n)]
        for first in range(0, 1000, batch):  # warm: module loaded, every recipient read once
            rt.call_many(calls[first:first + batch])
        rounds = []
        start = time.perf_counter()
        for first in range(0, n, batch):
            t = time.perf_counter()
            receipts = rt.call_many(calls[first:first + batch])
            rounds.append(time.perf_counter() - t)
            assert all(r.ok for r in receipts), receipts[0].error
        return n / (time.perf_counter() - start), rounds


def cold_read_seconds(isolation: str, n: int = 2000) -> float:
    """Per transfer to a recipient never read before: one state read that misses every cache
    (in a worker, a round trip to the parent)."""
    with amigos.LocalRuntime(isolation=isolation, clock=lambda: 1_700_000_000) as rt:
        rt.deploy(TOKEN, SOURCE, signer="alice")
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
        worker = Worker(amigos.vm.pool.DEFAULT_LIMITS, True, "amigos.vm.worker", 30.0)
        times.append(time.perf_counter() - start)
        worker.stop()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    pooled, rounds = transfers_per_second("process", args.transfers, args.batch)
    inline, _ = transfers_per_second("none", args.transfers, args.batch)
    ratio = pooled / inline
    print(f"in-process (isolation='none'):       {inline:10,.0f} transfers/s")
    print(f"confined workers (isolation='process'): {pooled:7,.0f} transfers/s  (batches of {args.batch})")
    print(f"ratio pooled / in-process:           {ratio:10.2f}   target >= 0.7: {'met' if ratio >= 0.7 else 'NOT met'}")
    print(f"batch round trip (median):           {statistics.median(rounds) * 1000:10.2f} ms")
    print(f"worker start (median of 5):          {worker_start_seconds() * 1000:10.1f} ms")
    cold_pooled, cold_inline = cold_read_seconds("process"), cold_read_seconds("none")
    print(f"transfer to a new recipient:         {cold_pooled * 1e6:10.1f} us pooled, {cold_inline * 1e6:.1f} us in-process")


if __name__ == "__main__":
    main()
