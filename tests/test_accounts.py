"""Accounts through the ledger: AMI, staking, device sessions, recovery.

Every rule of issue 6 is exercised here with real signed transactions applied in blocks at
block times the test chooses (the controllable clock), and the log is replayed at the end of
the longer stories to show the rules replay identically.
"""

from __future__ import annotations

from typing import Any

import pytest

import amigos
from amigos.accounts import UNBONDING_PERIOD, balance, service_address, staked
from amigos.accounts.recovery import DEFAULT_RECOVERY_TIMELOCK, MIN_TAKEOVER_TIMELOCK
from amigos.accounts.sessions import DAY, MAX_SESSION_LIFETIME
from amigos.crypto.keys import Account
from amigos.ledger.block import Genesis, Ledger, replay
from amigos.ledger.tx import AccountMessage, Call, Deploy, Transaction, sign

CHAIN = "amigos-test"
T0 = 1_700_000_000
NODE = Account.from_seed(bytes([9]) * 32)
ALICE = Account.from_seed(bytes([1]) * 32)
BOB = Account.from_seed(bytes([2]) * 32)
CAROL = Account.from_seed(bytes([3]) * 32)
DAVE = Account.from_seed(bytes([4]) * 32)
PHONE = Account.from_seed(bytes([5]) * 32)
LAPTOP = Account.from_seed(bytes([6]) * 32)
NEW_MASTER = Account.from_seed(bytes([7]) * 32)
RESCUE = Account.from_seed(bytes([8]) * 32)
START = 1_000_000
SHOP = "hub.amigos.dev/shop/till"
TILL = '''import std

takings = 0

def pay(fail: bool = False) -> int:
    global takings
    takings += std.received()
    std.require(not fail, "refused")
    return std.received()

def refund(to: str, amount: int) -> None:
    std.send(to, amount)

def till() -> int:
    return std.balance()
'''


class Chain:
    """A ledger with a clock, and a nonce counter per (account, key)."""

    def __init__(self) -> None:
        self.time = T0
        genesis = Genesis({a.address: START for a in (ALICE, BOB, CAROL, DAVE)})
        self.ledger = Ledger(amigos.LocalRuntime(clock=lambda: self.time), CHAIN, NODE, genesis=genesis)
        self.nonces: dict[tuple[str, bytes], int] = {}
        self.block()  # the first block writes the genesis

    def tx(self, signer: Account, *messages: Any, account: Account | None = None, gas: int = 5_000_000) -> bytes:
        owner = (account or signer).address
        nonce = self.nonces.get((owner, signer.public_key), 0) + 1
        self.nonces[(owner, signer.public_key)] = nonce
        tx = Transaction(chain_id=CHAIN, account=owner, public_key=signer.public_key, nonce=nonce,
                         gas_limit=gas, messages=list(messages))
        return sign(tx, signer).encode()

    def block(self, *txs: bytes, at: int | None = None):
        if at is not None:
            self.time = at
        result = self.ledger.apply_block(list(txs))
        for raw, refusal in result.refused:  # a refused transaction did not use its nonce
            stx = amigos.ledger.tx.decode_signed(raw)
            self.nonces[(stx.tx.account, stx.tx.public_key)] -= 1
        return result

    def run(self, signer: Account, *messages: Any, account: Account | None = None, at: int | None = None):
        """One transaction in its own block: its receipt, or its refusal code."""
        result = self.block(self.tx(signer, *messages, account=account), at=at)
        if result.refused:
            return result.refused[0][1]
        return result.receipts[0]

    def view(self):
        return self.ledger.runtime.view


def act(action: str, **params: Any) -> AccountMessage:
    return AccountMessage(action, params)


def send(to: Account | str, amount: int, **extra: Any) -> AccountMessage:
    return act("send", to=to if isinstance(to, str) else to.address, amount=amount, **extra)


def grant(device: Account, *permissions: str, expires_in: int = 30 * DAY, now: int = T0, **limits: Any) -> AccountMessage:
    return act("grant_session", public_key=device.public_key, device="phone", permissions=list(permissions),
               expires_at=now + expires_in, **limits)


def refused(outcome: Any, code: str) -> bool:
    return getattr(outcome, "code", None) == code


def failed(outcome: Any, error_type: str) -> bool:
    return not outcome.ok and outcome.error.type == error_type


@pytest.fixture
def chain() -> Chain:
    return Chain()


# --------------------------------------------------------------------------- AMI


def test_genesis_gives_balances_and_sends_move_them(chain: Chain) -> None:
    assert balance(chain.view(), ALICE.address) == START
    r = chain.run(ALICE, send(BOB, 250, memo="lunch"))
    assert r.ok
    assert r.events == [{"service": ALICE.address, "name": "sent",
                         "attrs": {"to": BOB.address, "amount": 250, "memo": "lunch"}}]
    assert (balance(chain.view(), ALICE.address), balance(chain.view(), BOB.address)) == (START - 250, START + 250)


def test_a_send_beyond_the_balance_fails_and_moves_nothing(chain: Chain) -> None:
    r = chain.run(ALICE, send(BOB, 1), send(BOB, START))
    assert failed(r, "InsufficientFunds") and r.failed_message == 1
    assert balance(chain.view(), ALICE.address) == START
    assert chain.ledger.last_nonce(ALICE.address, ALICE.public_key) == 1  # the nonce moved


def test_a_new_anonymous_account_can_receive_and_then_spend(chain: Chain) -> None:
    newcomer = Account.generate()
    assert chain.run(ALICE, send(newcomer, 10)).ok
    assert chain.run(newcomer, send(BOB, 4)).ok
    assert balance(chain.view(), newcomer.address) == 6


@pytest.mark.parametrize("params", [
    {"to": "nobody", "amount": 1},
    {"to": "AMIGO1" + "Q" * 38, "amount": 1},
    {"amount": 1},
    {"to": BOB.address},
    {"to": None, "amount": 1},
    {"to": BOB.address, "amount": 0},
    {"to": BOB.address, "amount": -5},
    {"to": BOB.address, "amount": 2**64},
    {"to": BOB.address, "amount": True},
    {"to": BOB.address, "amount": "10"},
    {"to": BOB.address, "amount": 1, "memo": ""},
    {"to": BOB.address, "amount": 1, "memo": "x" * 257},
    {"to": BOB.address, "amount": 1, "memo": "line\nbreak"},
    {"to": BOB.address, "amount": 1, "extra": 1},
])
def test_garbage_sends_are_refused_as_malformed(chain: Chain, params: dict[str, Any]) -> None:
    out = chain.run(ALICE, AccountMessage("send", params))
    assert refused(out, "malformed"), out
    assert balance(chain.view(), ALICE.address) == START


def test_unknown_actions_are_refused(chain: Chain) -> None:
    assert refused(chain.run(ALICE, act("mint", amount=10**9)), "malformed")


def test_staking_unbonds_for_the_period_then_pays_back(chain: Chain) -> None:
    assert chain.run(ALICE, act("stake", amount=1000)).ok
    assert (balance(chain.view(), ALICE.address), staked(chain.view(), ALICE.address)) == (START - 1000, 1000)
    r = chain.run(ALICE, act("unstake", amount=400), at=T0 + 10)
    assert r.ok and r.results == [{"released_at": T0 + 10 + UNBONDING_PERIOD}]
    assert failed(chain.run(ALICE, act("unstake", amount=601)), "InsufficientFunds")
    chain.block(at=T0 + 10 + UNBONDING_PERIOD - 1)
    assert balance(chain.view(), ALICE.address) == START - 1000
    chain.block(at=T0 + 10 + UNBONDING_PERIOD)
    assert (balance(chain.view(), ALICE.address), staked(chain.view(), ALICE.address)) == (START - 600, 600)


# --------------------------------------------------------------------------- coins with calls, service balances


def test_a_call_carries_coins_to_the_service_atomically(chain: Chain) -> None:
    assert chain.run(BOB, Deploy(SHOP, TILL)).ok
    till = service_address(SHOP)
    r = chain.run(ALICE, Call(SHOP, "pay", coins=300))
    assert r.ok and r.results == [300]
    assert balance(chain.view(), till) == 300 and balance(chain.view(), ALICE.address) == START - 300
    # A failing call gives the coins back.
    r = chain.run(ALICE, Call(SHOP, "pay", (True,), coins=50))
    assert failed(r, "ServiceError")
    assert balance(chain.view(), till) == 300 and balance(chain.view(), ALICE.address) == START - 300
    # More coins than the account has: the call fails before it runs.
    assert failed(chain.run(CAROL, Call(SHOP, "pay", coins=START + 1)), "InsufficientFunds")


def test_a_service_pays_from_its_own_balance(chain: Chain) -> None:
    assert chain.run(BOB, Deploy(SHOP, TILL)).ok
    assert chain.run(ALICE, Call(SHOP, "pay", coins=300)).ok
    assert chain.run(ALICE, Call(SHOP, "refund", (CAROL.address, 100))).ok
    assert balance(chain.view(), CAROL.address) == START + 100
    assert chain.ledger.runtime.query(SHOP, "till") == 200
    r = chain.run(ALICE, Call(SHOP, "refund", (CAROL.address, 201)))
    assert failed(r, "InsufficientFunds")
    assert chain.ledger.runtime.query(SHOP, "till") == 200


# --------------------------------------------------------------------------- sessions


def test_a_session_calls_services_with_import_execute(chain: Chain) -> None:
    assert chain.run(BOB, Deploy(SHOP, TILL)).ok
    assert chain.run(ALICE, grant(PHONE, "IMPORT_EXECUTE")).ok
    r = chain.run(PHONE, Call(SHOP, "pay"), account=ALICE)
    assert r.ok
    assert refused(chain.run(PHONE, send(BOB, 1), account=ALICE), "not-permitted")


def test_a_session_without_import_execute_calls_nothing(chain: Chain) -> None:
    assert chain.run(BOB, Deploy(SHOP, TILL)).ok
    assert chain.run(ALICE, grant(PHONE, "SEND_UNLIMITED")).ok
    assert refused(chain.run(PHONE, Call(SHOP, "pay"), account=ALICE), "not-permitted")
    assert refused(chain.run(PHONE, Deploy("hub.amigos.dev/x/y", "a = 1\n"), account=ALICE), "not-permitted")
    assert chain.run(PHONE, send(BOB, 10**5), account=ALICE).ok


def test_an_unknown_key_signs_nothing(chain: Chain) -> None:
    assert refused(chain.run(PHONE, send(BOB, 1), account=ALICE), "unknown-key")


def test_the_tx_limit_is_exact(chain: Chain) -> None:
    assert chain.run(ALICE, grant(PHONE, "SEND_LIMIT_TX", tx_limit=100)).ok
    assert refused(chain.run(PHONE, send(BOB, 101), account=ALICE), "over-limit")
    assert refused(chain.run(PHONE, send(BOB, 60), send(CAROL, 41), account=ALICE), "over-limit")
    assert chain.run(PHONE, send(BOB, 60), send(CAROL, 40), account=ALICE).ok
    assert chain.run(PHONE, send(BOB, 100), account=ALICE).ok  # per transaction, not per day


def test_the_daily_limit_is_exact_and_resets_on_a_fixed_grid(chain: Chain) -> None:
    assert chain.run(ALICE, grant(PHONE, "SEND_LIMIT_DAILY", daily_limit=1000, expires_in=300 * DAY)).ok
    granted = T0
    assert chain.run(PHONE, send(BOB, 600), account=ALICE, at=granted + 10).ok
    assert refused(chain.run(PHONE, send(BOB, 401), account=ALICE), "over-limit")
    assert chain.run(PHONE, send(BOB, 400), account=ALICE).ok  # exactly at the limit
    assert refused(chain.run(PHONE, send(BOB, 1), account=ALICE, at=granted + DAY - 1), "over-limit")
    assert chain.run(PHONE, send(BOB, 1000), account=ALICE, at=granted + DAY).ok  # a new window
    # Idle for days: the window is still on the grant's grid, not re-anchored at the next spend.
    spent_at = granted + 3 * DAY + DAY // 2
    assert chain.run(PHONE, send(BOB, 1000), account=ALICE, at=spent_at).ok
    assert refused(chain.run(PHONE, send(BOB, 1), account=ALICE, at=granted + 4 * DAY - 1), "over-limit")
    assert chain.run(PHONE, send(BOB, 1), account=ALICE, at=granted + 4 * DAY).ok


def test_both_limits_apply_together(chain: Chain) -> None:
    assert chain.run(ALICE, grant(PHONE, "SEND_LIMIT_DAILY", "SEND_LIMIT_TX", daily_limit=250, tx_limit=100)).ok
    assert chain.run(PHONE, send(BOB, 100), account=ALICE).ok
    assert chain.run(PHONE, send(BOB, 100), account=ALICE).ok
    assert refused(chain.run(PHONE, send(BOB, 100), account=ALICE), "over-limit")
    assert chain.run(PHONE, send(BOB, 50), account=ALICE).ok


def test_coins_sent_with_calls_count_towards_the_limits(chain: Chain) -> None:
    assert chain.run(BOB, Deploy(SHOP, TILL)).ok
    assert chain.run(ALICE, grant(PHONE, "IMPORT_EXECUTE", "SEND_LIMIT_DAILY", daily_limit=500)).ok
    assert chain.run(PHONE, Call(SHOP, "pay", coins=300), account=ALICE).ok
    assert refused(chain.run(PHONE, Call(SHOP, "pay", coins=150), send(BOB, 51), account=ALICE), "over-limit")
    assert chain.run(PHONE, Call(SHOP, "pay", coins=150), send(BOB, 50), account=ALICE).ok


def test_failed_transactions_do_not_use_up_limits(chain: Chain) -> None:
    assert chain.run(BOB, Deploy(SHOP, TILL)).ok
    assert chain.run(ALICE, grant(PHONE, "IMPORT_EXECUTE", "SEND_LIMIT_DAILY", daily_limit=500)).ok
    r = chain.run(PHONE, Call(SHOP, "pay", (True,), coins=500), account=ALICE)
    assert failed(r, "ServiceError")
    assert chain.run(PHONE, Call(SHOP, "pay", coins=500), account=ALICE).ok  # the whole 500 was still there
    # A send that fails for lack of funds gives its share back too.
    poor = Account.generate()
    assert chain.run(ALICE, send(poor, 5)).ok
    assert chain.run(poor, grant(LAPTOP, "SEND_LIMIT_DAILY", daily_limit=10)).ok
    assert failed(chain.run(LAPTOP, send(BOB, 10), account=poor), "InsufficientFunds")
    assert chain.run(LAPTOP, send(BOB, 5), account=poor).ok


def test_a_session_without_a_send_right_sends_nothing(chain: Chain) -> None:
    assert chain.run(BOB, Deploy(SHOP, TILL)).ok
    assert chain.run(ALICE, grant(PHONE, "IMPORT_EXECUTE")).ok
    assert refused(chain.run(PHONE, Call(SHOP, "pay", coins=1), account=ALICE), "not-permitted")


def test_a_service_allow_list_limits_calls(chain: Chain) -> None:
    other = "hub.amigos.dev/shop/other"
    assert chain.run(BOB, Deploy(SHOP, TILL), Deploy(other, TILL)).ok
    assert chain.run(ALICE, grant(PHONE, "IMPORT_EXECUTE", services=[SHOP])).ok
    assert chain.run(PHONE, Call(SHOP, "pay"), account=ALICE).ok
    assert refused(chain.run(PHONE, Call(other, "pay"), account=ALICE), "not-permitted")
    assert refused(chain.run(PHONE, Call(SHOP, "pay"), Call(other, "pay"), account=ALICE), "not-permitted")


def test_stake_manage(chain: Chain) -> None:
    assert chain.run(ALICE, grant(PHONE, "STAKE_MANAGE")).ok
    assert chain.run(PHONE, act("stake", amount=10), account=ALICE).ok
    assert chain.run(PHONE, act("unstake", amount=10), account=ALICE).ok
    assert chain.run(ALICE, grant(LAPTOP, "SEND_UNLIMITED")).ok
    assert refused(chain.run(LAPTOP, act("stake", amount=10), account=ALICE), "not-permitted")


def test_read_only_sessions_sign_nothing(chain: Chain) -> None:
    assert chain.run(BOB, Deploy(SHOP, TILL)).ok
    assert chain.run(ALICE, grant(PHONE, "READ_ONLY")).ok
    for message in (Call(SHOP, "till"), send(BOB, 1), act("stake", amount=1)):
        assert refused(chain.run(PHONE, message, account=ALICE), "not-permitted")


@pytest.mark.parametrize("message", [
    grant(LAPTOP, "SEND_UNLIMITED"),
    act("revoke_session", public_key=PHONE.public_key),
    act("revoke_all_sessions"),
    act("set_guardians", guardians=[BOB.address], threshold=1, timelock=DEFAULT_RECOVERY_TIMELOCK),
    act("set_recovery_key", public_key=RESCUE.public_key),
    act("cancel_recovery"),
    act("cancel_takeover"),
    act("set_webhook", url="https://example.org/hook"),
])
def test_sessions_cannot_touch_the_account_itself(chain: Chain, message: AccountMessage) -> None:
    every_right = ["SEND_UNLIMITED", "STAKE_MANAGE", "IMPORT_EXECUTE", "ACCOUNT_RECOVER"]
    assert chain.run(ALICE, grant(PHONE, *every_right)).ok
    assert refused(chain.run(PHONE, message, account=ALICE), "not-permitted")


def test_a_session_cannot_grant_itself_a_wider_session(chain: Chain) -> None:
    assert chain.run(ALICE, grant(PHONE, "SEND_LIMIT_TX", tx_limit=1)).ok
    widened = act("grant_session", public_key=PHONE.public_key, device="phone", permissions=["SEND_UNLIMITED"],
                  expires_at=T0 + 300 * DAY)
    assert refused(chain.run(PHONE, widened, account=ALICE), "not-permitted")


@pytest.mark.parametrize("change, message", [
    ({"permissions": []}, "at least one permission"),
    ({"permissions": ["READ_ONLY", "STAKE_MANAGE"]}, "READ_ONLY cannot"),
    ({"permissions": ["SEND_UNLIMITED", "SEND_LIMIT_TX"], "tx_limit": 5}, "SEND_UNLIMITED cannot"),
    ({"permissions": ["SEND_LIMIT_DAILY"]}, "daily_limit"),
    ({"permissions": ["STAKE_MANAGE"], "tx_limit": 5}, "tx_limit"),
    ({"expires_at": T0}, "not after"),
    ({"expires_at": T0 + MAX_SESSION_LIFETIME + 1}, "at most 365 days"),
])
def test_grant_rules(chain: Chain, change: dict[str, Any], message: str) -> None:
    params = {"public_key": PHONE.public_key, "device": "phone", "permissions": ["STAKE_MANAGE"],
              "expires_at": T0 + DAY, **change}
    r = chain.run(ALICE, AccountMessage("grant_session", params))
    assert failed(r, "AccountRuleBroken") and message in r.error.message


@pytest.mark.parametrize("params", [
    {"public_key": b"short"},
    {"permissions": ["ROOT"]},
    {"permissions": "SEND_UNLIMITED"},
    {"device": ""},
    {"device": "x" * 65},
    {"expires_at": -1},
    {"ip_ranges": ["10.0.0.1/8"]},
    {"ip_ranges": ["nowhere"]},
    {"services": ["not a path"]},
])
def test_garbage_grants_are_malformed(chain: Chain, params: dict[str, Any]) -> None:
    full = {"public_key": PHONE.public_key, "device": "phone", "permissions": ["STAKE_MANAGE"],
            "expires_at": T0 + DAY, **params}
    assert refused(chain.run(ALICE, AccountMessage("grant_session", full)), "malformed")


@pytest.mark.parametrize("url", ["http://[::1", "ftp://example.org/hook", "https://", "http://host:99999/x",
                                 "https://exa mple.org", "https://example.org/\n", "x" * 3000, 42])
def test_garbage_webhooks_are_malformed(chain: Chain, url: object) -> None:
    assert refused(chain.run(ALICE, act("set_webhook", url=url)), "malformed")


def test_a_webhook_is_set_and_unset(chain: Chain) -> None:
    assert chain.run(ALICE, act("set_webhook", url="https://example.org/hook")).ok
    assert chain.run(ALICE, act("set_webhook", url=None)).ok


def test_the_master_key_or_a_recovery_key_cannot_be_a_session(chain: Chain) -> None:
    assert failed(chain.run(ALICE, grant(ALICE, "STAKE_MANAGE")), "AccountRuleBroken")
    assert chain.run(ALICE, grant(PHONE, "STAKE_MANAGE")).ok
    assert failed(chain.run(ALICE, grant(PHONE, "SEND_UNLIMITED")), "AccountRuleBroken")  # revoke first


def test_expired_sessions_sign_nothing(chain: Chain) -> None:
    assert chain.run(ALICE, grant(PHONE, "SEND_UNLIMITED", expires_in=DAY)).ok
    assert chain.run(PHONE, send(BOB, 1), account=ALICE, at=T0 + DAY - 1).ok
    assert refused(chain.run(PHONE, send(BOB, 1), account=ALICE, at=T0 + DAY), "session-expired")


def test_revoking_a_session_refuses_its_queued_transactions(chain: Chain) -> None:
    assert chain.run(ALICE, grant(PHONE, "SEND_UNLIMITED")).ok
    first = chain.tx(PHONE, send(BOB, 1), account=ALICE)
    queued = [chain.tx(PHONE, send(BOB, 1), account=ALICE) for _ in range(3)]
    revoke = chain.tx(ALICE, act("revoke_session", public_key=PHONE.public_key))
    result = chain.block(first, revoke, *queued)
    assert [r.ok for r in result.receipts] == [True, True]
    assert [refusal.code for _, refusal in result.refused] == ["session-revoked"] * 3
    assert result.receipts[1].events[0]["name"] == "session_revoked"


def test_the_kill_switch_revokes_every_session(chain: Chain) -> None:
    assert chain.run(ALICE, grant(PHONE, "SEND_UNLIMITED"), grant(LAPTOP, "STAKE_MANAGE")).ok
    r = chain.run(ALICE, act("revoke_all_sessions"))
    assert r.ok and r.results == [{"revoked": 2}]
    assert refused(chain.run(PHONE, send(BOB, 1), account=ALICE), "session-revoked")
    assert refused(chain.run(LAPTOP, act("stake", amount=1), account=ALICE), "session-revoked")
    # A revoked key can be granted a fresh session.
    assert chain.run(ALICE, grant(PHONE, "STAKE_MANAGE")).ok


def test_sessions_are_listed_with_remaining_limits_and_last_use(chain: Chain) -> None:
    from amigos.accounts.sessions import all_sessions

    assert chain.run(ALICE, grant(PHONE, "SEND_LIMIT_DAILY", daily_limit=100)).ok
    assert chain.run(PHONE, send(BOB, 30), account=ALICE, at=T0 + 50).ok
    [session] = all_sessions(chain.view(), ALICE.address)
    info = session.describe(T0 + 60)
    assert info["remaining_today"] == 70 and info["last_used"] == T0 + 50 and info["active"]
    assert info["window_ends_at"] == T0 + DAY and info["device"] == "phone"


def test_account_events_are_emitted_for_the_account(chain: Chain) -> None:
    r = chain.run(ALICE, grant(PHONE, "STAKE_MANAGE"))
    assert r.events[0]["service"] == ALICE.address and r.events[0]["name"] == "session_granted"
    assert r.events[0]["attrs"]["public_key"] == PHONE.public_key.hex()


# --------------------------------------------------------------------------- social recovery


def guardians(threshold: int = 2, timelock: int = DEFAULT_RECOVERY_TIMELOCK) -> AccountMessage:
    return act("set_guardians", guardians=[BOB.address, CAROL.address, DAVE.address], threshold=threshold,
               timelock=timelock)


def approve(key: Account = NEW_MASTER) -> AccountMessage:
    """A guardian's vote to give Alice the master key ``key``."""
    return act("approve_recovery", account=ALICE.address, new_key=key.public_key)


def test_guardians_below_the_threshold_recover_nothing(chain: Chain) -> None:
    assert chain.run(ALICE, guardians(threshold=2)).ok
    assert chain.run(BOB, approve()).ok
    # A second guardian voting for another key does not make two votes for either.
    assert chain.run(CAROL, approve(RESCUE)).ok
    r = chain.run(DAVE, act("finalize_recovery", account=ALICE.address), at=T0 + 10 * DAY)
    assert failed(r, "AccountRuleBroken")
    # Nor can a non-guardian vote.
    assert failed(chain.run(NEW_MASTER, approve()), "AccountRuleBroken")
    assert chain.run(ALICE, send(BOB, 1)).ok  # the master still rules


def test_recovery_is_time_locked_freezes_sessions_and_can_be_cancelled(chain: Chain) -> None:
    assert chain.run(ALICE, guardians(threshold=2), grant(PHONE, "SEND_UNLIMITED")).ok
    assert chain.run(BOB, approve()).ok
    r = chain.run(CAROL, approve(), at=T0 + 100)
    assert [e["name"] for e in r.events] == ["recovery_approved", "recovery_started"]
    assert r.events[1]["service"] == ALICE.address
    assert r.events[1]["attrs"]["unlock_at"] == T0 + 100 + DEFAULT_RECOVERY_TIMELOCK
    assert refused(chain.run(PHONE, send(BOB, 1), account=ALICE), "frozen")
    early = chain.run(BOB, act("finalize_recovery", account=ALICE.address), at=T0 + 100 + DEFAULT_RECOVERY_TIMELOCK - 1)
    assert failed(early, "AccountRuleBroken")
    assert failed(chain.run(BOB, act("cancel_recovery")), "AccountRuleBroken")  # a master cancels only its own
    r = chain.run(ALICE, act("cancel_recovery"))
    assert r.ok and r.events[0]["name"] == "recovery_cancelled"
    assert chain.run(PHONE, send(BOB, 1), account=ALICE).ok  # unfrozen
    late = chain.run(BOB, act("finalize_recovery", account=ALICE.address), at=T0 + 10 * DAY)
    assert failed(late, "AccountRuleBroken")


def test_a_finalised_recovery_replaces_the_master(chain: Chain) -> None:
    assert chain.run(ALICE, guardians(threshold=2), grant(PHONE, "SEND_UNLIMITED")).ok
    assert chain.run(BOB, approve()).ok
    assert chain.run(DAVE, approve(), at=T0 + 100).ok
    r = chain.run(CAROL, act("finalize_recovery", account=ALICE.address), at=T0 + 100 + DEFAULT_RECOVERY_TIMELOCK)
    assert r.ok and r.events[0]["name"] == "recovery_finalized" and r.events[0]["attrs"]["sessions_revoked"] == 1
    assert refused(chain.run(ALICE, send(BOB, 1)), "unknown-key")            # the old master
    assert refused(chain.run(PHONE, send(BOB, 1), account=ALICE), "session-revoked")
    assert chain.run(NEW_MASTER, send(BOB, 1), account=ALICE).ok            # the account lives on
    assert balance(chain.view(), ALICE.address) == START - 1
    assert chain.run(NEW_MASTER, grant(LAPTOP, "STAKE_MANAGE", now=chain.time), account=ALICE).ok


def test_a_session_with_account_recover_can_approve_for_its_account(chain: Chain) -> None:
    assert chain.run(ALICE, guardians(threshold=1)).ok
    assert chain.run(BOB, grant(PHONE, "ACCOUNT_RECOVER")).ok
    assert chain.run(PHONE, approve(), account=BOB).ok
    assert chain.run(BOB, grant(LAPTOP, "SEND_UNLIMITED")).ok
    assert refused(chain.run(LAPTOP, approve(), account=BOB), "not-permitted")


def test_changing_guardians_waits_out_the_time_lock(chain: Chain) -> None:
    assert chain.run(ALICE, guardians(threshold=1)).ok
    r = chain.run(ALICE, act("set_guardians", guardians=[NEW_MASTER.address], threshold=1,
                             timelock=DEFAULT_RECOVERY_TIMELOCK), at=T0 + 10)
    assert r.events[0]["name"] == "guardians_change_scheduled"
    assert r.events[0]["attrs"]["effective_at"] == T0 + 10 + DEFAULT_RECOVERY_TIMELOCK
    assert chain.run(BOB, approve(RESCUE)).ok  # Bob is still a guardian
    assert chain.run(ALICE, act("cancel_recovery")).ok
    chain.block(at=T0 + 10 + DEFAULT_RECOVERY_TIMELOCK)
    assert failed(chain.run(BOB, approve()), "AccountRuleBroken")  # not any more


@pytest.mark.parametrize("params, message", [
    ({"guardians": [ALICE.address], "threshold": 1, "timelock": DEFAULT_RECOVERY_TIMELOCK}, "own guardian"),
    ({"guardians": [BOB.address, BOB.address], "threshold": 1, "timelock": DEFAULT_RECOVERY_TIMELOCK}, "twice"),
    ({"guardians": [BOB.address], "threshold": 2, "timelock": DEFAULT_RECOVERY_TIMELOCK}, "threshold"),
    ({"guardians": [BOB.address], "threshold": 1, "timelock": 3600}, "time lock"),
])
def test_guardian_rules(chain: Chain, params: dict[str, Any], message: str) -> None:
    r = chain.run(ALICE, AccountMessage("set_guardians", params))
    assert failed(r, "AccountRuleBroken") and message in r.error.message


# --------------------------------------------------------------------------- the recovery key


def test_the_recovery_key_takes_over_only_after_its_time_lock(chain: Chain) -> None:
    assert chain.run(ALICE, act("set_recovery_key", public_key=RESCUE.public_key, timelock=MIN_TAKEOVER_TIMELOCK),
                     grant(PHONE, "SEND_UNLIMITED")).ok
    assert refused(chain.run(RESCUE, send(BOB, 1), account=ALICE), "not-permitted")
    assert failed(chain.run(RESCUE, act("finalize_takeover"), account=ALICE), "AccountRuleBroken")
    r = chain.run(RESCUE, act("announce_takeover", new_key=NEW_MASTER.public_key), account=ALICE, at=T0 + 5)
    assert r.events[0]["attrs"]["unlock_at"] == T0 + 5 + MIN_TAKEOVER_TIMELOCK
    assert refused(chain.run(PHONE, send(BOB, 1), account=ALICE), "frozen")
    assert chain.run(ALICE, act("cancel_takeover")).ok  # the master says no
    assert chain.run(RESCUE, act("announce_takeover", new_key=NEW_MASTER.public_key), account=ALICE, at=T0 + 10).ok
    assert failed(chain.run(RESCUE, act("finalize_takeover"), account=ALICE, at=T0 + 9 + MIN_TAKEOVER_TIMELOCK),
                  "AccountRuleBroken")
    assert chain.run(RESCUE, act("finalize_takeover"), account=ALICE, at=T0 + 10 + MIN_TAKEOVER_TIMELOCK).ok
    assert refused(chain.run(ALICE, send(BOB, 1)), "unknown-key")
    assert chain.run(NEW_MASTER, send(BOB, 1), account=ALICE).ok


def test_a_former_session_key_can_serve_as_the_recovery_key(chain: Chain) -> None:
    """A revoked session's record stays in state; the key may then become the recovery key, and
    it must be identified as that, not refused as the dead session it once was."""
    assert chain.run(ALICE, grant(RESCUE, "SEND_UNLIMITED")).ok
    assert chain.run(ALICE, act("revoke_session", public_key=RESCUE.public_key)).ok
    assert refused(chain.run(RESCUE, send(BOB, 1), account=ALICE), "session-revoked")
    assert chain.run(ALICE, act("set_recovery_key", public_key=RESCUE.public_key)).ok
    assert chain.run(RESCUE, act("announce_takeover", new_key=NEW_MASTER.public_key), account=ALICE).ok
    assert refused(chain.run(RESCUE, send(BOB, 1), account=ALICE), "not-permitted")


def test_only_the_recovery_key_announces(chain: Chain) -> None:
    assert chain.run(ALICE, act("set_recovery_key", public_key=RESCUE.public_key)).ok
    assert refused(chain.run(ALICE, act("announce_takeover", new_key=NEW_MASTER.public_key)), "not-permitted")
    assert failed(chain.run(ALICE, act("set_recovery_key", public_key=RESCUE.public_key, timelock=DAY)),
                  "AccountRuleBroken")


# --------------------------------------------------------------------------- replay


def test_a_long_story_replays_identically(chain: Chain) -> None:
    test_a_finalised_recovery_replaces_the_master(chain)
    assert chain.run(NEW_MASTER, act("stake", amount=7), account=ALICE).ok
    fresh = Ledger(amigos.LocalRuntime(), CHAIN, None, genesis=chain.ledger.genesis)
    replay(chain.ledger, fresh, NODE.public_key)
    assert fresh.runtime.state_root() == chain.ledger.runtime.state_root()
