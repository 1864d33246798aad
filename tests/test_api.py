"""The node's HTTP API, in-process through httpx's ASGI transport: transactions and receipts
with proofs, the log, services, accounts, the event stream, problems for garbage, and
schemathesis against /openapi.json."""

from __future__ import annotations

import gc
import hashlib
import json
import sqlite3
import struct
import textwrap
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import anyio
import httpx
import pytest

from amigos.crypto.keys import Account
from amigos.errors import ProofError
from amigos.ledger.block import SUBTREE_PREFIX, SignedTreeHead, TreeHead, decode_leaf
from amigos.ledger.tx import Call, Deploy, Transaction, sign
from amigos.merkle import (
    CompactTree,
    complete_subtrees,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)
from amigos.node import Node
from amigos.node.app import MAX_BODY_BYTES, create_app, resolved_in_time
from amigos.node.problems import PROBLEM_BASE
from amigos.node.proofs import LogProofs
from amigos.node.wire import WireError, parse_hex

CHAIN = "amigos-test"
COUNTER = textwrap.dedent('''\
    """A counter anyone can increment."""
    import std

    count = 0

    def increment(by: int = 1) -> int:
        """Add ``by`` to the count."""
        global count
        std.require(by > 0, "by must be positive")
        count += by
        std.emit("incremented", by=by)
        return count

    def get() -> int:
        return count

    def render(path: str) -> str:
        return f"# Counter {path}\\n\\nValue: **{count}** <script>alert(1)</script>"
''')
ALICE = Account.from_seed(bytes([1]) * 32)
BOB = Account.from_seed(bytes([2]) * 32)
CAROL = Account.from_seed(bytes([3]) * 32)
COUNTER_PATH = f"hub.amigos.dev/{ALICE.address}/counter"

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def signed(account: Account, nonce: int, *messages: object, chain: str = CHAIN, gas: int = 5_000_000) -> str:
    tx = Transaction(chain_id=chain, account=account.address, public_key=account.public_key, nonce=nonce,
                     gas_limit=gas, messages=list(messages))
    return sign(tx, account).encode().hex()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """One node for the module, with the counter deployed by ALICE (her nonce 1)."""
    node = Node(tmp_path_factory.mktemp("node"), chain_id=CHAIN, isolation="none", block_interval=0.002).start()
    outcome = node.submit(bytes.fromhex(signed(ALICE, 1, Deploy(COUNTER_PATH, COUNTER)))).result(timeout=10)
    assert outcome.receipt is not None and outcome.receipt.ok
    yield node
    node.stop()


@pytest.fixture
async def api(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(node)), base_url="http://node.test") as client:
        yield client


def head_of(body: dict[str, Any]) -> SignedTreeHead:
    h = body
    head = TreeHead(h["chain_id"], h["height"], h["time"], h["size"], bytes.fromhex(h["root"]), bytes.fromhex(h["state_hash"]))
    return SignedTreeHead(head, bytes.fromhex(h["node_key"]), bytes.fromhex(h["signature"]))


def check_proof(receipt: dict[str, Any], head: SignedTreeHead) -> None:
    assert receipt["proof"]["size"] == head.head.size
    verify_inclusion(leaf_hash(bytes.fromhex(receipt["leaf"])), [bytes.fromhex(h) for h in receipt["proof"]["hashes"]],
                     index=receipt["index"], size=head.head.size, root=head.head.root)


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == PROBLEM_BASE + code and body["code"] == code and body["status"] == status
    assert body["title"] and body["detail"]
    return body


# --------------------------------------------------------------------------- transactions


async def test_a_call_comes_back_with_its_proven_receipt(api: httpx.AsyncClient, node: Node) -> None:
    info = (await api.get("/v1/node")).json()
    assert info["chain_id"] == CHAIN and info["node_key"] == node.key.public_key.hex()
    before = info["size"]
    response = await api.post("/v1/transactions", json={"tx": signed(BOB, 1, Call(COUNTER_PATH, "increment", (2,)))},
                              params={"since": before})
    assert response.status_code == 200, response.text
    body = response.json()
    receipt, head = body["receipt"], head_of(body["head"])
    assert head.verify() and head.node_key == node.key.public_key
    assert receipt["ok"] and receipt["results"] == [(await api.get(f"/v1/query/{COUNTER_PATH}?function=get")).json()["result"]]
    assert receipt["account"] == BOB.address and receipt["nonce"] == 1 and receipt["error"] is None
    assert receipt["events"][0]["name"] == "incremented" and receipt["events"][0]["service"] == COUNTER_PATH
    assert receipt["height"] == head.head.height
    check_proof(receipt, head)
    consistency = body["consistency"]
    assert (consistency["from"], consistency["to"]) == (before, head.head.size)
    old = head_of((await api.get(f"/v1/heads/{info['height']}")).json())
    verify_consistency([bytes.fromhex(h) for h in consistency["hashes"]], old_size=before, new_size=head.head.size,
                       old_root=old.head.root, new_root=head.head.root)
    # The same receipt, later, against the latest head or the head of a given size.
    again = (await api.get(f"/v1/receipts/{receipt['tx_hash']}")).json()
    assert again["receipt"]["leaf"] == receipt["leaf"]
    check_proof(again["receipt"], head_of(again["head"]))
    sized = (await api.get(f"/v1/receipts/{receipt['tx_hash']}", params={"size": head.head.size})).json()
    assert sized["head"] == body["head"]
    assert_problem(await api.get(f"/v1/receipts/{receipt['tx_hash']}", params={"size": before}), 409, "not-in-tree")
    assert_problem(await api.get(f"/v1/receipts/{'ab' * 32}"), 404, "unknown-transaction")


async def test_a_batch_answers_in_order_against_one_head(api: httpx.AsyncClient) -> None:
    txs = [
        signed(CAROL, 1, Call(COUNTER_PATH, "increment", (1,))),
        signed(CAROL, 2, Call(COUNTER_PATH, "increment", (-1,))),   # fails: still a receipt, nonce used
        signed(CAROL, 2, Call(COUNTER_PATH, "increment", (1,))),    # nonce 2 again: refused
        "00",                                                        # not a transaction
    ]
    body = (await api.post("/v1/transactions", json={"txs": txs})).json()
    first, failed, replayed, garbage = body["outcomes"]
    head = head_of(body["head"])
    for entry in (first, failed):
        check_proof(entry["receipt"], head)
    assert first["receipt"]["ok"] and not failed["receipt"]["ok"]
    assert failed["receipt"]["error"] == {"type": "ServiceError", "message": "by must be positive"}
    assert replayed == {"refused": {"code": "bad-nonce", "detail": replayed["refused"]["detail"]}}
    assert garbage["refused"]["code"] == "malformed"


@pytest.mark.parametrize("make, status, code", [
    (lambda: signed(CAROL, 90, Call(COUNTER_PATH, "get"), chain="other-chain"), 422, "wrong-chain"),
    (lambda: signed(CAROL, 90, Call(COUNTER_PATH, "get"))[:-2] + "00", 422, "bad-signature"),
    (lambda: signed(ALICE, 1, Call(COUNTER_PATH, "get")), 409, "bad-nonce"),  # the node fixture used it
    (lambda: signed(CAROL, 90, Call(COUNTER_PATH, "get"), gas=10), 422, "gas-out-of-bounds"),
    (lambda: "0602", 400, "malformed"),
])
async def test_a_refused_transaction_is_a_problem_with_its_code(api: httpx.AsyncClient, make: Any, status: int, code: str) -> None:
    body = assert_problem(await api.post("/v1/transactions", json={"tx": make()}), status, code)
    assert body["title"] == "Transaction refused" and len(body["tx_hash"]) == 64


VALUES = textwrap.dedent('''\
    import std

    def values(n: int) -> list:
        std.emit("values", n=n, nested=[(1, "a"), {"k": b"\\x00"}], big=2**70)
        std.require(n > 0, "n must be positive")
        return [n, -n, 2**80, "é", b"\\xff", (1, [2, (3,)]), {"b": None, "a": True}, Decimal("1.50"), None]
''')


async def test_a_submitted_receipt_is_what_its_leaf_says(api: httpx.AsyncClient) -> None:
    """The receipts a submit answers with are rendered from what the sequencer handed over, not
    from their leaves: they must read exactly as the same receipts read back from the log."""
    dave = Account.from_seed(bytes([41]) * 32)
    path = f"hub.amigos.dev/{dave.address}/values"
    deployed = await api.post("/v1/transactions", json={"tx": signed(dave, 1, Deploy(path, VALUES))})
    assert deployed.status_code == 200 and deployed.json()["receipt"]["ok"], deployed.text
    single = (await api.post("/v1/transactions", json={"tx": signed(dave, 2, Call(path, "values", (3,)))})).json()
    batch = (await api.post("/v1/transactions", json={"txs": [signed(dave, 3, Call(path, "values", (0,))),
                                                             signed(dave, 4, Call(path, "values", (5,)))]})).json()
    receipts = [deployed.json()["receipt"], single["receipt"]] + [o["receipt"] for o in batch["outcomes"]]
    assert [r["ok"] for r in receipts] == [True, True, False, True]
    assert receipts[1]["events"][0]["attrs"]["big"] and receipts[2]["error"]["type"]
    for receipt in receipts:
        logged = (await api.get(f"/v1/receipts/{receipt['tx_hash']}")).json()["receipt"]
        assert {**receipt, "proof": None} == {**logged, "proof": None}


@pytest.mark.parametrize("text", ["a", "abc", "ab cd", " abcd", "abcd ", "ab\ncd", "zz", "٠١", "ａｂ", "0x12", None, 12, ["ab"]])
def test_hex_is_strict(text: object) -> None:
    with pytest.raises(WireError, match="hex digits"):
        parse_hex(text, "tx")


def test_hex_reads_both_cases_and_sizes() -> None:
    assert parse_hex("", "tx") == b"" and parse_hex("aBcD", "tx", 2) == b"\xab\xcd"
    with pytest.raises(WireError, match="must be 3 bytes"):
        parse_hex("abcd", "tx", 3)


async def test_waiting_for_receipts_wakes_once_and_cancels_nothing() -> None:
    """resolved_in_time returns once the submission's future is resolved (from another thread,
    or already); on timeout it says so and leaves the future for the sequencer to resolve."""
    done: Future[Any] = Future()
    done.set_result(None)
    assert await resolved_in_time(done, 0)
    later: Future[Any] = Future()
    resolver = threading.Timer(0.05, lambda: later.set_result(None))
    resolver.start()
    assert await resolved_in_time(later, 10)
    pending: Future[Any] = Future()
    assert not await resolved_in_time(pending, 0.05)
    assert not pending.cancelled()
    pending.set_result(None)  # the sequencer resolves it later: nobody fails


async def test_without_waiting_the_receipt_comes_later(api: httpx.AsyncClient) -> None:
    account = Account.from_seed(bytes([4]) * 32)
    response = await api.post("/v1/transactions", params={"wait": "false"},
                              json={"tx": signed(account, 1, Call(COUNTER_PATH, "increment"))})
    assert response.status_code == 202
    tx_hash = response.json()["tx_hash"]
    for _ in range(200):
        answer = await api.get(f"/v1/receipts/{tx_hash}")
        if answer.status_code == 200:
            break
        await anyio.sleep(0.01)
    assert answer.status_code == 200 and answer.json()["receipt"]["tx_hash"] == tx_hash
    queued = (await api.post("/v1/transactions", params={"wait": "0"}, json={"txs": ["00"]})).json()
    assert queued["outcomes"][0]["refused"]["code"] == "malformed"


# --------------------------------------------------------------------------- the log


def test_remembered_subtrees_give_the_merkle_modules_proofs() -> None:
    leaves = [hashlib.sha256(bytes([i % 256, i // 256])).digest() for i in range(100)]
    proofs = LogProofs(lambda level, index: subtree_hash(leaves, level, index))
    for size in range(1, len(leaves) + 1):
        for index in range(size):
            assert proofs.inclusion(index, size) == inclusion_proof(leaves, index, size)
        for old in range(0, size + 1, 3):
            assert proofs.consistency(old, size) == consistency_proof(leaves, old, size)


def test_remembered_subtrees_prove_fresh_leaves_without_reading_the_store() -> None:
    """What the sequencer hands over (the frontier at start, then each block's subtrees) is all
    the proofs of the block's leaves need."""
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(77)]

    def no_store(level: int, index: int) -> bytes:
        raise AssertionError(f"read subtree ({level}, {index}) from the store")

    proofs, tree = LogProofs(no_store), CompactTree.from_leaves(leaves[:50])
    proofs.remember((level, index, h) for (level, index), h in zip(complete_subtrees(50), tree.hashes))
    for i in range(50, 77):  # blocks of one leaf: proofs of each against its own head
        finished = tree.append(leaves[i])
        proofs.remember([(0, i, leaves[i])] + [(level, ((i + 1) >> level) - 1, h) for level, h in enumerate(finished, 1)])
        assert proofs.inclusion(i, i + 1) == inclusion_proof(leaves, i, i + 1)
        assert proofs.consistency(50, i + 1) == consistency_proof(leaves, 50, i + 1)


def test_remembered_ranges_are_nothing_the_cycle_collector_tracks() -> None:
    """A busy node remembers thousands of new ranges a second: keyed by tuples, which the
    garbage collector tracks (until a pass of it finds they hold only ints), they alone set off
    a pass (~10 ms) every second or so."""
    proofs = LogProofs(lambda level, index: bytes(32))
    collecting = gc.isenabled()
    gc.disable()
    try:
        proofs.remember([(0, i, bytes(32)) for i in range(500)])
        for size in range(2, 500):
            proofs.inclusion(size - 1, size)
        remembered = gc.get_referents(proofs._known)
        assert len(remembered) > 1000 and not [o for o in remembered if gc.is_tracked(o)]
    finally:
        if collecting:
            gc.enable()


async def test_a_restarted_node_proves_its_long_log_and_a_tampered_subtree_shows(tmp_path: Path) -> None:
    """A node restarted over a log of 600 receipts reads a handful of entries to start (not
    every leaf), its proofs of old receipts hold against its signed heads; a subtree hash
    changed in the database gives proofs that no longer hold, which a client sees."""
    home = tmp_path / "node"
    with Node(home, chain_id=CHAIN, isolation="none", block_interval=0.001) as node:
        node.submit(bytes.fromhex(signed(ALICE, 1, Deploy(COUNTER_PATH, COUNTER)))).result(timeout=10)
        futures = [node.submit(bytes.fromhex(signed(BOB, n, Call(COUNTER_PATH, "increment")))) for n in range(1, 600)]
        assert all(f.result(timeout=60).receipt is not None for f in futures)
        size = node.size
    assert size == 600

    async def proven(node: Node, index: int) -> bool:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(node)), base_url="http://node.test") as api:
            tx_hash = hashlib.sha256(decode_leaf(node.ledger.leaf(index))[0]).hexdigest()
            body = (await api.get(f"/v1/receipts/{tx_hash}")).json()
        try:
            check_proof(body["receipt"], head_of(body["head"]))
        except ProofError:
            return False
        return True

    node = Node(home, chain_id=CHAIN, isolation="none")
    reads: list[bytes] = []
    get = node.runtime.view.get
    node.runtime.view.get = lambda key: reads.append(key) or get(key)  # type: ignore[method-assign]
    with node:
        assert all([await proven(node, index) for index in (0, 1, 255, 256, 511, 599)])
        assert len(reads) < 200  # 6 receipts, their heads and proofs: O(log n) each
    with sqlite3.connect(home / "state.sqlite") as db:  # the subtree of receipts 256-511
        key = SUBTREE_PREFIX + bytes([8]) + struct.pack(">Q", 1)
        for table in ("log", "state"):
            db.execute(f"UPDATE {table} SET value = ? WHERE key = ?", (b"\x00" * 32, key))
    db.close()
    with Node(home, chain_id=CHAIN, isolation="none") as node:
        # Receipt 0's proof names that subtree; 300's lies inside it and 599's beside it.
        assert not await proven(node, 0) and await proven(node, 300) and await proven(node, 599)


async def test_blocks_heads_and_consistency_describe_one_growing_log(api: httpx.AsyncClient, node: Node) -> None:
    await api.post("/v1/transactions", json={"tx": signed(Account.from_seed(bytes([5]) * 32), 1, Call(COUNTER_PATH, "get"))})
    latest = head_of((await api.get("/v1/heads/latest")).json())
    assert latest.verify() and latest == node.latest_head
    blocks: list[dict[str, Any]] = []
    start: int | None = 1
    while start is not None:
        page = (await api.get("/v1/blocks", params={"from": start, "limit": 2, "leaves": "true"})).json()
        blocks += page["blocks"]
        start = page["next"]
    assert [b["height"] for b in blocks] == list(range(1, latest.head.height + 1))
    index = 0
    for block in blocks:
        head = head_of(block["head"])
        assert head.verify() and block["first_index"] == index
        assert block["tx_hashes"] == [hashlib.sha256(decode_leaf(bytes.fromhex(leaf))[0]).hexdigest() for leaf in block["leaves"]]
        assert len(block["leaves"]) == len(block["tx_hashes"]) == head.head.size - index
        index = head.head.size
        proof = (await api.get("/v1/proofs/consistency", params={"from": head.head.size})).json()
        verify_consistency([bytes.fromhex(h) for h in proof["hashes"]], old_size=head.head.size,
                           new_size=latest.head.size, old_root=head.head.root, new_root=latest.head.root)
        assert (await api.get(f"/v1/heads/{head.head.height}")).json() == block["head"]
    one = (await api.get(f"/v1/blocks/{blocks[0]['height']}")).json()
    assert "leaves" not in one and one["tx_hashes"] == blocks[0]["tx_hashes"]
    assert (await api.get("/v1/blocks/latest")).json()["height"] == latest.head.height
    assert_problem(await api.get(f"/v1/heads/{latest.head.height + 5}"), 404, "unknown-block")
    assert_problem(await api.get("/v1/proofs/consistency", params={"from": 1, "to": latest.head.size + 1}), 404, "unknown-tree-size")


# --------------------------------------------------------------------------- services


async def test_services_state_queries_and_pages(api: httpx.AsyncClient) -> None:
    listed = (await api.get("/v1/services")).json()["services"]
    assert COUNTER_PATH in [s["path"] for s in listed]
    service = (await api.get(f"/v1/services/{COUNTER_PATH}")).json()
    assert service["source"] == COUNTER and service["owner"] == ALICE.address and service["doc"] == "A counter anyone can increment."
    increment = next(f for f in service["functions"] if f["name"] == "increment")
    assert increment["signature"] == "(by: int=1) -> int" and increment["doc"] == "Add ``by`` to the count."
    assert service["versions"][0]["version"] == 1 and service["dependencies"] == []
    count = (await api.get(f"/v1/state/{COUNTER_PATH}")).json()["globals"]["count"]
    assert (await api.get(f"/v1/query/{COUNTER_PATH}", params={"function": "get"})).json() == {"result": count}
    assert (await api.post(f"/v1/query/{COUNTER_PATH}", json={"function": "get"})).json() == {"result": count}
    failed = assert_problem(await api.post(f"/v1/query/{COUNTER_PATH}", json={"function": "increment", "args": [1]}),
                            422, "read-only-violation")
    assert failed["error"]["type"] == "ReadOnlyViolation"
    assert assert_problem(await api.get(f"/v1/query/{COUNTER_PATH}", params={"function": "increment", "args": "[-1]"}),
                          422, "service-error")["error"]["message"] == "by must be positive"
    assert_problem(await api.get(f"/v1/query/{COUNTER_PATH}", params={"function": "nope"}), 404, "not-found")
    assert_problem(await api.get("/v1/services/hub.amigos.dev/nobody/nothing"), 404, "unknown-service")
    assert_problem(await api.get("/v1/state/hub.amigos.dev/nobody/nothing"), 404, "unknown-service")
    page = await api.get(f"/v1/render/{COUNTER_PATH}", params={"path": "x"})
    assert page.headers["content-type"] == "text/markdown; charset=utf-8"
    assert page.text.startswith("# Counter x") and f"**{count}**" in page.text
    assert (await api.get(f"/v1/render/{COUNTER_PATH}.json")).json()["markdown"].startswith("# Counter")
    html = await api.get(f"/v1/render/{COUNTER_PATH}.html")
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert f"<strong>{count}</strong>" in html.text and "<script>" not in html.text
    assert "script-src" not in html.headers["content-security-policy"]


async def test_an_account_shows_its_keys_and_nonces(api: httpx.AsyncClient) -> None:
    body = (await api.get(f"/v1/accounts/{ALICE.address}")).json()
    assert (body["address"], body["keys"]) == (ALICE.address, [{"public_key": ALICE.public_key.hex(), "last_nonce": 1}])
    assert body["balance"] == 0 and body["private"] is None  # unsigned: the public part only
    nobody = Account.from_seed(bytes([99]) * 32)
    body = (await api.get(f"/v1/accounts/{nobody.address.upper()}", params={"key": nobody.public_key.hex()})).json()
    assert (body["address"], body["keys"]) == (nobody.address, [{"public_key": nobody.public_key.hex(), "last_nonce": 0}])
    assert_problem(await api.get("/v1/accounts/amigo1nope"), 400, "bad-request")


# --------------------------------------------------------------------------- events


def parse_sse(text: str) -> list[dict[str, Any]]:
    messages = []
    for block in text.split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            if line.startswith(":") or not line:
                continue
            name, _, value = line.partition(": ")
            fields[name] = json.loads(value) if name == "data" else value
        if fields:
            messages.append(fields)
    return messages


async def test_the_event_stream_replays_and_filters(api: httpx.AsyncClient) -> None:
    """Reads only what the node fixture and this test wrote, so it holds in any test order
    (a stream with fewer messages than its limit waits for more)."""
    erin = Account.from_seed(bytes([43]) * 32)  # no other test signs for erin
    sent = await api.post("/v1/transactions", json={"tx": signed(erin, 1, Call(COUNTER_PATH, "increment", (1,)))})
    index = sent.json()["receipt"]["index"]
    response = await api.get("/v1/events", params={"from": 0, "limit": 1})
    assert response.headers["content-type"].startswith("text/event-stream")
    deploy, = parse_sse(response.text)  # the node fixture's deploy, first in the log
    assert deploy["event"] == "receipt" and deploy["id"] == "0" and deploy["data"]["account"] == ALICE.address
    assert "leaf" not in deploy["data"]
    receipt, event = parse_sse((await api.get("/v1/events", params={"from": index, "limit": 2})).text)
    assert receipt["event"] == "receipt" and "id" not in receipt  # the id goes on a receipt's last message
    assert receipt["data"]["account"] == erin.address
    assert event["event"] == "event" and event["id"] == str(index) and event["data"]["name"] == "incremented"
    erins = parse_sse((await api.get("/v1/events", params={"from": 0, "limit": 2, "account": erin.address})).text)
    assert [m["data"]["account"] for m in erins if m["event"] == "receipt"] == [erin.address]
    resumed = parse_sse((await api.get("/v1/events", params={"limit": 1}, headers={"Last-Event-ID": str(index - 1)})).text)
    assert resumed[0]["data"]["index"] == index
    assert_problem(await api.get("/v1/events", params={"account": "bob"}), 400, "bad-request")
    assert_problem(await api.get("/v1/events", params={"service": "nope"}), 400, "bad-request")


# --------------------------------------------------------------------------- garbage


GARBAGE = [
    ("GET", "/nope", None),
    ("GET", "/v1", None),
    ("DELETE", "/v1/node", None),
    ("POST", "/v1/transactions", b"not json"),
    ("POST", "/v1/transactions", b"[1, 2]"),
    ("POST", "/v1/transactions", b'{"tx": "zz"}'),
    ("POST", "/v1/transactions", b'{"tx": "0 1"}'),
    ("POST", "/v1/transactions", b'{"tx": 12}'),
    ("POST", "/v1/transactions", b'{"tx": "00", "txs": []}'),
    ("POST", "/v1/transactions", b'{"txs": []}'),
    ("POST", "/v1/transactions", b'{"txs": "00"}'),
    ("POST", "/v1/transactions", b'{"txs": [null]}'),
    ("POST", "/v1/transactions", b'{"tx": NaN}'),
    ("POST", "/v1/transactions", b"[" * 100_000 + b"]" * 100_000),
    ("POST", "/v1/transactions", b'{"tx": ' + b"1" * 5000 + b"}"),
    ("POST", "/v1/transactions", b"\xff\xfe\x00"),
    ("POST", "/v1/transactions?wait=maybe", b'{"tx": "00"}'),
    ("POST", "/v1/transactions?since=-1", b'{"tx": "00"}'),
    ("POST", "/v1/transactions?since=99999999999999999999999", b'{"tx": "00"}'),
    ("GET", "/v1/receipts/00", None),
    ("GET", "/v1/receipts/" + "g" * 64, None),
    ("GET", "/v1/receipts/" + "ab" * 32 + "?size=x", None),
    ("GET", "/v1/heads/0", None),
    ("GET", "/v1/heads/-1", None),
    ("GET", "/v1/heads/1.5", None),
    ("GET", "/v1/heads/" + "9" * 40, None),
    ("GET", "/v1/proofs/consistency", None),
    ("GET", "/v1/proofs/consistency?from=5&to=2", None),
    ("GET", "/v1/blocks?limit=0", None),
    ("GET", "/v1/blocks?limit=1000", None),
    ("GET", "/v1/blocks?from=abc", None),
    ("GET", "/v1/blocks/latest?leaves=yes", None),
    ("GET", "/v1/services/", None),
    ("GET", "/v1/services/not/a/path", None),
    ("GET", "/v1/services/hub.amigos.dev/../../etc/passwd", None),
    ("GET", "/v1/services/hub.amigos.dev/a__b/c", None),
    ("GET", "/v1/state/hub.amigos.dev/x?entries=100000", None),
    ("GET", f"/v1/query/{COUNTER_PATH}", None),
    ("GET", f"/v1/query/{COUNTER_PATH}?function=__class__", None),
    ("GET", f"/v1/query/{COUNTER_PATH}?function=get&args=1", None),
    ("GET", f"/v1/query/{COUNTER_PATH}?function=get&args=[", None),
    ("GET", f"/v1/query/{COUNTER_PATH}?function=get&kwargs=[]", None),
    ("GET", f"/v1/query/{COUNTER_PATH}?function=get&kwargs=" + '{"__x": 1}', None),
    ("GET", f"/v1/query/{COUNTER_PATH}?function=get&gas=0", None),
    ("GET", f"/v1/query/{COUNTER_PATH}?function=get&args=" + "[" * 5000 + "]" * 5000, None),
    ("GET", f"/v1/query/{COUNTER_PATH}?function=increment&args=[" + "9" * 4000 + "]", None),
    ("GET", f"/v1/query/{COUNTER_PATH}?function=increment&args=" + '[{"$bytes": "zz"}]', None),
    ("GET", f"/v1/query/{COUNTER_PATH}?function=increment&args=" + '[{"$decimal": "NaN"}]', None),
    ("POST", f"/v1/query/{COUNTER_PATH}", b'{"function": "get", "gas": 10000000000000000000000}'),
    ("POST", f"/v1/query/{COUNTER_PATH}", b'{"function": "get", "gas": "lots"}'),
    ("POST", f"/v1/query/{COUNTER_PATH}", b'{"function": "get", "extra": 1}'),
    ("POST", f"/v1/query/{COUNTER_PATH}", b'{"function": ["get"]}'),
    ("POST", f"/v1/query/{COUNTER_PATH}", b'{"function": "get", "args": {}}'),
    ("GET", "/v1/render/hub.amigos.dev/x.json", None),
    ("GET", "/v1/render/hub.amigos.dev/nobody/nothing.html", None),
    ("GET", "/v1/accounts/" + "amigo1" + "q" * 200, None),
    ("GET", f"/v1/accounts/{ALICE.address}?key=abc", None),
    ("POST", "/v1/faucet", b'{"address": "amigo1nope"}'),
    ("POST", "/v1/faucet", b"[]"),
    ("GET", "/v1/faucet", None),
    ("POST", "/v1/genesis", b"{}"),
    ("GET", "/v1/events?from=x", None),
    ("GET", "/v1/events?limit=0", None),
]


@pytest.mark.parametrize("method, url, body", GARBAGE, ids=[f"{m} {u[:60]}" for m, u, _ in GARBAGE])
async def test_garbage_gets_a_problem_never_a_500(api: httpx.AsyncClient, method: str, url: str, body: bytes | None) -> None:
    response = await api.request(method, url, content=body)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers["content-type"] == "application/problem+json", response.text[:300]
    problem = response.json()
    assert problem["type"].startswith(PROBLEM_BASE) and problem["status"] == response.status_code


async def test_a_huge_body_is_refused_before_it_is_read(api: httpx.AsyncClient) -> None:
    assert_problem(await api.post("/v1/transactions", content=b"0" * (MAX_BODY_BYTES + 1)), 413, "payload-too-large")


# --------------------------------------------------------------------------- the OpenAPI document


def route_paths(node: Node) -> set[tuple[str, str]]:
    from starlette.routing import Route

    out = set()
    for route in create_app(node).routes:
        assert isinstance(route, Route)
        path = route.path.replace("{path:path}", "{path}")
        for method in route.methods or ():
            if method != "HEAD":
                out.add((method.lower(), path))
    return out


async def test_openapi_describes_every_route(api: httpx.AsyncClient, node: Node) -> None:
    document = (await api.get("/openapi.json")).json()
    described = {(m, p) for p, ops in document["paths"].items() for m in ops}
    served = route_paths(node) | {("get", "/v1/blocks/latest")}  # a value of /v1/blocks/{height}
    assert described == served


def test_schemathesis_finds_no_server_error_and_no_drift(node: Node) -> None:
    """Generated requests (valid and invalid by the schema) for every operation: no 500, and
    every answer fits what the document says (status, content type, body schema)."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        negative_data_rejection,
        response_schema_conformance,
        status_code_conformance,
    )
    from schemathesis.checks import not_a_server_error

    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(node))
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/v1/events":
            continue  # an endless stream: tested above with ?limit
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @settings(max_examples=25, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                case.call_and_validate(checks=checks + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else []))

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing in this operation can be invalid
            except Exception as exc:  # noqa: BLE001 - collect them all, then fail with every one
                failures.append(f"{operation.method.upper()} {operation.path} ({mode}): {exc}")
    assert not failures, "\n\n".join(failures)
