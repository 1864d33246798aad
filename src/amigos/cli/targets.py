"""What a command works on: a local home folder (:class:`LocalTarget`) or a running node through
the SDK (:class:`RemoteTarget`). Both answer the same calls with the same shapes, so each
command is written once.

Who acts (``--as NAME``) is decided in :meth:`amigos.cli.context.Context.target`: against a
node NAME must be an account of the keystore, whose key signs; in a local home NAME may also be
any free-form name (no keys are involved there), and an account of the keystore acts as its
address, so a local home sees the same ``std.caller()`` a node would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from ..errors import UsageError
from ..node.node import KEY_FILE
from ..runtime import LocalRuntime, Receipt
from ..vm.service import compile_service


class Target(Protocol):
    """The calls every command uses; see :class:`LocalTarget` and :class:`RemoteTarget`."""

    where: str
    """The home folder or the node's URL, for messages."""

    def deploy(self, path: str, source: str, gas: int | None) -> dict[str, Any]: ...

    def call(self, path: str, function: str, args: list[Any], kwargs: dict[str, Any], gas: int | None) -> Any: ...

    def query(self, path: str, function: str, args: list[Any], kwargs: dict[str, Any], gas: int | None) -> Any: ...

    def render(self, path: str, subpath: str) -> str: ...

    def state(self, path: str) -> dict[str, Any]: ...

    def services(self) -> list[dict[str, Any]]: ...

    def describe(self, path: str) -> dict[str, Any]: ...

    def close(self) -> None: ...


def is_node_home(home: Path) -> bool:
    return (home / KEY_FILE).exists()


class LocalTarget:
    """A home folder opened with :class:`~amigos.LocalRuntime`; ``signer`` acts."""

    def __init__(self, home: Path, signer: str) -> None:
        self.home = home
        self.where = str(home)
        self.signer = signer
        self.runtime = LocalRuntime(home)

    def _writable(self) -> None:
        """A node's home changes only through its log: a local write would put state in it
        that no transaction explains, and the node would refuse to start on it again."""
        if is_node_home(self.home):
            raise UsageError(f"{self.home} is a node's home: change it through the node (--node URL); "
                             "reading it locally is fine")

    def deploy(self, path: str, source: str, gas: int | None) -> dict[str, Any]:
        self._writable()
        info, gas_used = self.runtime.deploy_metered(path, source, signer=self.signer, gas=gas)
        return {**info.to_dict(), "gas_used": gas_used}

    def call(self, path: str, function: str, args: list[Any], kwargs: dict[str, Any], gas: int | None) -> Receipt:
        self._writable()
        return self.runtime.call(path, function, *args, signer=self.signer, gas=gas, kwargs=kwargs)

    def query(self, path: str, function: str, args: list[Any], kwargs: dict[str, Any], gas: int | None) -> Any:
        return self.runtime.query(path, function, *args, kwargs=kwargs, gas=gas, signer=self.signer)

    def render(self, path: str, subpath: str) -> str:
        return self.runtime.render(path, subpath)

    def state(self, path: str) -> dict[str, Any]:
        return self.runtime.state(path)

    def services(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.runtime.services()]

    def describe(self, path: str) -> dict[str, Any]:
        return {**self.runtime.service(path).to_dict(), "source": self.runtime.source(path)}

    def close(self) -> None:
        self.runtime.close()


class RemoteTarget:
    """A running node, through the SDK (:func:`amigos.connect`); ``account`` signs."""

    def __init__(self, url: str, client: Any) -> None:
        self.url = url
        self.where = url
        self.client = client

    def deploy(self, path: str, source: str, gas: int | None) -> dict[str, Any]:
        compile_service(path, source)  # the language rules, checked here: exact lines, no gas spent
        receipt = self.client.deploy(path, source, gas=gas)
        info = self.describe(path)
        del info["source"]
        return {**info, "gas_used": receipt.gas_used, "tx_hash": receipt.tx_hash, "block": receipt.height}

    def call(self, path: str, function: str, args: list[Any], kwargs: dict[str, Any], gas: int | None) -> Any:
        return self.client.call(path, function, *args, gas=gas, kwargs=kwargs)

    def query(self, path: str, function: str, args: list[Any], kwargs: dict[str, Any], gas: int | None) -> Any:
        return self.client.query(path, function, *args, kwargs=kwargs, gas=gas)

    def render(self, path: str, subpath: str) -> str:
        return str(self.client.render(path, subpath))

    def state(self, path: str) -> dict[str, Any]:
        return dict(self.client.state(path))

    def services(self) -> list[dict[str, Any]]:
        return list(self.client.services())

    def describe(self, path: str) -> dict[str, Any]:
        return dict(self.client.describe(path))

    def close(self) -> None:
        self.client.close()
