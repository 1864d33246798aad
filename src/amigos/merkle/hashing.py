"""The two hashes of an RFC 6962 Merkle tree (RFC 6962 §2.1, RFC 9162 §2.1.1).

A leaf is hashed as ``SHA-256(0x00 || data)`` and an inner node as
``SHA-256(0x01 || left || right)``. The different prefixes keep a leaf from ever hashing like
an inner node, so nobody can pass off two child hashes as one leaf (a second preimage). The
root of the empty tree is ``SHA-256("")``, a value no leaf or node can take.
"""

from __future__ import annotations

import hashlib
from typing import TypeGuard

HASH_SIZE = 32
"""Length in bytes of every hash in the tree (SHA-256)."""

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""Root hash of the tree with no leaves: ``SHA-256("")``."""


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf: ``SHA-256(0x00 || data)``."""
    digest = hashlib.sha256(LEAF_PREFIX)
    digest.update(data)
    return digest.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node from its children's hashes: ``SHA-256(0x01 || left || right)``.

    The hot path of every tree operation, so it checks nothing: callers pass hashes they have
    already checked (see :func:`is_hash`).
    """
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def is_hash(value: object) -> TypeGuard[bytes]:
    """Whether ``value`` can be a tree hash: ``bytes`` of exactly :data:`HASH_SIZE`."""
    return isinstance(value, bytes) and len(value) == HASH_SIZE
