"""``LocalClient``: the SDK's surface over an embedded :class:`~amigos.LocalRuntime`.

``amigos.connect(home)`` (a folder, or a ``LocalRuntime``) gives the same methods as a node
client — deploy, call, submit_many, query, render, describe, services, state, service proxies
and the account methods — with the same receipts and answers, so code written against one runs
against the other. It has two modes, chosen by what ``account`` is:

* **a key** (an :class:`~amigos.Account`): the *ledger mode*. Transactions are signed with the
  key and applied through an in-process :class:`~amigos.ledger.Ledger` over the runtime, each
  submission one block, so every account rule (sessions, limits, recovery) holds exactly as on
  a node, and receipts carry ``tx_hash``, ``index`` and an inclusion proof. A folder in this
  mode is laid out as a node's home (``node.key``, ``chain-id``, ``genesis.json``): ``amigos
  serve --home`` can serve it later. An in-memory runtime's heads are signed by the well-known
  :data:`LOCAL_NODE_KEY` (they prove nothing to anyone else, who cannot see them anyway).
* **a name** (a str, or nothing: :data:`LOCAL_SIGNER`): the *name mode*. Nothing is signed and
  there is no log or account rule: calls run as the signer *name*, receipts have no
  ``tx_hash``, ``index`` or ``proof``, and account transactions are refused. It reads a
  ledger-mode folder, but refuses to write to it (that would put state outside its log).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterable

from .. import codec
from ..crypto.keys import Account
from ..errors import DeployError, DeployFailed, NodeError, TransactionRefused, UsageError
from ..jsonvalue import to_json
from ..ledger.block import GENESIS_KEY, BlockResult, Genesis, Ledger
from ..ledger.tx import AccountMessage, Call, Deploy, Message, SignedTransaction, check_messages_form, encode_value, message_value
from ..node.account_view import account_json
from ..node.auth import ReadRefused, reader_of
from ..node.node import DEFAULT_CHAIN_ID, KEY_FILE, account_keys, load_node_key, settle_chain_id, settle_genesis
from ..runtime import Call as RuntimeCall
from ..runtime import LocalRuntime, validate_account
from ..vm.paths import validate_path
from . import verify
from .accounts import AccountMethods, AsyncResults, SyncResults, account_message, account_to_read, call_message, signed_for
from .protocol import signed_transaction
from .proxy import AsyncServiceProxy, ServiceProxy
from .receipt import Receipt, batch_receipts, deploy_failure

Transactable = SignedTransaction | tuple[list[Message], int | None]
"""What the ledger mode submits: a signed transaction, or messages to sign with a gas budget."""

LOCAL_SIGNER = "dev"
"""Who a local client signs as when it is given no account (the ``amigos`` command's default)."""
LOCAL_NODE_KEY = Account.from_seed(hashlib.sha256(b"amigos/local-node-key").digest())
"""The key an in-memory ledger-mode runtime signs its tree heads with: well known, so any
number of clients over one runtime agree on it, and worthless as a proof to anyone else."""


class LocalClient(SyncResults, AccountMethods):
    """The node client's methods over ``runtime``, as ``account``: a key (the ledger mode,
    acting for ``acting_for`` if given) or a signer name (see the module docstring). Closing
    the client closes the runtime only if the client opened it (``owns_runtime``)."""

    def __init__(self, runtime: LocalRuntime, account: Account | str = LOCAL_SIGNER, *,
                 acting_for: str | None = None, genesis: Mapping[str, int] | Genesis | None = None,
                 owns_runtime: bool = False) -> None:
        self.runtime = runtime
        self._owns_runtime = owns_runtime
        self.key: Account | None = account if isinstance(account, Account) else None
        self.acting_for = signed_for(self.key, acting_for)
        self.signer = account.address if isinstance(account, Account) else validate_account(account)
        """The name calls run as in the name mode (the key's address in the ledger mode)."""
        if self.key is None and genesis is not None:
            raise UsageError("a genesis starts a ledger: connect(folder, account=amigos.Account…, genesis=…)")
        self.ledger = None if self.key is None else open_ledger(runtime, genesis)
        """The ledger of the ledger mode; None in the name mode."""
        self._sending = threading.Lock()

    @property
    def address(self) -> str:
        """The account this client's transactions are for."""
        return self.acting_for or self.signer

    @property
    def chain_id(self) -> str | None:
        """The local ledger's chain id (None in the name mode)."""
        return None if self.ledger is None else self.ledger.chain_id

    # ------------------------------------------------------------ transactions

    def deploy(self, path: str, source: str, *, gas: int | None = None) -> Receipt:
        """Deploy (or upgrade) the service at ``path``; raises DeployError if it failed, with
        the failed receipt as its ``receipt`` attribute (as a node client does)."""
        receipt = self._transact([_admitted(Deploy(validate_path(path), source))], gas)
        if not receipt.ok:
            raise deploy_failure(receipt)
        return receipt

    def call(self, path: str, function: str, *args: Any, gas: int | None = None,
             kwargs: dict[str, Any] | None = None, coins: int = 0) -> Receipt:
        """Call ``function``, sending it ``coins`` AMI, in a block of its own. A failed call is
        a receipt with ``ok`` False (its coins stay with the account)."""
        return self._transact([_admitted(call_message(path, function, args, kwargs, coins))], gas)

    def submit_many(self, items: Iterable[RuntimeCall | Message | SignedTransaction]) -> list[Receipt]:
        """Run many calls (``amigos.Call``) or messages of amigos.ledger, each as its own
        transaction; their receipts in order. All are checked before the first runs; a failed
        deploy is a failed receipt, as in a node's batch. In the ledger mode they are one block
        (signed transactions and account messages too), and a refusal raises the first
        TransactionRefused with every outcome as ``outcomes``, as on a node; the name mode
        takes calls and deploys only (a call's own ``signer`` field is ignored)."""
        checked = [_as_message(item, self.ledger is not None) for item in items]
        if self.ledger is None:
            return [self._run_named(messages[0], gas) for messages, gas in checked]  # type: ignore[index]
        return batch_receipts(self._submit(checked))

    def _transact(self, messages: list[Message], gas: int | None = None) -> Receipt:
        """Run ``messages`` as one transaction: its receipt, or its refusal raised."""
        if self.ledger is None:
            if any(isinstance(m, AccountMessage) for m in messages):
                raise UsageError("account operations are signed: connect(folder, account=amigos.Account…) "
                                 "(a signer name has no key)")
            (message,) = messages  # the name mode runs one call or deploy at a time
            return self._run_named(message, gas)
        (outcome,) = self._submit([(messages, gas)])
        if isinstance(outcome, TransactionRefused):
            raise outcome
        return outcome

    def _submit(self, items: list[Transactable]) -> list[Receipt | TransactionRefused]:
        """Sign what needs signing (each list of messages one transaction) with the next nonces
        and apply it all as one block; each item's receipt or refusal, in order."""
        ledger, key = self.ledger, self.key
        assert ledger is not None and key is not None
        with self._sending, self.runtime.reading():  # the nonces read here are the ones the block sees
            nonce = ledger.last_nonce(self.address, key.public_key)
            signed = []
            for item in items:
                if isinstance(item, SignedTransaction):
                    signed.append(item)
                    continue
                messages, gas = item
                nonce += 1
                signed.append(signed_transaction(key, ledger.chain_id, self.address, nonce, messages, gas))
            result = ledger.apply_block([stx.encode() for stx in signed])
            return _outcomes(ledger, result, signed)

    def _run_named(self, message: Message, gas: int | None) -> Receipt:
        rt = self.runtime
        if is_ledger_state(rt):
            raise UsageError(f"{rt.home or 'this runtime'} holds a signed ledger: changes go through it, "
                             "signed with a key (connect(folder, account=amigos.Account…)); a signer name only reads it")
        if isinstance(message, Call):
            r = rt.call(message.path, message.function, *message.args, signer=self.signer, gas=gas,
                        kwargs=message.kwargs, coins=message.coins)
            return Receipt(r.ok, r.result, r.error, r.gas_used, r.events, r.height,
                           results=[r.result] if r.ok else [], failed_message=None if r.ok else 0)
        assert isinstance(message, Deploy)
        try:
            info, used = rt.deploy_metered(message.path, message.source, signer=self.signer, gas=gas)
        except DeployError as exc:  # a node logs this as a failed receipt: so does this client
            return Receipt(False, None, DeployFailed(str(exc)), exc.gas_used, [], rt.height, failed_message=0)
        result = {"path": info.path, "version": info.version, "code_hash": info.code_hash}
        return Receipt(True, result, None, used, [], rt.height, results=[result])

    def last_nonce(self) -> int:
        """The last nonce of this client's key for its account (0 before its first transaction)."""
        if self.ledger is None or self.key is None:
            raise UsageError("a signer name has no nonces: connect(folder, account=amigos.Account…)")
        return self.ledger.last_nonce(self.address, self.key.public_key)

    # ------------------------------------------------------------ accounts

    def _read_account(self, address: str | None, signed: bool) -> dict[str, Any]:
        """What a node answers to ``GET /v1/accounts/{address}``, from the runtime's state."""
        rt = self.runtime
        address = account_to_read(self.address if self.key is not None else None, address, signed)
        with rt.reading():
            now = max(rt.time, self._now())
            reader = None
            if signed:
                if self.key is None:
                    raise UsageError("a private read (sessions, webhook) is signed: connect with account=<an Account>, "
                                     "not a name")
                try:
                    reader = reader_of(rt.view, address, self.key.public_key, now)
                except ReadRefused as refused:  # what a node answers, so code handles one error
                    raise NodeError(403, "forbidden", refused.detail) from None
            keys = [{"public_key": key.hex(), "last_nonce": nonce} for key, nonce in account_keys(rt.view, address)]
            return {"address": address, "keys": keys, **account_json(rt.view, address, now, reader)}

    def _now(self) -> int:
        return int(self.runtime.clock())

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


class AsyncLocalClient(AsyncResults, AccountMethods):
    """:class:`LocalClient` for asyncio: the same methods as coroutines, each run in a worker
    thread so that the event loop is never blocked by a service call or a commit."""

    def __init__(self, local: LocalClient) -> None:
        self.local = local

    @property
    def address(self) -> str:
        return self.local.address

    @property
    def key(self) -> Account | None:
        return self.local.key

    @property
    def chain_id(self) -> str | None:
        return self.local.chain_id

    async def deploy(self, path: str, source: str, *, gas: int | None = None) -> Receipt:
        return await asyncio.to_thread(self.local.deploy, path, source, gas=gas)

    async def call(self, path: str, function: str, *args: Any, gas: int | None = None,
                   kwargs: dict[str, Any] | None = None, coins: int = 0) -> Receipt:
        return await asyncio.to_thread(self.local.call, path, function, *args, gas=gas, kwargs=kwargs, coins=coins)

    async def submit_many(self, items: Iterable[RuntimeCall | Message | SignedTransaction]) -> list[Receipt]:
        return await asyncio.to_thread(self.local.submit_many, list(items))

    async def last_nonce(self) -> int:
        return await asyncio.to_thread(self.local.last_nonce)

    async def _transact(self, messages: list[Message]) -> Receipt:
        return await asyncio.to_thread(self.local._transact, messages)

    async def _read_account(self, address: str | None, signed: bool) -> dict[str, Any]:
        return await asyncio.to_thread(self.local._read_account, address, signed)

    def _now(self) -> int:
        return self.local._now()

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
                 acting_for: str | None, genesis: Mapping[str, int] | None, options: dict[str, Any]) -> LocalClient:
    """The local client ``connect(home, account=…, acting_for=…, genesis=…, **options)``
    means: ``options`` go to :class:`LocalRuntime` (``isolation``, ``db``, ``clock``…) when
    ``home`` is a folder."""
    if account is None:
        account = LOCAL_SIGNER
    if not isinstance(account, Account):
        validate_account(account)  # before a runtime is opened for nothing
    signed_for(account if isinstance(account, Account) else None, acting_for)
    if isinstance(home, LocalRuntime):
        if options:
            raise UsageError(f"options {sorted(options)} are for opening a runtime; this one is already open")
        return LocalClient(home, account, acting_for=acting_for, genesis=genesis)
    runtime = LocalRuntime(Path(home), **options)
    try:
        return LocalClient(runtime, account, acting_for=acting_for, genesis=genesis, owns_runtime=True)
    except BaseException:
        runtime.close()
        raise


def is_ledger_state(runtime: LocalRuntime) -> bool:
    """Whether ``runtime`` holds a ledger's state (a node's, or the ledger mode's): its first
    block wrote the genesis, or its folder has a node key."""
    return runtime.view.get(GENESIS_KEY) is not None or (runtime.home is not None and (runtime.home / KEY_FILE).exists())


def open_ledger(runtime: LocalRuntime, genesis: Mapping[str, int] | Genesis | None) -> Ledger:
    """The ledger of the ledger mode over ``runtime``, its first block (the genesis) applied.
    Refuses a runtime whose state was written in the name mode (it is in no log), and a genesis
    other than the one the ledger started from."""
    wanted = None if genesis is None else genesis if isinstance(genesis, Genesis) else _genesis(genesis)
    where = runtime.home or "this runtime"
    if runtime.height and not is_ledger_state(runtime):
        raise UsageError(f"{where} holds state written without signatures (by a signer name, or the amigos "
                         "command without a node): it is in no log, so a ledger cannot take it over; use another folder")
    logged = runtime.view.get(GENESIS_KEY)
    started = None if logged is None else Genesis.from_value(codec.decode(logged))
    if runtime.home is not None:  # a node's home, as `amigos serve --home` reads it
        key, chain_id = load_node_key(runtime.home, create=True), settle_chain_id(runtime.home, None)
        wanted = settle_genesis(runtime.home, wanted, Genesis(), started)
    else:
        key, chain_id = LOCAL_NODE_KEY, DEFAULT_CHAIN_ID
        if started is not None and wanted is not None and wanted != started:
            raise UsageError("this runtime's ledger started from another genesis: a chain's genesis never changes")
    ledger = Ledger(runtime, chain_id, key, genesis=wanted)
    head = ledger.head_at(runtime.height) if runtime.height else None
    if head is not None and head.node_key != key.public_key:
        raise UsageError(f"the log in {where} was signed by another key than {KEY_FILE}")
    if runtime.height == 0:
        ledger.apply_block([])  # the first block writes the genesis
    return ledger


def _genesis(allocations: Mapping[str, int]) -> Genesis:
    if not isinstance(allocations, Mapping):
        raise UsageError("genesis is {address: amount of AMI}")
    return Genesis(dict(allocations))


def _outcomes(ledger: Ledger, result: BlockResult, signed: list[SignedTransaction]) -> list[Receipt | TransactionRefused]:
    """Each transaction's receipt (read from its log leaf with an inclusion proof, as a node
    client reads it) or refusal."""
    head = result.head
    leaves = iter(result.leaves)
    out: list[Receipt | TransactionRefused] = []
    for stx, outcome in zip(signed, result.outcomes, strict=True):
        if isinstance(outcome, TransactionRefused):
            out.append(outcome)
            continue
        proof = ledger.inclusion_proof(outcome.index, head.head.size)
        out.append(verify.proven_leaf(next(leaves), proof, head, stx.tx_hash))
    return out


def _as_message(item: RuntimeCall | Message | SignedTransaction, ledger: bool) -> Transactable:
    if isinstance(item, RuntimeCall):
        return [_admitted(call_message(item.path, item.function, item.args, item.kwargs, 0))], item.gas
    if isinstance(item, (Call, Deploy)):
        return [_admitted(item)], None
    if ledger and isinstance(item, AccountMessage):
        return [account_message(item.action, item.params)], None
    if ledger and isinstance(item, SignedTransaction):
        return item
    if isinstance(item, (SignedTransaction, AccountMessage)):
        raise UsageError(f"a signer name has no key or ledger: {type(item).__name__}s need "
                         "connect(folder, account=amigos.Account…) or a node")
    raise UsageError(f"submit_many takes amigos.Call, ledger messages or SignedTransaction, not {type(item).__name__}")


def _admitted(message: Message) -> Message:
    """``message``, once it passes the checks a node's transaction encoding makes (names,
    plain-data arguments, sizes): what a node refuses, a local client refuses alike."""
    check_messages_form((message,))
    encode_value(message_value(message))
    return message
