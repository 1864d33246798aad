"""Amigos: live Python services at readable paths — deterministic, metered, sandboxed.

The embedding API::

    import amigos
    rt = amigos.LocalRuntime(home=None)          # None: in memory; a folder: SQLite there
    rt.deploy("hub.amigos.dev/alice/counter", source, signer="alice")
    r = rt.call("hub.amigos.dev/alice/counter", "increment", 2, signer="bob", gas=1_000_000)
    r.ok, r.result, r.error, r.gas_used, r.events
    rt.query("hub.amigos.dev/alice/counter", "get")
    rt.render("hub.amigos.dev/alice/counter", "")

Accounts and signed transactions (see docs/protocol.md)::

    alice = amigos.Account.generate()            # or amigos.Account.from_seed(seed32)
    alice.address                                # "amigo1…"

A running node (``amigos serve``), or a local folder, through the SDK (see docs/sdk.md)::

    node = amigos.connect("http://127.0.0.1:8700", account=alice)   # or amigos.connect(folder, account=alice)
    counter = node.service("hub.amigos.dev/alice/counter")
    counter.increment(2)                         # signed; its receipt proven in the log
    counter.query.get()
    node.send(bob.address, 250)                  # AMI, sessions, recovery: see docs/accounts.md
"""

from typing import TYPE_CHECKING, Any

from . import errors
from .errors import DeployError, ExecutionError
from .runtime import Call, FunctionInfo, LocalRuntime, Receipt, ServiceInfo
from .vm.machine import Event

if TYPE_CHECKING:  # what the lazy names below are, for type checkers
    from .client import AsyncLocalClient, AsyncNodeClient, LocalClient, NodeClient, aconnect, connect
    from .crypto.keys import Account

__version__ = "0.1.0"

_LAZY = {
    "Account": "crypto.keys",
    "AsyncLocalClient": "client",
    "AsyncNodeClient": "client",
    "LocalClient": "client",
    "NodeClient": "client",
    "aconnect": "client",
    "connect": "client",
}
"""Names imported on first use: confined worker processes import this package but never sign
or talk HTTP, so they need not load libsodium or httpx."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'amigos' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Account",
    "AsyncLocalClient",
    "AsyncNodeClient",
    "Call",
    "DeployError",
    "Event",
    "ExecutionError",
    "FunctionInfo",
    "LocalClient",
    "LocalRuntime",
    "NodeClient",
    "Receipt",
    "ServiceInfo",
    "aconnect",
    "connect",
    "errors",
]
