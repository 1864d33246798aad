"""Metered token transfers through LocalRuntime.call, against plain Python in the same run.

    python benchmarks/token_transfer.py [--transfers N] [--batch B] [--big-map M] [--scaling-transfers S]

Prints transfers/s of hub/token.py's ``transfer`` (gas on, state committed to SQLite every B
transfers), the same logic as plain Python over a dict, their ratio, and the cost of a
transfer when the balances Map holds 1,000 versus M accounts (gas must be equal; time close;
see ``scaling`` for how both are measured alike).
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


def scaling(tmp: str, holders: int, transfers: int, batch: int) -> None:
    """A transfer's gas and time with 1,000 versus ``holders`` accounts in the balances Map.

    Both runs are measured alike: each sends to a fixed set of recipients (all 1,000 of the
    small Map; 20,000 spread over the big one), transfers to every recipient once before timing
    so that both are in their steady state, and times ``transfers`` transfers, enough to span
    whole merge cycles of the store's write log (SQLiteStore.MERGE_ROWS) so that merges are
    counted at their real frequency. Reading a holder for the first time costs one SQLite read
    more: that is measured apart, on holders of the big Map never read before.
    """
    rates = {}
    gas = {}
    for size, distinct in ((1_000, 1_000), (holders, 20_000)):
        rt = runtime_with_holders(f"{tmp}/scaling{size}", size)
        spread = [f"h{(i * 7919) % size:07d}" for i in range(distinct)]
        # Gas is compared on the first transfer, to a holder of 1 in both Maps: later ones move
        # balances of different sizes (1,000 recipients receive 20 times more each than 20,000).
        gas[size] = vm_transfers(rt, 1, batch, spread)[1]
        vm_transfers(rt, len(spread), batch, spread)
        merges = rt.store.merges
        rates[size], _ = vm_transfers(rt, transfers, batch, spread)
        merges = rt.store.merges - merges
        print(f"transfer with {size:>9,} holders: {rates[size]:>10,.0f} /s, gas {gas[size]}  "
              f"({distinct:,} recipients, {merges} store merges while timed)", flush=True)
        if size == holders:
            seen = set(spread)
            fresh = [h for h in (f"h{(i * 7919 + 3) % size:07d}" for i in range(20_000)) if h not in seen]
            cold_rate, _ = vm_transfers(rt, len(fresh), batch, fresh)
            print(f"  to {len(fresh):,} holders never read before: {cold_rate:>10,.0f} /s  (one SQLite read more each)")
        rt.close()
    print(f"time ratio (small / big):       {rates[1_000] / rates[holders]:>10.2f} x   (target <= 1.5)")
    print(f"gas equal:                      {gas[1_000] == gas[holders]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transfers", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--big-map", type=int, default=1_000_000)
    parser.add_argument("--scaling-transfers", type=int, default=200_000,
                        help="transfers timed per Map size (enough for whole store merge cycles)")
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

        print(f"\nbalances Map with 1,000 versus {args.big_map:,} holders:", flush=True)
        scaling(tmp, args.big_map, args.scaling_transfers, args.batch)


if __name__ == "__main__":
    main()
