"""What admitting a transaction costs: strict decoding plus every ante check, from bytes.

    python benchmarks/ante.py [--n N]

Prints microseconds per ``ante_check`` on the bytes of a one-call transaction, next to the
Ed25519 verification alone (the floor: everything else is Python around it), and per
``SignedTransaction.decode``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from amigos.crypto.keys import Account, verify_signature  # noqa: E402
from amigos.ledger.ante import ante_check  # noqa: E402
from amigos.ledger.tx import Call, SignedTransaction, Transaction, sign  # noqa: E402


class Ledger:
    """The master-key path of the signer rule, without a store: what is measured is decoding
    and the stateless rules."""

    def last_nonce(self, account: str, public_key: bytes) -> int:
        return 0

    def check_signer(self, tx: Transaction, block_time: int) -> None:
        pass


def per_call_us(n: int, work) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for _ in range(n):
        work()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    n = parser.parse_args().n
    key = Account.from_seed(bytes([1]) * 32)
    tx = Transaction(chain_id="amigos-bench", account=key.address, public_key=key.public_key, nonce=1,
                     gas_limit=1_000_000, messages=[Call("hub.amigos.dev/amigos/token", "transfer", ["bob", 5])])
    stx = sign(tx, key)
    data, message = stx.encode(), tx.signing_bytes()
    ledger = Ledger()
    print(f"signed transaction: {len(data)} bytes")
    print(f"Ed25519 verify:     {per_call_us(n, lambda: verify_signature(key.public_key, message, stx.signature)):7.1f} us")
    print(f"decode:             {per_call_us(n, lambda: SignedTransaction.decode(data)):7.1f} us")
    print(f"ante_check(bytes):  {per_call_us(n, lambda: ante_check(data, chain_id='amigos-bench', block_time=0, state=ledger)):7.1f} us")


if __name__ == "__main__":
    main()
