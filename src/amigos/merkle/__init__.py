"""The Merkle tree of the transparent log: RFC 6962 hashing, roots and proofs.

Every receipt is a leaf; each block ends with a signed tree head (size and root). Clients keep
the last tree head they saw and check consistency proofs against newer ones, so a node that
rewrote history is caught; inclusion proofs show a receipt is in the log.

:mod:`.hashing` holds the leaf and node hashes, :mod:`.tree` roots, complete subtrees and the
incremental :class:`CompactTree`. Anything wrong — a proof that does not hold or
malformed input — raises :class:`~amigos.errors.ProofError`.
"""

from ..errors import ProofError
from .hashing import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash
from .tree import CompactTree, LeafHashes, complete_subtrees, merkle_root, subtree_hash

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactTree",
    "LeafHashes",
    "ProofError",
    "complete_subtrees",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "subtree_hash",
]
