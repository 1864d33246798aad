"""The SDK against a node in-process: it signs, counts nonces, proves every receipt and
catches a node that forks or rolls back its log."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

import amigos
from amigos.client import NodeClient, verify
from amigos.client.protocol import Response, Session, run_flow
from amigos.client.proxy import function_specs
from amigos.errors import AmigosError, ForkDetected, NotFound, ProofError, ServiceError, TransactionRefused
from amigos.ledger.block import SignedTreeHead, TreeHead
from amigos.ledger.tx import Call, Deploy, Transaction, sign
from amigos.node import Node
from amigos.node.app import create_app
from amigos.node.wire import head_to_json
from asgi_transport import sync_client

CHAIN = "amigos-test"
COUNTER = textwrap.dedent('''\
    """A counter."""
    import std

    count = 0

    def increment(by: int = 1) -> int:
        global count
        std.require(by > 0, "by must be positive")
        count += by
        std.emit("incremented", by=by)
        return count

    def get() -> int:
        return count

    def echo(value):
        return value

    def render(path: str) -> str:
        return f"# Counter\\n\\nValue: **{count}**"
''')
URL = "http://node.test"


def start_node(home: Path) -> Node:
    return Node(home, chain_id=CHAIN, isolation="none", block_interval=0.002).start()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    node = start_node(tmp_path_factory.mktemp("node"))
    yield node
    node.stop()


def connect(node: Node, account: amigos.Account | None, **options: Any) -> NodeClient:
    return amigos.connect(URL, account=account, http=sync_client(create_app(node), URL), **options)


def counter_of(account: amigos.Account) -> str:
    return f"hub.amigos.dev/{account.address}/counter"


def test_deploy_call_query_render_as_with_a_local_runtime(node: Node) -> None:
    alice = amigos.Account.from_seed(bytes([1]) * 32)
    path = counter_of(alice)
    client = connect(node, alice)
    assert client.node_key == node.key.public_key and client.chain_id == CHAIN
    deployed = client.deploy(path, COUNTER)
    assert deployed.ok and deployed.result["path"] == path and deployed.result["version"] == 1
    r = client.call(path, "increment", 2)
    assert r.ok and r.result == 2 and r.error is None and r.gas_used > 0
    assert r.events == [amigos.Event(path, "incremented", {"by": 2})]
    assert r.height == r.proof.head.head.height and r.proof.index == r.index
    assert client.head == r.proof.head  # the newest head it checked
    failed = client.call(path, "increment", kwargs={"by": -1})
    assert not failed.ok and isinstance(failed.error, ServiceError) and failed.error.message == "by must be positive"
    assert client.call(path, "echo", [b"\x00", (1, 2), {"k": None}]).result == [b"\x00", (1, 2), {"k": None}]
    assert client.query(path, "get") == 2
    assert client.query(path, "echo", b"\xff") == b"\xff"
    assert client.query(path, "echo", "\ud800") == "\ud800"  # a lone surrogate travels escaped
    assert client.render(path) == "# Counter\n\nValue: **2**"
    with pytest.raises(NotFound):
        client.query(path, "nope")
    again = client.receipt(r.tx_hash)
    assert again.results == [2] and again.proof.size >= r.proof.size
    assert client.describe(path)["source"] == COUNTER and client.state(path)["globals"] == {"count": 2}
    assert path in [s["path"] for s in client.services()]


def test_nonces_are_counted_and_asked_again_after_a_refusal(node: Node) -> None:
    bob = amigos.Account.from_seed(bytes([2]) * 32)
    first, second = connect(node, bob), connect(node, bob)
    path = counter_of(bob)
    first.deploy(path, COUNTER)            # first asks the node: nonce 1
    second.call(path, "increment")         # second asks: nonce 2
    with pytest.raises(TransactionRefused) as caught:
        first.call(path, "increment")      # first counts on to 2, which is used
    assert caught.value.code == "bad-nonce"
    assert first.call(path, "increment").result == 2  # it asked again: nonce 3


def test_submit_many_answers_in_order(node: Node) -> None:
    carol = amigos.Account.from_seed(bytes([3]) * 32)
    path = counter_of(carol)
    client = connect(node, carol)
    receipts = client.submit_many([Deploy(path, COUNTER)] + [amigos.Call(path, "increment", (1,)) for _ in range(30)])
    assert [r.result for r in receipts[1:]] == list(range(1, 31))
    assert len({r.proof.head for r in receipts}) == 1  # all proven against one head
    foreign = sign(Transaction(chain_id="other", account=carol.address, public_key=carol.public_key, nonce=99,
                               gas_limit=1_000_000, messages=[Call(path, "get")]), carol)
    with pytest.raises(TransactionRefused) as caught:
        client.submit_many([Call(path, "increment"), foreign])
    done, refused = caught.value.outcomes  # type: ignore[attr-defined]
    assert done.ok and done.result == 31 and refused.code == "wrong-chain"
    assert client.call(path, "increment").result == 32


class Tampering(httpx.BaseTransport):
    """Passes requests to ``inner`` and lets ``change`` rewrite JSON answers on their way back."""

    def __init__(self, inner: httpx.BaseTransport, change: Any) -> None:
        self.inner, self.change = inner, change

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if not response.headers.get("content-type", "").startswith("application/json"):
            return response
        body = self.change(request, json.loads(response.read()))
        return httpx.Response(response.status_code, json=body, request=request)


def test_a_receipt_the_log_does_not_prove_is_refused(node: Node) -> None:
    dave = amigos.Account.from_seed(bytes([4]) * 32)
    path = counter_of(dave)
    honest = sync_client(create_app(node), URL)
    connect(node, dave).deploy(path, COUNTER)

    def forge_result(request: httpx.Request, body: Any) -> Any:
        if request.url.path == "/v1/transactions":
            leaf = bytearray.fromhex(body["receipt"]["leaf"])
            leaf[-40] ^= 1  # somewhere in what the call did
            body["receipt"]["leaf"] = leaf.hex()
        return body

    client = amigos.connect(URL, account=dave, http=httpx.Client(transport=Tampering(honest._transport, forge_result), base_url=URL))
    with pytest.raises(ProofError):
        client.call(path, "increment")

    def forge_head(request: httpx.Request, body: Any) -> Any:
        if request.url.path == "/v1/node" and body["head"]:
            body["head"]["root"] = "00" * 32
        return body

    with pytest.raises(ProofError, match="not signed"):
        amigos.connect(URL, account=dave, http=httpx.Client(transport=Tampering(honest._transport, forge_head), base_url=URL))


def fork_of(node: Node, home: Path) -> Path:
    """A second home with the same node key and chain, but its own history."""
    home.mkdir()
    for name in ("node.key", "chain-id"):
        shutil.copy2(node.home / name, home / name)
    return home


@pytest.mark.parametrize("other_history", ["forked", "rolled back"])
def test_a_node_that_rewrites_its_log_is_caught(tmp_path: Path, other_history: str) -> None:
    erin = amigos.Account.from_seed(bytes([5]) * 32)
    path = counter_of(erin)
    original = start_node(tmp_path / "original")
    other = start_node(fork_of(original, tmp_path / "other"))
    try:
        client = connect(original, erin, state_file=tmp_path / "heads.json")
        client.deploy(path, COUNTER)
        client.call(path, "increment")
        if other_history == "forked":  # as long a log, but another one
            connect(other, erin).deploy(path, COUNTER.replace("count = 0", "count = 1"))
            connect(other, erin).call(path, "increment")
        client.http = sync_client(create_app(other), URL)  # the same URL, now serving the other log
        with pytest.raises(ForkDetected) as caught:
            client.contact()
        assert caught.value.seen["size"] == 2
        # A new client that kept the last head in the state file catches it just the same.
        with pytest.raises(ForkDetected):
            amigos.connect(URL, account=erin, http=sync_client(create_app(other), URL), state_file=tmp_path / "heads.json")
    finally:
        original.stop()
        other.stop()


def test_the_state_file_pins_the_node_key(tmp_path: Path, node: Node) -> None:
    state = tmp_path / "heads.json"
    connect(node, None, state_file=state)
    impostor = start_node(tmp_path / "impostor")  # another key at the same URL
    try:
        with pytest.raises(ForkDetected, match="pinned"):
            amigos.connect(URL, http=sync_client(create_app(impostor), URL), state_file=state)
    finally:
        impostor.stop()


def test_a_batch_refused_on_an_empty_log_is_a_refusal(tmp_path: Path) -> None:
    empty = start_node(tmp_path / "empty")
    try:
        frank = amigos.Account.from_seed(bytes([6]) * 32)
        client = connect(empty, frank)
        foreign = sign(Transaction(chain_id="other", account=frank.address, public_key=frank.public_key, nonce=1,
                                   gas_limit=1_000_000, messages=[Call(counter_of(frank), "get")]), frank)
        with pytest.raises(TransactionRefused, match="wrong-chain"):
            client.submit_many([foreign, foreign])
    finally:
        empty.stop()


def test_importing_amigos_loads_no_http_library() -> None:
    """Confined workers import the package: the SDK and the server stay out until asked for."""
    code = "import sys, amigos, amigos.node; assert not {'httpx', 'starlette', 'uvicorn'} & set(sys.modules); amigos.connect"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_node_on_postgresql(tmp_path: Path, pg_db: str) -> None:
    """``--db postgresql://…``: the same node, its state and log in PostgreSQL; it restarts
    from there and its log verifies."""
    dave = amigos.Account.from_seed(bytes([4]) * 32)
    path = counter_of(dave)
    node = Node(tmp_path / "pg-node", chain_id=CHAIN, db=pg_db, isolation="none", block_interval=0.002).start()
    try:
        client = connect(node, dave)
        client.deploy(path, COUNTER)
        assert client.call(path, "increment", 5).result == 5
    finally:
        node.stop()
    node = Node(tmp_path / "pg-node", chain_id=CHAIN, db=pg_db, isolation="none", block_interval=0.002).start()
    try:
        client = connect(node, dave)
        assert client.call(path, "increment", 1).result == 6
    finally:
        node.stop()


def test_one_client_shared_by_threads_sends_in_nonce_order(node: Node) -> None:
    gina = amigos.Account.from_seed(bytes([7]) * 32)
    path = counter_of(gina)
    client = connect(node, gina)
    client.deploy(path, COUNTER)
    results: list[int] = []

    def work() -> None:
        for _ in range(5):
            results.append(client.call(path, "increment").result)
            client.query(path, "get")

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(1, 31)) and client.last_nonce() == 31


# ---------------------------------------------------------------- the protocol, without a node

KEY = amigos.Account.from_seed(bytes([9]) * 32)


def signed(height: int, size: int, root: bytes = b"\x01" * 32, chain: str = CHAIN) -> SignedTreeHead:
    head = TreeHead(chain, height, 1_700_000_000 + height, size, root, b"\x02" * 32)
    return SignedTreeHead(head, KEY.public_key, KEY.sign(head.signing_bytes()))


def test_heads_that_contradict_each_other_on_their_face_are_a_fork() -> None:
    seen = signed(5, 10)
    assert verify.sizes_to_prove(seen, seen) is None
    assert verify.sizes_to_prove(seen, signed(6, 12)) == (10, 12)
    assert verify.sizes_to_prove(seen, signed(4, 8)) == (8, 10)       # an older head: proven the other way
    assert verify.sizes_to_prove(seen, signed(6, 10)) is None          # an empty block
    for shown, why in [(signed(5, 11), "two different tree heads for block 5"),
                       (signed(6, 9), "do not grow"), (signed(4, 11), "do not grow"),
                       (signed(6, 10, root=b"\x03" * 32), "different roots")]:
        with pytest.raises(ForkDetected, match=why) as caught:
            verify.sizes_to_prove(seen, shown)
        assert caught.value.seen["size"] == 10 and caught.value.shown["size"] == shown.head.size
    with pytest.raises(ForkDetected, match="no longer holds"):
        verify.check_consistency(seen, signed(6, 12), None)
    for garbage in ({}, {"from": 10, "to": 12}, {"from": 10, "to": 12, "hashes": ["zz"]},
                    {"from": 10, "to": 12, "hashes": [None]}, {"from": 10, "to": 12, "hashes": 5}, [1]):
        with pytest.raises(ForkDetected, match="does not extend"):
            verify.check_consistency(seen, signed(6, 12), garbage)


def test_a_head_must_be_signed_by_the_pinned_key_for_the_chain() -> None:
    good = head_to_json(signed(1, 1))
    assert verify.signed_head(good, KEY.public_key, CHAIN) == signed(1, 1)
    with pytest.raises(ProofError, match="not signed"):
        verify.signed_head(good, bytes(32), CHAIN)
    with pytest.raises(ProofError, match="not signed"):
        verify.signed_head({**good, "size": 2}, KEY.public_key, CHAIN)
    with pytest.raises(ProofError, match="for chain"):
        verify.signed_head(head_to_json(signed(1, 1, chain="other")), KEY.public_key, CHAIN)
    for garbage in (None, [], {}, {**good, "root": "00"}, {**good, "height": -1}, {**good, "size": "1"}):
        with pytest.raises(ProofError, match="malformed"):
            verify.signed_head(garbage, KEY.public_key, CHAIN)


def answers(flow: Any, replies: list[tuple[int, bytes]]) -> Any:
    """Drive ``flow`` with canned (status, body) answers, as a driver would with HTTP."""
    return run_flow(flow, lambda request: Response(*replies.pop(0)))


NODE_INFO = json.dumps({"node_key": KEY.public_key.hex(), "chain_id": CHAIN, "head": head_to_json(signed(3, 3))}).encode()
GARBAGE = [(200, b""), (200, b"[]"), (200, b"null"), (200, b"\xff\xfe"), (200, b'{"node_key": 5}'),
           (200, json.dumps({"node_key": KEY.public_key.hex(), "chain_id": None, "head": None}).encode()),
           (500, b"<html>oops</html>"), (503, b'{"code": 5}'), (404, b"[]"), (200, b'{"keys": [{"last_nonce": "x"}]}'),
           (200, b'{"head": {}, "receipt": {}}'), (200, b'{"head": null}'), (200, b'{"outcomes": 1}')]


@pytest.mark.parametrize("reply", GARBAGE, ids=range(len(GARBAGE)))
def test_no_answer_of_a_lying_node_escapes_as_anything_but_an_amigos_error(reply: tuple[int, bytes]) -> None:
    """Each step of a call (contact, nonce, transaction) is fed the garbage in turn: the client
    answers with AmigosError (NodeError, ProofError…), never a crash of another type."""
    honest = [(200, NODE_INFO), (200, json.dumps({"keys": [{"last_nonce": 0}]}).encode())]
    for step in range(3):
        session = Session(URL, KEY)
        with pytest.raises(AmigosError):
            answers(session.call(counter_of(KEY), "increment", (), None, None), honest[:step] + [reply])
        assert session.nonce is None  # nothing counted on
    with pytest.raises(AmigosError):  # what a service proxy is made from
        function_specs(answers(Session(URL, KEY).describe("hub.amigos.dev/x/y"), [reply]))
