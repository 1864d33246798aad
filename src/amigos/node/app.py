"""The node's HTTP API: a Starlette application over a :class:`~amigos.node.node.Node`.

``create_app(node)`` builds it; ``amigos serve`` runs it with uvicorn. docs/api.md describes
every route, and ``/openapi.json`` (:mod:`.openapi`) describes them for machines. Bytes travel
as lower-case hex, service values as the tagged JSON of :mod:`amigos.jsonvalue`, and every
error as an RFC 9457 problem (:mod:`.problems`).

Handlers are coroutines; whatever reads the ledger or runs service code goes to a worker thread
(``run_in_threadpool``) and reads inside ``node.reading()``, so the event loop never waits on
the sequencer's lock and no read sees half a block.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from concurrent.futures import Future
from contextlib import asynccontextmanager
from html import escape
from typing import Any, AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .. import __version__
from ..crypto.keys import format_address, parse_address
from ..errors import (
    AmigosError,
    CodecError,
    ExecutionError,
    ProofError,
    SandboxUnavailable,
    StoreError,
    TransactionRefused,
    UsageError,
)
from ..jsonvalue import from_json, to_json
from ..ledger.block import SignedTreeHead, decode_leaf
from ..ledger.tx import MAX_UINT64
from ..vm.paths import validate_path
from .account_view import account_json
from .auth import ReadRefused, reader_of, signed_key
from .faucet import FAUCET_AMOUNT, RateLimited
from .node import Node
from .openapi import openapi_document
from .problems import Json, JsonAnswer, Problem, execution_failed, http_problem, refused
from .sequencer import Outcome, Submission
from .wire import (
    MAX_BATCH,
    WireError,
    concerns_account,
    dump_json,
    head_to_json,
    json_text,
    load_json,
    parse_hex,
    proof_text,
    quoted_hex,
    receipt_fields,
    receipt_fields_of,
    receipt_text,
    receipt_to_json,
    touched_services,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 << 20
"""Largest request body: a batch of transactions in hex (one transaction is at most 1 MiB)."""
WAIT_SECONDS = 60.0
"""How long a request waits for its receipts before answering 504 (they may still come)."""
MAX_BLOCK_PAGE = 100
MAX_PAGE_LEAF_BYTES = 8 << 20
"""A page of blocks stops growing past this many bytes of leaves (it holds at least one block)."""
MAX_MAP_ENTRIES = 1000
MAX_EVENTS = 100_000
KEEPALIVE_SECONDS = 15.0
LEAF_CHUNK = 256
"""Leaves an event stream reads at a time."""
HTML_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
"""Rendered pages run no script and load nothing from elsewhere (no tracking of readers)."""
_INT = re.compile(r"[0-9]{1,20}")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}")


# --------------------------------------------------------------------------- parameters


def bad(detail: str) -> Problem:
    return Problem(400, "bad-request", detail)


def query_param(request: Request, name: str) -> str | None:
    """A query parameter, None if absent (an empty query string is not parsed at all)."""
    return request.query_params.get(name) if request.scope["query_string"] else None


def int_param(request: Request, name: str, default: int | None = None, *, low: int = 0,
              high: int = MAX_UINT64) -> int | None:
    text = query_param(request, name)
    if text is None:
        return default
    if not _INT.fullmatch(text) or not low <= int(text) <= high:
        raise bad(f"{name} must be an integer from {low} to {high}")
    return int(text)


def bool_param(request: Request, name: str, default: bool) -> bool:
    text = query_param(request, name)
    if text is None:
        return default
    if text not in ("true", "false", "1", "0"):
        raise bad(f"{name} must be true or false")
    return text in ("true", "1")


def hex_param(text: str | None, name: str, size: int | None = None) -> bytes:
    try:
        return parse_hex(text, name, size)
    except WireError as exc:
        raise bad(str(exc)) from None


def service_path(request: Request) -> str:
    return checked_path(request.path_params["path"])


def checked_path(text: str) -> str:
    """A service path given by the client, refused (400) unless it is a valid one."""
    try:
        return validate_path(text)
    except UsageError as exc:
        raise bad(str(exc)) from None


def canonical_address(text: str) -> str:
    try:
        return format_address(parse_address(text))
    except CodecError as exc:
        raise bad(str(exc)) from None


def height_param(request: Request) -> int:
    text = request.path_params["height"]
    if not _INT.fullmatch(text) or not 1 <= int(text) <= MAX_UINT64:
        raise bad("a block height is an integer from 1")
    return int(text)


def parse_json_text(text: str | bytes, what: str) -> Any:
    try:
        return load_json(text)
    except (ValueError, RecursionError) as exc:
        raise bad(f"{what} is not JSON: {exc}") from None


async def read_body(request: Request) -> bytes:
    """The request body, refused (413) past MAX_BODY_BYTES without reading the rest. Read from
    the ASGI messages themselves: Starlette's ``Request.stream`` (an async generator) costs
    more than the one message a transaction comes in."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise body_too_large()
    chunks, total = [], 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if message["type"] != "http.request":
            continue
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > MAX_BODY_BYTES:
            raise body_too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def body_too_large() -> Problem:
    return Problem(413, "payload-too-large", f"a request body is at most {MAX_BODY_BYTES} bytes")


async def json_body(request: Request) -> dict[str, Any]:
    value = parse_json_text(await read_body(request), "the body")
    if type(value) is not dict:
        raise bad("the body must be a JSON object")
    return value


def service_value(value: Any, what: str) -> Any:
    """A JSON argument as a service value ($bytes, $decimal tags; no floats)."""
    try:
        return from_json(value)
    except (UsageError, RecursionError) as exc:
        raise bad(f"{what}: {exc}") from None


def call_arguments(function: object, args: object, kwargs: object) -> tuple[str, list[Any], dict[str, Any]]:
    if type(function) is not str or not _NAME.fullmatch(function):
        raise bad("function must be the name of an exported function")
    if type(args) is not list:
        raise bad("args must be a JSON array")
    if type(kwargs) is not dict or not all(_NAME.fullmatch(k) for k in kwargs):
        raise bad("kwargs must be a JSON object whose keys are parameter names")
    return function, service_value(args, "args"), service_value(kwargs, "kwargs")


# --------------------------------------------------------------------------- the API


class Api:
    """The route handlers, over one node."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.ledger = node.ledger
        self.runtime = node.runtime
        self.openapi = openapi_document()

    async def read(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a worker thread, inside node.reading()."""
        def locked() -> Any:
            with self.node.reading():
                return fn(*args)
        return await run_in_threadpool(locked)

    # ------------------------------------------------------------ proofs

    def inclusion(self, index: int, size: int) -> dict[str, Any]:
        """The inclusion proof of leaf ``index`` in the tree of ``size`` receipts, as JSON."""
        return {"size": size, "hashes": [h.hex() for h in self.node.proofs.inclusion(index, size)]}

    def consistency(self, since: int, size: int) -> dict[str, Any] | None:
        """The proof between a tree the client saw (``since``) and one of ``size``, in whichever
        order they come; None when the log holds no tree of ``since`` receipts."""
        low, high = sorted((since, size))
        committed = self.node.committed_head()
        if high > (0 if committed is None else committed.head.size):
            return None
        return {"from": low, "to": high, "hashes": [h.hex() for h in self.node.proofs.consistency(low, high)]}

    def with_head(self, body: dict[str, Any], head: SignedTreeHead | None, since: int | None) -> dict[str, Any]:
        body["head"] = None if head is None else head_to_json(head)
        if since is not None:
            body["consistency"] = self.consistency(since, 0 if head is None else head.head.size)
        return body

    # ------------------------------------------------------------ node and log

    async def index(self, request: Request) -> Response:
        return Json({"name": "amigos node", "version": __version__, "api": "/v1", "openapi": "/openapi.json"})

    async def openapi_json(self, request: Request) -> Response:
        return Json(self.openapi)

    async def node_info(self, request: Request) -> Response:
        head = self.node.latest_head
        return Json({**self.node.info(), "version": __version__, "head": None if head is None else head_to_json(head)})

    async def submit(self, request: Request) -> Response:
        wait = bool_param(request, "wait", True)
        since = int_param(request, "since")
        body = await json_body(request)
        if set(body) == {"tx"}:
            single, raws = True, [hex_param(body["tx"], "tx")]
        elif set(body) == {"txs"} and type(body["txs"]) is list and 1 <= len(body["txs"]) <= MAX_BATCH:
            single, raws = False, [hex_param(tx, f"txs[{i}]") for i, tx in enumerate(body["txs"])]
        else:
            raise bad(f'the body is {{"tx": hex}} or {{"txs": [hex, …]}} with 1 to {MAX_BATCH} transactions')
        try:
            # Admission decodes (the sequencer verifies signatures): one transaction is
            # quicker to admit here than to hand to a worker thread; a batch goes to one, so
            # the event loop serves other clients in the meantime, and is queued as one (one
            # block, in order).
            client = client_host(request)
            if single:
                submission = self.node.submit_many(raws, client)
            else:
                submission = await run_in_threadpool(self.node.submit_many, raws, client)
        except UsageError:
            raise not_accepting() from None
        if not wait:
            return self.queued(single, raws, submission.outcomes)
        outcomes = await resolved_outcomes(submission)
        if outcomes is None:
            raise Problem(504, "timeout", "no receipt yet; ask for it later by its transaction hash",
                          tx_hashes=[hashlib.sha256(raw).hexdigest() for raw in raws])
        if single and outcomes[0].refused is not None:
            raise refused(outcomes[0].refused, tx_hash=hashlib.sha256(raws[0]).hexdigest())
        if single and since is None:
            return JsonAnswer(self.receipts_answer(single, outcomes, since))
        # Rendered in a worker thread too: a batch's JSON is large.
        return JsonAnswer(await run_in_threadpool(self.receipts_answer, single, outcomes, since))

    def queued(self, single: bool, raws: list[bytes], known: list[Outcome | None]) -> Response:
        """The answer to transactions not waited for: their hashes, and the refusals known so far."""
        entries: list[dict[str, Any]] = []
        for raw, outcome in zip(raws, known):
            tx_hash = hashlib.sha256(raw).hexdigest()
            refusal = None if outcome is None else outcome.refused
            if refusal is not None and single:
                raise refused(refusal, tx_hash=tx_hash)
            entries.append({"tx_hash": tx_hash} if refusal is None else {"tx_hash": tx_hash, "refused": refusal_json(refusal)})
        return Json(entries[0] if single else {"outcomes": entries}, status_code=202)

    def receipts_body(self, single: bool, outcomes: list[Outcome], since: int | None) -> dict[str, Any]:
        """Receipts with inclusion proofs, all against one head: that of the last block any of
        them is in (a later tree holds the earlier blocks too). The sequencer handed over the
        leaves, the head and the subtrees the proofs need: only a consistency proof for
        ``since`` reads the store (under the lock, which the sequencer needs for the next block)."""
        head = answer_head(outcomes, self.node.latest_head)
        size = 0 if head is None else head.head.size
        entries: list[dict[str, Any]] = []
        for outcome in outcomes:
            if outcome.receipt is not None:
                assert outcome.leaf is not None and outcome.transaction is not None
                fields = receipt_fields_of(outcome.receipt, outcome.transaction)
                entries.append({"receipt": receipt_json(outcome.leaf, self.inclusion(outcome.receipt.index, size), fields)})
            else:
                assert outcome.refused is not None
                entries.append({"refused": refusal_json(outcome.refused)})
        body: dict[str, Any] = entries[0] if single else {"outcomes": entries}
        return self.head_members(body, head, since)

    def receipts_answer(self, single: bool, outcomes: list[Outcome], since: int | None) -> bytes:
        """``dump_json(self.receipts_body(...))``, encoded, made faster: each receipt's text is
        written out (:func:`~.wire.receipt_text`) and the proofs, which share most of their
        hashes, are made together. Text that is not UTF-8 (a lone surrogate from a service)
        takes the general way, which escapes the whole answer."""
        head = answer_head(outcomes, self.node.latest_head)
        size = 0 if head is None else head.head.size
        paths = self.node.proofs.inclusions([o.receipt.index for o in outcomes if o.receipt is not None], size, quoted_hex)
        # The answer is assembled from pieces joined once: a batch's is a megabyte, and each
        # copy of it costs more than writing a receipt.
        pieces: list[str] = [] if single else ['{"outcomes":[']
        for outcome in outcomes:
            if outcome.receipt is not None:
                assert outcome.leaf is not None and outcome.transaction is not None
                fields = receipt_fields_of(outcome.receipt, outcome.transaction)
                proof = proof_text(size, paths[outcome.receipt.index])
                pieces += ('{"receipt":', receipt_text(outcome.leaf, fields, proof), "},")
            else:
                assert outcome.refused is not None
                pieces += (json_text({"refused": refusal_json(outcome.refused)})[:-1], "},")
        # The last outcome's object (a single answer's) or the list ends where the head and the
        # consistency proof, members of the answer itself, begin: ``,"head":…}``.
        pieces[-1] = "," if single else "}],"
        pieces.append(json_text(self.head_members({}, head, since))[1:])
        text = "".join(pieces)
        try:
            return text.encode()
        except UnicodeEncodeError:
            return dump_json(self.receipts_body(single, outcomes, since)).encode()

    def head_members(self, body: dict[str, Any], head: SignedTreeHead | None, since: int | None) -> dict[str, Any]:
        """:meth:`with_head`, under the lock when a consistency proof reads the store."""
        if since is None:
            return self.with_head(body, head, None)
        with self.node.reading():
            return self.with_head(body, head, since)

    async def receipt(self, request: Request) -> Response:
        tx_hash = hex_param(request.path_params["tx_hash"], "tx_hash", 32)
        size = int_param(request, "size")
        since = int_param(request, "since")

        def build() -> dict[str, Any]:
            index = self.ledger.index_of(tx_hash)
            if index is None:
                raise Problem(404, "unknown-transaction", "no receipt for this transaction hash in the log")
            head = self.node.committed_head() if size is None else self.node.head_of_size(size)
            if head is None:
                raise Problem(404, "unknown-tree-size", f"no block ended with a tree of {size} receipts")
            if index >= head.head.size:
                raise Problem(409, "not-in-tree", f"the receipt is leaf {index}, not in a tree of {head.head.size}")
            proof = self.inclusion(index, head.head.size)
            return self.with_head({"receipt": receipt_json(self.ledger.leaf(index), proof)}, head, since)

        return Json(await self.read(build))

    async def latest_head(self, request: Request) -> Response:
        head = self.node.latest_head
        if head is None:
            raise Problem(404, "no-blocks", "the log is empty: no block has been committed yet")
        return Json(head_to_json(head))

    async def head(self, request: Request) -> Response:
        height = height_param(request)
        head = await self.read(self.ledger.head_at, height)
        if head is None:
            raise Problem(404, "unknown-block", f"no block at height {height}")
        return Json(head_to_json(head))

    async def consistency_proof(self, request: Request) -> Response:
        old = int_param(request, "from")
        to = int_param(request, "to")
        if old is None:
            raise bad("from (the size of the older tree) is required")

        def build() -> dict[str, Any]:
            committed = self.node.committed_head()
            size = 0 if committed is None else committed.head.size
            new = size if to is None else to
            if not old <= new <= size:
                raise Problem(404, "unknown-tree-size", f"need from <= to <= {size} (the log's size)")
            proof = self.consistency(old, new)
            assert proof is not None  # new <= the committed size
            return proof

        return Json(await self.read(build))

    def block_json(self, height: int, with_leaves: bool) -> dict[str, Any] | None:
        with self.node.reading():
            found = self.node.block_range(height)
            if found is None:
                return None
            head, first = found
            leaves = [self.ledger.leaf(i) for i in range(first, head.head.size)]
        body: dict[str, Any] = {
            "height": height,
            "head": head_to_json(head),
            "first_index": first,
            "tx_hashes": [hashlib.sha256(decode_leaf(leaf)[0]).hexdigest() for leaf in leaves],
        }
        if with_leaves:
            body["leaves"] = [leaf.hex() for leaf in leaves]
        return body

    async def block(self, request: Request) -> Response:
        with_leaves = bool_param(request, "leaves", False)
        if request.path_params.get("height") == "latest":
            latest = self.node.latest_head
            if latest is None:
                raise Problem(404, "no-blocks", "the log is empty: no block has been committed yet")
            height = latest.head.height
        else:
            height = height_param(request)
        block = await run_in_threadpool(self.block_json, height, with_leaves)
        if block is None:
            raise Problem(404, "unknown-block", f"no block at height {height}")
        return Json(block)

    async def blocks(self, request: Request) -> Response:
        start = int_param(request, "from", 1, low=1)
        limit = int_param(request, "limit", 20, low=1, high=MAX_BLOCK_PAGE)
        with_leaves = bool_param(request, "leaves", False)
        assert start is not None and limit is not None
        latest = 0 if self.node.latest_head is None else self.node.latest_head.head.height

        def page() -> dict[str, Any]:
            blocks: list[dict[str, Any]] = []
            height, leaf_bytes = start, 0
            while height <= latest and len(blocks) < limit and leaf_bytes <= MAX_PAGE_LEAF_BYTES:
                block = self.block_json(height, with_leaves)
                if block is None:
                    break
                blocks.append(block)
                leaf_bytes += sum(len(leaf) // 2 for leaf in block.get("leaves", ()))
                height += 1
            return {"blocks": blocks, "next": height if height <= latest else None}

        return Json(await run_in_threadpool(page))

    # ------------------------------------------------------------ services

    async def services(self, request: Request) -> Response:
        infos = await run_in_threadpool(self.runtime.services)
        return Json({"services": [info.to_dict() for info in infos]})

    async def service(self, request: Request) -> Response:
        path = service_path(request)

        def build() -> dict[str, Any]:
            try:
                return {**self.runtime.service(path).to_dict(), "source": self.runtime.source(path)}
            except UsageError:
                raise Problem(404, "unknown-service", f"no service at {path}") from None

        return Json(await self.read(build))

    async def state(self, request: Request) -> Response:
        path = service_path(request)
        entries = int_param(request, "entries", 20, high=MAX_MAP_ENTRIES)
        assert entries is not None

        def build() -> Any:
            try:
                return to_json(self.runtime.state(path, entries))
            except UsageError:
                raise Problem(404, "unknown-service", f"no service at {path}") from None

        return Json(await run_in_threadpool(build))

    async def query(self, request: Request) -> Response:
        path = service_path(request)
        if request.method == "POST":
            body = await json_body(request)
            unknown = set(body) - {"function", "args", "kwargs", "gas"}
            if unknown:
                raise bad(f"unknown members {sorted(unknown)}")
            function, args, kwargs = call_arguments(body.get("function"), body.get("args", []), body.get("kwargs", {}))
            gas = body.get("gas")
            if gas is not None and type(gas) is not int:
                raise bad("gas must be an integer")
        else:
            q = request.query_params
            function, args, kwargs = call_arguments(
                q.get("function"), parse_json_text(q.get("args", "[]"), "args"),
                parse_json_text(q.get("kwargs", "{}"), "kwargs"))
            gas = int_param(request, "gas")
        result = await run_in_threadpool(self.run_query, path, function, args, kwargs, gas)
        return Json({"result": to_json(result)})

    def run_query(self, path: str, function: str, args: list[Any], kwargs: dict[str, Any], gas: int | None) -> Any:
        try:
            return self.runtime.query(path, function, *args, kwargs=kwargs, gas=gas)
        except ExecutionError as exc:
            raise execution_failed(exc) from None

    async def render(self, request: Request) -> Response:
        """The service's page as markdown."""
        path, subpath, markdown = await self.rendered(request)
        return Response(markdown.encode("utf-8", "replace"), media_type="text/markdown; charset=utf-8")

    async def render_json(self, request: Request) -> Response:
        path, subpath, markdown = await self.rendered(request)
        return Json({"service": path, "path": subpath, "markdown": markdown})

    async def render_html(self, request: Request) -> Response:
        path, subpath, markdown = await self.rendered(request)
        return Response(html_page(path, markdown), media_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": HTML_POLICY})

    async def rendered(self, request: Request) -> tuple[str, str, str]:
        path = service_path(request)
        subpath = request.query_params.get("path", "")
        return path, subpath, await run_in_threadpool(self.run_render, path, subpath)

    def run_render(self, path: str, subpath: str) -> str:
        try:
            return self.runtime.render(path, subpath)
        except ExecutionError as exc:
            raise execution_failed(exc) from None

    # ------------------------------------------------------------ accounts

    async def account(self, request: Request) -> Response:
        address = canonical_address(request.path_params["address"])
        key_text = request.query_params.get("key")
        key = None if key_text is None else hex_param(key_text, "key", 32)
        now = self.node.now()
        signer = signed_reader(request, self.node.chain_id, now)

        def build() -> dict[str, Any]:
            reader = None if signer is None else authorised(lambda: reader_of(self.runtime.view, address, signer, now))
            if key is not None:
                keys = [(key, self.ledger.last_nonce(address, key))]
            else:
                keys = self.node.account_keys(address)
            return {"address": address, "keys": [{"public_key": k.hex(), "last_nonce": n} for k, n in keys],
                    **account_json(self.runtime.view, address, now, reader)}

        return Json(await self.read(build))

    async def genesis(self, request: Request) -> Response:
        return Json(self.node.genesis.to_value())

    async def faucet(self, request: Request) -> Response:
        faucet = self.node.faucet
        if faucet is None:
            raise Problem(404, "not-found", "this node has no faucet (only dev nodes, `amigos dev`, have one)")
        body = await json_body(request)
        if set(body) != {"address"} or type(body["address"]) is not str:
            raise bad('the body is {"address": "amigo1…"}')
        address = canonical_address(body["address"])
        try:
            with faucet.lock:
                submission = self.node.submit_many([faucet.drip(address, client_host(request))])
        except RateLimited as exc:
            raise Problem(429, "rate-limited", str(exc), headers={"Retry-After": str(exc.retry_after)}) from None
        except UsageError:
            raise not_accepting() from None
        outcomes = await resolved_outcomes(submission)
        if outcomes is None:
            raise Problem(504, "timeout", "the faucet's transaction has no receipt yet")
        outcome = outcomes[0]
        if outcome.refused is not None:
            await self.read(lambda: faucet.resync(self.ledger.last_nonce(faucet.account.address, faucet.account.public_key)))
            raise Problem(503, "unavailable", f"the faucet's transaction was refused: {outcome.refused.message}")
        assert outcome.receipt is not None
        if not outcome.receipt.ok:
            error = outcome.receipt.error
            raise Problem(503, "faucet-empty", f"the faucet could not send: {error.message if error else 'failed'}",
                          tx_hash=outcome.receipt.tx_hash.hex())
        return Json({"amount": FAUCET_AMOUNT, "from": faucet.account.address, **self.receipts_body(True, [outcome], None)})

    # ------------------------------------------------------------ events

    async def events(self, request: Request) -> Response:
        account = request.query_params.get("account")
        if account is not None:
            account = canonical_address(account)
        service = request.query_params.get("service")
        if service is not None:
            checked_path(service)
        start = int_param(request, "from")
        last_id = request.headers.get("last-event-id")
        if last_id is not None and _INT.fullmatch(last_id.strip()):
            start = int(last_id.strip()) + 1  # a reconnecting browser: go on after what it saw
        limit = int_param(request, "limit", None, low=1, high=MAX_EVENTS)
        stream = self.stream(self.node.size if start is None else start, account, service, limit)
        return StreamingResponse(stream, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def stream(self, start: int, account: str | None, service: str | None, limit: int | None) -> AsyncIterator[str]:
        """Receipts from log index ``start`` on, as they commit; each message's id is the log
        index of its receipt (on the last message of that receipt)."""
        node = self.node
        event = node.watch()
        sent = 0
        try:
            yield ": amigos event stream\n\n"
            while not node.closing:
                event.clear()
                while start < node.size:
                    end = min(node.size, start + LEAF_CHUNK)
                    leaves = await self.read(lambda a, b: [self.ledger.leaf(i) for i in range(a, b)], start, end)
                    for index, leaf in enumerate(leaves, start):
                        for message in receipt_messages(index, leaf, account, service):
                            yield message
                            sent += 1
                            if limit is not None and sent >= limit:
                                return
                    start = end
                try:
                    await asyncio.wait_for(event.wait(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            node.unwatch(event)


def not_accepting() -> Problem:
    return Problem(503, "unavailable", "the node is not accepting transactions (stopping?)")


async def resolved_outcomes(submission: Submission) -> list[Outcome] | None:
    """The outcomes of submitted transactions once the sequencer resolved them all; None if it
    has not within WAIT_SECONDS (they may still come), 503 if their block could not be committed."""
    if not await resolved_in_time(submission.future, WAIT_SECONDS):
        return None
    try:
        return submission.future.result()
    except AmigosError as exc:
        raise Problem(503, "unavailable", f"the block could not be committed: {exc}") from None


async def resolved_in_time(future: Future[Any], timeout: float) -> bool:
    """Wait until the sequencer resolved ``future`` (a submission's), or ``timeout`` seconds
    (False). Nothing cancels it, which would make the sequencer fail to resolve it.

    A future keeps its done callbacks, so they must not refer to it: the reference cycle would
    keep each request's outcomes alive until the garbage collector's slowest pass, which then
    stops the node for tens of milliseconds."""
    if future.done():  # refused at once, say
        return True
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bool] = loop.create_future()

    def settle(outcome: bool) -> None:
        if not done.done():
            done.set_result(outcome)

    def resolved(_: object) -> None:  # in the sequencer's thread, or here if already resolved
        try:
            loop.call_soon_threadsafe(settle, True)
        except RuntimeError:  # the loop closed: nobody is waiting any more
            pass

    future.add_done_callback(resolved)
    timer = loop.call_later(timeout, settle, False)
    try:
        return await done  # cancelling `done` (the request's end) cancels nothing else
    finally:
        timer.cancel()


def receipt_messages(index: int, leaf: bytes, account: str | None, service: str | None) -> list[str]:
    """The SSE messages of one receipt under the filters: ``receipt`` (the receipt without its
    leaf) if the transaction matches, then one ``event`` per matching event it emitted."""
    fields = receipt_fields(leaf)
    if account is not None and not concerns_account(fields, account):
        return []
    if service is not None and service not in touched_services(fields):
        return []
    receipt = receipt_to_json(leaf, fields)
    del receipt["leaf"]
    messages = [("receipt", receipt)]
    for e in receipt["events"]:
        if service is None or e["service"] == service:
            messages.append(("event", {"tx_hash": receipt["tx_hash"], "height": receipt["height"], "index": index, **e}))
    out = []
    for number, (kind, data) in enumerate(messages, 1):
        out.append(f"event: {kind}\n" + (f"id: {index}\n" if number == len(messages) else "") + f"data: {dump_json(data)}\n\n")
    return out


def client_host(request: Request) -> str | None:
    """The client's IP address as the server saw it (behind a proxy: what the server was told to trust)."""
    return None if request.client is None else request.client.host


def signed_reader(request: Request, chain_id: str, now: int) -> bytes | None:
    """The key that signed this read (see :mod:`.auth`), None if unsigned; a problem if it does not hold."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    target = request.scope["path"] + ("?" + query if query else "")
    return authorised(lambda: signed_key(request.headers, chain_id, request.method, target, now))


def authorised(check: Callable[[], Any]) -> Any:
    try:
        return check()
    except ReadRefused as exc:
        raise (bad(exc.detail) if exc.status == 400 else Problem(403, "forbidden", exc.detail)) from None


def receipt_json(leaf: bytes, proof: dict[str, Any], fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {**receipt_to_json(leaf, fields), "proof": proof}


def answer_head(outcomes: list[Outcome], latest: SignedTreeHead | None) -> SignedTreeHead | None:
    """The head that proves a set of receipts: that of the last block any of them is in
    (``latest`` if none is in a block)."""
    heads = [o.head for o in outcomes if o.head is not None]
    return max(heads, key=lambda h: h.head.height) if heads else latest


def refusal_json(refusal: TransactionRefused) -> dict[str, str]:
    return {"code": refusal.code, "detail": refusal.message}


def html_page(path: str, markdown: str) -> bytes:
    """The markdown as a standalone HTML page. Raw HTML in the markdown is shown as text, not
    run: a service's page is untrusted input (and the CSP header forbids scripts anyway)."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).render(markdown)
    page = (f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{escape(path)}</title>'
            '<style>body{max-width:46rem;margin:2rem auto;padding:0 1rem;font-family:system-ui,sans-serif;'
            'line-height:1.5}pre{background:#f4f4f4;padding:.5rem;overflow:auto}</style></head>\n'
            f"<body>\n{body}</body></html>\n")
    return page.encode("utf-8", "replace")


# --------------------------------------------------------------------------- errors


async def on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return exc.response()


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if exc.status_code != 404 else f"no route {request.method} {request.url.path}"
    return http_problem(exc.status_code, detail, dict(exc.headers or {}) or None).response()


async def on_amigos_error(request: Request, exc: Exception) -> Response:
    """Errors the handlers did not translate themselves, by kind."""
    if isinstance(exc, TransactionRefused):
        return refused(exc).response()
    if isinstance(exc, ExecutionError):
        return execution_failed(exc).response()
    if isinstance(exc, (UsageError, CodecError, ProofError)):
        return bad(str(exc)).response()
    if isinstance(exc, (StoreError, SandboxUnavailable)):
        log.error("%s %s: %s", request.method, request.url.path, exc)
        return Problem(503, "unavailable", str(exc)).response()
    return await on_unexpected(request, exc)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    # A bug: answer a problem all the same (the server logs the traceback).
    return Problem(500, "internal-error", "the node failed to answer this request").response()


EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    Problem: on_problem,
    HTTPException: on_http_exception,
    AmigosError: on_amigos_error,
    Exception: on_unexpected,
}
"""How the application answers an exception a handler raised: by its class's nearest entry."""


def exception_handler(exc: Exception) -> Callable[[Request, Exception], Awaitable[Response]]:
    return next(EXCEPTION_HANDLERS[cls] for cls in type(exc).__mro__ if cls in EXCEPTION_HANDLERS)


# --------------------------------------------------------------------------- the application


class Shortcut:
    """A route's handler as a plain ASGI application that answers errors itself, exactly as the
    application's exception handlers do: what :class:`NodeApp` calls for the routes it takes
    past Starlette's middleware and router."""

    def __init__(self, handler: Callable[[Request], Awaitable[Response]]) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self.handler(request)
        except Exception as exc:
            handler = exception_handler(exc)
            await (await handler(request, exc))(scope, receive, send)
            if handler is on_unexpected:
                raise  # as Starlette's ServerErrorMiddleware does: the server logs the bug
            return
        await response(scope, receive, send)


class NodeApp(Starlette):
    """The node's Starlette application, which takes the requests of ``shortcuts`` (by method
    and path) straight to their :class:`Shortcut`: submitting a transaction is what clients do
    at rate, and Starlette's middleware and router cost it about a fifth of its time on the
    event loop. Those routes stay in the router too, which answers their other methods (405)."""

    def __init__(self, *, shortcuts: dict[tuple[str, str], Shortcut], **options: Any) -> None:
        super().__init__(**options)
        self.shortcuts = shortcuts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            shortcut = self.shortcuts.get((scope["method"], scope["path"]))
            if shortcut is not None:
                scope["app"] = self
                await shortcut(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(node: Node, *, stop_node_on_shutdown: bool = False) -> Starlette:
    """The ASGI application serving ``node``, which the caller starts; the caller stops it too,
    unless ``stop_node_on_shutdown`` (then the server's shutdown does, once requests are done)."""
    api = Api(node)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if stop_node_on_shutdown:
            await run_in_threadpool(node.stop)

    get, post = ["GET"], ["POST"]
    routes = [
        Route("/", api.index, methods=get),
        Route("/openapi.json", api.openapi_json, methods=get),
        Route("/v1/node", api.node_info, methods=get),
        Route("/v1/transactions", api.submit, methods=post),
        Route("/v1/receipts/{tx_hash}", api.receipt, methods=get),
        Route("/v1/heads/latest", api.latest_head, methods=get),
        Route("/v1/heads/{height}", api.head, methods=get),
        Route("/v1/proofs/consistency", api.consistency_proof, methods=get),
        Route("/v1/blocks", api.blocks, methods=get),
        Route("/v1/blocks/{height}", api.block, methods=get),
        Route("/v1/services", api.services, methods=get),
        Route("/v1/services/{path:path}", api.service, methods=get),
        Route("/v1/state/{path:path}", api.state, methods=get),
        Route("/v1/query/{path:path}", api.query, methods=["GET", "POST"]),
        Route("/v1/render/{path:path}.json", api.render_json, methods=get),
        Route("/v1/render/{path:path}.html", api.render_html, methods=get),
        Route("/v1/render/{path:path}", api.render, methods=get),
        Route("/v1/accounts/{address}", api.account, methods=get),
        Route("/v1/genesis", api.genesis, methods=get),
        Route("/v1/faucet", api.faucet, methods=post),
        Route("/v1/events", api.events, methods=get),
    ]
    app = NodeApp(routes=routes, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan,
                  shortcuts={("POST", "/v1/transactions"): Shortcut(api.submit)})
    app.state.node = node
    return app
