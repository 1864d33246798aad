"""The asyncio SDK (``amigos.aconnect``) against a node in-process over ``httpx.AsyncClient``:
the same calls, proofs and fork detection as the sync client (they share the protocol code),
async service proxies, concurrent callers on one account, a node that cannot be reached, and
the local twin."""

from __future__ import annotations

import asyncio
import inspect
import json
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

import amigos
from amigos.client import AsyncLocalClient, AsyncNodeClient
from amigos.errors import ForkDetected, NodeError, ProofError, ServiceError
from amigos.node import Node
from amigos.node.app import create_app
from test_client import COUNTER, URL, counter_of, fork_of, start_node

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    node = start_node(tmp_path_factory.mktemp("anode"))
    yield node
    node.stop()


def in_process(node: Node, change: Callable[[httpx.Request, Any], Any] | None = None,
               fail: Callable[[httpx.Request], bool] | None = None) -> httpx.AsyncClient:
    """An async HTTP client of ``node``'s app; ``change`` rewrites JSON answers, ``fail``
    makes a request fail as if the node could not be reached."""
    app = httpx.ASGITransport(app=create_app(node))

    class Transport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if fail is not None and fail(request):
                raise httpx.ConnectError("connection refused", request=request)
            response = await app.handle_async_request(request)
            body = await response.aread()
            if change is None or not response.headers.get("content-type", "").startswith("application/json"):
                return httpx.Response(response.status_code, headers=response.headers, content=body, request=request)
            return httpx.Response(response.status_code, json=change(request, json.loads(body)), request=request)

    return httpx.AsyncClient(transport=Transport(), base_url=URL)


async def aconnect(node: Node, account: amigos.Account | None, **options: Any) -> AsyncNodeClient:
    client = await amigos.aconnect(URL, account=account, http=options.pop("http", None) or in_process(node), **options)
    assert isinstance(client, AsyncNodeClient)
    return client


async def test_the_calls_of_the_sync_client_as_coroutines(node: Node) -> None:
    alice = amigos.Account.from_seed(bytes([41]) * 32)
    path = counter_of(alice)
    async with await aconnect(node, alice) as client:
        assert client.node_key == node.key.public_key
        deployed = await client.deploy(path, COUNTER)
        assert deployed.ok and deployed.result["version"] == 1
        r = await client.call(path, "increment", 2)
        assert r.ok and r.result == 2 and r.proof is not None and client.head == r.proof.head
        assert r.events == [amigos.Event(path, "incremented", {"by": 2})]
        assert await client.query(path, "get") == 2
        assert await client.render(path) == "# Counter\n\nValue: **2**"
        assert (await client.describe(path))["source"] == COUNTER
        assert path in [s["path"] for s in await client.services()]
        assert (await client.state(path))["globals"] == {"count": 2}
        assert (await client.receipt(r.tx_hash)).results == [2]
        receipts = await client.submit_many([amigos.Call(path, "increment", (1,)) for _ in range(5)])
        assert [x.result for x in receipts] == [3, 4, 5, 6, 7]
        assert await client.last_nonce() == 7


async def test_async_proxies(node: Node) -> None:
    bob = amigos.Account.from_seed(bytes([42]) * 32)
    path = counter_of(bob)
    async with await aconnect(node, bob) as client:
        await client.deploy(path, COUNTER)
        counter = await client.service(path)
        assert inspect.iscoroutinefunction(counter.increment) and inspect.iscoroutinefunction(counter.query.get)
        assert str(inspect.signature(counter.increment)) == "(by: int = 1) -> int"
        assert await counter.increment(2) == 2 and await counter.query.get() == 2
        receipt = await counter.increment.receipt(1)
        assert receipt.ok and receipt.result == 3 and receipt.proof is not None
        with pytest.raises(ServiceError, match="by must be positive") as caught:
            await counter.increment(-1)
        assert caught.value.receipt.tx_hash  # type: ignore[attr-defined]
        with pytest.raises(TypeError):
            await counter.increment(1, 2)
        with pytest.raises(AttributeError, match="it has: echo, get, increment, render"):
            counter.decrement  # noqa: B018
        assert dir(counter) == ["echo", "get", "increment", "query", "render"]


async def test_concurrent_calls_of_one_account_take_nonces_in_turn(node: Node) -> None:
    carol = amigos.Account.from_seed(bytes([43]) * 32)
    path = counter_of(carol)
    async with await aconnect(node, carol) as client:
        await client.deploy(path, COUNTER)
        counter = await client.service(path)
        results = await asyncio.gather(*(counter.increment(1) for _ in range(20)), *(counter.query.get() for _ in range(5)))
        assert sorted(results[:20]) == list(range(1, 21))
        assert await client.last_nonce() == 21


async def test_a_node_that_cannot_be_reached_loses_no_nonce(node: Node) -> None:
    dave = amigos.Account.from_seed(bytes([44]) * 32)
    path = counter_of(dave)
    down = {"now": False}
    client = await aconnect(node, dave, http=in_process(node, fail=lambda request: down["now"]))
    await client.deploy(path, COUNTER)
    down["now"] = True
    with pytest.raises(NodeError) as caught:
        await client.call(path, "increment")
    assert caught.value.code == "unreachable" and caught.value.status == 0
    assert client.session.nonce is None  # in doubt: asked again next time
    down["now"] = False
    assert (await client.call(path, "increment")).result == 1  # the failed call never got in
    await client.aclose()


async def test_a_cancelled_call_leaves_its_nonce_in_doubt(node: Node) -> None:
    """A task cancelled while its transaction is on the way may or may not have used the
    nonce: the client asks the node again rather than count on."""
    hana = amigos.Account.from_seed(bytes([48]) * 32)
    path = counter_of(hana)
    app = httpx.ASGITransport(app=create_app(node))

    class Slow(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "POST" and slow["now"]:
                await asyncio.sleep(30)
            return await app.handle_async_request(request)

    slow = {"now": False}
    client = await aconnect(node, hana, http=httpx.AsyncClient(transport=Slow(), base_url=URL))
    await client.deploy(path, COUNTER)
    slow["now"] = True
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(client.call(path, "increment"), 0.2)
    assert client.session.nonce is None
    slow["now"] = False
    assert (await client.call(path, "increment")).result == 1


async def test_a_forged_receipt_or_head_is_refused(node: Node) -> None:
    erin = amigos.Account.from_seed(bytes([45]) * 32)
    path = counter_of(erin)
    await (await aconnect(node, erin)).deploy(path, COUNTER)

    def forge_result(request: httpx.Request, body: Any) -> Any:
        if request.url.path == "/v1/transactions":
            leaf = bytearray.fromhex(body["receipt"]["leaf"])
            leaf[-40] ^= 1
            body["receipt"]["leaf"] = leaf.hex()
        return body

    forged = await aconnect(node, erin, http=in_process(node, change=forge_result))
    with pytest.raises(ProofError):
        await forged.call(path, "increment")

    def forge_head(request: httpx.Request, body: Any) -> Any:
        if request.url.path == "/v1/node" and body["head"]:
            body["head"]["root"] = "00" * 32
        return body

    with pytest.raises(ProofError, match="not signed"):
        await aconnect(node, erin, http=in_process(node, change=forge_head))


@pytest.mark.parametrize("other_history", ["forked", "rolled back"])
async def test_a_node_that_rewrites_its_log_is_caught(tmp_path: Path, other_history: str) -> None:
    frank = amigos.Account.from_seed(bytes([46]) * 32)
    path = counter_of(frank)
    original = start_node(tmp_path / "original")
    other = start_node(fork_of(original, tmp_path / "other"))
    try:
        client = await aconnect(original, frank, state_file=tmp_path / "heads.json")
        await client.deploy(path, COUNTER)
        await client.call(path, "increment")
        if other_history == "forked":  # as long a log, but another one
            liar = await aconnect(other, frank)
            await liar.deploy(path, COUNTER.replace("count = 0", "count = 1"))
            await liar.call(path, "increment")
        client.http = in_process(other)  # the same URL, now serving the other log
        with pytest.raises(ForkDetected) as caught:
            await client.contact()
        assert caught.value.seen["size"] == 2
        if other_history == "forked":  # a call notices it as well (a rolled-back node refuses its nonce)
            with pytest.raises(ForkDetected):
                await client.call(path, "increment")
        with pytest.raises(ForkDetected):  # and so does a new client that kept the last head
            await aconnect(other, frank, state_file=tmp_path / "heads.json")
    finally:
        original.stop()
        other.stop()


async def test_the_local_twin_answers_as_the_node_does(tmp_path: Path, node: Node) -> None:
    grace = amigos.Account.from_seed(bytes([47]) * 32)
    path = counter_of(grace)
    local = await amigos.aconnect(tmp_path / "home", account=grace)
    assert isinstance(local, AsyncLocalClient)
    answers = []
    async with local, await aconnect(node, grace) as remote:
        for client in (local, remote):
            await client.deploy(path, COUNTER)
            counter = await client.service(path)
            failed = await counter.increment.receipt(-1)
            answers.append([await counter.increment(3), await counter.query.get(), await client.render(path),
                            (await client.describe(path))["functions"], await client.state(path),
                            [r.result for r in await client.submit_many([amigos.Call(path, "increment")] * 3)],
                            failed.ok, failed.error.type if failed.error else None])
    assert answers[0] == answers[1]
