"""The SDK's account methods (issue 6), every rule run twice: in the local ledger mode
(``amigos.connect(runtime, account=key)``) and against a real node in-process, each with a
controllable clock (the node's runtime clock and the client's ``clock=`` are the same
:class:`~amigos.testing.Clock`, so time locks and the daily grid are tested on both).

Each test makes fresh accounts, funded from a genesis allocation, so the tests share one chain
per mode and the clock only ever moves forward.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

import amigos
from amigos.accounts import UNBONDING_PERIOD, service_address
from amigos.accounts.recovery import DEFAULT_RECOVERY_TIMELOCK, MIN_TAKEOVER_TIMELOCK
from amigos.accounts.sessions import DAY
from amigos.client import AsyncLocalClient, AsyncNodeClient, LocalClient, NodeClient
from amigos.client.accounts import AccountMethods
from amigos.errors import (
    AccountRuleBroken,
    InsufficientFunds,
    NodeError,
    ServiceError,
    TransactionError,
    TransactionRefused,
    UsageError,
)
from amigos.ledger import AccountMessage, Transaction, sign
from amigos.ledger.block import Genesis
from amigos.ledger.tx import SignedTransaction
from amigos.node import Node
from amigos.node.app import create_app
from amigos.testing import Clock
from asgi_transport import sync_client

CHAIN = "amigos-test"
URL = "http://node.test"
BANK = amigos.Account.from_seed(bytes([77]) * 32)
FUNDS = 10**12
START = 1_000_000
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

def me() -> str:
    return std.address()
'''

Client = NodeClient | LocalClient


class World:
    """One chain (a local ledger or a node) at a controllable time, and clients of it."""

    def __init__(self, mode: str, home: Path) -> None:
        self.mode = mode
        self.clock = Clock(int(time.time()))  # a node checks signed reads against its clock: start near it
        genesis = {BANK.address: FUNDS}
        if mode == "local":
            self.runtime = amigos.LocalRuntime(clock=self.clock)
            self.bank = amigos.connect(self.runtime, account=BANK, genesis=genesis)
        else:
            self.node = Node(home, chain_id=CHAIN, isolation="none", block_interval=0.002,
                             genesis=Genesis(genesis), clock=self.clock).start()
            self.http = sync_client(create_app(self.node), URL)
            self.bank = self.connect(BANK)

    def connect(self, key: amigos.Account, acting_for: amigos.Account | None = None) -> Client:
        """A client signing with ``key``, for its own account or ``acting_for``'s."""
        address = None if acting_for is None else acting_for.address
        if self.mode == "local":
            return amigos.connect(self.runtime, account=key, acting_for=address)
        return amigos.connect(URL, account=key, acting_for=address, http=self.http, clock=self.clock)

    def funded(self, amount: int = START) -> tuple[amigos.Account, Client]:
        """A new account with ``amount`` AMI, and its master's client."""
        key = amigos.Account.generate()
        self.bank.send(key.address, amount)
        return key, self.connect(key)

    @property
    def chain_id(self) -> str:
        chain_id = self.bank.chain_id
        assert chain_id is not None
        return chain_id

    def close(self) -> None:
        if self.mode == "node":
            self.http.close()
            self.node.stop()


@pytest.fixture(scope="module", params=["local", "node"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = World(request.param, tmp_path_factory.mktemp(f"accounts-{request.param}"))
    yield world
    world.close()


def refusal(action: Callable[[], Any]) -> str:
    """The code of the TransactionRefused ``action`` raises."""
    with pytest.raises(TransactionRefused) as caught:
        action()
    return caught.value.code


def phone_of(world: World, master: Client, owner: amigos.Account, *permissions: str,
             **options: Any) -> tuple[amigos.Account, Client]:
    """A device key granted a session of ``owner``'s account, and its client."""
    device = amigos.Account.generate()
    master.grant_session(device, device="phone", permissions=list(permissions),
                         expires_in=options.pop("expires_in", 30 * DAY), **options)
    return device, world.connect(device, acting_for=owner)


def till_of(world: World, owner: amigos.Account, client: Client) -> str:
    path = f"hub.amigos.dev/{owner.address}/till"
    client.deploy(path, TILL)
    return path


def stranger() -> str:
    return amigos.Account.generate().address


# --------------------------------------------------------------------------- AMI and staking


def test_send_moves_ami_and_reads_show_it(world: World) -> None:
    alice, a = world.funded(1000)
    bob = stranger()
    r = a.send(bob, 250, memo="lunch")
    assert r.ok and r.tx_hash is not None and r.index is not None and r.proof is not None
    assert r.events == [amigos.Event(alice.address, "sent", {"to": bob, "amount": 250, "memo": "lunch"})]
    assert a.balance() == 750 and a.balance(bob) == 250 == world.bank.balance(bob)
    info = a.account()
    assert info["address"] == alice.address and info["balance"] == 750 and info["private"] is None
    assert info["frozen"] is False and info["guardians"] is None and info["recovery_key"] is None
    with pytest.raises(InsufficientFunds) as caught:  # a failed transaction raises its typed error
        a.send(bob, 751)
    assert not caught.value.receipt.ok and a.balance() == 750  # type: ignore[attr-defined]
    generic = a.account_action("send", to=bob, amount=751)  # the generic form returns it, like call
    assert not generic.ok and isinstance(generic.error, InsufficientFunds)
    assert a.account_action("send", to=bob, amount=750).ok and a.balance() == 0


def test_staking_unbonds_then_pays_back(world: World) -> None:
    alice, a = world.funded(1000)
    a.stake(400)
    assert (a.balance(), a.account()["staked"]) == (600, 400)
    r = a.unstake(100)
    released_at = world.clock.now + UNBONDING_PERIOD
    assert r.result == {"released_at": released_at}
    assert a.account()["unbonding"] == [{"amount": 100, "released_at": released_at}]
    with pytest.raises(InsufficientFunds):
        a.unstake(301)
    world.clock.advance(UNBONDING_PERIOD)
    world.bank.send(stranger(), 1)  # a block at the release time pays it back
    assert (a.balance(), a.account()["staked"], a.account()["unbonding"]) == (700, 300, [])


def test_calls_carry_coins_to_services_atomically(world: World) -> None:
    alice, a = world.funded(1000)
    path = till_of(world, alice, a)
    till = service_address(path)
    assert a.call(path, "pay", coins=300).result == 300
    assert a.balance(till) == 300 and a.balance() == 700
    failed = a.call(path, "pay", True, coins=50)  # a failed call keeps none of its coins
    assert not failed.ok and isinstance(failed.error, ServiceError) and a.balance() == 700
    shop = a.service(path)
    assert shop.pay.with_coins(20)() == 20 and shop.pay.with_coins(5).receipt().result == 5
    assert shop.pay() == 0 and a.balance(till) == 325
    with pytest.raises(InsufficientFunds):
        shop.pay.with_coins(10**6)()
    bob = stranger()
    shop.refund(bob, 125)  # the service pays from its own balance
    assert a.balance(bob) == 125 and shop.query.till() == 200 and shop.query.me() == till
    with pytest.raises(InsufficientFunds):
        shop.refund(bob, 201)


# --------------------------------------------------------------------------- session limits


def test_the_tx_limit_is_exact(world: World) -> None:
    alice, a = world.funded()
    _, phone = phone_of(world, a, alice, "SEND_LIMIT_TX", tx_limit=100)
    bob = stranger()
    assert refusal(lambda: phone.send(bob, 101)) == "over-limit"
    assert phone.send(bob, 100).ok and phone.send(bob, 100).ok  # per transaction, not per day
    assert a.balance(bob) == 200 and a.balance() == START - 200


def test_the_daily_limit_is_exact_and_resets_on_the_grant_grid(world: World) -> None:
    alice, a = world.funded()
    _, phone = phone_of(world, a, alice, "SEND_LIMIT_DAILY", daily_limit=1000, expires_in=300 * DAY)
    granted = a.sessions()[0]["granted_at"]
    assert granted == world.clock.now
    bob = stranger()
    world.clock.set(granted + 10)
    assert phone.send(bob, 600).ok
    assert refusal(lambda: phone.send(bob, 401)) == "over-limit"
    assert phone.send(bob, 400).ok  # exactly at the limit
    [session] = phone.sessions()  # a session key reads its own account's sessions
    assert session["remaining_today"] == 0 and session["window_ends_at"] == granted + DAY
    world.clock.set(granted + DAY - 1)
    assert refusal(lambda: phone.send(bob, 1)) == "over-limit"
    world.clock.set(granted + DAY)  # a new window
    assert phone.send(bob, 1000).ok
    # Idle for days: the window stays on the grant's grid, it is not re-anchored at the next spend.
    world.clock.set(granted + 3 * DAY + DAY // 2)
    assert phone.send(bob, 1000).ok
    world.clock.set(granted + 4 * DAY - 1)
    assert refusal(lambda: phone.send(bob, 1)) == "over-limit"
    world.clock.set(granted + 4 * DAY)
    assert phone.send(bob, 1).ok
    assert a.balance(bob) == 3001


def test_coins_sent_with_calls_count_and_failed_transactions_give_them_back(world: World) -> None:
    alice, a = world.funded()
    path = till_of(world, alice, a)
    _, phone = phone_of(world, a, alice, "IMPORT_EXECUTE", "SEND_LIMIT_DAILY", daily_limit=500)
    failed = phone.call(path, "pay", True, coins=500)
    assert not failed.ok and isinstance(failed.error, ServiceError)
    assert phone.sessions()[0]["remaining_today"] == 500  # the failed call spent nothing
    assert phone.call(path, "pay", coins=300).ok
    assert refusal(lambda: phone.call(path, "pay", coins=201)) == "over-limit"
    assert refusal(lambda: phone.send(stranger(), 201)) == "over-limit"  # sends and coins share the limit
    assert phone.service(path).pay.with_coins(200)() == 200
    # A send that fails for lack of funds gives its share back too.
    poor, p = world.funded(5)
    _, laptop = phone_of(world, p, poor, "SEND_LIMIT_DAILY", daily_limit=10)
    with pytest.raises(InsufficientFunds):
        laptop.send(stranger(), 10)
    assert laptop.send(stranger(), 5).ok


def test_sessions_need_the_right_permission_and_service(world: World) -> None:
    alice, a = world.funded()
    path = till_of(world, alice, a)
    other = f"hub.amigos.dev/{alice.address}/other"
    a.deploy(other, TILL)
    _, caller = phone_of(world, a, alice, "IMPORT_EXECUTE", services=[path])
    assert caller.call(path, "pay").ok
    assert refusal(lambda: caller.call(other, "pay")) == "not-permitted"  # off its allow-list
    assert refusal(lambda: caller.call(path, "pay", coins=1)) == "not-permitted"  # no SEND_* right
    assert refusal(lambda: caller.send(stranger(), 1)) == "not-permitted"
    assert refusal(lambda: caller.stake(1)) == "not-permitted"
    _, staker = phone_of(world, a, alice, "STAKE_MANAGE")
    assert staker.stake(10).ok and staker.unstake(10).ok
    assert refusal(lambda: staker.call(path, "pay")) == "not-permitted"
    _, reader = phone_of(world, a, alice, "READ_ONLY")
    for action in (lambda: reader.send(stranger(), 1), lambda: reader.call(path, "till"), lambda: reader.stake(1)):
        assert refusal(action) == "not-permitted"
    assert {s["device"] for s in reader.sessions()} == {"phone"} and len(reader.sessions()) == 3


def test_ip_ranges_are_checked_by_a_node(world: World) -> None:
    """The client's address is not part of a transaction: a node checks it on submission
    (in-process, the client is 127.0.0.1); the local ledger has no clients to check."""
    alice, a = world.funded()
    _, home = phone_of(world, a, alice, "SEND_UNLIMITED", ip_ranges=["127.0.0.0/8"])
    away_key, away = phone_of(world, a, alice, "SEND_UNLIMITED", ip_ranges=["192.0.2.0/24", "2001:db8::/32"])
    assert home.send(stranger(), 1).ok
    if world.mode == "node":
        assert refusal(lambda: away.send(stranger(), 1)) == "not-permitted"
    else:
        assert away.send(stranger(), 1).ok
    [listed] = [s for s in a.sessions() if s["public_key"] == away_key.public_key.hex()]
    assert listed["ip_ranges"] == ["192.0.2.0/24", "2001:db8::/32"]


def test_a_session_may_not_touch_the_account_itself(world: World) -> None:
    alice, a = world.funded()
    device, phone = phone_of(world, a, alice, "SEND_UNLIMITED", "STAKE_MANAGE", "IMPORT_EXECUTE", "ACCOUNT_RECOVER")
    rescue = amigos.Account.generate()
    forbidden = {
        "grant_session": lambda: phone.grant_session(amigos.Account.generate(), device="x",
                                                     permissions=["SEND_UNLIMITED"], expires_in=DAY),
        "widen itself": lambda: phone.grant_session(device, device="phone", permissions=["SEND_UNLIMITED"],
                                                    expires_in=300 * DAY),
        "revoke_session": lambda: phone.revoke_session(device),
        "revoke_all_sessions": phone.revoke_all_sessions,
        "set_guardians": lambda: phone.set_guardians([stranger()], 1),
        "set_recovery_key": lambda: phone.set_recovery_key(rescue),
        "cancel_recovery": phone.cancel_recovery,
        "cancel_takeover": phone.cancel_takeover,
        "announce_takeover": lambda: phone.announce_takeover(rescue),
        "finalize_takeover": phone.finalize_takeover,
        "set_webhook": lambda: phone.set_webhook("https://example.org/hook"),
    }
    for name, action in forbidden.items():
        assert refusal(action) == "not-permitted", name
    info = a.account()
    assert info["guardians"] is None and info["recovery_key"] is None
    [session] = a.sessions()
    assert session["active"] and session["permissions"] == ["ACCOUNT_RECOVER", "IMPORT_EXECUTE", "SEND_UNLIMITED",
                                                            "STAKE_MANAGE"]


def test_expired_sessions_sign_nothing(world: World) -> None:
    alice, a = world.funded()
    _, phone = phone_of(world, a, alice, "SEND_UNLIMITED", expires_in=DAY)
    world.clock.advance(DAY - 1)
    assert phone.send(stranger(), 1).ok
    world.clock.advance(1)
    assert refusal(lambda: phone.send(stranger(), 1)) == "session-expired"


# --------------------------------------------------------------------------- revocation


def signed(world: World, key: amigos.Account, owner: amigos.Account, nonce: int,
           message: AccountMessage) -> SignedTransaction:
    """A transaction signed ahead of time: what a device had queued."""
    return sign(Transaction(chain_id=world.chain_id, account=owner.address, public_key=key.public_key,
                            nonce=nonce, gas_limit=1_000_000, messages=(message,)), key)


def test_a_revoked_sessions_queued_transactions_are_refused(world: World) -> None:
    alice, a = world.funded()
    device, phone = phone_of(world, a, alice, "SEND_UNLIMITED")
    bob = stranger()
    pay = AccountMessage("send", {"to": bob, "amount": 1})
    queued = [signed(world, device, alice, nonce, pay) for nonce in (1, 2, 3, 4)]
    revoke = signed(world, alice, alice, a.last_nonce() + 1, AccountMessage("revoke_session", {"public_key": device.public_key}))
    with pytest.raises(TransactionRefused) as caught:  # all sent at once: the revocation lands between them
        a.submit_many([queued[0], revoke, *queued[1:]])
    outcomes = caught.value.outcomes  # type: ignore[attr-defined]
    assert [o.ok for o in outcomes[:2]] == [True, True]
    assert [o.code for o in outcomes[2:]] == ["session-revoked"] * 3
    assert outcomes[1].events[0].name == "session_revoked"
    assert a.balance(bob) == 1
    assert refusal(lambda: phone.send(bob, 1)) == "session-revoked"
    with pytest.raises(NodeError) as forbidden:  # nor does it read the account's private part any more
        phone.sessions()
    assert forbidden.value.status == 403


def test_the_kill_switch_revokes_every_session(world: World) -> None:
    alice, a = world.funded()
    device, phone = phone_of(world, a, alice, "SEND_UNLIMITED")
    _, laptop = phone_of(world, a, alice, "STAKE_MANAGE")
    r = a.revoke_all_sessions()
    assert r.result == {"revoked": 2} and r.events[0].name == "sessions_revoked"
    assert refusal(lambda: phone.send(stranger(), 1)) == "session-revoked"
    assert refusal(lambda: laptop.stake(1)) == "session-revoked"
    assert [s["active"] for s in a.sessions()] == [False, False]
    with pytest.raises(AccountRuleBroken):
        a.revoke_session(device)  # nothing active to revoke
    a.grant_session(device.public_key.hex(), device="phone again", permissions=["SEND_UNLIMITED"], expires_in=DAY)
    assert phone.send(stranger(), 1).ok  # a revoked key can be granted a fresh session


# --------------------------------------------------------------------------- recovery


def guarded(world: World, threshold: int = 2) -> tuple[amigos.Account, Client, list[Client], Client]:
    """Alice with three guardians (their clients) of whom ``threshold`` must agree, and a phone."""
    alice, a = world.funded()
    guardians = [world.funded(10)[1] for _ in range(3)]
    a.set_guardians([g.address for g in guardians], threshold)  # type: ignore[misc]
    _, phone = phone_of(world, a, alice, "SEND_UNLIMITED")
    return alice, a, guardians, phone


def test_a_recovery_can_be_cancelled_and_freezes_sessions_meanwhile(world: World) -> None:
    alice, a, (bob, carol, dave), phone = guarded(world)
    new_master = amigos.Account.generate()
    assert a.account()["guardians"]["threshold"] == 2
    bob.approve_recovery(alice.address, new_master)
    assert phone.send(stranger(), 1).ok  # one vote starts nothing
    r = carol.approve_recovery(alice.address, new_master.public_key)
    unlock_at = world.clock.now + DEFAULT_RECOVERY_TIMELOCK
    assert [e.name for e in r.events] == ["recovery_approved", "recovery_started"]
    assert a.account()["frozen"] and a.account()["recovery"]["unlock_at"] == unlock_at
    assert refusal(lambda: phone.send(stranger(), 1)) == "frozen"
    world.clock.set(unlock_at - 1)
    with pytest.raises(AccountRuleBroken, match="time-locked"):
        dave.finalize_recovery(alice.address)
    with pytest.raises(AccountRuleBroken):
        bob.cancel_recovery()  # a master cancels only its own account's recovery
    assert a.cancel_recovery().events[0].name == "recovery_cancelled"
    assert not a.account()["frozen"] and phone.send(stranger(), 1).ok
    world.clock.set(unlock_at + DAY)
    with pytest.raises(AccountRuleBroken):
        dave.finalize_recovery(alice.address)


def test_a_finalised_recovery_replaces_the_master(world: World) -> None:
    alice, a, (bob, carol, dave), phone = guarded(world)
    new_master = amigos.Account.generate()
    bob.approve_recovery(alice.address, new_master)
    dave.approve_recovery(alice.address, new_master)
    world.clock.advance(DEFAULT_RECOVERY_TIMELOCK)
    r = carol.finalize_recovery(alice.address)  # anyone may, once the time lock ran out
    assert r.events[0].name == "recovery_finalized" and r.events[0].attrs["sessions_revoked"] == 1
    assert refusal(lambda: a.send(stranger(), 1)) == "unknown-key"  # the old master
    assert refusal(lambda: phone.send(stranger(), 1)) == "session-revoked"
    recovered = world.connect(new_master, acting_for=alice)
    assert recovered.send(stranger(), 1).ok and recovered.balance() == START - 1
    assert recovered.account()["master_key"] == new_master.public_key.hex()
    assert recovered.sessions()[0]["active"] is False
    _, again = phone_of(world, recovered, alice, "STAKE_MANAGE")
    assert again.stake(1).ok


def test_guardians_colluding_below_the_threshold_recover_nothing(world: World) -> None:
    alice, a, (bob, carol, dave), _ = guarded(world)
    bob.approve_recovery(alice.address, amigos.Account.generate())
    carol.approve_recovery(alice.address, amigos.Account.generate())  # two votes, two keys: one each
    assert not a.account()["frozen"]
    world.clock.advance(10 * DAY)
    with pytest.raises(AccountRuleBroken):
        dave.finalize_recovery(alice.address)
    _, outsider = world.funded(10)
    with pytest.raises(AccountRuleBroken, match="not a guardian"):
        outsider.approve_recovery(alice.address, amigos.Account.generate())
    assert a.send(stranger(), 1).ok  # the master still rules


def test_changing_guardians_waits_out_the_time_lock(world: World) -> None:
    alice, a, (bob, _, _), _ = guarded(world, threshold=1)
    newcomer = stranger()
    r = a.set_guardians([newcomer], 1)
    effective_at = world.clock.now + DEFAULT_RECOVERY_TIMELOCK
    assert r.events[0].attrs["effective_at"] == effective_at
    assert a.account()["guardians"]["pending_change"] == {"guardians": {"members": [newcomer], "threshold": 1,
                                                                         "timelock": DEFAULT_RECOVERY_TIMELOCK},
                                                          "effective_at": effective_at}
    bob.approve_recovery(alice.address, amigos.Account.generate())  # Bob is still a guardian
    a.cancel_recovery()
    world.clock.set(effective_at)
    with pytest.raises(AccountRuleBroken, match="not a guardian"):
        bob.approve_recovery(alice.address, amigos.Account.generate())


def test_the_recovery_key_takes_over_only_after_its_time_lock(world: World) -> None:
    alice, a = world.funded()
    rescue_key, new_master = amigos.Account.generate(), amigos.Account.generate()
    a.set_recovery_key(rescue_key, timelock=MIN_TAKEOVER_TIMELOCK)
    _, phone = phone_of(world, a, alice, "SEND_UNLIMITED")
    rescue = world.connect(rescue_key, acting_for=alice)
    assert refusal(lambda: rescue.send(stranger(), 1)) == "not-permitted"
    assert refusal(lambda: a.announce_takeover(new_master)) == "not-permitted"  # only the recovery key
    with pytest.raises(AccountRuleBroken):
        rescue.finalize_takeover()
    rescue.announce_takeover(new_master)
    assert a.account()["recovery_key"]["takeover"]["unlock_at"] == world.clock.now + MIN_TAKEOVER_TIMELOCK
    assert refusal(lambda: phone.send(stranger(), 1)) == "frozen"
    a.cancel_takeover()  # the master says no
    rescue.announce_takeover(new_master)
    world.clock.advance(MIN_TAKEOVER_TIMELOCK - 1)
    with pytest.raises(AccountRuleBroken, match="time-locked"):
        rescue.finalize_takeover()
    world.clock.advance(1)
    assert rescue.finalize_takeover().events[0].name == "takeover_finalized"
    assert refusal(lambda: a.send(stranger(), 1)) == "unknown-key"
    assert world.connect(new_master, acting_for=alice).send(stranger(), 1).ok
    with pytest.raises(AccountRuleBroken):  # a recovery key below the minimum time lock
        world.funded()[1].set_recovery_key(rescue_key, timelock=DAY)


def test_a_webhook_is_private_to_the_account(world: World) -> None:
    alice, a = world.funded()
    assert a.set_webhook("https://example.org/hook").events[0].name == "webhook_set"
    private = a.account(private=True)["private"]
    assert private["webhook"] == "https://example.org/hook" and private["reader"]["role"] == "master"
    assert a.account()["private"] is None
    a.set_webhook(None)
    assert a.account(private=True)["private"]["webhook"] is None


# --------------------------------------------------------------------------- garbage


def garbage_calls(bob: str, path: str) -> list[tuple[str, Callable[[Client], Any]]]:
    key = amigos.Account.generate()
    expiring = {"device": "phone", "permissions": ["STAKE_MANAGE"], "expires_in": DAY}
    return [
        ("send to nobody", lambda c: c.send("nobody", 1)),
        ("send upper-case", lambda c: c.send(bob.upper(), 1)),
        ("send 0", lambda c: c.send(bob, 0)),
        ("send negative", lambda c: c.send(bob, -5)),
        ("send too much", lambda c: c.send(bob, 2**64)),
        ("send a bool", lambda c: c.send(bob, True)),
        ("send a str", lambda c: c.send(bob, "10")),
        ("empty memo", lambda c: c.send(bob, 1, memo="")),
        ("long memo", lambda c: c.send(bob, 1, memo="x" * 257)),
        ("memo with a line break", lambda c: c.send(bob, 1, memo="a\nb")),
        ("memo not text", lambda c: c.send(bob, 1, memo=5)),
        ("stake 0", lambda c: c.stake(0)),
        ("stake a str", lambda c: c.stake("1")),
        ("unstake None", lambda c: c.unstake(None)),
        ("balance of nobody", lambda c: c.balance("nobody")),
        ("balance of a number", lambda c: c.balance(5)),
        ("account upper-case", lambda c: c.account(bob.upper())),
        ("unknown action", lambda c: c.account_action("mint", amount=10**9)),
        ("unknown parameter", lambda c: c.account_action("send", to=bob, amount=1, extra=1)),
        ("empty action", lambda c: c.account_action("")),
        ("action not text", lambda c: c.account_action(5)),
        ("short key", lambda c: c.grant_session(b"short", **expiring)),
        ("key not hex", lambda c: c.grant_session("zz" * 32, **expiring)),
        ("key of a number", lambda c: c.grant_session(7, **expiring)),
        ("empty device", lambda c: c.grant_session(key, **{**expiring, "device": ""})),
        ("long device", lambda c: c.grant_session(key, **{**expiring, "device": "x" * 65})),
        ("one permission string", lambda c: c.grant_session(key, **{**expiring, "permissions": "SEND_UNLIMITED"})),
        ("unknown permission", lambda c: c.grant_session(key, **{**expiring, "permissions": ["ROOT"]})),
        ("no expiry", lambda c: c.grant_session(key, device="phone", permissions=["STAKE_MANAGE"])),
        ("two expiries", lambda c: c.grant_session(key, **expiring, expires_at=2**40)),
        ("negative expiry", lambda c: c.grant_session(key, **{**expiring, "expires_in": -1})),
        ("expiry a str", lambda c: c.grant_session(key, **{**expiring, "expires_in": "3600"})),
        ("expires_at negative", lambda c: c.grant_session(key, device="p", permissions=["STAKE_MANAGE"], expires_at=-1)),
        ("daily limit 0", lambda c: c.grant_session(key, **expiring, daily_limit=0)),
        ("tx limit negative", lambda c: c.grant_session(key, **expiring, tx_limit=-1)),
        ("services not paths", lambda c: c.grant_session(key, **expiring, services=["not a path"])),
        ("services a str", lambda c: c.grant_session(key, **expiring, services="hub.amigos.dev/a/b")),
        ("ip range not one", lambda c: c.grant_session(key, **expiring, ip_ranges=["nowhere"])),
        ("ip range with host bits", lambda c: c.grant_session(key, **expiring, ip_ranges=["10.0.0.1/8"])),
        ("revoke None", lambda c: c.revoke_session(None)),
        ("revoke empty", lambda c: c.revoke_session(b"")),
        ("guardians a str", lambda c: c.set_guardians(bob, 1)),
        ("guardians without threshold", lambda c: c.set_guardians([bob])),
        ("threshold 0", lambda c: c.set_guardians([bob], 0)),
        ("guardian nobody", lambda c: c.set_guardians(["nobody"], 1)),
        ("negative time lock", lambda c: c.set_guardians([bob], 1, timelock=-1)),
        ("too many guardians", lambda c: c.set_guardians([stranger() for _ in range(17)], 1)),
        ("approve for nobody", lambda c: c.approve_recovery("nobody", key)),
        ("approve a short key", lambda c: c.approve_recovery(bob, b"x")),
        ("finalize nobody", lambda c: c.finalize_recovery("nobody")),
        ("finalize None", lambda c: c.finalize_recovery(None)),
        ("recovery key short", lambda c: c.set_recovery_key(b"x")),
        ("recovery time lock negative", lambda c: c.set_recovery_key(key, timelock=-1)),
        ("recovery time lock a str", lambda c: c.set_recovery_key(key, timelock="1")),
        ("takeover key not hex", lambda c: c.announce_takeover("not hex")),
        ("webhook not http", lambda c: c.set_webhook("ftp://example.org/")),
        ("webhook not text", lambda c: c.set_webhook(5)),
        ("webhook too long", lambda c: c.set_webhook("https://" + "x" * 3000)),
        ("negative coins", lambda c: c.call(path, "pay", coins=-1)),
        ("too many coins", lambda c: c.call(path, "pay", coins=2**64)),
        ("coins a float", lambda c: c.call(path, "pay", coins=1.5)),
        ("proxy negative coins", lambda c: c.service(path).pay.with_coins(-1)),
        ("proxy coins a str", lambda c: c.service(path).pay.with_coins("5")),
    ]


def test_garbage_arguments_are_refused_before_anything_is_sent(world: World) -> None:
    alice, a = world.funded()
    path = till_of(world, alice, a)
    before = (a.last_nonce(), a.balance(), a.account())
    for name, attempt in garbage_calls(stranger(), path):
        with pytest.raises((TransactionError, UsageError, TypeError)):
            attempt(a)
            pytest.fail(name)
    assert (a.last_nonce(), a.balance(), a.account()) == before


def test_reads_of_private_parts_and_other_accounts(world: World) -> None:
    alice, a = world.funded()
    with pytest.raises(UsageError, match="own keys"):
        a.account(world.bank.address, private=True)
    assert world.bank.account(alice.address)["balance"] == START
    unfunded = world.connect(amigos.Account.generate())
    assert unfunded.balance() == 0 and unfunded.sessions() == []


# --------------------------------------------------------------------------- asyncio


def test_the_async_clients_have_the_same_account_methods(world: World) -> None:
    alice, a = world.funded()
    device = amigos.Account.generate()

    async def main() -> None:
        if world.mode == "local":
            master = await amigos.aconnect(world.runtime, account=alice)
            phone = await amigos.aconnect(world.runtime, account=device, acting_for=alice.address)
            assert isinstance(master, AsyncLocalClient)
        else:
            http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(world.node)), base_url=URL)
            master = await amigos.aconnect(URL, account=alice, http=http, clock=world.clock)
            phone = await amigos.aconnect(URL, account=device, acting_for=alice.address, http=http, clock=world.clock)
        r = await master.grant_session(device, device="phone", permissions=["SEND_LIMIT_TX"], tx_limit=10,
                                       expires_in=DAY)
        assert r.ok and r.events[0].name == "session_granted"
        assert (await phone.send(stranger(), 10)).ok
        with pytest.raises(TransactionRefused) as caught:
            await phone.send(stranger(), 11)
        assert caught.value.code == "over-limit"
        with pytest.raises(InsufficientFunds):
            await master.send(stranger(), START)
        assert await master.balance() == START - 10
        assert [s["device"] for s in await phone.sessions()] == ["phone"]
        assert (await master.account())["balance"] == START - 10
        assert (await master.revoke_all_sessions()).result == {"revoked": 1}
        with pytest.raises(TransactionError):
            master.send("nobody", 1)  # refused at once, before anything is awaited
        path = f"hub.amigos.dev/{alice.address}/till"
        await master.deploy(path, TILL)
        shop = await master.service(path)
        assert await shop.pay.with_coins(7)() == 7 and (await shop.pay.with_coins(3).receipt()).result == 3
        assert (await master.call(path, "pay", coins=5)).result == 5
        assert await master.balance(service_address(path)) == 15
        await master.aclose()  # the node clients share one HTTP client: this closes it

    asyncio.run(main())


# --------------------------------------------------------------------------- the two local modes


def test_every_client_has_the_same_account_methods() -> None:
    names = {name for name in dir(AccountMethods) if not name.startswith("_")}
    assert {"send", "grant_session", "set_webhook", "account_action", "sessions"} <= names
    for client in (NodeClient, AsyncNodeClient, LocalClient, AsyncLocalClient):
        assert names <= set(dir(client)), client
        assert "coins" in inspect.signature(client.call).parameters


def test_a_folder_is_kept_in_the_mode_it_was_made_in(tmp_path: Path) -> None:
    alice, bob = amigos.Account.generate(), amigos.Account.generate()
    signed_home, named_home = tmp_path / "signed", tmp_path / "named"
    with amigos.connect(signed_home, account=alice, genesis={alice.address: 100}) as client:
        client.send(bob.address, 40)
        client.deploy(f"hub.amigos.dev/{alice.address}/till", TILL)
    assert sorted(p.name for p in signed_home.iterdir() if p.suffix != ".sqlite" and "sqlite" not in p.name) == [
        "chain-id", "genesis.json", "node.key"]
    with amigos.connect(signed_home, account=alice) as again:  # its genesis is its own now
        assert again.balance() == 60 and again.last_nonce() == 2
    with pytest.raises(UsageError, match="another genesis"):
        amigos.connect(signed_home, account=alice, genesis={alice.address: 1})
    runtime = amigos.LocalRuntime()
    amigos.connect(runtime, account=alice, genesis={alice.address: 100})
    assert amigos.connect(runtime, account=bob).balance(alice.address) == 100  # one chain, many clients
    with pytest.raises(UsageError, match="another genesis"):
        amigos.connect(runtime, account=bob, genesis={bob.address: 100})
    with amigos.connect(signed_home) as reader:  # a signer name reads a ledger folder…
        assert reader.balance(bob.address) == 40 and reader.query(f"hub.amigos.dev/{alice.address}/till", "till") == 0
        with pytest.raises(UsageError, match="holds a signed ledger"):  # …but writes nothing outside its log
            reader.deploy("hub.amigos.dev/dev/x", "a = 1\n")
        with pytest.raises(UsageError, match="signed"):
            reader.send(bob.address, 1)
    with amigos.connect(named_home) as named:
        named.deploy("hub.amigos.dev/dev/x", "a = 1\n")
    with pytest.raises(UsageError, match="written without signatures"):
        amigos.connect(named_home, account=alice)
    # The ledger folder is a node's home: a node serves it as it is, genesis and log included.
    node = Node(signed_home, isolation="none", block_interval=0.002).start()
    try:
        with amigos.connect(URL, account=bob, http=sync_client(create_app(node), URL)) as remote:
            assert remote.balance() == 40 and remote.send(alice.address, 1).ok
            assert remote.account(alice.address)["balance"] == 61
    finally:
        node.stop()


def test_connect_refuses_mixed_up_options(tmp_path: Path) -> None:
    alice = amigos.Account.generate()
    with pytest.raises(UsageError, match="genesis starts a ledger"):
        amigos.connect(amigos.LocalRuntime(), account="dev", genesis={alice.address: 1})
    with pytest.raises(UsageError, match="node's genesis"):
        amigos.connect(URL, account=alice, genesis={alice.address: 1})
    with pytest.raises(UsageError, match="acting_for needs the key"):
        amigos.connect(amigos.LocalRuntime(), account="dev", acting_for=alice.address)
    with pytest.raises(UsageError, match="acting_for"):
        amigos.connect(amigos.LocalRuntime(), account=alice, acting_for="amigo1nobody")
    with pytest.raises(UsageError, match="genesis"):
        amigos.connect(amigos.LocalRuntime(), account=alice, genesis={"nobody": 1})
    with pytest.raises(UsageError, match="genesis is"):
        amigos.connect(amigos.LocalRuntime(), account=alice, genesis=[alice.address])
    with pytest.raises(UsageError, match="signed"):
        amigos.connect(amigos.LocalRuntime()).grant_session(alice, device="x", permissions=["READ_ONLY"], expires_in=1)
    named = amigos.connect(amigos.LocalRuntime(), account="dev")  # the name mode: a name has no AMI to carry
    named.deploy("hub.amigos.dev/dev/till", TILL)
    poor = named.call("hub.amigos.dev/dev/till", "pay", coins=1)
    assert not poor.ok and isinstance(poor.error, InsufficientFunds) and named.call("hub.amigos.dev/dev/till", "pay").ok
    own = amigos.connect(amigos.LocalRuntime(), account=alice, acting_for=alice.address)
    assert own.acting_for is None and own.address == alice.address


def test_a_name_mode_client_cannot_make_a_private_read() -> None:
    client = amigos.connect(amigos.LocalRuntime(), account="alice")  # a name: nothing to sign a read with
    with pytest.raises(UsageError, match="account"):
        client.sessions()
