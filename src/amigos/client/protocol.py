"""The SDK's conversation with a node, written once for the sync and the async client.

Each operation is a *flow*: a generator that yields the HTTP :class:`Request` it needs next,
is sent back the :class:`Response`, and returns the operation's result (or raises). It does
no I/O itself, so :class:`~amigos.client.NodeClient` drives it with ``httpx.Client`` and
:class:`~amigos.client.AsyncNodeClient` with ``httpx.AsyncClient``, and both sign, count
nonces and check proofs and tree heads by the same code. A driver that cannot reach the node
throws its NodeError into the flow, so the flow can forget what is then in doubt (the nonce).

:class:`Session` holds what a client knows about one node: the pinned node key and chain id,
the newest tree head it checked (remembered in a state file if asked), the account's nonce.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Generator, Iterable, Sequence, TypeVar

from ..crypto.keys import SIGNATURE_SIZE, Account
from ..errors import ForkDetected, NodeError, ProofError, TransactionRefused, UsageError
from ..jsonvalue import from_json, to_json
from ..ledger.ante import MAX_TX_GAS, intrinsic_gas
from ..ledger.block import SignedTreeHead
from ..ledger.tx import AccountMessage, Call, Deploy, Message, SignedTransaction, Transaction, sign
from ..node.auth import sign_read
from ..node.wire import MAX_BATCH, WireError, dump_json, head_to_json, parse_hex
from ..runtime import Call as RuntimeCall
from ..vm.gas import DEFAULT_GAS, DEPLOY_GAS
from ..vm.paths import validate_path
from . import statefile, verify
from .accounts import account_to_read, call_message, signed_for
from .receipt import Receipt, batch_receipts, deploy_failure

T = TypeVar("T")


@dataclass(frozen=True)
class Request:
    """An HTTP request a flow needs answered: ``payload`` is JSON (None: no body)."""

    method: str
    path: str
    params: dict[str, int | str] = field(default_factory=dict)
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def http_options(self) -> dict[str, Any]:
        """Keyword arguments for ``httpx.Client.request`` (and its async twin)."""
        options: dict[str, Any] = {"params": self.params, "headers": dict(self.headers)}
        if self.payload is not None:  # encoded here: httpx's own encoding fails on lone surrogates
            options["content"] = dump_json(self.payload).encode()
            options["headers"]["content-type"] = "application/json"
        return options


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


Flow = Generator[Request, Response, T]


def unreachable(url: str, exc: Exception) -> NodeError:
    """The error a driver throws into a flow when the node cannot be reached."""
    return NodeError(0, "unreachable", f"cannot reach the node at {url}: {exc}")


def run_flow(flow: Flow[T], exchange: Callable[[Request], Response]) -> T:
    """Drive ``flow`` with ``exchange(request) -> Response`` (the sync driver); ``exchange``
    raises NodeError when the node cannot be reached. A flow left half-way (an interrupt, a
    cancelled task) is closed at once, so that it forgets what is in doubt before anyone
    else sends."""
    try:
        request = next(flow)
        while True:
            try:
                response = exchange(request)
            except NodeError as exc:
                request = flow.throw(exc)
            else:
                request = flow.send(response)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        flow.close()


async def run_flow_async(flow: Flow[T], exchange: Callable[[Request], Awaitable[Response]]) -> T:
    """:func:`run_flow` with ``await exchange(request)`` (the async driver)."""
    try:
        request = next(flow)
        while True:
            try:
                response = await exchange(request)
            except NodeError as exc:
                request = flow.throw(exc)
            else:
                request = flow.send(response)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        flow.close()


_MISSING: Any = object()


class Session:
    """What a client knows about the node at ``url``, and the flows of every operation.

    ``node_key`` pins the node's key up front; otherwise the key the node shows on first
    contact is pinned (trust on first use) and remembered in ``state_file`` if given, with the
    newest tree head checked. Flows that send transactions must not run concurrently for one
    session (each takes the next nonce); the drivers serialise them.
    """

    def __init__(self, url: str, account: Account | None, *, acting_for: str | None = None,
                 node_key: str | bytes | None = None, state_file: str | os.PathLike[str] | None = None) -> None:
        self.url = url.rstrip("/")
        self.account = account
        self.acting_for = signed_for(account, acting_for)
        self.state_file = None if state_file is None else Path(state_file)
        self.node_key: bytes | None = bytes.fromhex(node_key) if isinstance(node_key, str) else node_key
        self.chain_id: str | None = None
        self.head: SignedTreeHead | None = None
        """The newest tree head this client has checked."""
        self.nonce: int | None = None
        """The account's last nonce as counted here; None: ask the node."""
        self._lock = threading.Lock()  # guards the head; never held across a yield (I/O)
        self._load_state()

    # ------------------------------------------------------------ transactions

    def deploy(self, path: str, source: str, gas: int | None) -> Flow[Receipt]:
        """Deploy (or upgrade) a service; a failed deploy raises DeployError with its receipt."""
        receipt = yield from self.send([Deploy(validate_path(path), source)], gas)
        if not receipt.ok:
            raise deploy_failure(receipt)
        return receipt

    def call(self, path: str, function: str, args: Sequence[Any], kwargs: dict[str, Any] | None,
             gas: int | None, coins: int = 0) -> Flow[Receipt]:
        return self.send([call_message(path, function, args, kwargs, coins)], gas)

    @property
    def address(self) -> str | None:
        """The account this client's transactions are for: ``acting_for``, else the key's own."""
        return self.acting_for or (None if self.account is None else self.account.address)

    def send(self, messages: list[Message], gas: int | None) -> Flow[Receipt]:
        """Sign ``messages`` as one transaction, send it and return its proven receipt."""
        try:
            (outcome,) = yield from self._post([(yield from self._sign(messages, gas))])
        except BaseException:
            self.nonce = None  # which nonces the node used is unknown: ask it next time
            raise
        if isinstance(outcome, TransactionRefused):
            self.nonce = None
            raise outcome
        return outcome

    def submit_many(self, items: Iterable[RuntimeCall | Message | SignedTransaction]) -> Flow[list[Receipt]]:
        """Send each item as a transaction, in batches; the receipts in order. If any is
        refused, raises the first TransactionRefused with every outcome as ``outcomes``."""
        outcomes: list[Receipt | TransactionRefused] = []
        try:
            pending = []
            for item in items:
                pending.append((yield from self._as_transaction(item)))
            for start in range(0, len(pending), MAX_BATCH):
                outcomes.extend((yield from self._post(pending[start:start + MAX_BATCH])))
        except BaseException:
            self.nonce = None
            raise
        if any(isinstance(o, TransactionRefused) for o in outcomes):
            self.nonce = None  # some nonces were not used: ask the node again next time
        return batch_receipts(outcomes)

    def receipt(self, tx_hash: str | bytes) -> Flow[Receipt]:
        """The receipt of a transaction already in the log, proven against the latest head."""
        try:
            wanted = parse_hex(tx_hash, "tx_hash", 32) if isinstance(tx_hash, str) else tx_hash
        except WireError as exc:
            raise UsageError(str(exc)) from None
        since = self._known_size()
        body = yield from self._json(Request("GET", f"/v1/receipts/{wanted.hex()}", _since(since)))
        head = yield from self._observe(body.get("head"), body.get("consistency", _MISSING), since)
        return verify.proven_receipt(body.get("receipt"), head, wanted)

    def _as_transaction(self, item: RuntimeCall | Message | SignedTransaction) -> Flow[SignedTransaction]:
        if isinstance(item, SignedTransaction):
            return item
        if isinstance(item, RuntimeCall):
            message: Message = call_message(item.path, item.function, item.args, item.kwargs, 0)
            return (yield from self._sign([message], item.gas))
        if isinstance(item, (Call, Deploy, AccountMessage)):
            return (yield from self._sign([item], None))
        raise UsageError(f"submit_many takes amigos.Call, ledger messages or SignedTransaction, not {type(item).__name__}")

    def _sign(self, messages: list[Message], gas: int | None) -> Flow[SignedTransaction]:
        account = self.account
        if account is None:
            raise UsageError("this client has no account to sign with: connect(url, account=…)")
        yield from self._contact_once()
        chain_id = self.chain_id
        assert chain_id is not None and self.address is not None
        if self.nonce is None:
            self.nonce = yield from self.last_nonce()
        self.nonce += 1
        return signed_transaction(account, chain_id, self.address, self.nonce, messages, gas)

    def last_nonce(self) -> Flow[int]:
        """The last nonce the node has for this client's key (0 before its first transaction)."""
        if self.account is None:
            raise UsageError("this client has no account: connect(url, account=…)")
        body = yield from self._json(Request("GET", f"/v1/accounts/{self.address}",
                                             {"key": self.account.public_key.hex()}))
        try:
            return int(body["keys"][0]["last_nonce"])
        except (KeyError, IndexError, TypeError, ValueError):
            raise NodeError(200, "bad-response", "the node's account answer has no last nonce") from None

    def account_info(self, address: str | None, signed: bool, now: int) -> Flow[dict[str, Any]]:
        """The node's ``GET /v1/accounts/{address}`` answer (default: this client's account);
        ``signed``: a read signed at ``now`` by this client's key, so that the answer has the
        account's ``private`` part (its sessions, its webhook)."""
        address = account_to_read(self.address, address, signed)
        target = f"/v1/accounts/{address}"
        headers = {}
        if signed:
            assert self.account is not None
            yield from self._contact_once()
            assert self.chain_id is not None
            headers = sign_read(self.account, self.chain_id, "GET", target, now)
        body = yield from self._json(Request("GET", target, headers=headers))
        if signed and type(body.get("private")) is not dict:
            raise NodeError(200, "bad-response", "the node's answer to a signed read has no private part")
        return body

    def _post(self, transactions: Sequence[SignedTransaction]) -> Flow[list[Receipt | TransactionRefused]]:
        single = len(transactions) == 1
        payload: dict[str, Any] = ({"tx": transactions[0].encode().hex()} if single
                                   else {"txs": [t.encode().hex() for t in transactions]})
        since = self._known_size()
        try:
            body = yield from self._json(Request("POST", "/v1/transactions", _since(since), payload))
        except TransactionRefused as refusal:
            if single:
                return [refusal]
            raise
        entries = [body] if single else body.get("outcomes")
        if body.get("head") is None and not single:  # an empty log and nothing got in: no head to check
            head = None
        else:
            head = yield from self._observe(body.get("head"), body.get("consistency", _MISSING), since)
        if type(entries) is not list or len(entries) != len(transactions):
            raise NodeError(200, "bad-response", "the node answered another number of outcomes than transactions sent")
        out: list[Receipt | TransactionRefused] = []
        for stx, entry in zip(transactions, entries, strict=True):
            refused = entry.get("refused") if type(entry) is dict else None
            if type(refused) is dict:
                out.append(TransactionRefused(str(refused.get("code")), str(refused.get("detail"))))
            elif head is None:
                raise ProofError("the node answered a receipt without a tree head to prove it against")
            else:
                out.append(verify.proven_receipt(entry.get("receipt") if type(entry) is dict else None, head, stx.tx_hash))
        return out

    # ------------------------------------------------------------ reading

    def query(self, path: str, function: str, args: Sequence[Any], kwargs: dict[str, Any] | None,
              gas: int | None) -> Flow[Any]:
        payload: dict[str, Any] = {"function": function, "args": to_json(list(args)), "kwargs": to_json(kwargs or {})}
        if gas is not None:
            payload["gas"] = gas
        body = yield from self._json(Request("POST", f"/v1/query/{validate_path(path)}", payload=payload))
        return from_json(body.get("result"))

    def render(self, path: str, subpath: str) -> Flow[str]:
        if not isinstance(subpath, str):
            raise UsageError("a render path must be a string")
        response = yield Request("GET", f"/v1/render/{validate_path(path)}", {"path": subpath})
        _raise_problem(response)
        return response.body.decode("utf-8", "replace")

    def describe(self, path: str) -> Flow[dict[str, Any]]:
        return self._json(Request("GET", f"/v1/services/{validate_path(path)}"))

    def services(self) -> Flow[list[dict[str, Any]]]:
        body = yield from self._json(Request("GET", "/v1/services"))
        return list(body.get("services", []))

    def state(self, path: str) -> Flow[dict[str, Any]]:
        return self._json(Request("GET", f"/v1/state/{validate_path(path)}"))

    def _json(self, request: Request) -> Flow[dict[str, Any]]:
        """The JSON object the node answers ``request`` with; a problem answer is raised."""
        response = yield request
        _raise_problem(response)
        try:
            body = json.loads(response.body)
        except ValueError:
            body = None
        if type(body) is not dict:
            raise NodeError(response.status, "bad-response",
                            f"{request.method} {request.path}: the node did not answer a JSON object")
        return body

    # ------------------------------------------------------------ the log

    def contact(self) -> Flow[dict[str, Any]]:
        """Ask the node who it is: pin its key and chain id (first contact) or check them, and
        check its latest head against the last one seen."""
        info = yield from self._json(Request("GET", "/v1/node"))
        chain_id = info.get("chain_id")
        try:
            key = parse_hex(info.get("node_key"), "node_key", 32)
            if type(chain_id) is not str:
                raise WireError("chain_id must be a string")
        except WireError as exc:
            raise NodeError(200, "bad-response", f"the node's description: {exc}") from None
        with self._lock:
            if self.node_key is None:
                self.node_key = key
            elif key != self.node_key:
                raise ForkDetected(f"the node at {self.url} signs with key {key.hex()}, not the pinned {self.node_key.hex()}")
            if self.chain_id is not None and chain_id != self.chain_id:
                raise ForkDetected(f"the node at {self.url} serves chain {chain_id!r}, not {self.chain_id!r}")
            self.chain_id = chain_id
        if info.get("head") is not None:
            yield from self._observe(info["head"], _MISSING, None)
        elif self.head is not None:
            raise ForkDetected(f"the node at {self.url} shows an empty log, but it signed a tree of "
                               f"{self.head.head.size} receipts", head_to_json(self.head), None)
        return info

    def _contact_once(self) -> Flow[None]:
        if self.chain_id is None:
            yield from self.contact()

    def _known_size(self) -> int | None:
        head = self.head
        return None if head is None else head.head.size

    def _observe(self, head_json: object, consistency: object, since: int | None) -> Flow[SignedTreeHead]:
        """Check a signed head the node showed against the pinned key and the last head seen,
        and keep it if it is newer. ``consistency`` is the proof that came with it (for a
        client that said ``since``), or _MISSING to fetch one if needed."""
        yield from self._contact_once()
        shown = verify.signed_head(head_json, self.node_key, self.chain_id)
        while True:
            seen = self.head
            if seen is not None:
                sizes = verify.sizes_to_prove(seen, shown)
                if sizes is not None:
                    proof = consistency if since == seen.head.size else _MISSING
                    if proof is _MISSING:
                        proof = yield from self._consistency_proof(*sizes)
                    verify.check_consistency(seen, shown, proof)
            with self._lock:
                if self.head is not seen:  # another call moved on meanwhile: check against its head too
                    continue
                if verify.is_newer(shown, seen):
                    self.head = shown
                    self._save_state()
            return shown

    def _consistency_proof(self, old_size: int, new_size: int) -> Flow[object]:
        """The node's consistency proof between two tree sizes; None if it lacks the old tree."""
        try:
            return (yield from self._json(Request("GET", "/v1/proofs/consistency", {"from": old_size, "to": new_size})))
        except NodeError as exc:
            if exc.code != "unknown-tree-size":
                raise
            return None

    # ------------------------------------------------------------ the state file

    def _load_state(self) -> None:
        """Read the pinned key and last head for this URL from the state file, if any."""
        if self.state_file is None:
            return
        saved = statefile.pinned(self.state_file, self.url)
        if saved is None:
            return
        key, head = saved
        if self.node_key is not None and key != self.node_key:
            raise ForkDetected(f"{self.state_file} pinned another key for {self.url}: {key.hex()}")
        self.node_key = key
        if head is not None:
            if head.node_key != key or not head.verify():
                raise statefile.damaged(self.state_file, f"the tree head saved for {self.url} is not signed by the pinned key")
            self.head, self.chain_id = head, head.head.chain_id

    def _save_state(self) -> None:
        if self.state_file is None or self.node_key is None:
            return
        statefile.save_pin(self.state_file, self.url, self.node_key, self.head)


class SessionClient:
    """What a node client, sync or async, shows of its :class:`Session` and its clock."""

    session: Session
    clock: Callable[[], int]

    @property
    def url(self) -> str:
        return self.session.url

    @property
    def key(self) -> Account | None:
        """The key this client signs with."""
        return self.session.account

    @property
    def address(self) -> str | None:
        """The account this client's transactions are for (``acting_for``, else the key's own)."""
        return self.session.address

    @property
    def node_key(self) -> bytes | None:
        """The node's pinned public key."""
        return self.session.node_key

    @property
    def chain_id(self) -> str | None:
        return self.session.chain_id

    @property
    def head(self) -> SignedTreeHead | None:
        """The newest tree head this client has checked."""
        return self.session.head

    def _now(self) -> int:
        return int(self.clock())


def signed_transaction(key: Account, chain_id: str, account: str, nonce: int, messages: Sequence[Message],
                       gas: int | None) -> SignedTransaction:
    """``messages`` as a transaction for ``account`` signed by ``key``, with a gas limit of the
    intrinsic gas plus ``gas`` (default: the default gas of each message)."""
    budget = gas if gas is not None else sum(DEPLOY_GAS if isinstance(m, Deploy) else DEFAULT_GAS for m in messages)

    def transaction(gas_limit: int) -> Transaction:
        return Transaction(chain_id=chain_id, account=account, public_key=key.public_key,
                           nonce=nonce, gas_limit=gas_limit, messages=tuple(messages))

    # The gas limit covers the intrinsic gas, measured on the largest encoding of the limit.
    # A signature's size is fixed, so the draft measured needs none: only the real one is signed.
    draft = SignedTransaction(transaction(MAX_TX_GAS), bytes(SIGNATURE_SIZE))
    return sign(transaction(min(MAX_TX_GAS, intrinsic_gas(draft) + budget)), key)


def _raise_problem(response: Response) -> None:
    if response.status < 400:
        return
    try:
        problem = json.loads(response.body)
    except ValueError:
        problem = None
    raise verify.problem_error(response.status, problem, response.body.decode("utf-8", "replace"))


def _since(size: int | None) -> dict[str, int | str]:
    return {} if size is None else {"since": size}
