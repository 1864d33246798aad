"""TEST-ONLY: a node process under load, for the kill -9 test of tests/test_sequencer.py.

``python tests/node_driver.py HOME`` opens (or reopens) a ledger in HOME, then submits
transfers from 8 threads as fast as the sequencer takes them, printing ``ACK <tx hash hex>``
(flushed) for every transaction whose receipt it got. Whatever it printed must survive a
``kill -9`` at any moment.
"""

from __future__ import annotations

import sys
import threading

import amigos
from amigos.crypto.keys import Account
from amigos.ledger.block import Ledger
from amigos.ledger.tx import Call, Deploy, Transaction, sign
from amigos.node import Sequencer

CHAIN = "amigos-test"
NODE = Account.from_seed(bytes([9]) * 32)
COUNTER = "count = 0\n\ndef bump():\n    global count\n    count += 1\n    return count\n"


def main(home: str) -> None:
    ledger = Ledger(amigos.LocalRuntime(home), CHAIN, NODE)
    sequencer = Sequencer(ledger, block_interval=0.005)
    sequencer.start()
    owner = Account.from_seed(bytes([1]) * 32)
    path = f"hub.amigos.dev/{owner.address}/counter"
    lock = threading.Lock()

    def send(account: Account, nonce: int, message: object) -> None:
        tx = Transaction(chain_id=CHAIN, account=account.address, public_key=account.public_key,
                         nonce=nonce, gas_limit=2_000_000, messages=[message])
        outcome = sequencer.submit(sign(tx, account).encode()).result()
        if outcome.receipt is not None:
            with lock:
                sys.stdout.write(f"ACK {outcome.receipt.tx_hash.hex()}\n")
                sys.stdout.flush()

    if ledger.last_nonce(owner.address, owner.public_key) == 0:
        send(owner, 1, Deploy(path, COUNTER))

    def client(seed: int) -> None:
        account = Account.from_seed(bytes([seed]) * 32)
        nonce = ledger.last_nonce(account.address, account.public_key)
        while True:
            nonce += 1
            send(account, nonce, Call(path, "bump"))

    threads = [threading.Thread(target=client, args=(10 + i,), daemon=True) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main(sys.argv[1])
