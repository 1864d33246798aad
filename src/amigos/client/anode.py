"""``AsyncNodeClient``: :class:`~amigos.client.NodeClient` for asyncio, over ``httpx.AsyncClient``.

The same methods as coroutines, checking the same proofs and tree heads by the same code
(:mod:`.protocol`); ``await client.service(path)`` gives an
:class:`~amigos.client.AsyncServiceProxy`.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Callable, Iterable, TypeVar

import httpx

from ..crypto.keys import Account
from ..ledger.tx import Message, SignedTransaction
from ..runtime import Call as RuntimeCall
from .accounts import AccountMethods, AsyncResults, wall_clock
from .protocol import Flow, Request, Response, Session, SessionClient, run_flow_async, unreachable
from .proxy import AsyncServiceProxy
from .receipt import Receipt

T = TypeVar("T")


class AsyncNodeClient(SessionClient, AsyncResults, AccountMethods):
    """A node's services, as an account sees them, for asyncio code. The options are
    :class:`~amigos.client.NodeClient`'s; ``http`` is an ``httpx.AsyncClient``. Transactions
    of one client are sent one at a time (each takes the next nonce); reads run concurrently.
    """

    def __init__(self, url: str, account: Account | None = None, *, acting_for: str | None = None,
                 node_key: str | bytes | None = None,
                 state_file: str | os.PathLike[str] | None = None, http: httpx.AsyncClient | None = None,
                 timeout: float = 60.0, clock: Callable[[], int] | None = None) -> None:
        self.clock = clock or wall_clock
        """The time this client signs reads at and counts ``expires_in`` from."""
        self.session = Session(url, account, acting_for=acting_for, node_key=node_key, state_file=state_file)
        self.http = http if http is not None else httpx.AsyncClient(base_url=self.session.url, timeout=timeout)
        self._sending = asyncio.Lock()

    # ------------------------------------------------------------ transactions

    async def deploy(self, path: str, source: str, *, gas: int | None = None) -> Receipt:
        """Deploy (or upgrade) the service at ``path``; raises DeployError if it failed."""
        async with self._sending:
            return await self._run(self.session.deploy(path, source, gas))

    async def call(self, path: str, function: str, *args: Any, gas: int | None = None,
                   kwargs: dict[str, Any] | None = None, coins: int = 0) -> Receipt:
        """Call ``function`` in a signed transaction, sending it ``coins`` AMI, and wait for its
        proven receipt."""
        async with self._sending:
            return await self._run(self.session.call(path, function, args, kwargs, gas, coins))

    async def _transact(self, messages: list[Message]) -> Receipt:
        async with self._sending:
            return await self._run(self.session.send(messages, None))

    async def _read_account(self, address: str | None, signed: bool) -> dict[str, Any]:
        return await self._run(self.session.account_info(address, signed, self._now()))

    async def submit_many(self, items: Iterable[RuntimeCall | Message | SignedTransaction]) -> list[Receipt]:
        """Send many calls, messages or signed transactions; their receipts in order."""
        async with self._sending:
            return await self._run(self.session.submit_many(items))

    async def receipt(self, tx_hash: str | bytes) -> Receipt:
        """The receipt of a transaction already in the log, proven against the latest head."""
        return await self._run(self.session.receipt(tx_hash))

    async def last_nonce(self) -> int:
        """The last nonce the node has for this client's key (0 before its first transaction)."""
        return await self._run(self.session.last_nonce())

    # ------------------------------------------------------------ reading

    async def query(self, path: str, function: str, *args: Any, kwargs: dict[str, Any] | None = None,
                    gas: int | None = None) -> Any:
        """Call ``function`` read-only; raises its ExecutionError if it fails."""
        return await self._run(self.session.query(path, function, args, kwargs, gas))

    async def render(self, path: str, subpath: str = "") -> str:
        """The markdown of the service's page."""
        return await self._run(self.session.render(path, subpath))

    async def describe(self, path: str) -> dict[str, Any]:
        """The service at ``path``: source, functions, dependencies, versions, owner."""
        return await self._run(self.session.describe(path))

    async def services(self) -> list[dict[str, Any]]:
        """Every deployed service, described as :meth:`describe` does (without the source)."""
        return await self._run(self.session.services())

    async def state(self, path: str) -> dict[str, Any]:
        """The service's persistent state as plain data (globals, and the start of each map)."""
        return await self._run(self.session.state(path))

    async def service(self, path: str, *, gas: int | None = None) -> AsyncServiceProxy:
        """The service at ``path`` as an object whose functions are coroutine functions:
        ``await proxy.increment(2)``, ``await proxy.query.get()``."""
        return AsyncServiceProxy(self, path, await self.describe(path), gas)

    # ------------------------------------------------------------ the log and HTTP

    async def contact(self) -> dict[str, Any]:
        """Ask the node who it is: pin or check its key and chain id, and check its latest head."""
        return await self._run(self.session.contact())

    async def _run(self, flow: Flow[T]) -> T:
        return await run_flow_async(flow, self._exchange)

    async def _exchange(self, request: Request) -> Response:
        try:
            response = await self.http.request(request.method, request.path, **request.http_options())
        except httpx.HTTPError as exc:
            raise unreachable(self.url, exc) from None
        return Response(response.status_code, response.content)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncNodeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

