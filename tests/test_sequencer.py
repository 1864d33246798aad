"""The sequencer: group commit, receipts only after durability, kill -9 under load."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import amigos
from amigos.crypto.keys import Account
from amigos.errors import StoreError, UsageError
from amigos.ledger.block import Ledger, decode_leaf, replay
from amigos.ledger.tx import Call, Deploy, SignedTransaction, Transaction, sign
from amigos.node import Sequencer

CHAIN = "amigos-test"
NODE = Account.from_seed(bytes([9]) * 32)
OWNER = Account.from_seed(bytes([1]) * 32)
PATH = f"hub.amigos.dev/{OWNER.address}/counter"
COUNTER = "count = 0\n\ndef bump():\n    global count\n    count += 1\n    return count\n"
DRIVER = Path(__file__).with_name("node_driver.py")


def tx(account: Account, nonce: int, message: object, chain: str = CHAIN) -> bytes:
    t = Transaction(chain_id=chain, account=account.address, public_key=account.public_key, nonce=nonce,
                    gas_limit=2_000_000, messages=[message])
    return sign(t, account).encode()


def test_concurrent_clients_share_blocks() -> None:
    ledger = Ledger(amigos.LocalRuntime(clock=lambda: 1_700_000_000), CHAIN, NODE)
    sequencer = Sequencer(ledger, block_interval=0.01)
    sequencer.start()
    try:
        assert sequencer.submit(tx(OWNER, 1, Deploy(PATH, COUNTER))).result().receipt.ok
        results: list[int] = []

        def client(seed: int) -> None:
            account = Account.from_seed(bytes([seed]) * 32)
            for nonce in range(1, 11):
                outcome = sequencer.submit(tx(account, nonce, Call(PATH, "bump"))).result()
                assert outcome.receipt is not None and outcome.receipt.ok
                results.append(outcome.receipt.results[0])

        threads = [threading.Thread(target=client, args=(20 + i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == list(range(1, 81))
        assert sequencer.blocks < 60, "transactions from concurrent clients should share blocks"
    finally:
        sequencer.stop()


def test_refusals_come_back_without_a_block() -> None:
    ledger = Ledger(amigos.LocalRuntime(), CHAIN, NODE)
    sequencer = Sequencer(ledger)
    sequencer.start()
    try:
        for raw, code in [(b"junk", "malformed"), (tx(OWNER, 1, Deploy(PATH, COUNTER), chain="other"), "wrong-chain")]:
            outcome = sequencer.submit(raw).result(timeout=5)
            assert outcome.receipt is None and outcome.refused.code == code
        good = tx(OWNER, 1, Deploy(PATH, COUNTER))
        assert sequencer.submit(good).result().receipt.ok
        assert sequencer.submit(good).result().refused.code == "bad-nonce"  # a replay
        assert sequencer.blocks == 2
    finally:
        sequencer.stop()


def test_kill_9_under_load_loses_no_acknowledged_transaction(tmp_path: Path) -> None:
    home = tmp_path / "node"
    acknowledged: set[str] = set()
    for round_ in range(4):  # kill it, restart it on the same home, kill it again…
        proc = subprocess.Popen([sys.executable, str(DRIVER), str(home)], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        assert proc.stdout is not None
        start = time.monotonic()
        seen = 0
        while seen < 300 and time.monotonic() - start < 60:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("ACK "):
                acknowledged.add(line.split()[1])
                seen += 1
        proc.send_signal(signal.SIGKILL)  # mid-load: blocks are being built and committed
        proc.wait()
        assert seen >= 300, f"round {round_}: the node acknowledged only {seen} transactions"
    ledger = Ledger(amigos.LocalRuntime(home), CHAIN, None)
    size = ledger.tree().size
    logged = {SignedTransaction.decode(decode_leaf(ledger.leaf(i))[0]).tx_hash.hex() for i in range(size)}
    assert acknowledged <= logged, f"{len(acknowledged - logged)} acknowledged transactions were lost"
    # No partial block: the log replays from genesis, block by block, to the same state.
    fresh = Ledger(amigos.LocalRuntime(), CHAIN, None)
    replay(ledger, fresh, NODE.public_key)
    assert fresh.tree().size == size
    assert fresh.runtime.state(PATH)["globals"] == ledger.runtime.state(PATH)["globals"]


def test_a_batch_is_queued_as_one_and_split_only_at_the_block_limit() -> None:
    """A client's batch goes into blocks whole and in order: the block interval is not waited
    for (it is a minute here), a batch beyond max_block_transactions continues in the next
    block, refusals at admission come back at once, and stopping commits everything queued."""
    ledger = Ledger(amigos.LocalRuntime(clock=lambda: 1_700_000_000), CHAIN, NODE)
    sequencer = Sequencer(ledger, block_interval=60, max_block_transactions=300)
    sequencer.start()
    try:
        first = sequencer.submit_many([tx(OWNER, 1, Deploy(PATH, COUNTER))] +
                                      [tx(OWNER, n, Call(PATH, "bump")) for n in range(2, 701)] +
                                      [b"garbage", tx(OWNER, 701, Call(PATH, "bump"), chain="elsewhere")])
        assert [o.refused.code for o in first.outcomes[700:]] == ["malformed", "wrong-chain"]  # type: ignore[union-attr]
        outcomes = first.future.result(timeout=30)[:700]
        assert [o.receipt.results[0] for o in outcomes[1:]] == list(range(1, 700))  # type: ignore[union-attr]
        assert [o.receipt.height for o in outcomes[::100]] == [1, 1, 1, 2, 2, 2, 3]  # type: ignore[union-attr]
        last = sequencer.submit_many([tx(OWNER, n, Call(PATH, "bump")) for n in range(701, 1101)])
    finally:
        sequencer.stop()
    assert [o.receipt.results[0] for o in last.future.result(timeout=0)] == list(range(700, 1100))  # type: ignore[union-attr]
    assert ledger.runtime.height == 5


class LosesItsFirstBlock(Ledger):
    """A ledger whose first block cannot be committed (a full disk, say), and later ones can."""

    lost = False

    def apply_block(self, transactions, time=None):  # type: ignore[no-untyped-def]
        if not self.lost:
            self.lost = True
            raise StoreError("the disk is full")
        return super().apply_block(transactions, time)


def test_a_batch_whose_first_block_is_lost_fails_and_the_sequencer_goes_on() -> None:
    """A batch split over two blocks, the first lost: the batch fails (its clients learn it),
    the rest of it still goes through the next block, and the sequencer keeps committing."""
    ledger = LosesItsFirstBlock(amigos.LocalRuntime(clock=lambda: 1_700_000_000), CHAIN, NODE)
    sequencer = Sequencer(ledger, block_interval=0.01, max_block_transactions=3)
    sequencer.start()
    try:
        split = sequencer.submit_many([tx(OWNER, 1, Deploy(PATH, COUNTER))] +
                                      [tx(OWNER, n, Call(PATH, "bump")) for n in range(2, 6)])
        with pytest.raises(StoreError):
            split.future.result(timeout=30)
        later = sequencer.submit_many([tx(OWNER, 1, Deploy(PATH, COUNTER)), tx(OWNER, 2, Call(PATH, "bump"))])
        assert later.future.result(timeout=30)[1].receipt.results == [1]  # type: ignore[union-attr]
    finally:
        sequencer.stop()


def test_a_stopped_sequencer_still_answers_refusals_and_refuses_to_queue() -> None:
    """A transaction refused at admission needs no sequencer: its refusal comes back even once
    the sequencer stopped (as before batches were queued whole); only queueing is refused."""
    ledger = Ledger(amigos.LocalRuntime(), CHAIN, NODE)
    sequencer = Sequencer(ledger)
    for raws in ([b"junk"], [b"junk", tx(OWNER, 1, Deploy(PATH, COUNTER), chain="other")]):
        outcomes = sequencer.submit_many(raws).future.result(timeout=0)
        assert [o.refused.code for o in outcomes] == ["malformed", "wrong-chain"][:len(raws)]
    assert sequencer.submit(b"junk").result(timeout=0).refused.code == "malformed"  # type: ignore[union-attr]
    assert sequencer.submit_many([]).future.result(timeout=0) == []
    with pytest.raises(UsageError):
        sequencer.submit_many([b"junk", tx(OWNER, 1, Deploy(PATH, COUNTER))])


def test_signatures_are_checked_while_a_block_gathers() -> None:
    """The sequencer hands what has arrived to the signature verifier while it waits for more,
    so a block rarely waits for its signatures; a forgery among them is refused all the same."""
    from amigos.node.verifier import SignatureVerifier

    verifier = SignatureVerifier()
    ledger = Ledger(amigos.LocalRuntime(clock=lambda: 1_700_000_000), CHAIN, NODE, verifier=verifier)
    checked_before_their_block: list[bool] = []
    apply_block = ledger.apply_block

    def watched(transactions, time=None):  # type: ignore[no-untyped-def]
        checked_before_their_block.extend(item.verdict is not None for item in transactions)
        return apply_block(transactions, time)

    ledger.apply_block = watched  # type: ignore[method-assign]
    sequencer = Sequencer(ledger, block_interval=0.2)
    sequencer.start()
    try:
        assert sequencer.submit(tx(OWNER, 1, Deploy(PATH, COUNTER))).result().receipt.ok
        good = [tx(OWNER, nonce, Call(PATH, "bump")) for nonce in range(2, 7)]
        forged = Transaction(chain_id=CHAIN, account=OWNER.address, public_key=OWNER.public_key, nonce=7,
                             gas_limit=2_000_000, messages=[Call(PATH, "bump")])
        futures = [sequencer.submit(raw) for raw in good]
        time.sleep(0.05)  # the block is gathering: these were handed to the verifier already
        futures.append(sequencer.submit(SignedTransaction(forged, bytes(64)).encode()))
        outcomes = [f.result(timeout=10) for f in futures]
    finally:
        sequencer.stop()
        verifier.close()
    assert [o.receipt.results[0] for o in outcomes[:5]] == [1, 2, 3, 4, 5]
    assert outcomes[5].receipt is None and outcomes[5].refused.code == "bad-signature"
    assert sequencer.blocks == 2  # the deploy's block, then one for the rest
    assert checked_before_their_block == [True] * 7


def test_a_failure_to_check_signatures_ahead_leaves_it_to_the_block() -> None:
    ledger = Ledger(amigos.LocalRuntime(clock=lambda: 1_700_000_000), CHAIN, NODE)

    def broken(admitted):  # type: ignore[no-untyped-def]
        raise RuntimeError("verifier bug")

    ledger.verify_ahead = broken  # type: ignore[method-assign]
    sequencer = Sequencer(ledger, block_interval=0.01)
    sequencer.start()
    try:
        assert sequencer.submit(tx(OWNER, 1, Deploy(PATH, COUNTER))).result(timeout=10).receipt.ok
        forged = Transaction(chain_id=CHAIN, account=OWNER.address, public_key=OWNER.public_key, nonce=2,
                             gas_limit=2_000_000, messages=[Call(PATH, "bump")])
        assert sequencer.submit(SignedTransaction(forged, bytes(64)).encode()).result(timeout=10).refused.code == "bad-signature"
        assert sequencer.submit(tx(OWNER, 2, Call(PATH, "bump"))).result(timeout=10).receipt.results == [1]
    finally:
        sequencer.stop()
