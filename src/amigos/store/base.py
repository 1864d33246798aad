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


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key that starts with ``prefix`` (None: no bound)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes((stripped[-1] + 1,))
