"""``NodeClient``: deploy, call and query services on a running node, checking what it says.

Every receipt the node returns comes with an inclusion proof against a tree head the node
signed. The client checks the signature with the node key it pinned on first contact, checks
the proof, and reads the receipt's fields from the proven leaf bytes. It keeps the last tree
head it saw and, whenever the node shows a newer (or older) one, checks a consistency proof
between the two: a node that rewrote or rolled back its log is caught, with
:class:`~amigos.errors.ForkDetected` and both signed heads as evidence.

What is *not* proven yet: ``query``, ``render``, ``describe`` and ``state`` answers (they read
current state, which has no proof until state commitments come).
"""

from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import httpx

from ..crypto.keys import Account
from ..errors import (
    REFUSAL_CODES,
    DeployError,
    ExecutionError,
    ForkDetected,
    NodeError,
    ProofError,
    TransactionRefused,
    UsageError,
    execution_error,
)
from ..jsonvalue import from_json, to_json
from ..ledger.ante import MAX_TX_GAS, intrinsic_gas
from ..ledger.block import SignedTreeHead
from ..ledger.tx import Call, Deploy, Message, SignedTransaction, Transaction, sign
from ..merkle import leaf_hash, verify_consistency, verify_inclusion
from ..node.wire import MAX_BATCH, WireError, dump_json, head_from_json, head_to_json, parse_hex, receipt_fields
from ..runtime import Call as RuntimeCall
from ..vm.gas import DEFAULT_GAS, DEPLOY_GAS
from ..vm.machine import Event
from ..vm.paths import validate_path

_MISSING: Any = object()


@dataclass(frozen=True)
class InclusionProof:
    """That leaf ``index`` is in the tree of ``size`` receipts whose signed head is ``head``."""

    index: int
    size: int
    hashes: list[bytes]
    head: SignedTreeHead


@dataclass
class Receipt:
    """What a transaction did, read from its proven log leaf. The fields of
    :class:`amigos.Receipt` (``result`` is the last message's result), plus where it is in the
    log and the proof that it is there."""

    ok: bool
    result: Any
    error: ExecutionError | None
    gas_used: int
    events: list[Event]
    height: int
    tx_hash: str
    index: int
    results: list[Any] = field(default_factory=list)
    failed_message: int | None = None
    writes_hash: bytes = b""
    proof: InclusionProof | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "result": to_json(self.result),
            "error": None if self.error is None else self.error.to_dict(),
            "gas_used": self.gas_used,
            "events": [{**e.to_dict(), "attrs": to_json(e.attrs)} for e in self.events],
            "height": self.height,
            "tx_hash": self.tx_hash,
            "index": self.index,
        }


def connect(url: str, account: Account | None = None, **options: Any) -> NodeClient:
    """A client of the node at ``url`` (e.g. ``http://127.0.0.1:8700``) signing as ``account``;
    see :class:`NodeClient` for the options. Contacts the node at once to pin its key."""
    client = NodeClient(url, account, **options)
    client.contact()
    return client


class NodeClient:
    """A node's services, as an account sees them.

    ``node_key`` (hex or bytes) pins the node's key up front; otherwise the key the node shows
    on first contact is pinned (trust on first use), and remembered in ``state_file`` if given,
    together with the last tree head seen. ``http`` replaces the HTTP client (tests pass an
    in-process one). Calls from several threads are safe; they are sent one at a time, since
    each takes the next nonce of the account's key.
    """

    def __init__(self, url: str, account: Account | None = None, *, node_key: str | bytes | None = None,
                 state_file: str | os.PathLike[str] | None = None, http: httpx.Client | None = None,
                 timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.account = account
        self.http = http if http is not None else httpx.Client(base_url=self.url, timeout=timeout)
        self.state_file = None if state_file is None else Path(state_file)
        self.node_key: bytes | None = bytes.fromhex(node_key) if isinstance(node_key, str) else node_key
        self.chain_id: str | None = None
        self.head: SignedTreeHead | None = None
        """The newest tree head this client has checked."""
        self._nonce: int | None = None
        self._lock = threading.RLock()
        self._sending = threading.Lock()
        self._load_state()

    # ------------------------------------------------------------ transactions

    def deploy(self, path: str, source: str, *, gas: int | None = None) -> Receipt:
        """Deploy (or upgrade) the service at ``path``; raises DeployError if it failed (the
        receipt is its ``receipt`` attribute: a failed deploy still used its nonce)."""
        receipt = self._send_one([Deploy(validate_path(path), source)], gas)
        if not receipt.ok:
            assert receipt.error is not None
            error = DeployError(receipt.error.message, rule="deploy-failed", gas_used=receipt.gas_used)
            error.receipt = receipt  # type: ignore[attr-defined]
            raise error
        return receipt

    def call(self, path: str, function: str, *args: Any, gas: int | None = None,
             kwargs: dict[str, Any] | None = None) -> Receipt:
        """Call ``function`` in a signed transaction and wait for its proven receipt. A failed
        call is a receipt with ``ok`` False; a refused transaction raises TransactionRefused."""
        return self._send_one([Call(validate_path(path), function, tuple(args), dict(kwargs or {}))], gas)

    def submit_many(self, items: Iterable[RuntimeCall | Message | SignedTransaction]) -> list[Receipt]:
        """Send many calls (``amigos.Call``), messages (``Call``/``Deploy`` of amigos.ledger)
        or already signed transactions, one transaction each, in batches; return their
        receipts in order. If any is refused, raises the first TransactionRefused, whose
        ``outcomes`` attribute holds every receipt or refusal in order."""
        outcomes: list[Receipt | TransactionRefused] = []
        with self._sending, self._nonce_in_doubt():
            pending = [self._as_transaction(item) for item in items]
            for start in range(0, len(pending), MAX_BATCH):
                outcomes.extend(self._post(pending[start:start + MAX_BATCH]))
        refusals = [o for o in outcomes if isinstance(o, TransactionRefused)]
        if refusals:
            self._nonce = None  # some nonces were not used: ask the node again next time
            refusals[0].outcomes = outcomes  # type: ignore[attr-defined]
            raise refusals[0]
        return [o for o in outcomes if isinstance(o, Receipt)]

    def receipt(self, tx_hash: str | bytes) -> Receipt:
        """The receipt of a transaction already in the log, proven against the latest head."""
        wanted = parse_hex(tx_hash, "tx_hash", 32) if isinstance(tx_hash, str) else tx_hash
        since = self._known_size()
        body = self._request("GET", f"/v1/receipts/{wanted.hex()}", params=_params(since=since))
        head = self._observe(body.get("head"), body.get("consistency", _MISSING), since)
        return self._proven(body.get("receipt"), head, wanted)

    def _send_one(self, messages: list[Message], gas: int | None) -> Receipt:
        with self._sending, self._nonce_in_doubt():
            (outcome,) = self._post([self._sign(messages, gas)])
        if isinstance(outcome, TransactionRefused):
            self._nonce = None
            raise outcome
        return outcome

    @contextmanager
    def _nonce_in_doubt(self) -> Iterator[None]:
        """If sending fails half-way, which nonces the node used is unknown: ask it next time."""
        try:
            yield
        except BaseException:
            self._nonce = None
            raise

    def _as_transaction(self, item: RuntimeCall | Message | SignedTransaction) -> SignedTransaction:
        if isinstance(item, SignedTransaction):
            return item
        if isinstance(item, RuntimeCall):
            message: Message = Call(validate_path(item.path), item.function, tuple(item.args), dict(item.kwargs or {}))
            return self._sign([message], item.gas)
        if isinstance(item, (Call, Deploy)):
            return self._sign([item], None)
        raise UsageError(f"submit_many takes amigos.Call, ledger Call/Deploy or SignedTransaction, not {type(item).__name__}")

    def _sign(self, messages: list[Message], gas: int | None) -> SignedTransaction:
        if self.account is None:
            raise UsageError("this client has no account to sign with: connect(url, account=…)")
        self.contact_once()
        budget = gas if gas is not None else sum(DEPLOY_GAS if isinstance(m, Deploy) else DEFAULT_GAS for m in messages)
        nonce = self._next_nonce()

        def transaction(gas_limit: int) -> Transaction:
            assert self.account is not None and self.chain_id is not None
            return Transaction(chain_id=self.chain_id, account=self.account.address, public_key=self.account.public_key,
                               nonce=nonce, gas_limit=gas_limit, messages=tuple(messages))

        # The gas limit covers the intrinsic gas, measured on the largest encoding of the limit.
        draft = sign(transaction(MAX_TX_GAS), self.account)
        return sign(transaction(min(MAX_TX_GAS, intrinsic_gas(draft) + budget)), self.account)

    def _next_nonce(self) -> int:
        with self._lock:
            if self._nonce is None:
                assert self.account is not None
                self._nonce = self.last_nonce()
            self._nonce += 1
            return self._nonce

    def last_nonce(self) -> int:
        """The last nonce the node has for this client's key (0 before its first transaction)."""
        assert self.account is not None
        body = self._request("GET", f"/v1/accounts/{self.account.address}", params={"key": self.account.public_key.hex()})
        try:
            return int(body["keys"][0]["last_nonce"])
        except (KeyError, IndexError, TypeError, ValueError):
            raise NodeError(200, "bad-response", "the node's account answer has no last nonce") from None

    def _post(self, transactions: Sequence[SignedTransaction]) -> list[Receipt | TransactionRefused]:
        single = len(transactions) == 1
        payload: dict[str, Any] = ({"tx": transactions[0].encode().hex()} if single
                                   else {"txs": [t.encode().hex() for t in transactions]})
        since = self._known_size()
        try:
            body = self._request("POST", "/v1/transactions", params=_params(since=since), payload=payload)
        except TransactionRefused as refusal:
            if single:
                return [refusal]
            raise
        entries = [body] if single else body.get("outcomes")
        if body.get("head") is None and not single:  # an empty log and nothing got in: no head to check
            head = None
        else:
            head = self._observe(body.get("head"), body.get("consistency", _MISSING), since)
        if type(entries) is not list or len(entries) != len(transactions):
            raise NodeError(200, "bad-response", "the node answered another number of outcomes than transactions sent")
        out: list[Receipt | TransactionRefused] = []
        for stx, entry in zip(transactions, entries):
            refused = entry.get("refused") if type(entry) is dict else None
            if type(refused) is dict:
                out.append(TransactionRefused(str(refused.get("code")), str(refused.get("detail"))))
            elif head is None:
                raise ProofError("the node answered a receipt without a tree head to prove it against")
            else:
                out.append(self._proven(entry.get("receipt") if type(entry) is dict else None, head, stx.tx_hash))
        return out

    # ------------------------------------------------------------ reading

    def query(self, path: str, function: str, *args: Any, kwargs: dict[str, Any] | None = None,
              gas: int | None = None) -> Any:
        """Call ``function`` read-only; raises its ExecutionError if it fails."""
        payload: dict[str, Any] = {"function": function, "args": to_json(list(args)), "kwargs": to_json(kwargs or {})}
        if gas is not None:
            payload["gas"] = gas
        body = self._request("POST", f"/v1/query/{validate_path(path)}", payload=payload)
        return from_json(body.get("result"))

    def render(self, path: str, subpath: str = "") -> str:
        """The markdown of the service's page."""
        response = self._send("GET", f"/v1/render/{validate_path(path)}", params={"path": subpath})
        self._raise_problem(response)
        return response.text

    def describe(self, path: str) -> dict[str, Any]:
        """The service at ``path``: source, functions, dependencies, versions, owner."""
        return self._request("GET", f"/v1/services/{validate_path(path)}")

    def services(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "/v1/services").get("services", []))

    def state(self, path: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/state/{validate_path(path)}")

    # ------------------------------------------------------------ the log

    def contact(self) -> dict[str, Any]:
        """Ask the node who it is: pin its key and chain id (first contact) or check them, and
        check its latest head against the last one seen."""
        info = self._request("GET", "/v1/node")
        key = parse_hex(info.get("node_key"), "node_key", 32)
        with self._lock:
            if self.node_key is None:
                self.node_key = key
            elif key != self.node_key:
                raise ForkDetected(f"the node at {self.url} signs with key {key.hex()}, not the pinned {self.node_key.hex()}")
            chain_id = info.get("chain_id")
            if self.chain_id is not None and chain_id != self.chain_id:
                raise ForkDetected(f"the node at {self.url} serves chain {chain_id!r}, not {self.chain_id!r}")
            self.chain_id = str(chain_id)
        if info.get("head") is not None:
            self._observe(info["head"], _MISSING, None)
        elif self.head is not None:
            raise ForkDetected(f"the node at {self.url} shows an empty log, but it signed a tree of "
                               f"{self.head.head.size} receipts", head_to_json(self.head), None)
        return info

    def contact_once(self) -> None:
        if self.chain_id is None:
            self.contact()

    def _known_size(self) -> int | None:
        with self._lock:
            return None if self.head is None else self.head.head.size

    def _observe(self, head_json: object, consistency: object, since: int | None) -> SignedTreeHead:
        """Check a signed head the node showed against the pinned key and the last head seen;
        keep it if it is newer. ``consistency`` is the proof that came with it (for a client
        that said ``since``), or _MISSING to fetch one if needed."""
        self.contact_once()
        try:
            shown = head_from_json(head_json)
        except WireError as exc:
            raise ProofError(f"the node's tree head is malformed: {exc}") from None
        if shown.node_key != self.node_key or not shown.verify():
            raise ProofError("the tree head is not signed by the node's pinned key")
        if shown.head.chain_id != self.chain_id:
            raise ProofError(f"the tree head is for chain {shown.head.chain_id!r}, not {self.chain_id!r}")
        with self._lock:
            seen = self.head
            if seen is not None:
                self._check_consistent(seen, shown, consistency if since == seen.head.size else _MISSING)
            if seen is None or shown.head.size > seen.head.size or shown.head.height > seen.head.height:
                self.head = shown
                self._save_state()
        return shown

    def _check_consistent(self, seen: SignedTreeHead, shown: SignedTreeHead, consistency: object) -> None:
        old, new = (seen, shown) if seen.head.size <= shown.head.size else (shown, seen)
        evidence = {"seen": head_to_json(seen), "shown": head_to_json(shown)}
        if seen.head.height == shown.head.height and seen.head != shown.head:
            raise ForkDetected(f"the node signed two different tree heads for block {seen.head.height}",
                               evidence["seen"], evidence["shown"])
        if (shown.head.height > seen.head.height and shown.head.size < seen.head.size) or (
                shown.head.height < seen.head.height and shown.head.size > seen.head.size):
            raise ForkDetected("the node's tree sizes do not grow with its block heights", evidence["seen"], evidence["shown"])
        if old.head.size == new.head.size:
            if old.head.root != new.head.root:
                raise ForkDetected(f"two tree heads of size {old.head.size} with different roots",
                                   evidence["seen"], evidence["shown"])
            return
        if consistency is _MISSING:
            try:
                consistency = self._request("GET", "/v1/proofs/consistency",
                                            params={"from": old.head.size, "to": new.head.size})
            except NodeError as exc:
                if exc.code != "unknown-tree-size":
                    raise
                consistency = None
        if consistency is None:
            raise ForkDetected(f"the node's log no longer holds the tree of {seen.head.size} receipts it signed",
                               evidence["seen"], evidence["shown"])
        try:
            if type(consistency) is not dict or (consistency.get("from"), consistency.get("to")) != (old.head.size, new.head.size):
                raise ProofError("the consistency proof is not between the two heads")
            hashes = [parse_hex(h, "hash", 32) for h in consistency.get("hashes", ())]
            verify_consistency(hashes, old_size=old.head.size, new_size=new.head.size,
                               old_root=old.head.root, new_root=new.head.root)
        except (ProofError, WireError, TypeError) as exc:
            raise ForkDetected(f"the tree of {new.head.size} receipts does not extend the tree of {old.head.size} "
                               f"({exc})", evidence["seen"], evidence["shown"]) from None

    def _proven(self, receipt_json: object, head: SignedTreeHead, tx_hash: bytes) -> Receipt:
        """The receipt in ``receipt_json`` once its leaf is proven to be in ``head``'s tree."""
        try:
            if type(receipt_json) is not dict or type(receipt_json.get("proof")) is not dict:
                raise WireError("a receipt with its leaf and proof")
            leaf = parse_hex(receipt_json.get("leaf"), "leaf")
            fields = receipt_fields(leaf)
            proof = receipt_json["proof"]
            hashes = [parse_hex(h, "hash", 32) for h in proof.get("hashes", ())]
            if proof.get("size") != head.head.size:
                raise ProofError("the inclusion proof is not against the head it came with")
            verify_inclusion(leaf_hash(leaf), hashes, index=fields["index"], size=head.head.size, root=head.head.root)
        except (WireError, TypeError) as exc:
            raise ProofError(f"the node's receipt is malformed: {exc}") from None
        if fields["tx_hash"] != tx_hash:
            raise ProofError("the node answered with the receipt of another transaction")
        error = fields["error"]
        results = list(fields["results"])
        return Receipt(
            ok=fields["ok"],
            result=results[-1] if results else None,
            error=None if error is None else execution_error(error[0], error[1]),
            gas_used=fields["gas_used"],
            events=[Event(e["service"], e["name"], e["attrs"]) for e in fields["events"]],
            height=fields["height"],
            tx_hash=tx_hash.hex(),
            index=fields["index"],
            results=results,
            failed_message=fields["failed_message"],
            writes_hash=fields["writes_hash"],
            proof=InclusionProof(fields["index"], head.head.size, hashes, head),
        )

    # ------------------------------------------------------------ HTTP

    def _send(self, method: str, path: str, *, payload: Any = None, **kwargs: Any) -> httpx.Response:
        if payload is not None:  # encoded here: httpx's own encoding fails on lone surrogates
            kwargs["content"] = dump_json(payload).encode()
            kwargs["headers"] = {"content-type": "application/json"}
        try:
            return self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise NodeError(0, "unreachable", f"cannot reach the node at {self.url}: {exc}") from None

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._send(method, path, **kwargs)
        self._raise_problem(response)
        try:
            body = response.json()
        except ValueError:
            body = None
        if type(body) is not dict:
            raise NodeError(response.status_code, "bad-response", f"{method} {path}: the node did not answer a JSON object")
        return body

    @staticmethod
    def _raise_problem(response: httpx.Response) -> None:
        """Raise what a problem answer means: a refusal, an execution error, or a NodeError."""
        if response.status_code < 400:
            return
        try:
            problem = response.json()
        except ValueError:
            problem = None
        if type(problem) is not dict:
            raise NodeError(response.status_code, "bad-response", response.text[:200])
        code, detail = str(problem.get("code", "")), str(problem.get("detail", ""))
        if code in REFUSAL_CODES:
            raise TransactionRefused(code, detail)
        error = problem.get("error")
        if type(error) is dict and type(error.get("type")) is str:
            line = error.get("line")
            raise execution_error(error["type"], str(error.get("message", "")), line if type(line) is int else None)
        raise NodeError(response.status_code, code or "error", detail)

    # ------------------------------------------------------------ the state file

    def _load_state(self) -> None:
        """Read the pinned key and last head for this URL from the state file, if any."""
        if self.state_file is None or not self.state_file.exists():
            return
        try:
            saved = json.loads(self.state_file.read_text(encoding="utf-8")).get(self.url)
        except (OSError, ValueError, AttributeError) as exc:
            raise UsageError(f"cannot read the client state file {self.state_file}: {exc}") from None
        if not saved:
            return
        key = bytes.fromhex(saved["node_key"])
        if self.node_key is not None and key != self.node_key:
            raise ForkDetected(f"{self.state_file} pinned another key for {self.url}: {key.hex()}")
        self.node_key = key
        if saved.get("head") is not None:
            head = head_from_json(saved["head"])
            if head.node_key != key or not head.verify():
                raise UsageError(f"the tree head saved in {self.state_file} is not signed by the pinned key")
            self.head, self.chain_id = head, head.head.chain_id

    def _save_state(self) -> None:
        if self.state_file is None or self.node_key is None:
            return
        try:
            everything = json.loads(self.state_file.read_text(encoding="utf-8")) if self.state_file.exists() else {}
        except (OSError, ValueError):
            everything = {}
        everything[self.url] = {"node_key": self.node_key.hex(),
                                "head": None if self.head is None else head_to_json(self.head)}
        temporary = self.state_file.with_name(self.state_file.name + ".tmp")
        temporary.write_text(json.dumps(everything, indent=2), encoding="utf-8")
        os.replace(temporary, self.state_file)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _params(**values: int | None) -> dict[str, int]:
    return {k: v for k, v in values.items() if v is not None}
