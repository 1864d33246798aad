"""``NodeClient``: deploy, call and query services on a running node, checking what it says.

Every receipt the node returns comes with an inclusion proof against a tree head the node
signed. The client checks the signature with the node key it pinned on first contact, checks
the proof, and reads the receipt's fields from the proven leaf bytes. It keeps the last tree
head it saw and, whenever the node shows a newer (or older) one, checks a consistency proof
between the two: a node that rewrote or rolled back its log is caught, with
:class:`~amigos.errors.ForkDetected` and both signed heads as evidence. The conversation itself
(what to ask, what to check) is :mod:`.protocol`'s, shared with :class:`.AsyncNodeClient`.

What is *not* proven yet: ``query``, ``render``, ``describe`` and ``state`` answers (they read
current state, which has no proof until state commitments come).
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Iterable, TypeVar

import httpx

from ..crypto.keys import Account
from ..ledger.tx import Message, SignedTransaction
from ..runtime import Call as RuntimeCall
from .accounts import AccountMethods, SyncResults, wall_clock
from .protocol import Flow, Request, Response, Session, SessionClient, run_flow, unreachable
from .proxy import ServiceProxy
from .receipt import Receipt

T = TypeVar("T")


class NodeClient(SessionClient, SyncResults, AccountMethods):
    """A node's services, as an account sees them: ``account`` is the key that signs, for its
    own account or for ``acting_for`` (a device's session key, a master a recovery installed).

    ``node_key`` (hex or bytes) pins the node's key up front; otherwise the key the node shows
    on first contact is pinned (trust on first use), and remembered in ``state_file`` if given,
    together with the last tree head seen. ``http`` replaces the HTTP client (tests pass an
    in-process one). ``clock`` gives the time signed reads carry and ``expires_in`` counts from
    (default: this machine's). Calls from several threads are safe; transactions are sent one
    at a time, since each takes the next nonce of the account's key.
    """

    def __init__(self, url: str, account: Account | None = None, *, acting_for: str | None = None,
                 node_key: str | bytes | None = None,
                 state_file: str | os.PathLike[str] | None = None, http: httpx.Client | None = None,
                 timeout: float = 60.0, clock: Callable[[], int] | None = None) -> None:
        self.clock = clock or wall_clock
        """The time this client signs reads at and counts ``expires_in`` from."""
        self.session = Session(url, account, acting_for=acting_for, node_key=node_key, state_file=state_file)
        self.http = http if http is not None else httpx.Client(base_url=self.session.url, timeout=timeout)
        self._sending = threading.Lock()

    # ------------------------------------------------------------ transactions

    def deploy(self, path: str, source: str, *, gas: int | None = None) -> Receipt:
        """Deploy (or upgrade) the service at ``path``; raises DeployError if it failed (the
        receipt is its ``receipt`` attribute: a failed deploy still used its nonce)."""
        with self._sending:
            return self._run(self.session.deploy(path, source, gas))

    def call(self, path: str, function: str, *args: Any, gas: int | None = None,
             kwargs: dict[str, Any] | None = None, coins: int = 0) -> Receipt:
        """Call ``function`` in a signed transaction, sending it ``coins`` AMI, and wait for its
        proven receipt. A failed call is a receipt with ``ok`` False (its coins stay with the
        account); a refused transaction raises TransactionRefused."""
        with self._sending:
            return self._run(self.session.call(path, function, args, kwargs, gas, coins))

    def _transact(self, messages: list[Message]) -> Receipt:
        with self._sending:
            return self._run(self.session.send(messages, None))

    def _read_account(self, address: str | None, signed: bool) -> dict[str, Any]:
        return self._run(self.session.account_info(address, signed, self._now()))

    def submit_many(self, items: Iterable[RuntimeCall | Message | SignedTransaction]) -> list[Receipt]:
        """Send many calls (``amigos.Call``), messages (``Call``, ``Deploy``, ``AccountMessage``
        of amigos.ledger) or already signed transactions, one transaction each, in batches; return
        their receipts in order. If any is refused, raises the first TransactionRefused, whose
        ``outcomes`` attribute holds every receipt or refusal in order."""
        with self._sending:
            return self._run(self.session.submit_many(items))

    def receipt(self, tx_hash: str | bytes) -> Receipt:
        """The receipt of a transaction already in the log, proven against the latest head."""
        return self._run(self.session.receipt(tx_hash))

    def last_nonce(self) -> int:
        """The last nonce the node has for this client's key (0 before its first transaction)."""
        return self._run(self.session.last_nonce())

    # ------------------------------------------------------------ reading

    def query(self, path: str, function: str, *args: Any, kwargs: dict[str, Any] | None = None,
              gas: int | None = None) -> Any:
        """Call ``function`` read-only; raises its ExecutionError if it fails."""
        return self._run(self.session.query(path, function, args, kwargs, gas))

    def render(self, path: str, subpath: str = "") -> str:
        """The markdown of the service's page."""
        return self._run(self.session.render(path, subpath))

    def describe(self, path: str) -> dict[str, Any]:
        """The service at ``path``: source, functions, dependencies, versions, owner."""
        return self._run(self.session.describe(path))

    def services(self) -> list[dict[str, Any]]:
        """Every deployed service, described as :meth:`describe` does (without the source)."""
        return self._run(self.session.services())

    def state(self, path: str) -> dict[str, Any]:
        """The service's persistent state as plain data (globals, and the start of each map)."""
        return self._run(self.session.state(path))

    def service(self, path: str, *, gas: int | None = None) -> ServiceProxy:
        """The service at ``path`` as a Python object: ``proxy.increment(2)`` calls it in a
        signed transaction (with ``gas``, default the node's), ``proxy.query.get()`` reads."""
        return ServiceProxy(self, path, self.describe(path), gas)

    # ------------------------------------------------------------ the log and HTTP

    def contact(self) -> dict[str, Any]:
        """Ask the node who it is: pin its key and chain id (first contact) or check them, and
        check its latest head against the last one seen."""
        return self._run(self.session.contact())

    def _run(self, flow: Flow[T]) -> T:
        return run_flow(flow, self._exchange)

    def _exchange(self, request: Request) -> Response:
        try:
            response = self.http.request(request.method, request.path, **request.http_options())
        except httpx.HTTPError as exc:
            raise unreachable(self.url, exc) from None
        return Response(response.status_code, response.content)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

