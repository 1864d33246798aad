"""Accounts on a real node, through its HTTP API (in-process, httpx's ASGI transport): the genesis
a node is started with, the account API with signed reads of private data, the event stream of
an account, sessions' IP ranges, webhooks posted to a real local HTTP server, and the faucet of
a dev node. The rules themselves are tests/test_accounts.py's; these test what the node adds."""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from amigos.accounts.recovery import DEFAULT_RECOVERY_TIMELOCK, MIN_TAKEOVER_TIMELOCK
from amigos.accounts.sessions import DAY
from amigos.crypto.keys import Account
from amigos.errors import UsageError
from amigos.ledger.block import Genesis
from amigos.ledger.tx import AccountMessage, Transaction, sign
from amigos.node import Node
from amigos.node.app import create_app
from amigos.node.auth import READ_WINDOW, read_message, sign_read
from amigos.node.faucet import (
    ADDRESS_WINDOW,
    DRIPS_PER_CLIENT,
    FAUCET_ALLOCATION,
    FAUCET_AMOUNT,
    RateLimit,
)
from amigos.node.node import GENESIS_FILE
from amigos.node.problems import PROBLEM_BASE
from amigos.node.webhooks import (
    KEY_HEADER,
    SIGNATURE_HEADER,
    Delivery,
    WebhookSender,
    verify_webhook,
)
from test_api import parse_sse

CHAIN = "amigos-test"
T0 = 1_700_000_000
ALICE = Account.from_seed(bytes([1]) * 32)
BOB = Account.from_seed(bytes([2]) * 32)
CAROL = Account.from_seed(bytes([3]) * 32)
DAVE = Account.from_seed(bytes([4]) * 32)
PHONE = Account.from_seed(bytes([5]) * 32)
WATCH = Account.from_seed(bytes([6]) * 32)
NEW_MASTER = Account.from_seed(bytes([7]) * 32)
STRANGER = Account.from_seed(bytes([8]) * 32)
START = 1_000_000
GENESIS = Genesis({a.address: START for a in (ALICE, BOB, CAROL, DAVE)})
OFFICE = "203.0.113.7"
ELSEWHERE = "198.51.100.20"

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    """The node's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


class Chain:
    """A started node with a controllable clock, and nonces per (account, key)."""

    def __init__(self, home: Path, db: str | None = None, **options: Any) -> None:
        self.clock = Clock()
        options.setdefault("genesis", GENESIS)
        self.start = lambda: Node(home, chain_id=CHAIN, db=db, isolation="none", block_interval=0.002,
                                  clock=self.clock, private_webhooks=True, **options).start()
        self.node = self.start()
        self.app = create_app(self.node)
        self.nonces: dict[tuple[str, bytes], int] = {}

    def restart(self) -> None:
        self.node.stop()
        self.node = self.start()
        self.app = create_app(self.node)

    def tx(self, signer: Account, *messages: Any, account: Account | None = None) -> str:
        owner = (account or signer).address
        nonce = self.nonces.get((owner, signer.public_key), 0) + 1
        self.nonces[(owner, signer.public_key)] = nonce
        tx = Transaction(chain_id=CHAIN, account=owner, public_key=signer.public_key, nonce=nonce,
                         gas_limit=1_000_000, messages=list(messages))
        return sign(tx, signer).encode().hex()

    def client(self, ip: str = "127.0.0.1") -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app, client=(ip, 40_000)),
                                 base_url="http://node.test")

    async def run(self, signer: Account, *messages: Any, account: Account | None = None,
                  ip: str = "127.0.0.1") -> httpx.Response:
        """Submit one transaction from ``ip``; a refused one gives its nonce back."""
        async with self.client(ip) as api:
            response = await api.post("/v1/transactions", json={"tx": self.tx(signer, *messages, account=account)})
        if response.status_code != 200:
            self.nonces[((account or signer).address, signer.public_key)] -= 1
        return response

    async def ok(self, signer: Account, *messages: Any, account: Account | None = None) -> dict[str, Any]:
        response = await self.run(signer, *messages, account=account)
        assert response.status_code == 200, response.text
        receipt = response.json()["receipt"]
        assert receipt["ok"], receipt["error"]
        return receipt

    async def account(self, who: Account, reader: Account | None = None, **headers: str) -> httpx.Response:
        target = f"/v1/accounts/{who.address}"
        signed = {} if reader is None else sign_read(reader, CHAIN, "GET", target, self.clock.now)
        async with self.client() as api:
            return await api.get(target, headers={**signed, **headers})


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    chain = Chain(tmp_path / "node")
    yield chain
    chain.node.stop()


def act(action: str, **params: Any) -> AccountMessage:
    return AccountMessage(action, params)


def grant(device: Account, *permissions: str, name: str = "phone", **limits: Any) -> AccountMessage:
    return act("grant_session", public_key=device.public_key, device=name, permissions=list(permissions),
               expires_at=T0 + 30 * DAY, **limits)


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == PROBLEM_BASE + code and body["code"] == code
    return body


# --------------------------------------------------------------------------- genesis


async def test_a_node_keeps_the_genesis_it_started_with_and_serves_it(tmp_path: Path) -> None:
    chain = Chain(tmp_path / "node")
    async with chain.client() as api:
        assert (await api.get("/v1/genesis")).json() == GENESIS.to_value()
    assert (await chain.account(ALICE)).json()["balance"] == START
    await chain.ok(ALICE, act("send", to=STRANGER.address, amount=5))
    chain.node.stop()
    assert json.loads((tmp_path / "node" / GENESIS_FILE).read_text()) == GENESIS.to_value()
    Node(tmp_path / "node", isolation="none").stop()  # restarting without one keeps it
    Node(tmp_path / "node", isolation="none", genesis=GENESIS).stop()  # or with the same one
    with pytest.raises(UsageError, match="another genesis"):
        Node(tmp_path / "node", isolation="none", genesis=Genesis({BOB.address: 1}))
    (tmp_path / "node" / GENESIS_FILE).write_text(json.dumps(Genesis({BOB.address: 1}).to_value()))
    with pytest.raises(UsageError, match="not the genesis the log"):
        Node(tmp_path / "node", isolation="none")
    (tmp_path / "node" / GENESIS_FILE).write_text("{not json")
    with pytest.raises(UsageError, match="not JSON"):
        Node(tmp_path / "node", isolation="none")


def test_a_node_refuses_a_genesis_that_is_not_one(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="Genesis"):
        Node(tmp_path / "node", isolation="none", genesis={"allocations": {}})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the account API


async def account_story(chain: Chain) -> None:
    """What everyone and what the account's own keys see of an account, as it changes."""
    await chain.ok(ALICE, grant(PHONE, "SEND_LIMIT_DAILY", daily_limit=1_000, ip_ranges=["203.0.113.0/24"]),
                   grant(WATCH, "READ_ONLY", name="watch"), act("stake", amount=300), act("unstake", amount=100),
                   act("set_guardians", guardians=[BOB.address, CAROL.address], threshold=2,
                       timelock=DEFAULT_RECOVERY_TIMELOCK),
                   act("set_recovery_key", public_key=DAVE.public_key),
                   act("set_webhook", url="https://example.com/hook"))
    public = (await chain.account(ALICE)).json()
    assert public["balance"] == START - 300 and public["staked"] == 200
    assert public["unbonding"] == [{"amount": 100, "released_at": T0 + 21 * DAY}]
    assert public["guardians"] == {"members": [BOB.address, CAROL.address], "threshold": 2,
                                   "timelock": DEFAULT_RECOVERY_TIMELOCK, "pending_change": None}
    assert public["recovery_key"] == {"public_key": DAVE.public_key.hex(), "timelock": 14 * DAY, "takeover": None}
    assert public["recovery"] is None and not public["frozen"] and public["master_key"] is None
    assert public["private"] is None  # no device names, IP ranges, last use or webhook for strangers

    for reader, role in ((ALICE, "master"), (WATCH, "session"), (PHONE, "session")):
        private = (await chain.account(ALICE, reader)).json()["private"]
        assert private["reader"] == {"public_key": reader.public_key.hex(), "role": role}
        assert private["webhook"] == "https://example.com/hook"
        sessions = {s["device"]: s for s in private["sessions"]}
        assert sessions["phone"]["ip_ranges"] == ["203.0.113.0/24"] and sessions["phone"]["remaining_today"] == 1_000
        assert sessions["watch"]["permissions"] == ["READ_ONLY"] and sessions["watch"]["last_used"] is None

    chain.clock.now += 60
    async with chain.client(OFFICE) as api:  # the phone spends from the office: its limit and last use show
        sent = await api.post("/v1/transactions", json={"tx": chain.tx(
            PHONE, act("send", to=STRANGER.address, amount=400), account=ALICE)})
    assert sent.status_code == 200 and sent.json()["receipt"]["ok"], sent.text
    phone = next(s for s in (await chain.account(ALICE, WATCH)).json()["private"]["sessions"] if s["device"] == "phone")
    assert phone["remaining_today"] == 600 and phone["last_used"] == T0 + 60

    # Recovery under way: the guardians approve, the account is frozen until the unlock time.
    await chain.ok(BOB, act("approve_recovery", account=ALICE.address, new_key=NEW_MASTER.public_key))
    await chain.ok(CAROL, act("approve_recovery", account=ALICE.address, new_key=NEW_MASTER.public_key))
    public = (await chain.account(ALICE)).json()
    assert public["frozen"] and public["recovery"]["new_key"] == NEW_MASTER.public_key.hex()
    assert public["recovery"]["unlock_at"] == T0 + 60 + DEFAULT_RECOVERY_TIMELOCK
    assert {v["guardian"] for v in public["recovery"]["votes"]} == {BOB.address, CAROL.address}
    chain.clock.now += DEFAULT_RECOVERY_TIMELOCK
    await chain.ok(STRANGER, act("finalize_recovery", account=ALICE.address))
    public = (await chain.account(ALICE)).json()
    assert public["master_key"] == NEW_MASTER.public_key.hex() and public["recovery"] is None and not public["frozen"]
    # The old master and the (now revoked) sessions read nothing private any more; the new master does.
    for reader in (ALICE, WATCH):
        assert_problem(await chain.account(ALICE, reader), 403, "forbidden")
    private = (await chain.account(ALICE, NEW_MASTER)).json()["private"]
    assert private["reader"]["role"] == "master" and not any(s["active"] for s in private["sessions"])


async def test_the_account_api_shows_the_account_and_its_private_part_to_its_own_keys(chain: Chain) -> None:
    await account_story(chain)


async def test_the_account_api_on_postgresql(tmp_path: Path, pg_db: str) -> None:
    chain = Chain(tmp_path / "pg-node", db=pg_db)
    try:
        await account_story(chain)
    finally:
        chain.node.stop()


async def test_signed_reads_refuse_other_keys_stale_times_and_other_requests(chain: Chain) -> None:
    await chain.ok(ALICE, grant(WATCH, "READ_ONLY", name="watch"))
    target = f"/v1/accounts/{ALICE.address}"
    assert_problem(await chain.account(ALICE, STRANGER), 403, "forbidden")  # not a key of the account
    assert_problem(await chain.account(ALICE, BOB), 403, "forbidden")  # another account's master
    async with chain.client() as api:
        for delta, status in ((-READ_WINDOW - 1, 403), (READ_WINDOW + 1, 403), (-READ_WINDOW, 200), (READ_WINDOW, 200)):
            headers = sign_read(WATCH, CHAIN, "GET", target, chain.clock.now + delta)
            assert (await api.get(target, headers=headers)).status_code == status
        signed = sign_read(WATCH, CHAIN, "GET", target, chain.clock.now)
        assert (await api.get(target, headers=signed)).json()["private"] is not None
        # The same signature does not fit another request: another query, account, method or chain.
        assert_problem(await api.get(target, params={"key": WATCH.public_key.hex()}, headers=signed), 403, "forbidden")
        assert_problem(await api.get(f"/v1/accounts/{BOB.address}", headers=signed), 403, "forbidden")
        other_chain = sign_read(WATCH, "amigos-other", "GET", target, chain.clock.now)
        assert_problem(await api.get(target, headers=other_chain), 403, "forbidden")
        # A replay after the window is refused.
        chain.clock.now += READ_WINDOW + 1
        assert_problem(await api.get(target, headers=signed), 403, "forbidden")
        # Malformed or partial headers are a bad request.
        fresh = sign_read(WATCH, CHAIN, "GET", target, chain.clock.now)
        for garbage in ({"Amigos-Key": fresh["Amigos-Key"]}, {**fresh, "Amigos-Time": "-5"},
                        {**fresh, "Amigos-Time": "1e9"}, {**fresh, "Amigos-Signature": "zz" * 64},
                        {**fresh, "Amigos-Key": "ab"}, {**fresh, "Amigos-Time": "9" * 30}):
            assert_problem(await api.get(target, headers=garbage), 400, "bad-request")
    # A revoked session reads nothing private any more.
    await chain.ok(ALICE, act("revoke_session", public_key=WATCH.public_key))
    assert_problem(await chain.account(ALICE, WATCH), 403, "forbidden")


def test_the_documented_test_vector() -> None:
    account = Account.from_seed(bytes(range(32)))
    message = read_message("amigos-local", "GET", f"/v1/accounts/{account.address}", 1_700_000_000)
    assert message.hex().startswith(b"amigos/read/v1\x00".hex())
    headers = sign_read(account, "amigos-local", "GET", f"/v1/accounts/{account.address}", 1_700_000_000)
    assert headers["Amigos-Signature"] == ("78c00e595cfe79731766e3955adc4bf8eaf7b1a3f3c7f927dae313a965d320c4"
                                           "3e2ce4de73bf3fcdc6cdec4f459ced8e3e327e950fcbedee5e65242b9185d90e")


# --------------------------------------------------------------------------- the event stream


async def test_an_accounts_stream_has_its_account_events_even_from_others_transactions(chain: Chain) -> None:
    await chain.ok(ALICE, act("set_guardians", guardians=[BOB.address], threshold=1, timelock=DEFAULT_RECOVERY_TIMELOCK))
    await chain.ok(BOB, act("approve_recovery", account=ALICE.address, new_key=NEW_MASTER.public_key))
    await chain.ok(CAROL, act("send", to=DAVE.address, amount=1))  # nothing to do with alice
    async with chain.client() as api:
        messages = parse_sse((await api.get("/v1/events", params={"from": 0, "limit": 5, "account": ALICE.address})).text)
    receipts = [m["data"] for m in messages if m["event"] == "receipt"]
    assert [r["account"] for r in receipts] == [ALICE.address, BOB.address]  # bob's approval is about alice
    names = [m["data"]["name"] for m in messages if m["event"] == "event"]
    assert names == ["guardians_set", "recovery_approved", "recovery_started"]


# --------------------------------------------------------------------------- IP ranges


async def test_a_session_with_ip_ranges_is_refused_from_elsewhere_before_the_sequencer(tmp_path: Path) -> None:
    chain = Chain(tmp_path / "node")
    await chain.ok(ALICE, grant(PHONE, "SEND_UNLIMITED", ip_ranges=["203.0.113.0/24", "2001:db8::/32"]),
                   grant(WATCH, "SEND_UNLIMITED", name="laptop"))
    send = act("send", to=STRANGER.address, amount=1)
    blocks = chain.node.sequencer.blocks
    refused = await chain.run(PHONE, send, account=ALICE, ip=ELSEWHERE)
    body = assert_problem(refused, 403, "not-permitted")
    assert ELSEWHERE in body["detail"] and chain.node.sequencer.blocks == blocks  # it never reached a block
    assert (await chain.run(PHONE, send, account=ALICE, ip=OFFICE)).status_code == 200
    assert (await chain.run(PHONE, send, account=ALICE, ip="2001:db8::5")).status_code == 200
    assert (await chain.run(WATCH, send, account=ALICE, ip=ELSEWHERE)).status_code == 200  # no ranges: anywhere
    assert (await chain.run(ALICE, send, ip=ELSEWHERE)).status_code == 200  # the master is not a session
    async with chain.client(ELSEWHERE) as api:  # in a batch, only the phone's transaction is refused
        batch = (await api.post("/v1/transactions", json={"txs": [
            chain.tx(PHONE, send, account=ALICE), chain.tx(ALICE, send)]})).json()["outcomes"]
    assert batch[0]["refused"]["code"] == "not-permitted" and batch[1]["receipt"]["ok"]
    chain.nonces[(ALICE.address, PHONE.public_key)] -= 1
    # A restarted node knows the ranges from its state; a new grant without ranges lifts them.
    chain.restart()
    try:
        assert_problem(await chain.run(PHONE, send, account=ALICE, ip=ELSEWHERE), 403, "not-permitted")
        await chain.ok(ALICE, act("revoke_session", public_key=PHONE.public_key))
        await chain.ok(ALICE, grant(PHONE, "SEND_UNLIMITED"))
        assert (await chain.run(PHONE, send, account=ALICE, ip=ELSEWHERE)).status_code == 200
    finally:
        chain.node.stop()


async def test_a_revoked_session_keeps_no_ip_ranges_on_the_node(chain: Chain) -> None:
    """The node forgets a session's ranges when it is revoked, one by one or all at once: the
    ledger then refuses the key as revoked (not the node as out of range), and a node with no
    ranged session left checks no submission."""
    send = act("send", to=STRANGER.address, amount=1)
    for revoking in (act("revoke_session", public_key=PHONE.public_key), act("revoke_all_sessions")):
        await chain.ok(ALICE, grant(PHONE, "SEND_UNLIMITED", ip_ranges=["203.0.113.0/24"]))
        assert chain.node.policies.restricts_ips
        await chain.ok(ALICE, revoking)
        assert_problem(await chain.run(PHONE, send, account=ALICE, ip=ELSEWHERE), 403, "session-revoked")
        assert not chain.node.policies.restricts_ips


@pytest.mark.parametrize("restart", [False, True])
async def test_a_recovered_master_is_not_held_to_the_ranges_of_its_old_session(tmp_path: Path, restart: bool) -> None:
    """Recovery revokes every session. If the new master key was one of them, its old session's
    ranges must not follow it: the master signs from anywhere (also on a restarted node)."""
    chain = Chain(tmp_path / "node")
    try:
        await chain.ok(ALICE, grant(PHONE, "SEND_UNLIMITED", ip_ranges=["203.0.113.0/24"]),
                       act("set_guardians", guardians=[BOB.address], threshold=1, timelock=DEFAULT_RECOVERY_TIMELOCK))
        await chain.ok(BOB, act("approve_recovery", account=ALICE.address, new_key=PHONE.public_key))
        chain.clock.now += DEFAULT_RECOVERY_TIMELOCK
        await chain.ok(CAROL, act("finalize_recovery", account=ALICE.address))
        if restart:
            chain.restart()
        send = act("send", to=STRANGER.address, amount=1)
        assert (await chain.run(PHONE, send, account=ALICE, ip=ELSEWHERE)).status_code == 200
        assert not chain.node.policies.restricts_ips
    finally:
        chain.node.stop()


async def test_an_expired_ranged_session_leaves_nothing_once_the_ledger_drops_it(chain: Chain) -> None:
    """A grant drops the account's expired sessions from the state; the node drops their
    ranges with them, so the key may take another role (here: the recovery key) without them."""
    await chain.ok(ALICE, act("grant_session", public_key=PHONE.public_key, device="phone", permissions=["SEND_UNLIMITED"],
                              expires_at=T0 + DAY, ip_ranges=["203.0.113.0/24"]))
    chain.clock.now += DAY
    await chain.ok(ALICE, grant(WATCH, "READ_ONLY", name="watch"))
    assert not chain.node.policies.restricts_ips
    await chain.ok(ALICE, act("set_recovery_key", public_key=PHONE.public_key, timelock=MIN_TAKEOVER_TIMELOCK))
    announce = act("announce_takeover", new_key=NEW_MASTER.public_key)
    assert (await chain.run(PHONE, announce, account=ALICE, ip=ELSEWHERE)).status_code == 200


# --------------------------------------------------------------------------- webhooks


class Receiver:
    """A real HTTP server on 127.0.0.1 that records the webhook posts it gets. ``gate``, when
    given, holds every answer until it is set (a slow receiver)."""

    def __init__(self, status: int = 200, gate: threading.Event | None = None, location: str | None = None) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.arrived:
                    receiver.posts.append((self.path, dict(self.headers), body))
                    receiver.arrived.notify_all()
                if gate is not None:
                    gate.wait(30)
                self.send_response(status)
                if location is not None:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 30) -> list[tuple[str, dict[str, str], bytes]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.posts) >= count, timeout), self.posts
            return list(self.posts)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


async def test_webhooks_get_every_account_event_signed_by_the_node(chain: Chain, receiver: Receiver) -> None:
    await chain.ok(ALICE, act("set_webhook", url=receiver.url),
                   act("set_guardians", guardians=[BOB.address], threshold=1, timelock=DEFAULT_RECOVERY_TIMELOCK))
    await chain.ok(ALICE, grant(PHONE, "READ_ONLY"), grant(WATCH, "READ_ONLY", name="watch"))
    await chain.ok(ALICE, act("revoke_session", public_key=PHONE.public_key))
    await chain.ok(ALICE, act("revoke_all_sessions"))
    recovery = await chain.ok(BOB, act("approve_recovery", account=ALICE.address, new_key=NEW_MASTER.public_key))
    await chain.ok(ALICE, act("cancel_recovery"))
    await chain.ok(CAROL, act("send", to=DAVE.address, amount=1))  # not alice's: not posted
    posts = receiver.wait_for(9)
    node_key = chain.node.key.public_key
    bodies = []
    for path, headers, body in posts:
        assert path == "/hook" and headers["Content-Type"] == "application/json"
        assert headers[KEY_HEADER] == node_key.hex() and verify_webhook(node_key, body, headers[SIGNATURE_HEADER])
        assert not verify_webhook(node_key, body + b" ", headers[SIGNATURE_HEADER])
        bodies.append(json.loads(body))
    first = bodies[0]["index"]  # in log order
    assert [(b["index"] - first, b["event"]["name"]) for b in bodies] == [
        (0, "webhook_set"), (0, "guardians_set"), (1, "session_granted"), (1, "session_granted"),
        (2, "session_revoked"), (3, "sessions_revoked"), (4, "recovery_approved"), (4, "recovery_started"),
        (5, "recovery_cancelled")]
    approval = next(b for b in bodies if b["event"]["name"] == "recovery_approved")
    assert approval["account"] == ALICE.address and approval["tx_hash"] == recovery["tx_hash"]
    assert approval["height"] == recovery["height"] and approval["chain_id"] == CHAIN
    granted = next(b for b in bodies if b["event"]["name"] == "session_granted")
    assert granted["event"]["attrs"]["device"] == "phone" and granted["event"]["service"] == ALICE.address
    # Unsetting the webhook stops the posts (the unsetting event itself is not posted).
    await chain.ok(ALICE, act("set_webhook", url=None))
    await chain.ok(ALICE, grant(PHONE, "READ_ONLY"))
    await chain.ok(BOB, act("set_webhook", url=receiver.url))  # a marker: bob's event comes after
    posts = receiver.wait_for(len(bodies) + 1)
    assert [json.loads(p[2])["account"] for p in posts[len(bodies):]] == [BOB.address]


async def test_a_receiver_that_is_down_or_slow_never_holds_up_the_node(chain: Chain) -> None:
    down = Receiver()
    down.close()  # nothing listens there any more
    gate = threading.Event()
    slow = Receiver(gate=gate)
    chain.node.webhooks.backoff = 0.05  # retries of the receiver that is down come sooner
    try:
        await chain.ok(ALICE, act("set_webhook", url=down.url))
        await chain.ok(BOB, act("set_webhook", url=slow.url))
        slow.wait_for(1)  # the slow receiver holds its first answer…
        for _ in range(5):  # …while blocks go on committing, with account events for both
            await chain.ok(BOB, act("stake", amount=1))
            await chain.ok(ALICE, act("stake", amount=1))
        gate.set()
        deadline = time.monotonic() + 60
        while len({json.loads(body)["index"] for _, _, body in slow.posts}) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)  # webhook_set, then five stakes (the first maybe more than once: it was retried)
        assert len({json.loads(body)["index"] for _, _, body in slow.posts}) == 6
        while chain.node.webhooks.failed < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert chain.node.webhooks.failed >= 6  # alice's six, each given up after every attempt
    finally:
        gate.set()
        slow.close()


def test_the_delivery_queue_is_bounded_and_only_http_is_posted(receiver: Receiver) -> None:
    sender = WebhookSender(Account.from_seed(bytes([9]) * 32), allow_private=True, threads=1, queue_size=2,
                           backoff=0.01)
    assert sender.offer(receiver.url, b"{}") and sender.offer(receiver.url, b"{}")
    assert not sender.offer(receiver.url, b"{}") and sender.dropped == 1  # full: dropped, the caller never waits
    sender.start()
    receiver.wait_for(2)
    for number, url in enumerate(("ftp://127.0.0.1/x", "file:///etc/passwd", "http:///nohost", "http://[::1"), 1):
        assert sender.offer(url, b"{}")
        deadline = time.monotonic() + 30
        while sender.failed < number and time.monotonic() < deadline:
            time.sleep(0.02)
    sender.stop()
    assert (sender.delivered, sender.failed) == (2, 4) and len(receiver.posts) == 2
    assert not sender.offer(receiver.url, b"{}")  # stopped


def test_redirects_are_not_followed_and_private_addresses_not_posted_to(receiver: Receiver) -> None:
    redirecting = Receiver(status=307, location=receiver.url)
    key = Account.from_seed(bytes([9]) * 32)
    try:
        sender = WebhookSender(key, allow_private=True, attempts=2, backoff=0.01)
        sender.start()
        sender.offer(redirecting.url, b"{}")
        redirecting.wait_for(2)  # tried twice, as a failure
        public_only = WebhookSender(key, allow_private=False, backoff=0.01)
        public_only.start()
        public_only.offer(receiver.url, b"{}")  # 127.0.0.1
        public_only.offer("http://localhost:9/hook", b"{}")
        deadline = time.monotonic() + 30
        while (sender.failed, public_only.failed) != (1, 2) and time.monotonic() < deadline:
            time.sleep(0.02)
        sender.stop()
        public_only.stop()
        assert (sender.failed, public_only.failed) == (1, 2) and receiver.posts == []
    finally:
        redirecting.close()


PUBLIC = "93.184.216.34"  # a global address: a stub resolver answers it, nothing connects to it


def rebinding_dns(monkeypatch: pytest.MonkeyPatch, name: str, *answers: str) -> list[str]:
    """Make ``socket.getaddrinfo`` (what the node and httpx resolve with) answer ``name`` with
    ``answers`` in turn, one per lookup (the last one repeats), as a rebinding DNS server
    does. There is no network in the tests: connecting to PUBLIC fails as an unreachable host
    would. Returns the hosts looked up, in order."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        if host == PUBLIC:
            raise socket.gaierror(socket.EAI_NONAME, "no network in the tests")
        if host != name:
            return real(host, port, *args, **kwargs)
        answer = answers[min(lookups.count(name), len(answers)) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (answer, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def wait_until(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not done() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_webhook_host_that_rebinds_to_a_private_address_is_not_posted_to(monkeypatch: pytest.MonkeyPatch,
                                                                         receiver: Receiver) -> None:
    """DNS rebinding: the host resolves to a public address for the check, then to 127.0.0.1.
    The post must go to the address that was checked, never to the second answer."""
    port = receiver.server.server_address[1]
    lookups = rebinding_dns(monkeypatch, "rebind.test", PUBLIC, "127.0.0.1")
    sender = WebhookSender(Account.from_seed(bytes([9]) * 32), allow_private=False, attempts=2, backoff=0.01)
    sender.start()
    sender.offer(f"http://rebind.test:{port}/hook", b"{}")
    wait_until(lambda: sender.failed == 1)
    sender.stop()
    assert receiver.posts == [] and sender.failed == 1
    assert [host for host in lookups if host in ("rebind.test", PUBLIC)] == ["rebind.test", PUBLIC, PUBLIC]


def test_a_webhook_is_posted_to_the_checked_address_with_its_own_host_name(monkeypatch: pytest.MonkeyPatch,
                                                                           receiver: Receiver) -> None:
    """The connection goes to the address resolved once; the receiver still sees its own name
    in ``Host`` (a later lookup of the name would fail, so only the first answer can work)."""
    port = receiver.server.server_address[1]
    lookups = rebinding_dns(monkeypatch, "hooks.test", "127.0.0.1", PUBLIC)
    sender = WebhookSender(Account.from_seed(bytes([9]) * 32), allow_private=True, attempts=1)
    sender.start()
    sender.offer(f"http://hooks.test:{port}/hook?to=alice", b'{"n":1}')
    (path, headers, body), = receiver.wait_for(1)
    sender.stop()
    assert (path, headers["Host"], body) == ("/hook?to=alice", f"hooks.test:{port}", b'{"n":1}')
    assert lookups.count("hooks.test") == 1


def test_an_https_webhook_names_its_host_in_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over https the checked address is connected to with the host's name as SNI, which is
    also the name the certificate is checked for (httpx's ``sni_hostname``); an IPv6 address
    is written in brackets. Seen as the request httpx builds (no TLS server in the tests)."""
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *args, **kwargs: [
        (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("2606:2800:220:1::", 0, 0, 0))])
    sent: list[httpx.Request] = []
    client = httpx.Client(transport=httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(204)))
    sender = WebhookSender(Account.from_seed(bytes([9]) * 32), allow_private=False)
    assert sender._deliver(Delivery("https://Hooks.Example/in", b"{}"), client.post)
    request, = sent
    assert str(request.url) == "https://[2606:2800:220:1::]/in"
    assert request.headers["Host"] == "hooks.example" and request.extensions["sni_hostname"] == "hooks.example"


# --------------------------------------------------------------------------- the faucet


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Chain]:
    chain = Chain(tmp_path / "dev", genesis=None, dev=True)
    yield chain
    chain.node.stop()


async def test_the_dev_faucet_sends_signed_transactions_within_its_limits(dev: Chain) -> None:
    faucet = dev.node.faucet
    assert faucet is not None and (dev.node.home / "faucet.key").stat().st_mode & 0o077 == 0
    async with dev.client() as api:
        assert (await api.get("/v1/genesis")).json() == {"allocations": {faucet.account.address: FAUCET_ALLOCATION}}
        drip = await api.post("/v1/faucet", json={"address": ALICE.address})
        assert drip.status_code == 200, drip.text
        body = drip.json()
        assert body["amount"] == FAUCET_AMOUNT and body["from"] == faucet.account.address
        assert body["receipt"]["account"] == faucet.account.address and body["receipt"]["ok"]
        assert (await api.get(f"/v1/receipts/{body['receipt']['tx_hash']}")).status_code == 200  # in the log
        assert (await dev.account(ALICE)).json()["balance"] == FAUCET_AMOUNT
        again = await api.post("/v1/faucet", json={"address": ALICE.address.upper()})  # the same address
        assert_problem(again, 429, "rate-limited")
        assert 0 < int(again.headers["Retry-After"]) <= ADDRESS_WINDOW
    seeds = iter(range(100, 200))
    async with dev.client("192.0.2.1") as api:  # one client, many addresses
        for _ in range(DRIPS_PER_CLIENT):
            address = Account.from_seed(bytes([next(seeds)]) * 32).address
            assert (await api.post("/v1/faucet", json={"address": address})).status_code == 200
        assert_problem(await api.post("/v1/faucet", json={"address": BOB.address}), 429, "rate-limited")
    async with dev.client("192.0.2.2") as api:  # another client is not held up by that one
        assert (await api.post("/v1/faucet", json={"address": BOB.address})).status_code == 200
        for garbage in ({"address": "amigo1nope"}, {"address": 5}, {"addr": ALICE.address}, {}):
            assert_problem(await api.post("/v1/faucet", json=garbage), 400, "bad-request")
        assert_problem(await api.post("/v1/faucet", content=b"\xff"), 400, "bad-request")
    faucet.clock = lambda: time.monotonic() + ADDRESS_WINDOW + 1  # a minute later: alice may ask again
    async with dev.client("192.0.2.3") as api:
        assert (await api.post("/v1/faucet", json={"address": ALICE.address})).status_code == 200
    assert (await dev.account(ALICE)).json()["balance"] == 2 * FAUCET_AMOUNT


async def test_a_dev_node_restarted_keeps_its_faucet_and_its_nonces(tmp_path: Path) -> None:
    chain = Chain(tmp_path / "dev", genesis=None, dev=True)
    async with chain.client() as api:
        assert (await api.post("/v1/faucet", json={"address": ALICE.address})).status_code == 200
    address = chain.node.faucet.account.address
    chain.node.stop()
    again = Chain(tmp_path / "dev", genesis=None, dev=True)
    try:
        assert again.node.faucet.account.address == address
        async with again.client() as api:
            assert (await api.post("/v1/faucet", json={"address": BOB.address})).status_code == 200
    finally:
        again.node.stop()


async def test_a_faucet_the_genesis_did_not_fund_says_it_is_empty(tmp_path: Path) -> None:
    chain = Chain(tmp_path / "old-dev", dev=True)  # a dev home whose chain began with another genesis
    try:
        async with chain.client() as api:
            body = assert_problem(await api.post("/v1/faucet", json={"address": BOB.address}), 503, "faucet-empty")
            assert (await api.get(f"/v1/receipts/{body['tx_hash']}")).json()["receipt"]["ok"] is False
            assert (await chain.account(BOB)).json()["balance"] == START
    finally:
        chain.node.stop()


async def test_other_nodes_have_no_faucet(chain: Chain) -> None:
    async with chain.client() as api:
        assert_problem(await api.post("/v1/faucet", json={"address": ALICE.address}), 404, "not-found")
    assert chain.node.faucet is None and not (chain.node.home / "faucet.key").exists()


def test_amigos_dev_says_where_its_faucet_is_and_it_pays(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": os.pathsep.join(sys.path), "NO_COLOR": "1",
           "HOME": str(tmp_path / "user"), "AMIGOS_CONFIG": str(tmp_path / "config")}
    (tmp_path / "project").mkdir()
    dev = subprocess.Popen([sys.executable, "-m", "amigos", "dev", "--port", "0", "--isolation", "none"], env=env,
                           cwd=tmp_path / "project", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert dev.stdout is not None
        lines: list[str] = []
        while not any("curl -X POST" in line for line in lines):
            line = dev.stdout.readline()
            assert line, (lines, dev.stderr.read() if dev.stderr else "")
            lines.append(line)
        command = next(line for line in lines if "curl -X POST" in line)
        url = command.split()[command.split().index("POST") + 1]
        assert url.endswith("/v1/faucet") and any("Free AMI" in line for line in lines)
        drip = httpx.post(url, json={"address": ALICE.address}, timeout=30)
        assert drip.status_code == 200 and drip.json()["amount"] == FAUCET_AMOUNT
        base = url.removesuffix("/v1/faucet")
        assert httpx.get(f"{base}/v1/accounts/{ALICE.address}").json()["balance"] == FAUCET_AMOUNT
    finally:
        dev.send_signal(signal.SIGINT)
        assert dev.wait(timeout=30) == 0


def test_rate_limits_forget_idle_keys() -> None:
    limit = RateLimit(2, 60.0)
    assert limit.wait_for("a", 0.0) == 0
    limit.use("a", 0.0)
    limit.use("a", 10.0)
    assert limit.wait_for("a", 20.0) == 40.0
    limit.use("b", 30.0)
    assert limit.wait_for("a", 61.0) == 0 and "a" in limit._uses  # its last use is 51 s old
    assert limit.wait_for("b", 100.0) == 0 and not limit._uses  # both idle for a window: forgotten


def test_schemathesis_finds_no_server_error_on_a_dev_nodes_account_routes(dev: Chain) -> None:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import (
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_asgi("/openapi.json", dev.app)
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path not in ("/v1/faucet", "/v1/accounts/{address}", "/v1/genesis"):
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @settings(max_examples=25, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                case.call_and_validate(checks=[not_a_server_error, status_code_conformance, response_schema_conformance])

            try:
                run()
            except Exception as exc:  # noqa: BLE001 - collect them all
                if type(exc).__name__ != "Unsatisfiable":
                    failures.append(f"{operation.method.upper()} {operation.path} ({mode}): {exc}")
    assert not failures, "\n\n".join(failures)
