"""amigos.merkle: RFC 6962 / RFC 9162 Merkle trees, against published test vectors.

The hasher vectors (empty tree, empty leaf, leaf "L123456", node of "N123" and "N456") are those
of transparency-dev/merkle ``rfc6962/rfc6962_test.go``.
"""

from __future__ import annotations

from amigos import merkle
from amigos.errors import AmigosError, ProofError
from amigos.merkle import EMPTY_ROOT, leaf_hash, node_hash

h = bytes.fromhex

EMPTY_TREE_HASH = h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


# --- Hashing ---------------------------------------------------------------------------------


def test_hasher_vectors():
    assert EMPTY_ROOT == EMPTY_TREE_HASH
    assert leaf_hash(b"") == h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert leaf_hash(b"L123456") == h("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
    assert node_hash(b"N123", b"N456") == h("aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb")


def test_leaves_and_nodes_cannot_be_confused():
    left, right = leaf_hash(b"Hello"), leaf_hash(b"World")
    assert node_hash(left, right) != leaf_hash(left + right)
    assert node_hash(left, right) != node_hash(right, left)


def test_proof_error_is_an_amigos_error():
    assert issubclass(ProofError, AmigosError)
    assert merkle.ProofError is ProofError
