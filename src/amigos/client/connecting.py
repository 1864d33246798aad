"""``connect`` and ``aconnect``: one entry point for a node (a URL) and a local runtime (a folder)."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping
from typing import Any, overload

from ..crypto.keys import Account
from ..errors import UsageError
from ..runtime import LocalRuntime
from .anode import AsyncNodeClient
from .local import AsyncLocalClient, LocalClient, local_client
from .node import NodeClient

Client = NodeClient | LocalClient
"""What :func:`connect` returns: both have the same methods for deploying, calling and reading."""
AsyncClient = AsyncNodeClient | AsyncLocalClient

_SCHEMES = ("http://", "https://")
_HOST_AND_PORT = re.compile(r"[\w.-]+:\d{1,5}/?")


def _is_node(target: object) -> bool:
    """Whether ``target`` names a node (a URL) rather than a local runtime's folder."""
    if not isinstance(target, str):
        return False
    if target.lower().startswith(_SCHEMES):
        return True
    if "://" in target or _HOST_AND_PORT.fullmatch(target):
        raise UsageError(f"cannot connect to {target!r}: a node is an http:// or https:// URL "
                         f"(e.g. http://127.0.0.1:8700), a local runtime a folder")
    return False


def _node_signer(account: Account | str | None, genesis: Mapping[str, int] | None) -> Account | None:
    """The key a node client signs with; refuses what only a local runtime takes (a signer
    name, a genesis)."""
    if genesis is not None:
        raise UsageError("a node's genesis is its own (amigos serve --genesis, amigos dev): connect takes none")
    if isinstance(account, str):
        raise UsageError("a node checks signatures: connect(url, account=amigos.Account…), not an account name")
    return account


@overload
def connect(target: LocalRuntime | os.PathLike[str], account: Account | str | None = None, *,
            acting_for: str | None = None, genesis: Mapping[str, int] | None = None, **options: Any) -> LocalClient: ...
@overload
def connect(target: str, account: Account | str | None = None, *, acting_for: str | None = None,
            genesis: Mapping[str, int] | None = None, **options: Any) -> Client: ...


def connect(target: str | os.PathLike[str] | LocalRuntime, account: Account | str | None = None, *,
            acting_for: str | None = None, genesis: Mapping[str, int] | None = None, **options: Any) -> Client:
    """A client of the node at URL ``target`` (e.g. ``http://127.0.0.1:8700``), signing with
    the key ``account`` and contacting the node at once to pin its key (options: see
    :class:`NodeClient`); or, for a folder or a :class:`~amigos.LocalRuntime`, a
    :class:`LocalClient` over that runtime (``options`` go to ``LocalRuntime``): in the ledger
    mode when ``account`` is a key (signed transactions through a local ledger, which a new one
    starts from ``genesis``, ``{address: AMI}``), in the name mode when it is a signer name (a
    str; by default ``"dev"``). ``acting_for`` names the account the key signs for when it is
    not the key's own: a device's session key, or the master key a recovery installed."""
    if _is_node(target):
        client = NodeClient(str(target), _node_signer(account, genesis), acting_for=acting_for, **options)
        client.contact()
        return client
    return local_client(target, account, acting_for, genesis, options)


@overload
async def aconnect(target: LocalRuntime | os.PathLike[str], account: Account | str | None = None, *,
                   acting_for: str | None = None, genesis: Mapping[str, int] | None = None,
                   **options: Any) -> AsyncLocalClient: ...
@overload
async def aconnect(target: str, account: Account | str | None = None, *, acting_for: str | None = None,
                   genesis: Mapping[str, int] | None = None, **options: Any) -> AsyncClient: ...


async def aconnect(target: str | os.PathLike[str] | LocalRuntime, account: Account | str | None = None, *,
                   acting_for: str | None = None, genesis: Mapping[str, int] | None = None,
                   **options: Any) -> AsyncClient:
    """:func:`connect` for asyncio: ``client = await amigos.aconnect(url or folder, account=…)``
    gives an :class:`AsyncNodeClient` or an :class:`AsyncLocalClient`, whose methods are
    coroutines and whose ``await client.service(path)`` is an :class:`AsyncServiceProxy`."""
    if _is_node(target):
        client = AsyncNodeClient(str(target), _node_signer(account, genesis), acting_for=acting_for, **options)
        await client.contact()
        return client
    return AsyncLocalClient(await asyncio.to_thread(local_client, target, account, acting_for, genesis, options))
