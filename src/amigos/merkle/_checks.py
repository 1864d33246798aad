"""Checks of input at the edge of :mod:`amigos.merkle`; each failure is a :class:`ProofError`.

Proofs come from other machines, so nothing about them is trusted: every hash, size and index
is checked here before any hashing starts, and the message says which one was wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ProofError
from .hashing import HASH_SIZE, is_hash

MAX_TREE_SIZE = 2**64 - 1
"""Tree sizes and leaf indexes are uint64 in RFC 9162; anything larger is malformed."""


def check_count(value: object, what: str) -> int:
    """``value`` as a tree size or leaf index: an ``int`` (not a bool) in 0..2**64-1."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProofError(f"{what} must be an int, not {type(value).__name__}")
    if not 0 <= value <= MAX_TREE_SIZE:
        raise ProofError(f"{what} {value} is outside 0..2**64-1")
    return value


def check_hash(value: object, what: str) -> bytes:
    """``value`` as a tree hash: ``bytes`` of exactly 32."""
    if not is_hash(value):
        raise ProofError(f"{what} must be {HASH_SIZE} bytes, got {_describe(value)}")
    return value


def check_proof_hashes(proof: object, expected_length: int, what: str) -> list[bytes]:
    """``proof`` as a list of exactly ``expected_length`` tree hashes.

    The length is known from the sizes alone, so it is checked first: a proof of the wrong
    length is refused before any of it is read, whatever its size.
    """
    # bytes and str are sequences too, but a proof is never one blob.
    if isinstance(proof, (bytes, bytearray, memoryview, str)) or not isinstance(proof, Sequence):
        raise ProofError(f"{what} must be a list of hashes, got {_describe(proof)}")
    if len(proof) != expected_length:
        raise ProofError(f"{what} must have {expected_length} hashes, got {len(proof)}")
    hashes = list(proof)
    for position, value in enumerate(hashes):
        check_hash(value, f"{what} hash {position}")
    return hashes


def _describe(value: object) -> str:
    if isinstance(value, (bytes, bytearray)):
        return f"{len(value)} bytes"
    return type(value).__name__
