"""What services see of the host: ``std``, ``std.Map`` and imported services.

These objects are handed to untrusted code, so each keeps everything it holds in attributes
starting with ``_`` (which service code cannot name) and offers only the methods below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from ..codec import FAST_STR_KEY, KEY_STR_END, KEY_STR_TAG, KeyTooLarge, decode_key, encode_key
from ..crypto.address import is_canonical_address
from ..errors import CodecError
from . import gas
from .keys import service_address
from .guards import bounded_repr

if TYPE_CHECKING:
    from .machine import Machine

STD_EXPORTS = frozenset({"caller", "origin", "height", "time", "emit", "require", "Map", "current_service",
                         "address", "balance", "send", "received"})
PAGE = 100
"""Entries a Map reads from the store at a time while iterating."""


class RequirementFailed(Exception):
    """Raised by ``std.require``; the receipt's message is the requirement's message."""


class Std:
    """The ``std`` module of the service language."""

    __slots__ = ("_m",)

    def __init__(self, machine: Machine) -> None:
        self._m = machine

    def caller(self) -> str:
        """Who called the running function: an account, or the path of the calling service."""
        return self._m.frame().caller

    def origin(self) -> str:
        """The account that signed the transaction (the start of the call chain)."""
        return self._m.context.origin

    def height(self) -> int:
        """The block height the call executes in."""
        return self._m.context.height

    def time(self) -> int:
        """The block time in whole seconds since the Unix epoch (never the wall clock)."""
        return self._m.context.time

    def current_service(self) -> str:
        """The path of the service whose code is running."""
        return self._m.frame().path

    def emit(self, name: str, /, **attrs: Any) -> None:
        """Record an event in the call's receipt. It is kept only if the call succeeds."""
        self._m.emit(name, attrs)

    def require(self, condition: Any, message: str = "requirement failed") -> None:
        """Fail the call with ``message`` unless ``condition`` is true."""
        self._m.meter.charge(gas.OP)
        if not condition:
            raise RequirementFailed(message if type(message) is str else bounded_repr(message))

    def address(self, path: str | None = None) -> str:
        """The address of the service at ``path`` (default: the running one), which holds its
        AMI: pay a service by sending to it."""
        self._m.meter.charge(gas.OP)
        if path is None:
            path = self._m.frame().path
        elif type(path) is not str or len(path) > 512:
            raise ValueError("std.address takes a service path")
        return service_address(path)

    def balance(self, address: str | None = None) -> int:
        """The AMI balance of ``address`` (default: the running service)."""
        if address is None:
            address = service_address(self._m.frame().path)
        elif not is_canonical_address(address):
            raise ValueError("std.balance takes an amigo1… address")
        return self._m.balance(address)

    def send(self, to: str, amount: int) -> None:
        """Pay ``amount`` AMI from the running service's own balance to the address ``to``.
        Fails the call (InsufficientFunds) if the service has less."""
        self._m.send(to, amount)

    def received(self) -> int:
        """The AMI the transaction sent with this call; 0 in a call from another service."""
        machine = self._m
        machine.meter.charge(gas.OP)
        return machine.context.received if len(machine.frames) == 1 else 0

    def Map(self) -> Map:  # noqa: N802 - a constructor, named like one
        """A new persistent mapping owned by the running service."""
        return self._m.new_map()

    def __repr__(self) -> str:
        return "<module std>"


class Map:
    """A persistent mapping whose entries are stored one by one and loaded only when used.

    Keys are ints, str, bytes or tuples of those; values are anything a global may hold.
    Iteration (``for k in m``, ``keys``, ``values``, ``items``) walks keys in order — integers
    numerically, then bytes, then strings, then tuples — a page at a time.
    """

    __slots__ = ("_m", "_owner", "_id", "_prefix", "_str_prefix")

    def __init__(self, machine: Machine, owner: str, map_id: int) -> None:
        self._m = machine
        self._owner = owner
        self._id = map_id
        self._prefix = machine.map_prefix(owner, map_id)
        self._str_prefix = self._prefix + KEY_STR_TAG

    def _key(self, key: Any) -> bytes:
        if type(key) is str and len(key) <= FAST_STR_KEY and "\x00" not in key:
            # The common key, encoded here exactly as encode_key does: one call less per access.
            return self._str_prefix + key.encode("utf-8", "surrogatepass") + KEY_STR_END
        try:
            skey = encode_key(key)
        except KeyTooLarge as exc:
            raise self._m.meter.limit_exceeded(str(exc)) from None
        except CodecError as exc:
            raise TypeError(str(exc)) from None
        if type(key) is tuple:  # encoded element by element in Python
            self._m.meter.charge(len(skey) * gas.TUPLE_KEY_BYTE)
        return self._prefix + skey

    def __getitem__(self, key: Any) -> Any:
        value = self._m.map_get(self, self._key(key))
        if value is _MISSING:
            raise KeyError(key)
        return value

    def get(self, key: Any, default: Any = None) -> Any:
        value = self._m.map_get(self, self._key(key))
        return default if value is _MISSING else value

    def __contains__(self, key: Any) -> bool:
        return self._m.map_get(self, self._key(key)) is not _MISSING

    def __setitem__(self, key: Any, value: Any) -> None:
        self._m.map_set(self, self._key(key), value)

    def __delitem__(self, key: Any) -> None:
        if not self._m.map_delete(self, self._key(key)):
            raise KeyError(key)

    def pop(self, key: Any, default: Any = None) -> Any:
        skey = self._key(key)
        value = self._m.map_get(self, skey)
        if value is _MISSING:
            return default
        self._m.map_delete(self, skey)
        return value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        skey = self._key(key)
        value = self._m.map_get(self, skey)
        if value is _MISSING:
            self._m.map_set(self, skey, default)
            return default
        return value

    def __len__(self) -> int:
        return self._m.map_len(self)

    def keys(self, start: Any = None, limit: int | None = None) -> list[Any]:
        """Up to ``limit`` keys (all when ``None``) from ``start`` on, in key order."""
        return [k for k, _ in self._page(start, limit, with_values=False)]

    def values(self, start: Any = None, limit: int | None = None) -> list[Any]:
        return [v for _, v in self._page(start, limit, with_values=True)]

    def items(self, start: Any = None, limit: int | None = None) -> list[tuple[Any, Any]]:
        return list(self._page(start, limit, with_values=True))

    def __iter__(self) -> Iterator[Any]:
        return (k for k, _ in self._page(None, None, with_values=False))

    def _page(self, start: Any, limit: int | None, with_values: bool) -> Iterator[tuple[Any, Any]]:
        if limit is not None and (type(limit) is not int or limit < 0):
            raise ValueError("limit must be a non-negative int")
        prefix = self._prefix
        cursor = None if start is None else self._key(start)
        remaining = limit
        while remaining is None or remaining > 0:
            size = PAGE if remaining is None else min(PAGE, remaining)
            rows = self._m.map_scan(self, prefix, cursor, size, with_values)
            for skey, value in rows:
                yield decode_key(skey[len(prefix) :]), value
            if remaining is not None:
                remaining -= len(rows)
            if len(rows) < size:
                return
            cursor = rows[-1][0] + b"\x00"

    def __repr__(self) -> str:
        return f"Map(#{self._id})"

    __hash__ = None  # type: ignore[assignment]


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


class ServiceProxy:
    """An imported service: ``counter.increment(2)`` calls it; nothing else is reachable."""

    __slots__ = ("_m", "_path")

    def __init__(self, machine: Machine, path: str) -> None:
        self._m = machine
        self._path = path

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return CrossCall(self._m, self._path, name)

    def __repr__(self) -> str:
        return f"<service {self._path}>"


class CrossCall:
    """One exported function of an imported service."""

    __slots__ = ("_m", "_path", "_name")

    def __init__(self, machine: Machine, path: str, name: str) -> None:
        self._m = machine
        self._path = path
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._m.cross_call(self._path, self._name, args, kwargs)

    def __repr__(self) -> str:
        return f"<function {self._path}.{self._name}>"
