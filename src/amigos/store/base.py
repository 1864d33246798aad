"""The storage interface every backend implements."""

from __future__ import annotations

from typing import Mapping, Protocol

Writes = Mapping[bytes, "bytes | None"]
"""Pending writes: a value of ``None`` deletes the key."""


class Store(Protocol):
    def get(self, key: bytes) -> bytes | None:
        """The value stored at ``key``, or ``None``."""

    def scan(
        self, prefix: bytes, start: bytes | None = None, limit: int | None = None
    ) -> list[tuple[bytes, bytes]]:
        """Keys beginning with ``prefix`` (and ``>= start`` if given), in byte order."""

    def apply(self, writes: Writes) -> None:
        """Apply all ``writes`` in one durable transaction: all of them or none."""

    def close(self) -> None:
        ...


def check_key(key: object, what: str = "key") -> None:
    """Refuse a state key (or scan bound) that is not bytes: a str would be stored as text by
    one backend and cast to bytes by another, and sort differently in each."""
    if not isinstance(key, bytes):
        raise TypeError(f"a state {what} must be bytes, not {type(key).__name__}")


def scan_range(prefix: bytes, start: bytes | None, limit: int | None) -> tuple[bytes, bytes | None, int | None]:
    """A scan's arguments checked and resolved, the same for every backend: the lowest key,
    the bound past the prefix (None: none), and the limit (None: none; a negative limit is no
    limit, as SQLite reads one)."""
    check_key(prefix, "prefix")
    if start is not None:
        check_key(start, "start")
    if limit is not None and type(limit) is not int:
        raise TypeError(f"a scan limit must be an int or None, not {type(limit).__name__}")
    low = prefix if start is None or start < prefix else start
    return low, prefix_end(prefix), None if limit is not None and limit < 0 else limit


def check_writes(writes: Writes) -> None:
    """Refuse ``writes`` unless every key is bytes and every value bytes or None (TypeError
    naming the first offending entry). Nothing is copied: a block writes thousands of keys,
    which a backend reads straight from the mapping."""
    try:
        keys, values = writes.keys(), writes.values()
    except AttributeError:
        raise TypeError(f"writes must be a mapping of bytes to bytes or None, not {type(writes).__name__}") from None
    if set(map(type, keys)) <= _BYTES and set(map(type, values)) <= _BYTES_OR_NONE:
        return  # the types of all of them, checked in C
    for key, value in writes.items():
        if not isinstance(key, bytes):
            raise TypeError(f"a state key must be bytes, not {type(key).__name__}: {key!r:.60}")
        if value is not None and not isinstance(value, bytes):
            raise TypeError(f"the value of state key {key!r:.60} must be bytes or None, not {type(value).__name__}")


_BYTES = frozenset((bytes,))
_BYTES_OR_NONE = frozenset((bytes, type(None)))


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key that starts with ``prefix`` (None: no bound)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes((stripped[-1] + 1,))
