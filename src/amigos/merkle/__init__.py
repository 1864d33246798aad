"""The Merkle tree of the transparent log: RFC 6962 hashing, roots and proofs.

Every receipt is a leaf; each block ends with a signed tree head (size and root). Clients keep
the last tree head they saw and check consistency proofs against newer ones, so a node that
rewrote history is caught; inclusion proofs show a receipt is in the log. ::

    from amigos import merkle
    leaves = [merkle.leaf_hash(receipt) for receipt in (b"r0", b"r1", b"r2")]
    tree = merkle.CompactTree()
    tree.extend(leaves)
    assert tree.root() == merkle.merkle_root(leaves)
    proof = merkle.inclusion_proof(leaves, 1, 3)
    merkle.verify_inclusion(leaves[1], proof, index=1, size=3, root=tree.root())

Three small modules: :mod:`.hashing` (leaf and node hashes), :mod:`.tree` (roots, complete
subtrees, the incremental :class:`CompactTree`) and :mod:`.proof` (generating and verifying
proofs). Anything wrong — a proof that does not hold or malformed input — raises
:class:`~amigos.errors.ProofError`.
"""

from ..errors import ProofError
from .hashing import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash
from .proof import (
    consistency_proof,
    inclusion_proof,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from .tree import CompactTree, LeafHashes, complete_subtrees, merkle_root, range_hash, subtree_hash

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactTree",
    "LeafHashes",
    "ProofError",
    "complete_subtrees",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "merkle_root",
    "range_hash",
    "node_hash",
    "root_from_inclusion_proof",
    "subtree_hash",
    "verify_consistency",
    "verify_inclusion",
]
