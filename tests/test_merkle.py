"""amigos.merkle: RFC 6962 / RFC 9162 Merkle trees, against published test vectors.

Where the expected values come from (copied as data, hex for hex):

* The eight leaf inputs and the roots of sizes 1..8 are the known answers of
  google/certificate-transparency ``cpp/merkletree/merkle_tree_test.cc`` (kInputs,
  kSHA256Roots); transparency-dev/merkle ``proof/verify_test.go`` repeats them.
* The hashes of every complete subtree of those eight leaves, and which of them make up the
  compact tree of each size 0..8: transparency-dev/merkle ``testonly/constants.go``
  (NodeHashes, CompactTrees, EmptyRootHash).
* The hasher vectors (empty tree, empty leaf, leaf "L123456", node of "N123" and "N456"):
  transparency-dev/merkle ``rfc6962/rfc6962_test.go``.
"""

from __future__ import annotations

import pytest

from amigos import merkle
from amigos.errors import AmigosError, ProofError
from amigos.merkle import (
    EMPTY_ROOT,
    CompactTree,
    complete_subtrees,
    leaf_hash,
    merkle_root,
    node_hash,
    subtree_hash,
)

h = bytes.fromhex

# --- Test vectors ----------------------------------------------------------------------------

LEAF_INPUTS = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
LEAVES = [leaf_hash(data) for data in LEAF_INPUTS]

EMPTY_TREE_HASH = h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")

ROOTS = {  # tree size -> root
    0: EMPTY_TREE_HASH,
    1: h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    2: h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    3: h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    4: h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    5: h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    6: h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    7: h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    8: h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
}

NODE_HASHES = {  # (level, index) -> hash of the complete subtree
    (0, 0): h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    (0, 1): h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
    (0, 2): h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
    (0, 3): h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
    (0, 4): h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
    (0, 5): h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
    (0, 6): h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
    (0, 7): h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    (1, 0): h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    (1, 1): h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
    (1, 2): h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
    (1, 3): h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    (2, 0): h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    (2, 1): h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    (3, 0): h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
}

COMPACT_TREES = {  # tree size -> the complete subtrees it keeps, largest first
    0: [],
    1: [(0, 0)],
    2: [(1, 0)],
    3: [(1, 0), (0, 2)],
    4: [(2, 0)],
    5: [(2, 0), (0, 4)],
    6: [(2, 0), (1, 2)],
    7: [(2, 0), (1, 2), (0, 6)],
    8: [(3, 0)],
}

# Leaves for the larger trees: distinct, so no two leaves ever hash alike.
MANY = [leaf_hash(i.to_bytes(2, "big")) for i in range(300)]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


# --- Hashing ---------------------------------------------------------------------------------


def test_hasher_vectors():
    assert EMPTY_ROOT == EMPTY_TREE_HASH == merkle_root([])
    assert leaf_hash(b"") == h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert leaf_hash(b"L123456") == h("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
    assert node_hash(b"N123", b"N456") == h("aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb")


def test_leaves_and_nodes_cannot_be_confused():
    left, right = leaf_hash(b"Hello"), leaf_hash(b"World")
    assert node_hash(left, right) != leaf_hash(left + right)
    assert node_hash(left, right) != node_hash(right, left)


# --- Roots and complete subtrees -------------------------------------------------------------


@pytest.mark.parametrize("size", range(9))
def test_roots_of_the_reference_tree(size):
    assert merkle_root(LEAVES[:size]) == ROOTS[size]
    assert merkle_root(LEAVES, size) == ROOTS[size]
    assert merkle_root(LEAVES.__getitem__, size) == ROOTS[size]
    tree = CompactTree()
    tree.extend(LEAVES[:size])
    assert tree.size == size and tree.root() == ROOTS[size]


def test_complete_subtree_hashes():
    for (level, index), expected in NODE_HASHES.items():
        assert subtree_hash(LEAVES, level, index) == expected


@pytest.mark.parametrize("size", range(9))
def test_compact_tree_keeps_the_complete_subtrees(size):
    assert complete_subtrees(size) == COMPACT_TREES[size]
    expected = tuple(NODE_HASHES[node] for node in COMPACT_TREES[size])
    tree = CompactTree()
    tree.extend(LEAVES[:size])
    assert tree.hashes == expected
    assert CompactTree.from_leaves(LEAVES, size).hashes == expected


def test_incremental_root_equals_recursive_root_up_to_300():
    tree = CompactTree()
    assert tree.root() == merkle_root([])
    for size in range(1, 301):
        tree.append(MANY[size - 1])
        assert tree.root() == merkle_root(MANY[:size]), size
        assert len(tree.hashes) == bin(size).count("1")


@pytest.mark.parametrize("size", [0, 1, 5, 64, 100, 255])
def test_compact_tree_carries_on_from_stored_state(size):
    stored = CompactTree.from_leaves(MANY, size)
    resumed = CompactTree(stored.size, stored.hashes)
    resumed.extend(MANY[size:size + 45])
    assert resumed.root() == merkle_root(MANY[:size + 45])
    assert repr(resumed).startswith(f"CompactTree(size={size + 45}, root=")


def test_complete_subtrees_of_13():
    assert complete_subtrees(13) == [(3, 0), (2, 2), (0, 12)]


def test_subtree_hash_reads_only_its_leaves():
    read = []

    def leaf_at(i: int) -> bytes:
        read.append(i)
        return MANY[i]

    assert subtree_hash(leaf_at, 2, 3) == merkle_root(MANY[12:16])
    assert sorted(read) == [12, 13, 14, 15]


# --- Malformed input -------------------------------------------------------------------------


def test_compact_tree_refuses_inconsistent_state():
    with pytest.raises(ProofError, match="size 5 has 2 complete subtrees, got 1"):
        CompactTree(5, [SOME_HASH])
    with pytest.raises(ProofError, match="subtree hash 1"):
        CompactTree(3, [SOME_HASH, b"short"])
    with pytest.raises(ProofError, match="list of subtree hashes"):
        CompactTree(1, SOME_HASH)


def test_proof_error_is_an_amigos_error():
    assert issubclass(ProofError, AmigosError)
    assert merkle.ProofError is ProofError


def test_tree_input_is_checked():
    for bad in [b"", b"WrongLeaf", bytes(31), bytes(33), bytearray(32), "0" * 64, 0, None]:
        with pytest.raises(ProofError, match="leaf hash"):
            CompactTree().append(bad)
        with pytest.raises(ProofError, match="leaf hash 2"):
            merkle_root(LEAVES[:2] + [bad])
    with pytest.raises(ProofError, match="needs 9 leaf hashes, only 8"):
        merkle_root(LEAVES, 9)
    with pytest.raises(ProofError, match="tree size is needed"):
        merkle_root(LEAVES.__getitem__)
    with pytest.raises(ProofError, match="sequence of leaf hashes or a function"):
        merkle_root(b"".join(LEAVES), 1)
    with pytest.raises(ProofError, match="needs 16 leaf hashes"):
        subtree_hash(LEAVES, 4, 0)
    for value in [-1, 2**64, True, 1.0, "1", None]:
        with pytest.raises(ProofError, match="tree size"):
            CompactTree(value, [])
