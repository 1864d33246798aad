"""Plain calls in a block run together, and come out exactly as one by one.

A ledger admits a block's plain calls (one message, a call sending no AMI) and runs them in one
go — one round trip to a worker under process isolation — before it logs their receipts in
order. These tests apply the same blocks twice, once so and once with every transaction applied
on its own (``is_plain_call`` patched to say no), and compare everything the log and the state
hold: leaves, tree heads with their state hashes, refusals, and every state entry.
"""

from __future__ import annotations

from typing import Any

import pytest

import amigos
import amigos.ledger.block as block_module
from amigos.crypto.keys import Account
from amigos.ledger.ante import intrinsic_gas
from amigos.ledger.block import Genesis, Ledger, replay
from amigos.ledger.tx import AccountMessage, Call, Deploy, Transaction, decode_signed, sign

CHAIN = "amigos-test"
T0 = 1_700_000_000
NODE = Account.from_seed(bytes([9]) * 32)
ALICE = Account.from_seed(bytes([1]) * 32)
BOB = Account.from_seed(bytes([2]) * 32)
PHONE = Account.from_seed(bytes([5]) * 32)
SHOP = "hub.amigos.dev/shop/till"
TILL = '''import std

takings = 0
visits = std.Map()

def visit(who: str) -> int:
    visits[who] = visits.get(who, 0) + 1
    return visits[who]

def pay(fail: bool = False) -> int:
    global takings
    takings += std.received()
    std.require(not fail, "refused")
    std.emit("paid", amount=std.received())
    return takings

def spoil() -> None:
    global takings
    takings += 1000
    visits["spoiled"] = 1
    std.require(False, "and then it fails")

def forget(who: str) -> None:
    del visits[who]

def till() -> int:
    return std.balance()
'''


class Chain:
    """Signs transactions with a nonce per key and applies blocks at a fixed time."""

    def __init__(self, isolation: str) -> None:
        genesis = Genesis({a.address: 10**6 for a in (ALICE, BOB)})
        self.ledger = Ledger(amigos.LocalRuntime(isolation=isolation, clock=lambda: T0), CHAIN, NODE, genesis=genesis)
        self.nonces: dict[tuple[str, bytes], int] = {}

    def tx(self, signer: Account, *messages: Any, account: Account | None = None, gas: int = 5_000_000,
           nonce: int | None = None) -> bytes:
        owner = (account or signer).address
        if nonce is None:
            nonce = self.nonces.get((owner, signer.public_key), 0) + 1
            self.nonces[(owner, signer.public_key)] = nonce
        exact = gas == 0  # exactly the gas to include it, and none for its messages
        for _ in range(4 if exact else 1):  # the gas limit's own bytes cost gas: find the fixed point
            tx = Transaction(chain_id=CHAIN, account=owner, public_key=signer.public_key, nonce=nonce, gas_limit=gas,
                             messages=list(messages))
            gas = intrinsic_gas(sign(tx, signer)) if exact else gas
        assert not exact or tx.gas_limit == gas
        return sign(tx, signer).encode()


def act(action: str, **params: Any) -> AccountMessage:
    return AccountMessage(action, params)


def setup_block(chain: Chain) -> list[bytes]:
    """The service, and a phone session for Alice."""
    return [
        chain.tx(BOB, Deploy(SHOP, TILL)),
        chain.tx(ALICE, act("grant_session", public_key=PHONE.public_key, device="phone",
                            permissions=["IMPORT_EXECUTE"], expires_at=T0 + 86_400)),
    ]


def blocks(chain: Chain) -> list[list[bytes]]:
    """Blocks that mix plain calls with everything that must not run among them."""
    setup = setup_block(chain)
    mixed = [
        chain.tx(ALICE, Call(SHOP, "visit", ("alice",))),
        chain.tx(BOB, Call(SHOP, "pay", kwargs={"fail": True})),                 # fails
        chain.tx(BOB, Call(SHOP, "spoil")),                                     # changes things, then fails
        chain.tx(BOB, Call(SHOP, "pay")),                                       # sees none of it
        chain.tx(PHONE, Call(SHOP, "visit", ("phone",)), account=ALICE),        # a session's call
        chain.tx(PHONE, Call(SHOP, "forget", ("nobody",)), account=ALICE),      # a session's call that fails
        chain.tx(ALICE, Call(SHOP, "visit", ("tight",)), gas=0),                # out of gas before it runs
        chain.tx(ALICE, Call(SHOP, "visit", ("alice",)), nonce=99),             # refused: bad nonce
        chain.tx(BOB, Call(SHOP, "nothing_here")),                              # no such function
        chain.tx(BOB, Call("hub.amigos.dev/shop/none", "visit", ("x",))),       # no such service
        chain.tx(ALICE, Call(SHOP, "pay"), gas=intrinsic_gas_of(chain, ALICE) + 300),  # out of gas in the call
        chain.tx(BOB, Call(SHOP, "pay", coins=25)),                             # carries AMI: runs alone
        chain.tx(BOB, Call(SHOP, "till")),                                      # sees those 25
        chain.tx(ALICE, act("send", to=BOB.address, amount=7)),                 # an account action
        chain.tx(ALICE, Call(SHOP, "visit", ("alice",)), Call(SHOP, "forget", ("bob",))),  # two messages, the 2nd fails
        chain.tx(PHONE, Call(SHOP, "visit", ("phone",)), account=ALICE),
        chain.tx(ALICE, act("revoke_session", public_key=PHONE.public_key)),
        chain.tx(PHONE, Call(SHOP, "visit", ("phone",)), account=ALICE),        # refused: revoked
        chain.tx(ALICE, Call(SHOP, "forget", ("alice",))),                      # deletes a key
        chain.tx(ALICE, Call(SHOP, "visit", ("alice",))),                       # and writes it again
        b"\x00garbage",                                                         # refused: malformed
    ]
    return [setup, mixed]


def intrinsic_gas_of(chain: Chain, signer: Account) -> int:
    """About what a small call from ``signer`` costs to include (its nonce is not used up)."""
    probe = Transaction(chain_id=CHAIN, account=signer.address, public_key=signer.public_key, nonce=1, gas_limit=0,
                        messages=[Call(SHOP, "pay")])
    return intrinsic_gas(sign(probe, signer))


def apply_all(isolation: str, together: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[Chain, list[Any]]:
    with monkeypatch.context() as patch:
        if not together:
            patch.setattr(block_module, "is_plain_call", lambda tx: False)
        chain = Chain(isolation)
        results = [chain.ledger.apply_block(txs) for txs in blocks(chain)]
    return chain, results


def summary(result: Any) -> list[Any]:
    return [result.head, result.leaves, result.subtrees,
            [(raw, refusal.code, str(refusal)) for raw, refusal in result.refused],
            [type(outcome).__name__ for outcome in result.outcomes]]


@pytest.mark.parametrize("isolation", ["none", "process"])
def test_plain_calls_run_together_come_out_as_one_by_one(isolation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    together, batched = apply_all(isolation, True, monkeypatch)
    alone, single = apply_all(isolation, False, monkeypatch)
    try:
        assert [summary(r) for r in batched] == [summary(r) for r in single]
        assert together.ledger.runtime.state_items() == alone.ledger.runtime.state_items()
        outcomes = batched[1].outcomes
        # the block does what it says on the tin (so the comparison compares something)
        assert [getattr(o, "code", None) or ("ok" if o.ok else o.error.type) for o in outcomes] == [
            "ok", "ServiceError", "ServiceError", "ok", "ok", "ServiceError", "OutOfGas", "bad-nonce", "NotFound", "NotFound",
            "OutOfGas", "ok", "ok", "ok", "ServiceError", "ok", "ok", "session-revoked", "ok", "ok", "malformed"]
        assert outcomes[3].results == [0] and outcomes[0].results == [1]
        assert outcomes[12].results == [25] and outcomes[19].results == [1]
    finally:
        together.ledger.runtime.close()
        alone.ledger.runtime.close()


def test_a_failed_session_call_does_not_record_its_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """A session whose only call in a block fails keeps its last use as it was."""
    chain = Chain("none")
    chain.ledger.apply_block(setup_block(chain))
    before = chain.ledger.runtime.state_items()
    result = chain.ledger.apply_block([chain.tx(PHONE, Call(SHOP, "forget", ("nobody",)), account=ALICE)])
    assert not result.receipts[0].ok
    changed = {k for k, v in chain.ledger.runtime.state_items() if (k, v) not in before}
    assert not any(k.startswith(b"a/") for k in changed), changed


@pytest.mark.parametrize("isolation", ["none", "process"])
def test_a_log_of_plain_calls_replays(isolation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    chain, _ = apply_all(isolation, True, monkeypatch)
    fresh = Ledger(amigos.LocalRuntime(isolation=isolation), CHAIN, None, genesis=chain.ledger.genesis)
    try:
        assert replay(chain.ledger, fresh, NODE.public_key) == 2
        assert fresh.runtime.state_root() == chain.ledger.runtime.state_root()
    finally:
        fresh.runtime.close()
        chain.ledger.runtime.close()


def test_decoding_first_refuses_garbage_as_the_ante_checks_do() -> None:
    raw, decoded = block_module.decode_item(b"\x01\x02")
    assert raw == b"\x01\x02" and decoded is None
    chain = Chain("none")
    good = chain.tx(ALICE, Call(SHOP, "visit", ("x",)))
    assert block_module.decode_item(good)[1] == decode_signed(good)


FAULTY = '''count = 0

def bump() -> int:
    global count
    count += 1
    return count

def crash_worker() -> int:
    return 0

def send_bad_writes() -> int:
    return 0
'''
FAULTY_PATH = "hub.amigos.dev/shop/faulty"


LONG = 2 * block_module.PLAIN_CALLS_PER_RUN + 20
"""Plain calls in a block that runs them in groups of PLAIN_CALLS_PER_RUN; a block of 40 runs
them in smaller groups (FEWEST_CALLS_PER_RUN and up)."""
BAD_WRITES_AT = {LONG: 70, 40: 30}
SEND_AFTER = {LONG: (49, 99), 40: (24,)}


def apply_long_block(together: bool, monkeypatch: pytest.MonkeyPatch, calls: int = LONG) -> tuple[Chain, list[Any]]:
    """A block of ``calls`` plain calls (some by a session), among them calls that kill their
    worker or make it send malformed writes, with account actions between them, under
    process isolation with the test-only faulty worker."""
    import amigos.runtime as runtime_module
    from amigos.vm.pool import WorkerPool

    with monkeypatch.context() as patch:
        if not together:
            patch.setattr(block_module, "is_plain_call", lambda tx: False)
        patch.setattr(runtime_module, "WorkerPool",
                      lambda view: WorkerPool(view, worker_module="faulty_worker", namespaces=False))
        chain = Chain("process")
        setup = setup_block(chain) + [chain.tx(BOB, Deploy(FAULTY_PATH, FAULTY))]
        long = []
        for i in range(calls):
            name = {10: "crash_worker", BAD_WRITES_AT[calls]: "send_bad_writes"}.get(i, "bump")  # each in its own group
            if i % 7 == 0:
                long.append(chain.tx(PHONE, Call(FAULTY_PATH, name), account=ALICE))
            else:
                long.append(chain.tx([ALICE, BOB][i % 2], Call(FAULTY_PATH, name)))
            if i in SEND_AFTER[calls]:
                long.append(chain.tx(ALICE, act("send", to=BOB.address, amount=1)))
        results = [chain.ledger.apply_block(txs) for txs in (setup, long)]
    return chain, results


@pytest.mark.parametrize("calls", [LONG, 40])
def test_workers_dying_among_many_plain_calls_change_nothing(calls: int, monkeypatch: pytest.MonkeyPatch) -> None:
    together, batched = apply_long_block(True, monkeypatch, calls)
    alone, single = apply_long_block(False, monkeypatch, calls)
    try:
        assert [summary(r) for r in batched] == [summary(r) for r in single]
        assert together.ledger.runtime.state_items() == alone.ledger.runtime.state_items()
        errors = [None if o.ok else o.error.type for o in batched[1].outcomes]
        assert [i for i, e in enumerate(errors) if e is not None] == [10, BAD_WRITES_AT[calls] + 1]  # a send shifts it
        assert set(errors) == {None, "WorkerCrashed"}
        assert batched[1].outcomes[-1].results == [calls - 2]
    finally:
        together.ledger.runtime.close()
        alone.ledger.runtime.close()


def test_a_log_filtered_by_account_shows_what_others_signed_about_it() -> None:
    """A guardian signs the approval of Alice's recovery; its event is about Alice. Read from a
    log (``amigos events --account``) it is among Alice's, as the node's stream shows it."""
    from amigos.cli.logs import leaf_events
    from amigos.node.wire import concerns_account, receipt_fields

    chain = Chain("none")
    new_key = Account.from_seed(bytes([7]) * 32)
    guarded = chain.ledger.apply_block([chain.tx(ALICE, act("set_guardians", guardians=[BOB.address], threshold=1,
                                                            timelock=86_400))])
    assert guarded.receipts[0].ok, guarded.receipts[0].error
    result = chain.ledger.apply_block([chain.tx(BOB, act("approve_recovery", account=ALICE.address,
                                                          new_key=new_key.public_key))])
    (leaf,) = result.leaves
    fields = receipt_fields(leaf)
    assert fields["transaction"].tx.account == BOB.address
    assert concerns_account(fields, ALICE.address) and concerns_account(fields, BOB.address)
    about_alice = ["recovery_approved", "recovery_started"]  # a threshold of one starts it
    assert [e["name"] for e in leaf_events(leaf, ALICE.address, None)] == about_alice
    assert [e["name"] for e in leaf_events(leaf, BOB.address, None)] == about_alice  # the signer sees its receipt's
    assert leaf_events(leaf, NODE.address, None) == []
