"""Metered token transfers through LocalRuntime.call, against plain Python in the same run.

    python benchmarks/token_transfer.py [--transfers N] [--batch B] [--big-map M]

Prints transfers/s of hub/token.py's ``transfer`` (gas on, state committed to SQLite every B
transfers), the same logic as plain Python over a dict, their ratio, and the cost of a
transfer when the balances Map holds 1,000 versus M accounts (gas must be equal; time close).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import amigos  # noqa: E402
from amigos import codec  # noqa: E402
from amigos.vm import keys  # noqa: E402

TOKEN = "hub.amigos.dev/amigos/token"
SOURCE = (ROOT / "hub" / "token.py").read_text()


def plain_python(n: int) -> float:
    balances = {"alice": 10**12}

    def require(cond: bool, msg: str) -> None:
        if not cond:
            raise ValueError(msg)

    def transfer(sender: str, to: str, amount: int) -> bool:
        require(amount > 0, "amount must be positive")
        have = balances.get(sender, 0)
        require(have >= amount, "insufficient balance")
        balances[sender] = have - amount
        balances[to] = balances.get(to, 0) + amount
        return True

    names = [f"u{i % 1000}" for i in range(n)]
    start = time.perf_counter()
    for to in names:
        transfer("alice", to, 1)
    return n / (time.perf_counter() - start)


def runtime_with_holders(home: str, holders: int) -> amigos.LocalRuntime:
    rt = amigos.LocalRuntime(home)
    rt.deploy(TOKEN, SOURCE, signer="alice")
    # Seed the balances Map (#0) directly in the store: the same keys the VM would write.
    prefix = keys.map_entries(TOKEN, 0)
    one = codec.encode(1)
    chunk = 100_000
    for first in range(0, holders, chunk):
        rt.store.apply({prefix + codec.encode_key(f"h{i:07d}"): one for i in range(first, min(first + chunk, holders))})
    rt.store.apply({keys.map_count(TOKEN, 0): codec.encode(holders + 1)})
    return rt


def vm_transfers(rt: amigos.LocalRuntime, n: int, batch: int, recipients: list[str]) -> tuple[float, int]:
    calls = 0
    gas_used = 0
    start = time.perf_counter()
    while calls < n:
        with rt.batch():
            for _ in range(min(batch, n - calls)):
                r = rt.call(TOKEN, "transfer", recipients[calls % len(recipients)], 1, signer="alice", gas=100_000)
                if not r.ok:
                    raise SystemExit(f"transfer failed: {r.error}")
                gas_used = r.gas_used
                calls += 1
    return n / (time.perf_counter() - start), gas_used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transfers", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--big-map", type=int, default=1_000_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        rt = runtime_with_holders(tmp + "/small", 1_000)
        recipients = [f"h{i:07d}" for i in range(1_000)]
        vm_transfers(rt, 2_000, args.batch, recipients)  # warm up: load module, fill caches
        vm_rate, gas_small = vm_transfers(rt, args.transfers, args.batch, recipients)
        py_rate = plain_python(args.transfers)
        print(f"metered transfers via LocalRuntime.call: {vm_rate:>12,.0f} /s  (gas {gas_small} each, batch {args.batch})")
        print(f"same logic, plain Python dict:           {py_rate:>12,.0f} /s")
        print(f"VM overhead factor (plain / VM):         {py_rate / vm_rate:>12.1f} x")
        print(f"target >= 50,000 /s:                     {'met' if vm_rate >= 50_000 else 'NOT met'}")
        rt.close()

        print(f"\nseeding a balances Map with {args.big_map:,} holders...", flush=True)
        big = runtime_with_holders(tmp + "/big", args.big_map)
        spread = [f"h{(i * 7919) % args.big_map:07d}" for i in range(20_000)]
        vm_transfers(big, 2_000, args.batch, spread)
        big_rate, gas_big = vm_transfers(big, min(args.transfers, 50_000), args.batch, spread)
        small = runtime_with_holders(tmp + "/small2", 1_000)
        small_spread = [f"h{(i * 7919) % 1_000:07d}" for i in range(20_000)]
        vm_transfers(small, 2_000, args.batch, small_spread)
        small_rate, gas_small2 = vm_transfers(small, min(args.transfers, 50_000), args.batch, small_spread)
        print(f"transfer with 1,000 holders:    {small_rate:>10,.0f} /s, gas {gas_small2}")
        print(f"transfer with {args.big_map:,} holders: {big_rate:>10,.0f} /s, gas {gas_big}")
        print(f"time ratio (small / big):       {small_rate / big_rate:>10.2f} x   (target <= 1.5)")
        print(f"gas equal:                      {gas_small2 == gas_big}")
        big.close()
        small.close()


if __name__ == "__main__":
    main()
