"""POST /v1/transactions, the route every client calls at rate, which the node's application
takes straight to its handler rather than through Starlette's middleware and router
(``NodeApp``, ``Shortcut``): byte for byte the same answers as the routed way for garbage,
refusals, failures and receipts, the answers the API gave before the shortcut, and no request
that leaves a reference cycle behind for the garbage collector.

Requests are raw ASGI messages, so bodies come in pieces, clients disconnect, headers lie."""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import random
from concurrent.futures import Future
from decimal import Decimal
from typing import Any, Awaitable, Callable

import pytest
from starlette.applications import Starlette

import amigos.node.app as app_module
from amigos.crypto.keys import Account
from amigos.errors import StoreError, TransactionRefused, execution_error
from amigos.ledger.tx import Call
from amigos.node import Node
from amigos.node.app import MAX_BODY_BYTES, create_app
from amigos.node.sequencer import Outcome, Submission
from amigos.node.wire import dump_json
from test_api import ALICE, COUNTER_PATH, anyio_backend, node, signed  # noqa: F401 - the module's fixtures

pytestmark = pytest.mark.anyio

SENDER = Account.from_seed(bytes([62]) * 32)

Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
Answer = tuple[int, list[tuple[bytes, bytes]], bytes, str | None]


def routed(app: Starlette) -> Asgi:
    """The application the way every other route is served: Starlette's middleware, router and
    exception handlers, not NodeApp's shortcut."""
    return lambda scope, receive, send: Starlette.__call__(app, scope, receive, send)


async def answer(app: Asgi, body: bytes = b"", *, method: str = "POST", path: str = "/v1/transactions",
                 query: str = "", headers: list[tuple[bytes, bytes]] | None = None, chunks: list[bytes] | None = None,
                 disconnect: bool = False) -> Answer:
    """Status, headers, body and the exception the application raised (as the server would see
    it) for one request; the body comes in ``chunks`` if given, followed by a disconnect if asked."""
    if headers is None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": query.encode(), "headers": [(b"host", b"node.test"), *headers],
             "client": ("127.0.0.1", 40000), "server": ("node.test", 80), "state": {}}
    pieces = [body] if chunks is None else chunks
    messages: list[dict[str, Any]] = [{"type": "http.request", "body": piece, "more_body": i < len(pieces) - 1}
                                      for i, piece in enumerate(pieces)]
    if disconnect:
        messages[-1] = {"type": "http.disconnect"}

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    raised = None
    try:
        await app(scope, receive, send)
    except Exception as exc:  # noqa: BLE001 - what the server would log
        raised = type(exc).__name__
    start = next(m for m in sent if m["type"] == "http.response.start")
    body_out = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], list(start["headers"]), body_out, raised


def problem(response: Answer) -> tuple[int, str, str]:
    status, headers, body, _ = response
    assert (b"content-type", b"application/problem+json") in headers
    document = json.loads(body)
    return status, document["code"], document["detail"]


def j(value: object) -> bytes:
    return json.dumps(value).encode()


HUGE = str(MAX_BODY_BYTES + 1).encode()
GARBAGE: list[tuple[str, dict[str, Any]]] = [
    ("not json", {"body": b"not json"}),
    ("empty", {"body": b""}),
    ("an array", {"body": b"[1, 2]"}),
    ("null", {"body": b"null"}),
    ("bad hex", {"body": b'{"tx": "zz"}'}),
    ("spaced hex", {"body": b'{"tx": "0 1"}'}),
    ("upper-case hex that is no transaction", {"body": b'{"tx": "ABCD"}'}),
    ("a number", {"body": b'{"tx": 12}'}),
    ("tagged bytes", {"body": b'{"tx": {"$bytes": "00"}}'}),
    ("both members", {"body": b'{"tx": "00", "txs": []}'}),
    ("an extra member", {"body": b'{"tx": "00", "extra": 1}'}),
    ("an empty batch", {"body": b'{"txs": []}'}),
    ("a batch that is a string", {"body": b'{"txs": "00"}'}),
    ("null in a batch", {"body": b'{"txs": ["00", null]}'}),
    ("a batch too long", {"body": j({"txs": ["00"] * 2001})}),
    ("a batch of refusals", {"body": j({"txs": ["00"] * 300})}),
    ("NaN", {"body": b'{"tx": NaN}'}),
    ("deep nesting", {"body": b"[" * 100_000 + b"]" * 100_000}),
    ("a huge number", {"body": b'{"tx": ' + b"1" * 5000 + b"}"}),
    ("not UTF-8", {"body": b"\xff\xfe\x00"}),
    ("UTF-16", {"body": '{"tx": "00"}'.encode("utf-16")}),
    ("trailing data", {"body": b'{"tx": "00"} trailing'}),
    ("a duplicate member", {"body": b'{"tx": "00", "tx": "0602"}'}),
    ("truncated", {"body": b'{"tx": "0602"}'}),
    ("one byte", {"body": b'{"tx": "00"}'}),
    ("wait=maybe", {"body": b'{"tx": "00"}', "query": "wait=maybe"}),
    ("wait= (blank)", {"body": b'{"tx": "00"}', "query": "wait="}),
    ("since=-1", {"body": b'{"tx": "00"}', "query": "since=-1"}),
    ("since past 2**64", {"body": b'{"tx": "00"}', "query": "since=99999999999999999999999"}),
    ("wait=false, bad since", {"body": b'{"tx": "00"}', "query": "wait=false&since=x"}),
    ("wait=false, refused", {"body": b'{"tx": "00"}', "query": "wait=false"}),
    ("wait=0, batch", {"body": b'{"txs": ["00", "0602"]}', "query": "wait=0&since=1"}),
    ("an unknown parameter", {"body": b'{"tx": "00"}', "query": "unknown=1"}),
    ("text/plain", {"body": b'{"tx": "00"}', "headers": [(b"content-type", b"text/plain")]}),
    ("no headers", {"body": b'{"tx": "00"}', "headers": []}),
    ("a form", {"body": b"tx=00", "headers": [(b"content-type", b"application/x-www-form-urlencoded")]}),
    ("a length past the limit", {"headers": [(b"content-length", HUGE)]}),
    ("a second length past the limit", {"headers": [(b"content-length", b"1"), (b"content-length", HUGE)]}),
    ("a negative length", {"body": b'{"tx": "00"}', "headers": [(b"content-length", b"-5")]}),
    ("a body past the limit, no length", {"headers": [], "chunks": [b"0" * (MAX_BODY_BYTES // 2)] * 2 + [b"0"]}),
    ("a body in pieces", {"headers": [], "chunks": [b'{"t', b'x": "06', b'02"}', b""]}),
    ("a client gone mid-body", {"headers": [], "chunks": [b'{"tx', b'": "00"}'], "disconnect": True}),
]


@pytest.mark.parametrize("name, request_", GARBAGE, ids=[name for name, _ in GARBAGE])
async def test_garbage_gets_the_answer_of_the_routed_way(node: Node, name: str, request_: dict[str, Any]) -> None:
    app = create_app(node)
    fast, slow = await answer(app, **request_), await answer(routed(app), **request_)
    assert fast == slow
    status, headers, body, raised = fast
    if name == "a client gone mid-body":  # as before: nobody to answer, the server logs it
        assert (status, raised) == (500, "ClientDisconnect")
    else:
        assert raised is None and status in (200, 202, 400, 413), body[:300]


REFUSED = [
    (lambda: signed(SENDER, 90, Call(COUNTER_PATH, "get"), chain="other-chain"), 422, "wrong-chain"),
    (lambda: signed(SENDER, 90, Call(COUNTER_PATH, "get"))[:-2] + "00", 422, "bad-signature"),
    (lambda: signed(SENDER, 90, Call(COUNTER_PATH, "get"), gas=10), 422, "gas-out-of-bounds"),
    (lambda: signed(ALICE, 1, Call(COUNTER_PATH, "get")), 409, "bad-nonce"),
]


@pytest.mark.parametrize("make, status, code", REFUSED, ids=[code for _, _, code in REFUSED])
async def test_a_refused_transaction_gets_the_answer_of_the_routed_way(node: Node, make: Any, status: int,
                                                                      code: str) -> None:
    app = create_app(node)
    body = j({"tx": make()})
    fast, slow = await answer(app, body), await answer(routed(app), body)
    assert fast == slow and problem(fast)[:2] == (status, code)
    assert json.loads(fast[2])["tx_hash"]


async def test_receipts_read_as_the_routed_ones(node: Node) -> None:
    """Transactions change the log, so each way gets its own; the answers differ only in what
    the log says about each."""
    app = create_app(node)
    nonce = iter(range(1, 100))
    for query, batch in (("", False), ("since=1", False), ("", True), ("wait=false", False), ("wait=0", True)):
        answers = []
        for way in (app, routed(app)):
            txs = [signed(SENDER, next(nonce), Call(COUNTER_PATH, "increment", (1,))) for _ in range(3 if batch else 1)]
            answers.append(await answer(way, j({"txs": txs} if batch else {"tx": txs[0]}), query=query))
        (status, headers, body, raised), (status2, headers2, body2, raised2) = answers
        assert (status, raised) == (status2, raised2) and status in (200, 202)
        assert [name for name, _ in headers] == [name for name, _ in headers2]
        assert shape(json.loads(body)) == shape(json.loads(body2))
        if not query.startswith("wait"):
            assert [o["receipt"]["ok"] for o in json.loads(body).get("outcomes", [json.loads(body)])] == [True] * (3 if batch else 1)


def shape(value: Any) -> Any:
    """The members and types of a JSON value, not its values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__


async def test_other_methods_and_paths_still_go_to_the_router(node: Node) -> None:
    app = create_app(node)
    for method in ("GET", "PUT", "DELETE"):
        status, headers, _, _ = answer_ = await answer(app, b"{}", method=method)
        assert problem(answer_)[:2] == (405, "method-not-allowed") and (b"allow", b"POST") in headers
    assert (await answer(app, b'{"tx": "00"}', path="/v1/transactions/"))[0] == 307  # Starlette's redirect
    assert problem(await answer(app, b'{"tx": "00"}', path="/v1/transaction"))[:2] == (404, "not-found")


def sequence_with(monkeypatch: pytest.MonkeyPatch, node: Node, future: Callable[[], Future[Any]]) -> None:
    """Make the node hand out ``future()`` for each submission made to it."""
    def submit_many(raws: list[bytes], client: str | None = None) -> Submission:
        submission = Submission(len(raws))
        submission.future = future()
        return submission

    monkeypatch.setattr(node, "submit", lambda raw, client=None: future())
    monkeypatch.setattr(node, "submit_many", submit_many)


@pytest.mark.parametrize("fault, status, code, raised", [
    (StoreError("the disk is full"), 503, "unavailable", None),
    (RuntimeError("a bug"), 500, "internal-error", "RuntimeError"),
])
async def test_a_node_that_fails_gets_the_answer_of_the_routed_way(node: Node, monkeypatch: pytest.MonkeyPatch,
                                                                   fault: Exception, status: int, code: str,
                                                                   raised: str | None) -> None:
    """An error the handler does not translate itself goes through the application's exception
    handlers either way; a bug answers 500 and still reaches the server, which logs it."""
    def failing() -> Future[Outcome]:
        raise fault

    sequence_with(monkeypatch, node, failing)
    app = create_app(node)
    for body in (b'{"tx": "00"}', b'{"txs": ["00", "0602"]}'):
        fast, slow = await answer(app, body), await answer(routed(app), body)
        assert fast == slow and problem(fast)[:2] == (status, code) and fast[3] == raised


async def test_a_block_that_fails_or_never_comes_gets_the_answer_of_the_routed_way(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    def lost() -> Future[Outcome]:
        future: Future[Outcome] = Future()
        future.set_exception(StoreError("the disk is full"))
        return future

    sequence_with(monkeypatch, node, lost)
    app = create_app(node)
    fast, slow = await answer(app, b'{"tx": "00"}'), await answer(routed(app), b'{"tx": "00"}')
    assert fast == slow and problem(fast) == (503, "unavailable", "the block could not be committed: the disk is full")

    sequence_with(monkeypatch, node, Future)  # the sequencer never answers
    monkeypatch.setattr(app_module, "WAIT_SECONDS", 0.05)
    fast, slow = await answer(app, b'{"txs": ["00", "0602"]}'), await answer(routed(app), b'{"txs": ["00", "0602"]}')
    assert fast == slow and problem(fast)[:2] == (504, "timeout")
    assert json.loads(fast[2])["tx_hashes"] == [hashlib.sha256(raw).hexdigest() for raw in (b"\x00", b"\x06\x02")]


# The answers the API gave before the shortcut (status, code, detail): the contract clients see.
BEFORE = [
    (b"not json", "", 400, "bad-request", "the body is not JSON: Expecting value: line 1 column 1 (char 0)"),
    (b"[1, 2]", "", 400, "bad-request", "the body must be a JSON object"),
    (b'{"tx": "zz"}', "", 400, "bad-request", "tx must be a string of hex digits (two per byte)"),
    (b'{"txs": ["00", 5]}', "", 400, "bad-request", "txs[1] must be a string of hex digits (two per byte)"),
    (b'{"txs": []}', "", 400, "bad-request",
     'the body is {"tx": hex} or {"txs": [hex, …]} with 1 to 2000 transactions'),
    (b'{"tx": NaN}', "", 400, "bad-request", "the body is not JSON: NaN is not a JSON number"),
    (b'{"tx": "00"} trailing', "", 400, "bad-request", "the body is not JSON: Extra data: line 1 column 14 (char 13)"),
    (b'{"tx": "00"}', "", 400, "malformed", "a signed transaction must be a list of 2 fields"),
    (b'{"tx": "0602"}', "wait=false", 400, "malformed", "not a transaction encoding: container count exceeds data"),
    (b'{"tx": ""}', "", 400, "malformed", "no bytes"),
    (b'{"tx": "00"}', "wait=maybe", 400, "bad-request", "wait must be true or false"),
    (b'{"tx": "00"}', "since=1.5", 400, "bad-request", "since must be an integer from 0 to 18446744073709551615"),
    (b"0" * (MAX_BODY_BYTES + 1), "", 413, "payload-too-large", f"a request body is at most {MAX_BODY_BYTES} bytes"),
]


@pytest.mark.parametrize("body, query, status, code, detail", BEFORE, ids=[f"{b[:20]!r} {q}" for b, q, *_ in BEFORE])
async def test_garbage_gets_the_answers_it_got_before(node: Node, body: bytes, query: str, status: int, code: str,
                                                      detail: str) -> None:
    response = await answer(create_app(node), body, query=query)
    assert problem(response) == (status, code, detail)
    document = json.loads(response[2])
    assert document["type"] == "https://amigos.dev/problems/" + code and document["status"] == status
    assert response[1] == [(b"content-length", str(len(response[2])).encode()), (b"content-type", b"application/problem+json")]


async def test_a_receipt_leaves_no_reference_cycle(node: Node) -> None:
    """A request's outcome is freed when its answer is sent, not by the garbage collector's
    slowest pass: the futures the sequencer resolves keep their callbacks, and a callback that
    referred back to them would make a cycle of every request, which the node would then stop
    for tens of milliseconds to collect."""
    app = create_app(node)
    account = Account.from_seed(bytes([63]) * 32)
    gc.collect()
    gc.disable()
    try:
        for nonce in range(1, 6):
            status, _, body, _ = await answer(app, j({"tx": signed(account, nonce, Call(COUNTER_PATH, "increment", (1,)))}))
            assert status == 200, body
        batch = [signed(account, nonce, Call(COUNTER_PATH, "increment", (1,))) for nonce in (6, 7)]
        status, _, body, _ = await answer(app, j({"txs": batch}))
        assert status == 200, body
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        left = [o for o in gc.garbage if isinstance(o, (Outcome, Future))]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert left == []


ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 2**64, -(2**200), "", "é ü 中 \u2028 \x00 \x1f \" \\ \n", "\ud800 lone", "\udfff",
    b"", b"\x00\xff", Decimal("1.50"), Decimal("-0E+3"), (1, "a", ()), [], {}, {1: "x", "k": [1, {}], (2, 3): None},
    {"$bytes": "zz"}, [[[[]]]],
]


def odd_value(rng: random.Random, depth: int = 0) -> Any:
    """A service value of any kind, nested a little."""
    if depth < 3 and rng.random() < 0.3:
        items = [odd_value(rng, depth + 1) for _ in range(rng.randrange(4))]
        return rng.choice([items, tuple(items), {str(i) + rng.choice(["", "é", "\ud801"]): v for i, v in enumerate(items)}])
    return rng.choice(ODD_VALUES)


def odd_receipts(node: Node, rng: random.Random) -> list[Outcome]:
    """Real outcomes of the node, made odd: results, events and errors of every kind, and refusals."""
    account = Account.from_seed(bytes([64]) * 32)
    start = node.ledger.last_nonce(account.address, account.public_key) + 1
    raws = [bytes.fromhex(signed(account, start + i, Call(COUNTER_PATH, "increment", (1,)))) for i in range(6)]
    outcomes = node.submit_many(raws).future.result(timeout=10)
    odd = []
    for outcome in outcomes:
        assert outcome.receipt is not None
        texts = [v for v in ODD_VALUES if type(v) is str]  # an event's service and name are str
        events = [{"service": rng.choice(texts), "name": rng.choice(texts), "attrs": odd_value(rng)}
                  for _ in range(rng.randrange(3))]
        if rng.random() < 0.3:
            events.append({"service": COUNTER_PATH, "name": "no attrs"})
        error = rng.choice([None, execution_error("ServiceError", "boom \ud800 é"), execution_error("OutOfGas", "")])
        receipt = dataclasses.replace(outcome.receipt, results=[odd_value(rng) for _ in range(rng.randrange(3))],
                                      events=events, error=error, ok=error is None,
                                      failed_message=None if error is None else rng.randrange(3))
        odd.append(dataclasses.replace(outcome, receipt=receipt))
    refusals = [Outcome(None, TransactionRefused("bad-nonce", "nonce 3 \ud800 é")), Outcome(None, TransactionRefused("malformed", "x"))]
    return odd + refusals


def test_the_written_out_answer_is_the_general_one_byte_for_byte(node: Node) -> None:
    """Api.receipts_answer writes receipts out itself: it gives the bytes dump_json gives the
    general form, whatever the receipts hold (lone surrogates make both escape the whole answer)."""
    api = app_module.Api(node)
    rng = random.Random(4)
    outcomes = odd_receipts(node, rng)
    for _ in range(40):
        if rng.random() < 0.2:
            outcomes = odd_receipts(node, rng)
        chosen = rng.sample(outcomes, rng.randrange(1, len(outcomes) + 1))
        single = len(chosen) == 1
        since = rng.choice([None, 0, 1, node.size, node.size + 5])
        assert api.receipts_answer(single, chosen, since) == dump_json(api.receipts_body(single, chosen, since)).encode()
