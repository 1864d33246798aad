"""The ledger: signed transactions applied in blocks, receipts in a Merkle log, replay."""

from __future__ import annotations

import pytest

import amigos
from amigos import codec
from amigos.crypto.keys import Account
from amigos.ledger.block import Ledger, LogMismatch, decode_leaf, leaf_key, replay
from amigos.ledger.tx import Call, Deploy, Transaction, sign
from amigos.merkle import consistency_proof, inclusion_proof, leaf_hash, verify_consistency, verify_inclusion

CHAIN = "amigos-test"
COUNTER = "import std\ncount = 0\n\ndef increment(by=1):\n    global count\n    std.require(by > 0, 'by must be positive')\n    count += by\n    std.emit('incremented', by=by)\n    return count\n"
NODE = Account.from_seed(bytes([9]) * 32)
ALICE = Account.from_seed(bytes([1]) * 32)
BOB = Account.from_seed(bytes([2]) * 32)


def path(account: Account) -> str:
    return f"hub.amigos.dev/{account.address}/counter"


def signed(account: Account, nonce: int, *messages: object, chain: str = CHAIN, gas: int = 5_000_000) -> bytes:
    tx = Transaction(chain_id=chain, account=account.address, public_key=account.public_key, nonce=nonce,
                     gas_limit=gas, messages=list(messages))
    return sign(tx, account).encode()


def new_ledger() -> Ledger:
    return Ledger(amigos.LocalRuntime(clock=lambda: 1_700_000_000), CHAIN, NODE)


def test_a_block_of_transactions() -> None:
    ledger = new_ledger()
    result = ledger.apply_block([
        signed(ALICE, 1, Deploy(path(ALICE), COUNTER)),
        signed(BOB, 1, Call(path(ALICE), "increment", (2,))),
        signed(BOB, 2, Call(path(ALICE), "increment", (3,))),
    ])
    assert not result.refused
    assert [r.ok for r in result.receipts] == [True, True, True]
    assert [r.results for r in result.receipts][1:] == [[2], [5]]
    assert result.receipts[1].events == [{"service": path(ALICE), "name": "incremented", "attrs": {"by": 2}}]
    assert [r.index for r in result.receipts] == [0, 1, 2]
    head = result.head
    assert head.verify() and head.node_key == NODE.public_key
    assert (head.head.size, head.head.height) == (3, 1)
    assert ledger.runtime.state(path(ALICE))["globals"] == {"count": 5}
    # Every receipt is provably in the tree head.
    leaves = [leaf_hash(ledger.leaf(i)) for i in range(3)]
    for i in range(3):
        verify_inclusion(leaves[i], inclusion_proof(leaves, i, 3), index=i, size=3, root=head.head.root)
    assert decode_leaf(ledger.leaf(1))[0] == signed(BOB, 1, Call(path(ALICE), "increment", (2,)))


def test_refused_transactions_change_nothing() -> None:
    ledger = new_ledger()
    ledger.apply_block([signed(ALICE, 1, Deploy(path(ALICE), COUNTER))])
    before = ledger.runtime.state_root()
    replayed = signed(ALICE, 1, Deploy(path(ALICE), COUNTER))
    result = ledger.apply_block([
        replayed,                                                        # nonce already used
        signed(BOB, 2, Call(path(ALICE), "increment")),                 # skips nonce 1
        signed(BOB, 1, Call(path(ALICE), "increment"), chain="other"),  # another chain
        b"\x00garbage",
        signed(BOB, 1, Call(path(ALICE), "increment"))[:-3],            # truncated
    ])
    assert [r.code for _, r in result.refused] == ["bad-nonce", "bad-nonce", "wrong-chain", "malformed", "malformed"]
    assert result.receipts == [] and result.head.head.size == 1
    assert ledger.last_nonce(BOB.address, BOB.public_key) == 0
    # Only the block bookkeeping moved (height, time, head, state hash chain), no service state.
    assert ledger.runtime.state(path(ALICE))["globals"] == {"count": 0}
    assert before != ledger.runtime.state_root()


def test_messages_are_all_or_nothing_but_the_nonce_moves() -> None:
    ledger = new_ledger()
    ledger.apply_block([signed(ALICE, 1, Deploy(path(ALICE), COUNTER))])
    result = ledger.apply_block([
        signed(BOB, 1, Call(path(ALICE), "increment", (5,)), Call(path(ALICE), "increment", (-1,))),
    ])
    (receipt,) = result.receipts
    assert not receipt.ok and receipt.failed_message == 1
    assert receipt.error.type == "ServiceError" and receipt.error.message == "by must be positive"
    assert receipt.results == [] and receipt.events == []
    assert receipt.gas_used > 5_000
    assert ledger.runtime.state(path(ALICE))["globals"] == {"count": 0}
    assert ledger.last_nonce(BOB.address, BOB.public_key) == 1
    ok = ledger.apply_block([signed(BOB, 2, Call(path(ALICE), "increment", (5,)))])
    assert ok.receipts[0].results == [5]


def test_namespaces_belong_to_the_first_deployer() -> None:
    ledger = new_ledger()
    ledger.apply_block([signed(ALICE, 1, Deploy(path(ALICE), COUNTER))])
    result = ledger.apply_block([signed(BOB, 1, Deploy(path(ALICE), COUNTER))])
    (receipt,) = result.receipts
    assert receipt.error.type == "DeployFailed" and "namespace-owner" in receipt.error.message


def test_a_deeply_nested_deploy_fails_its_transaction_not_the_block() -> None:
    """A deploy whose syntax nests thousands of levels deep used to raise RecursionError out of
    the block; now it is one failed receipt and the block goes on."""
    ledger = new_ledger()
    deep = "def f(x):\n    return " + "-" * 1_000 + "x\n"
    result = ledger.apply_block([
        signed(ALICE, 1, Deploy(path(ALICE), deep)),
        signed(ALICE, 2, Deploy(path(ALICE), COUNTER)),
    ])
    failed, deployed = result.receipts
    assert failed.error.type == "DeployFailed" and "too-deep" in failed.error.message
    assert deployed.ok and ledger.runtime.state(path(ALICE))["globals"] == {"count": 0}


def test_consistency_between_heads() -> None:
    ledger = new_ledger()
    first = ledger.apply_block([signed(ALICE, 1, Deploy(path(ALICE), COUNTER))]).head.head
    for nonce in range(1, 4):
        second = ledger.apply_block([signed(BOB, nonce, Call(path(ALICE), "increment"))]).head.head
    leaves = [leaf_hash(ledger.leaf(i)) for i in range(second.size)]
    proof = consistency_proof(leaves, first.size, second.size)
    verify_consistency(proof, old_size=first.size, new_size=second.size, old_root=first.root, new_root=second.root)


def build_log() -> Ledger:
    ledger = new_ledger()
    ledger.apply_block([signed(ALICE, 1, Deploy(path(ALICE), COUNTER))], time=1_700_000_001)
    ledger.apply_block([signed(BOB, 1, Call(path(ALICE), "increment", (2,))),
                        signed(BOB, 2, Call(path(ALICE), "increment", (-2,)))], time=1_700_000_002)
    ledger.apply_block([signed(ALICE, 2, Call(path(ALICE), "increment", (7,)))], time=1_700_000_003)
    return ledger


def test_replay_reproduces_every_block() -> None:
    source = build_log()
    target = Ledger(amigos.LocalRuntime(), CHAIN, None)
    assert replay(source, target, NODE.public_key) == 3
    assert target.runtime.state_root() == source.runtime.state_root()


def tamper(ledger: Ledger, index: int, field: int, value: object) -> None:
    fields = decode_leaf(ledger.leaf(index))
    fields[field] = value
    ledger.runtime.store.apply({leaf_key(index): codec.encode(fields)})
    ledger.runtime.view.clear_cache()


@pytest.mark.parametrize("field, value, height", [
    (4, [99], 2),         # a result
    (7, 12345, 2),        # gas used
])
def test_replay_names_the_first_tampered_block(field: int, value: object, height: int) -> None:
    source = build_log()
    tamper(source, 1, field, value)
    with pytest.raises(LogMismatch) as caught:
        replay(source, Ledger(amigos.LocalRuntime(), CHAIN, None), NODE.public_key)
    assert caught.value.height == height and "receipt 1" in str(caught.value)


def test_replay_refuses_a_changed_argument_or_signature() -> None:
    source = build_log()
    tx = bytearray(decode_leaf(source.leaf(3))[0])
    tx[-70] ^= 1  # inside the signed transaction
    tamper(source, 3, 0, bytes(tx))
    with pytest.raises(LogMismatch) as caught:
        replay(source, Ledger(amigos.LocalRuntime(), CHAIN, None), NODE.public_key)
    assert caught.value.height == 3


def test_replay_refuses_heads_not_signed_by_the_node() -> None:
    source = build_log()
    with pytest.raises(LogMismatch) as caught:
        replay(source, Ledger(amigos.LocalRuntime(), CHAIN, None), ALICE.public_key)
    assert caught.value.height == 1


def test_receipts_are_found_by_transaction_hash_with_proofs() -> None:
    ledger = build_log()
    head = ledger.head_at(3).head
    for index in range(head.size):
        stx_bytes = decode_leaf(ledger.leaf(index))[0]
        from amigos.ledger.tx import SignedTransaction

        tx_hash = SignedTransaction.decode(stx_bytes).tx_hash
        assert ledger.index_of(tx_hash) == index
        proof = ledger.inclusion_proof(index, head.size)
        verify_inclusion(leaf_hash(ledger.leaf(index)), proof, index=index, size=head.size, root=head.root)
    old = ledger.head_at(1).head
    verify_consistency(ledger.consistency_proof(old.size, head.size), old_size=old.size, new_size=head.size,
                       old_root=old.root, new_root=head.root)
    assert ledger.index_of(b"\x00" * 32) is None and ledger.index_of("nope") is None  # type: ignore[arg-type]


def long_log(home: object, receipts: int, per_block: int) -> list[bytes]:
    """A log of ``receipts`` counter calls in a SQLite home, in blocks of ``per_block``; the
    leaf hashes in order."""
    ledger = Ledger(amigos.LocalRuntime(home, clock=lambda: 1_700_000_000), CHAIN, NODE)
    ledger.apply_block([signed(ALICE, 1, Deploy(path(ALICE), COUNTER))])
    for first in range(1, receipts, per_block):
        ledger.apply_block([signed(BOB, n, Call(path(ALICE), "increment")) for n in range(first, min(first + per_block, receipts))])
    leaves = [ledger.leaf_hash(i) for i in range(receipts)]
    ledger.runtime.close()
    return leaves


def test_proofs_over_a_reopened_long_log_read_log_n_entries(tmp_path: pytest.TempPathFactory) -> None:
    """Every complete subtree is stored as the log grows: after a restart a proof reads a few
    entries per level of the tree, not every leaf (1,000 receipts: at most 4 * 10 reads)."""
    leaves = long_log(tmp_path, 1000, 97)
    runtime = amigos.LocalRuntime(tmp_path)
    ledger = Ledger(runtime, CHAIN, None)
    reads: list[bytes] = []
    get = runtime.view.get
    runtime.view.get = lambda key: reads.append(key) or get(key)  # type: ignore[method-assign]
    head = ledger.head_at(runtime.height)
    assert head is not None and head.head.size == 1000
    for index in (0, 511, 512, 998, 999):
        reads.clear()
        proof = ledger.inclusion_proof(index, 1000)
        assert len(reads) <= 40 and proof == inclusion_proof(leaves, index, 1000)
        verify_inclusion(leaves[index], proof, index=index, size=1000, root=head.head.root)
    for old in (1, 97, 512, 777):
        reads.clear()
        proof = ledger.consistency_proof(old, 1000)
        assert len(reads) <= 40 and proof == consistency_proof(leaves, old, 1000)
    with pytest.raises(amigos.errors.ProofError):
        ledger.inclusion_proof(1000, 1000)
    with pytest.raises(amigos.errors.ProofError):
        ledger.consistency_proof(5, 4)
    runtime.close()


def test_hash_writes_hashes_the_codec_encoding_of_each_change_in_key_order() -> None:
    import hashlib
    import random

    from amigos import codec
    from amigos.ledger.block import hash_writes

    rng = random.Random(7)
    for _ in range(200):
        writes = {rng.randbytes(rng.choice([0, 1, 5, 127, 128, 300])): rng.choice([None, b"", rng.randbytes(rng.choice([1, 127, 128, 20_000]))])
                  for _ in range(rng.randrange(0, 6))}
        expected = hashlib.sha256(b"".join(codec.encode([k, writes[k]]) for k in sorted(writes))).digest()
        assert hash_writes(writes) == expected
