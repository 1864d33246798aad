"""Signed token transfers through the ledger and the sequencer (no HTTP yet), against the speed of
Ed25519 verification on one core, measured in the same run.

    python benchmarks/ledger_throughput.py [--transfers N] [--home DIR] [--isolation none|process]

Pre-signs N transfers of hub/token.py from 50 accounts, submits them all to a running
Sequencer (blocks of up to 500, committed durably to SQLite in HOME, a temporary folder by
default; signatures checked ahead by the node's verifier process), waits for every receipt and prints transactions/s, blocks, and the ratio against
PyNaCl signature verifications/s (issue 4's target for batches over HTTP: >= 0.5).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import nacl.signing  # noqa: E402

import amigos  # noqa: E402
from amigos.crypto.keys import Account  # noqa: E402
from amigos.node.verifier import SignatureVerifier  # noqa: E402
from amigos.ledger.block import Ledger  # noqa: E402
from amigos.ledger.tx import Call, Deploy, Transaction, sign  # noqa: E402
from amigos.node import Sequencer  # noqa: E402

CHAIN = "amigos-bench"
SOURCE = (ROOT / "hub" / "token.py").read_text()


def verifications_per_second(n: int = 5000) -> float:
    key = nacl.signing.SigningKey(bytes(32))
    message = bytes(200)
    signed = key.sign(message)
    verify = key.verify_key.verify
    start = time.perf_counter()
    for _ in range(n):
        verify(signed)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=10_000)
    parser.add_argument("--home", default=None)
    parser.add_argument("--isolation", default="none", choices=["none", "process"])
    args = parser.parse_args()
    home = args.home or tempfile.mkdtemp(prefix="amigos-ledger-bench-")
    node = Account.from_seed(bytes([9]) * 32)
    owner = Account.from_seed(bytes([1]) * 32)
    token = f"hub.amigos.dev/{owner.address}/token"
    verifier = SignatureVerifier()  # as a node has
    ledger = Ledger(amigos.LocalRuntime(home, isolation=args.isolation), CHAIN, node, verifier=verifier)
    sequencer = Sequencer(ledger, block_interval=0.05, max_block_transactions=500)
    sequencer.start()

    def tx(account: Account, nonce: int, message: object) -> bytes:
        t = Transaction(chain_id=CHAIN, account=account.address, public_key=account.public_key, nonce=nonce,
                        gas_limit=1_000_000, messages=[message])
        return sign(t, account).encode()

    senders = [Account.from_seed(i.to_bytes(32, "big")) for i in range(100, 150)]
    setup = [tx(owner, 1, Deploy(token, SOURCE))]
    setup += [tx(owner, 2 + i, Call(token, "transfer", (s.address, 10**9))) for i, s in enumerate(senders)]
    for outcome in sequencer.submit_many(setup).future.result():
        assert outcome.receipt.ok
    print(f"signing {args.transfers:,} transfers...", file=sys.stderr)
    transfers = [tx(senders[i % 50], 1 + i // 50, Call(token, "transfer", (f"r{i % 1000}", 1)))
                 for i in range(args.transfers)]
    blocks_before = sequencer.blocks
    start = time.perf_counter()
    outcomes = sequencer.submit_many(transfers).future.result()
    elapsed = time.perf_counter() - start
    sequencer.stop()
    verifier.close()
    failed = [o for o in outcomes if o.receipt is None or not o.receipt.ok]
    assert not failed, failed[0]
    rate = args.transfers / elapsed
    verify = verifications_per_second()
    print(f"signed transfers through the sequencer: {rate:10,.0f} tx/s  ({sequencer.blocks - blocks_before} blocks, "
          f"isolation={args.isolation}, durable SQLite commits)")
    print(f"Ed25519 verifications (PyNaCl, 1 core): {verify:10,.0f} /s")
    print(f"ratio tx/s / verify/s:                  {rate / verify:10.2f}")


if __name__ == "__main__":
    main()
