"""The signature verifier: a helper process that checks a block's signatures ahead of the ledger."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import amigos
from amigos.crypto.keys import Account
from amigos.node.verifier import SignatureVerifier, read_batch
from amigos.ledger.block import Ledger
from amigos.ledger.tx import Call, Deploy, SignedTransaction, Transaction, sign

ALICE = Account.from_seed(bytes([1]) * 32)
MALLORY = Account.from_seed(bytes([2]) * 32)


def signed(n: int) -> list[tuple[bytes, bytes, bytes]]:
    return [(ALICE.public_key, b"message %d" % i, ALICE.sign(b"message %d" % i)) for i in range(n)]


def forgeries(batch: list[tuple[bytes, bytes, bytes]]) -> set[int]:
    """Spoil some entries of ``batch`` in place, each in another way; return which."""
    public_key, message, signature = batch[3]
    batch[3] = (public_key, message + b"!", signature)                       # another message
    batch[5] = (MALLORY.public_key, batch[5][1], batch[5][2])                # another key
    batch[8] = (batch[8][0], batch[8][1], bytes(64))                         # a zero signature
    batch[13] = (batch[13][0], batch[13][1], batch[13][2][:10])               # a short signature
    batch[21] = (b"short key", batch[21][1], batch[21][2])                   # a short key
    batch[34] = (bytes(32), batch[34][1], batch[34][2])                      # a small-order key
    return {3, 5, 8, 13, 21, 34}


@pytest.fixture
def verifier():
    v = SignatureVerifier()
    yield v
    v.close()


def test_verdicts_are_those_of_checking_each_signature(verifier: SignatureVerifier) -> None:
    batch = signed(100)
    bad = forgeries(batch)
    verdicts = verifier.verify_ahead(batch)
    assert verdicts.process is not None, "the helper did not start"
    assert [i for i in range(len(batch)) if not verdicts[i]] == sorted(bad)
    again = verifier.verify_ahead(signed(3))  # the helper serves batch after batch
    assert [again[i] for i in range(3)] == [True] * 3


def test_a_batch_left_half_read_does_not_confuse_the_next(verifier: SignatureVerifier) -> None:
    first = signed(50)
    first[40] = (first[40][0], b"tampered", first[40][2])
    verdicts = verifier.verify_ahead(first)
    assert verdicts[0]
    second = signed(20)
    second[1] = (second[1][0], b"tampered", second[1][2])
    later = verifier.verify_ahead(second)
    assert [i for i in range(20) if not later[i]] == [1]
    assert [i for i in range(50) if not verdicts[i]] == [40]


def test_a_helper_killed_mid_batch_changes_no_verdict(verifier: SignatureVerifier) -> None:
    batch = signed(400)
    bad = forgeries(batch)
    verdicts = verifier.verify_ahead(batch)
    assert verdicts[0]
    assert verdicts.process is not None
    os.kill(verdicts.process.pid, signal.SIGKILL)
    assert {i for i in range(len(batch)) if not verdicts[i]} == bad
    fresh = verifier.verify_ahead(signed(10))  # a new helper
    assert all(fresh[i] for i in range(10)) and fresh.process is not None


def test_the_helper_is_confined(verifier: SignatureVerifier) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("no /proc here")
    verdicts = verifier.verify_ahead(signed(8))
    assert verdicts[7]
    assert verdicts.process is not None
    status = Path(f"/proc/{verdicts.process.pid}/status").read_text()
    assert "\nNoNewPrivs:\t1\n" in status and "\nSeccomp:\t2\n" in status


def test_the_helper_ends_on_a_truncated_batch() -> None:
    process = subprocess.Popen([sys.executable, "-m", "amigos.node.verifier"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert process.stdin is not None
    process.stdin.write(b"\x00\x00\x00\x05" + b"\x01" * 40)  # five signatures announced, half of one sent
    process.stdin.close()
    assert process.wait(timeout=30) == 0
    assert process.stdout is not None and process.stdout.read() == b""


@pytest.mark.parametrize("garbage", [b"", b"\x00\x00", b"\x00\x00\x00\x01" + b"\x00" * 99,
                                     b"\x00\x00\x00\x01" + b"\x00" * 96 + b"\x00\x00\x00\x09abc"])
def test_reading_a_batch_stops_at_garbage(garbage: bytes, tmp_path: Path) -> None:
    path = tmp_path / "batch"
    path.write_bytes(garbage)
    with path.open("rb") as reader:
        assert read_batch(reader) is None


def transfer_block(ledger: Ledger, n: int, tamper: int) -> list[bytes]:
    path = f"hub.amigos.dev/{ALICE.address}/counter"
    txs = [sign(Transaction(chain_id="c", account=ALICE.address, public_key=ALICE.public_key, nonce=1,
                            gas_limit=1_000_000, messages=[Deploy(path, "n = 0\ndef bump() -> int:\n"
                                                                            "    global n\n    n += 1\n    return n\n")]),
                ALICE).encode()]
    for nonce in range(2, n + 2):
        stx = sign(Transaction(chain_id="c", account=ALICE.address, public_key=ALICE.public_key, nonce=nonce,
                               gas_limit=1_000_000, messages=[Call(path, "bump")]), ALICE)
        if nonce == tamper:
            stx = SignedTransaction(stx.tx, bytes(64))
        txs.append(stx.encode())
    return txs


def test_a_ledger_with_a_verifier_refuses_what_one_without_does(verifier: SignatureVerifier) -> None:
    node = Account.from_seed(bytes([9]) * 32)
    results = []
    for helper in (verifier, None):
        ledger = Ledger(amigos.LocalRuntime(clock=lambda: 1_700_000_000), "c", node, verifier=helper)
        result = ledger.apply_block(transfer_block(ledger, 40, tamper=20))
        results.append(([r.code for _, r in result.refused], result.head, result.leaves))
    assert results[0] == results[1]
    assert results[0][0] == ["bad-signature"] + ["bad-nonce"] * 21  # the nonces after the forged one skip one


def test_a_helper_that_stops_answering_is_given_up(verifier: SignatureVerifier, monkeypatch: pytest.MonkeyPatch) -> None:
    """A live helper that hangs (stopped here with SIGSTOP) costs the timeout, not the node."""
    import amigos.node.verifier as verifier_module

    monkeypatch.setattr(verifier_module, "ANSWER_TIMEOUT", 0.5)
    batch = signed(300)
    bad = forgeries(batch)
    warm = verifier.verify_ahead(signed(8))
    assert warm[7] and warm.process is not None
    os.kill(warm.process.pid, signal.SIGSTOP)
    verdicts = verifier.verify_ahead(batch)
    assert {i for i in range(len(batch)) if not verdicts[i]} == bad
    assert verifier.verify_ahead(signed(8))[7]  # and a fresh helper serves the next batch


def test_signatures_checked_before_their_block_give_the_same_block(verifier: SignatureVerifier) -> None:
    """A sequencer hands the signatures of what arrives to the verifier while the block gathers
    (Ledger.verify_ahead): a forgery checked that way is refused all the same, and a block mixing
    transactions checked ahead, checked with it, and given as bytes comes out as without help,
    even when the helper that checked some of them ahead died meanwhile."""
    from amigos.ledger.block import Admitted
    from amigos.node.sequencer import admit_statelessly

    node = Account.from_seed(bytes([9]) * 32)
    expected = None
    for kill in (False, True, None):
        ledger = Ledger(amigos.LocalRuntime(clock=lambda: 1_700_000_000), "c", node,
                        verifier=None if kill is None else verifier)
        txs = transfer_block(ledger, 40, tamper=20)
        items: list[bytes | Admitted] = [Admitted(admit_statelessly(raw, "c")) for raw in txs[:30]]
        ledger.verify_ahead(items[:25])  # the forgery at nonce 20 among them
        assert all((item.verdict is not None) == (kill is not None) for item in items[:25])
        if kill:
            assert verifier._process is not None
            verifier._process.kill()
        items += txs[30:]
        result = ledger.apply_block(items)
        outcome = ([r.code for _, r in result.refused], result.head, result.leaves)
        expected = expected or outcome
        assert outcome == expected
    assert expected[0] == ["bad-signature"] + ["bad-nonce"] * 21
