"""Amigos: live Python services at readable paths — deterministic, metered, sandboxed.

The embedding API::

    import amigos
    rt = amigos.LocalRuntime(home=None)          # None: in memory; a folder: SQLite there
    rt.deploy("hub.amigos.dev/alice/counter", source, signer="alice")
    r = rt.call("hub.amigos.dev/alice/counter", "increment", 2, signer="bob", gas=1_000_000)
    r.ok, r.result, r.error, r.gas_used, r.events
    rt.query("hub.amigos.dev/alice/counter", "get")
    rt.render("hub.amigos.dev/alice/counter", "")
"""

from . import errors
from .errors import DeployError, ExecutionError
from .runtime import Call, FunctionInfo, LocalRuntime, Receipt, ServiceInfo
from .vm.machine import Event

__version__ = "0.1.0"

__all__ = [
    "Call",
    "DeployError",
    "Event",
    "ExecutionError",
    "FunctionInfo",
    "LocalRuntime",
    "Receipt",
    "ServiceInfo",
    "errors",
]
