"""What one unit of gas buys: CPU per unit for each kind of guarded operation.

    python benchmarks/gas_calibration.py [--iterations N] [--repeats R]

Runs each statement of the bomb suite's tight-loop corpus (tests/test_bombs.py, ``TIGHT_LOOPS``)
N times in a ``for`` loop of a deployed service, in process, and subtracts an empty loop
measured in the same run: what is left is the statement's own CPU time and gas. Prints, worst
first, nanoseconds and gas per statement, nanoseconds per unit of gas, and that figure as a
ratio to the empty loop's (the interpreter's own speed, so the ratios carry across machines).

The schedule's promise (amigos/vm/gas.py) is at most about 25 ns per unit on a machine like CI's;
the bomb suite fails any statement above 40 ns (``CPU_BUDGET`` at ``MAX_GAS``). Each figure is
the fastest of R rounds, the rounds interleaved so that every statement sees the same load.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from test_bombs import CPU_BUDGET, TIGHT_LOOP_PRELUDE, TIGHT_LOOPS

import amigos
from amigos.vm import gas

EMPTY = "pass"


def deploy_loops(rt: amigos.LocalRuntime, iterations: int) -> dict[str, str]:
    """One service per statement, each running it ``iterations`` times; returns their paths."""
    paths = {}
    for i, statement in enumerate(dict.fromkeys([EMPTY, *TIGHT_LOOPS])):
        path = f"hub.amigos.dev/bench/loop{i}"
        body = f"\n\ndef run() -> None:\n    for _ in range({iterations}):\n        {statement}\n"
        rt.deploy(path, TIGHT_LOOP_PRELUDE + body, signer="bench")
        paths[statement] = path
    return paths


def measure(rt: amigos.LocalRuntime, path: str) -> tuple[float, int]:
    """CPU seconds and gas of one call (it must succeed)."""
    start = time.process_time()
    receipt = rt.call(path, "run", signer="bench", gas=gas.MAX_GAS)
    cpu = time.process_time() - start
    if not receipt.ok:
        raise SystemExit(f"{path}: {receipt.error}")
    return cpu, receipt.gas_used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=20_000, help="statements per call (default 20000)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the fastest counts (default 3)")
    args = parser.parse_args()

    rt = amigos.LocalRuntime()
    paths = deploy_loops(rt, args.iterations)
    best: dict[str, tuple[float, int]] = {}
    for _ in range(args.repeats):
        for statement, path in paths.items():
            cpu, used = measure(rt, path)
            if statement not in best or cpu < best[statement][0]:
                best[statement] = (cpu, used)

    empty_cpu, empty_gas = best.pop(EMPTY)
    n = args.iterations
    empty_ns_per_gas = empty_cpu / empty_gas * 1e9
    print(f"empty loop: {empty_cpu / n * 1e9:.0f} ns and {empty_gas / n:.0f} gas per iteration, "
          f"{empty_ns_per_gas:.1f} ns per unit")
    rows = []
    for statement, (cpu, used) in best.items():
        ns = max(cpu - empty_cpu, 0.0) / n * 1e9
        units = (used - empty_gas) / n
        rows.append((ns / units if units > 0 else float("inf"), statement, ns, units))
    rows.sort(reverse=True)
    print(f"\n{'statement':32} {'ns':>7} {'gas':>7} {'ns/gas':>7} {'x empty':>8}")
    for ns_per_gas, statement, ns, units in rows:
        print(f"{statement:32} {ns:7.0f} {units:7.1f} {ns_per_gas:7.1f} {ns_per_gas / empty_ns_per_gas:8.1f}")
    bound = CPU_BUDGET / gas.MAX_GAS * 1e9
    worst = rows[0]
    print(f"\nworst: `{worst[1]}` at {worst[0]:.1f} ns per unit "
          f"({worst[0] / empty_ns_per_gas:.1f}x the empty loop); the bomb suite's bound is {bound:.0f}; "
          f"MAX_GAS of it would take {worst[0] * gas.MAX_GAS / 1e9:.2f} s")


if __name__ == "__main__":
    main()
