"""``LocalClient``: the SDK's surface over an embedded :class:`~amigos.LocalRuntime`.

``amigos.connect(home)`` (a folder, or a ``LocalRuntime``) gives the same methods as a node
client — deploy, call, submit_many, query, render, describe, services, state and service
proxies — with the same receipts and answers, so code written against one runs against the
other. There is no node, so no signature, nonce or log: calls run as the signer *name*
``account.address`` (or ``account`` itself when it is a str, or :data:`LOCAL_SIGNER` when no
account is given), and receipts have no ``tx_hash``, ``index`` or ``proof``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Iterable

from ..crypto.keys import Account
from ..errors import DeployError, DeployFailed, UsageError
from ..jsonvalue import to_json
from ..ledger.tx import AccountMessage, Call, Deploy, Message, SignedTransaction, check_messages_form, encode_value, message_value
from ..runtime import Call as RuntimeCall
from ..runtime import LocalRuntime, validate_account
from ..vm.paths import validate_path
from .proxy import AsyncServiceProxy, ServiceProxy
from .receipt import Receipt, deploy_failure

LOCAL_SIGNER = "dev"
"""Who a local client signs as when it is given no account (the ``amigos`` command's default)."""


class LocalClient:
    """The node client's methods over ``runtime``, signing as ``signer``. Closing the client
    closes the runtime only if the client opened it (``owns_runtime``)."""

    def __init__(self, runtime: LocalRuntime, signer: str = LOCAL_SIGNER, *, owns_runtime: bool = False) -> None:
        self.runtime = runtime
        self.signer = validate_account(signer)
        self._owns_runtime = owns_runtime

    # ------------------------------------------------------------ transactions

    def deploy(self, path: str, source: str, *, gas: int | None = None) -> Receipt:
        """Deploy (or upgrade) the service at ``path``; raises DeployError if it failed, with
        the failed receipt as its ``receipt`` attribute (as a node client does)."""
        receipt = self._run(_admitted(Deploy(validate_path(path), source)), gas)
        if not receipt.ok:
            raise deploy_failure(receipt)
        return receipt

    def call(self, path: str, function: str, *args: Any, gas: int | None = None,
             kwargs: dict[str, Any] | None = None) -> Receipt:
        """Call ``function`` as the signer, in a block of its own. A failed call is a receipt
        with ``ok`` False."""
        return self._run(_admitted(Call(validate_path(path), function, tuple(args), dict(kwargs or {}))), gas)

    def submit_many(self, items: Iterable[RuntimeCall | Message | SignedTransaction]) -> list[Receipt]:
        """Run many calls (``amigos.Call``) or ``Call``/``Deploy`` messages of amigos.ledger,
        each as its own transaction, as the signer (a call's own ``signer`` field is ignored,
        as a node client ignores it); their receipts in order. All are checked before the
        first runs; a failed deploy is a failed receipt, as in a node's batch."""
        return [self._run(message, gas) for message, gas in [_as_message(item) for item in items]]

    def _run(self, message: Message, gas: int | None) -> Receipt:
        rt = self.runtime
        if isinstance(message, Call):
            r = rt.call(message.path, message.function, *message.args, signer=self.signer, gas=gas, kwargs=message.kwargs)
            return Receipt(r.ok, r.result, r.error, r.gas_used, r.events, r.height,
                           results=[r.result] if r.ok else [], failed_message=None if r.ok else 0)
        assert isinstance(message, Deploy)
        try:
            info, used = rt.deploy_metered(message.path, message.source, signer=self.signer, gas=gas)
        except DeployError as exc:  # a node logs this as a failed receipt: so does this client
            return Receipt(False, None, DeployFailed(str(exc)), exc.gas_used, [], rt.height, failed_message=0)
        result = {"path": info.path, "version": info.version, "code_hash": info.code_hash}
        return Receipt(True, result, None, used, [], rt.height, results=[result])

    # ------------------------------------------------------------ reading

    def query(self, path: str, function: str, *args: Any, kwargs: dict[str, Any] | None = None,
              gas: int | None = None) -> Any:
        """Call ``function`` read-only; raises its ExecutionError if it fails."""
        return self.runtime.query(path, function, *args, kwargs=kwargs, gas=gas)

    def render(self, path: str, subpath: str = "") -> str:
        """The markdown of the service's page."""
        return self.runtime.render(path, subpath)

    def describe(self, path: str) -> dict[str, Any]:
        """The service at ``path``: source, functions, dependencies, versions, owner (the
        node's ``/v1/services/{path}`` answer)."""
        return {**self.runtime.service(path).to_dict(), "source": self.runtime.source(path)}

    def services(self) -> list[dict[str, Any]]:
        """Every deployed service, described as :meth:`describe` does (without the source)."""
        return [info.to_dict() for info in self.runtime.services()]

    def state(self, path: str) -> dict[str, Any]:
        """The service's persistent state as plain JSON data, as a node answers it."""
        return to_json(self.runtime.state(path))  # type: ignore[no-any-return]

    def service(self, path: str, *, gas: int | None = None) -> ServiceProxy:
        """The service at ``path`` as a Python object (see :class:`ServiceProxy`)."""
        return ServiceProxy(self, path, self.describe(path), gas)

    def close(self) -> None:
        if self._owns_runtime:
            self.runtime.close()

    def __enter__(self) -> LocalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncLocalClient:
    """:class:`LocalClient` for asyncio: the same methods as coroutines, each run in a worker
    thread so that the event loop is never blocked by a service call or a commit."""

    def __init__(self, local: LocalClient) -> None:
        self.local = local

    async def deploy(self, path: str, source: str, *, gas: int | None = None) -> Receipt:
        return await asyncio.to_thread(self.local.deploy, path, source, gas=gas)

    async def call(self, path: str, function: str, *args: Any, gas: int | None = None,
                   kwargs: dict[str, Any] | None = None) -> Receipt:
        return await asyncio.to_thread(self.local.call, path, function, *args, gas=gas, kwargs=kwargs)

    async def submit_many(self, items: Iterable[RuntimeCall | Message | SignedTransaction]) -> list[Receipt]:
        return await asyncio.to_thread(self.local.submit_many, list(items))

    async def query(self, path: str, function: str, *args: Any, kwargs: dict[str, Any] | None = None,
                    gas: int | None = None) -> Any:
        return await asyncio.to_thread(self.local.query, path, function, *args, kwargs=kwargs, gas=gas)

    async def render(self, path: str, subpath: str = "") -> str:
        return await asyncio.to_thread(self.local.render, path, subpath)

    async def describe(self, path: str) -> dict[str, Any]:
        return await asyncio.to_thread(self.local.describe, path)

    async def services(self) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.local.services)

    async def state(self, path: str) -> dict[str, Any]:
        return await asyncio.to_thread(self.local.state, path)

    async def service(self, path: str, *, gas: int | None = None) -> AsyncServiceProxy:
        return AsyncServiceProxy(self, path, await self.describe(path), gas)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.local.close)

    async def __aenter__(self) -> AsyncLocalClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def local_client(home: str | os.PathLike[str] | LocalRuntime, account: Account | str | None,
                 options: dict[str, Any]) -> LocalClient:
    """The local client ``connect(home, account=…, **options)`` means: ``options`` go to
    :class:`LocalRuntime` (``isolation``, ``db``…) when ``home`` is a folder."""
    signer = LOCAL_SIGNER if account is None else account if isinstance(account, str) else account.address
    validate_account(signer)  # before a runtime is opened for nothing
    if isinstance(home, LocalRuntime):
        if options:
            raise UsageError(f"options {sorted(options)} are for opening a runtime; this one is already open")
        return LocalClient(home, signer)
    return LocalClient(LocalRuntime(Path(home), **options), signer, owns_runtime=True)


def _as_message(item: RuntimeCall | Message | SignedTransaction) -> tuple[Message, int | None]:
    if isinstance(item, RuntimeCall):
        message = Call(validate_path(item.path), item.function, tuple(item.args), dict(item.kwargs or {}))
        return _admitted(message), item.gas
    if isinstance(item, (Call, Deploy)):
        return _admitted(item), None
    if isinstance(item, (SignedTransaction, AccountMessage)):
        raise UsageError(f"a local runtime has no ledger or accounts: send {type(item).__name__}s to a node")
    raise UsageError(f"submit_many takes amigos.Call or ledger Call/Deploy, not {type(item).__name__}")


def _admitted(message: Message) -> Message:
    """``message``, once it passes the checks a node's transaction encoding makes (names,
    plain-data arguments, sizes): what a node refuses, a local client refuses alike."""
    check_messages_form((message,))
    encode_value(message_value(message))
    return message
