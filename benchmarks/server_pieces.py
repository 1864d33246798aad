"""What the node's server process spends per signed token transfer, piece by piece, in one
process (no HTTP): the microbenchmark behind issue 4's target (a).

    python benchmarks/server_pieces.py [--batches N] [--isolation process|none]

Starts a :class:`amigos.node.Node` in a temporary home (the token of hub/token.py deployed, 64
accounts funded), then submits N batches of 500 pre-signed transfers the way the API does
(``Node.submit_many``, then ``Api.receipts_answer``) and prints the CPU time this process spent
per transfer (all its threads: admission, the sequencer, the answer; not the sandbox workers'
or the signature verifier's), with the garbage collector set as ``amigos serve`` sets it. Then
it times, per transfer, the pieces that path is made of, over the receipts it just made:
decoding a signed transaction, encoding its log leaf, hashing its writes, its inclusion proof,
and the answer, next to the general way of writing it (``Api.receipts_body``, ``dump_json``).
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from amigos.crypto.keys import Account  # noqa: E402
from amigos.ledger.block import encode_receipt, hash_writes  # noqa: E402
from amigos.ledger.tx import Call, Deploy, Transaction, decode_signed, sign  # noqa: E402
from amigos.node import Node  # noqa: E402
from amigos.node.app import Api  # noqa: E402
from amigos.node.problems import Json  # noqa: E402
from amigos.node.sequencer import Outcome  # noqa: E402
from amigos.node.wire import quoted_hex  # noqa: E402

CHAIN = "amigos-bench"
SOURCE = (ROOT / "hub" / "token.py").read_text()
OWNER = Account.from_seed(bytes([1]) * 32)
TOKEN = f"hub.amigos.dev/{OWNER.address}/token"
BATCH = 500


def signed(account: Account, nonce: int, message: Deploy | Call) -> bytes:
    tx = Transaction(chain_id=CHAIN, account=account.address, public_key=account.public_key, nonce=nonce,
                     gas_limit=1_000_000, messages=[message])
    return sign(tx, account).encode()


def served(node: Node, api: Api, raws: list[bytes]) -> tuple[list[Outcome], bytes]:
    """What the API does with a batch: admit it, wait for its block, render the receipts."""
    outcomes = node.submit_many(raws).future.result()
    return outcomes, api.receipts_answer(False, outcomes, None)


def per_item(label: str, items: list[Any], fn: Callable[[Any], object], per: int = 1, repeat: int = 3) -> None:
    """Print the CPU time of ``fn`` per item of ``items`` (per ``per`` transfers), best of ``repeat``."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for item in items:
            fn(item)
        best = min(best, time.process_time() - start)
    print(f"  {label:44s} {best / len(items) / per * 1e6:7.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--isolation", default="process", choices=["process", "none"])
    args = parser.parse_args()
    clients = [Account.from_seed(i.to_bytes(32, "big")) for i in range(1000, 1064)]
    node = Node(tempfile.mkdtemp(prefix="amigos-pieces-"), chain_id=CHAIN, isolation=args.isolation).start()
    try:
        api = Api(node)
        setup = [signed(OWNER, 1, Deploy(TOKEN, SOURCE))]
        setup += [signed(OWNER, 2 + i, Call(TOKEN, "transfer", (c.address, 10**9))) for i, c in enumerate(clients)]
        served(node, api, setup)
        count = args.batches * BATCH
        raws = [signed(clients[i % 64], 1 + i // 64, Call(TOKEN, "transfer", (f"r{i % 1000}", 1))) for i in range(count)]
        served(node, api, raws[:BATCH])  # warm up: workers loaded, caches full
        gc.collect()  # the garbage collector as `amigos serve` sets it (see amigos.cli.node)
        gc.freeze()
        gc.set_threshold(10_000)
        start, cpu = time.perf_counter(), time.process_time()
        outcomes: list[Outcome] = []
        for first in range(BATCH, count, BATCH):
            outcomes += served(node, api, raws[first:first + BATCH])[0]
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert all(o.receipt is not None and o.receipt.ok for o in outcomes)
        n = len(outcomes)
        print(f"{n:,} transfers in batches of {BATCH}, isolation={args.isolation}: {n / elapsed:,.0f} transfers/s")
        print(f"  this process's CPU (no HTTP)                 {cpu / n * 1e6:7.1f} us/transfer")
        print("pieces, per transfer:")
        per_item("decode_signed (admission)", raws[:BATCH], decode_signed)
        pairs = [(o.receipt, o.transaction) for o in outcomes[:BATCH]]
        per_item("encode_receipt (the log leaf)", pairs, lambda p: encode_receipt(*p))
        writes = {b"s/" + bytes(40): bytes(12), b"s/" + bytes(41): bytes(12), b"x/n/" + bytes(52): bytes(3)}
        per_item("hash_writes (3 writes)", [writes] * BATCH, hash_writes)
        size, last = node.size, outcomes[-BATCH:]
        indexes = [o.receipt.index for o in last]
        per_item("an inclusion proof, alone (hex)", indexes, lambda i: api.inclusion(i, size))
        per_item("  one answer's proofs together (JSON)", [indexes],
                 lambda i: node.proofs.inclusions(i, size, quoted_hex), BATCH)
        per_item("the answer (Api.receipts_answer)", [last], lambda b: api.receipts_answer(False, b, None), BATCH)
        per_item("  the general way (receipts_body, dump_json)", [last],
                 lambda b: Json(api.receipts_body(False, b, None)).body, BATCH)
        print(f"  (an answer: {len(api.receipts_answer(False, last, None)) / BATCH:,.0f} bytes per receipt)")
    finally:
        node.stop()


if __name__ == "__main__":
    main()
