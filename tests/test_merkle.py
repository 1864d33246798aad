"""amigos.merkle: RFC 6962 / RFC 9162 Merkle trees, against published test vectors and properties.

Where the expected values come from (copied as data, hex for hex):

* The eight leaf inputs, the roots of sizes 1..8, the inclusion proofs and the consistency proofs
  (1, 1), (1, 8), (6, 8), (2, 5) are the known answers of google/certificate-transparency,
  ``cpp/merkletree/merkle_tree_test.cc`` (kInputs, kSHA256Roots, kSHA256Paths,
  kSHA256Proofs). transparency-dev/merkle ``proof/verify_test.go`` repeats them and adds the
  consistency proof (6, 7). Both number leaves from 1 in their inclusion vectors; here leaf
  indexes are 0-based, as in RFC 9162, so their leaf ``L`` is index ``L - 1`` below.
* The hashes of every complete subtree of those eight leaves, and which of them make up the
  compact tree of each size 0..8: transparency-dev/merkle ``testonly/constants.go``
  (NodeHashes, CompactTrees, EmptyRootHash).
* The hasher vectors (empty tree, empty leaf, leaf "L123456", node of "N123" and "N456"):
  transparency-dev/merkle ``rfc6962/rfc6962_test.go``.
* Which nodes make up the proofs of larger trees (sizes 15, 31, 95 and the 7-leaf examples):
  transparency-dev/merkle ``proof/proof_test.go``, which names them as (level, index) node
  IDs. They are written here as the leaf ranges those nodes cover (node (L, i) is leaves
  [i * 2**L, (i + 1) * 2**L), cut at the tree size, and a "rehash" group of nodes is the one
  range they cover together); the expected hashes are then MTH of those ranges, computed by
  the reference :func:`merkle_root` that the roots above pin down.

The property tests check every proof of every tree up to 64 leaves, and its corruptions.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Sequence

import pytest

from amigos import merkle
from amigos.errors import AmigosError, ProofError
from amigos.merkle import (
    EMPTY_ROOT,
    CompactTree,
    complete_subtrees,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    range_hash,
    root_from_inclusion_proof,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)
from amigos.merkle.proof import audit_paths, consistency_proof_length, inclusion_proof_length

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

INCLUSION_PROOFS = [  # (0-based leaf index, tree size, proof)
    (0, 1, []),
    (0, 8, [
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ]),
    (5, 8, [
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    ]),
    (2, 3, [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    ]),
    (1, 5, [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
    ]),
]

CONSISTENCY_PROOFS = [  # (old size, new size, proof)
    (1, 1, []),
    (1, 8, [
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ]),
    (6, 8, [
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    ]),
    (2, 5, [
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
    ]),
    (6, 7, [
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    ]),
]

# Proof shapes from transparency-dev/merkle proof/proof_test.go, as leaf ranges [start, end).
INCLUSION_SHAPES = [  # (leaf index, tree size, ranges)
    (0, 2, [(1, 2)]),
    (1, 2, [(0, 1)]),
    (1, 3, [(0, 1), (2, 3)]),
    (0, 7, [(1, 2), (2, 4), (4, 7)]),
    (1, 7, [(0, 1), (2, 4), (4, 7)]),
    (2, 7, [(3, 4), (0, 2), (4, 7)]),
    (3, 7, [(2, 3), (0, 2), (4, 7)]),
    (4, 7, [(5, 6), (6, 7), (0, 4)]),
    (5, 7, [(4, 5), (6, 7), (0, 4)]),
    (6, 7, [(4, 6), (0, 4)]),
    (2, 4, [(3, 4), (0, 2)]),
    (3, 5, [(2, 3), (0, 2), (4, 5)]),
    (3, 6, [(2, 3), (0, 2), (4, 6)]),
    (4, 6, [(5, 6), (0, 4)]),
    (10, 15, [(11, 12), (8, 10), (12, 15), (0, 8)]),
    (24, 31, [(25, 26), (26, 28), (28, 31), (16, 24), (0, 16)]),
    (81, 95, [(80, 81), (82, 84), (84, 88), (88, 95), (64, 80), (0, 64)]),
]
CONSISTENCY_SHAPES = [  # (old size, new size, ranges)
    (1, 2, [(1, 2)]),
    (1, 4, [(1, 2), (2, 4)]),
    (1, 6, [(1, 2), (2, 4), (4, 6)]),
    (2, 3, [(2, 3)]),
    (2, 8, [(2, 4), (4, 8)]),
    (3, 7, [(2, 3), (3, 4), (0, 2), (4, 7)]),
    (4, 7, [(4, 7)]),
    (5, 7, [(4, 5), (5, 6), (6, 7), (0, 4)]),
    (6, 7, [(4, 6), (6, 7), (0, 4)]),
    (7, 8, [(6, 7), (7, 8), (4, 6), (0, 4)]),
    (2, 4, [(2, 4)]),
    (3, 5, [(2, 3), (3, 4), (0, 2), (4, 5)]),
    (3, 6, [(2, 3), (3, 4), (0, 2), (4, 6)]),
    (4, 6, [(4, 6)]),
    (1, 7, [(1, 2), (2, 4), (4, 7)]),
    (10, 15, [(8, 10), (10, 12), (12, 15), (0, 8)]),
    (24, 31, [(16, 24), (24, 31), (0, 16)]),
    (81, 95, [(80, 81), (81, 82), (82, 84), (84, 88), (88, 95), (64, 80), (0, 64)]),
] + [(n, n, []) for n in (1, 2, 3, 4, 5, 7, 8)]

# Leaves for the larger trees: distinct, so no two leaves ever hash alike.
MANY = [leaf_hash(i.to_bytes(2, "big")) for i in range(300)]
MANY_ROOTS = [merkle_root(MANY, n) for n in range(129)]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


def flip(value: bytes, bit: int) -> bytes:
    """``value`` with one bit flipped."""
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def holds(check, *args, **kwargs) -> bool:
    try:
        check(*args, **kwargs)
    except ProofError:
        return False
    return True


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


# --- Proofs: known answers -------------------------------------------------------------------


@pytest.mark.parametrize("index, size, proof", INCLUSION_PROOFS)
def test_inclusion_proof_vectors(index, size, proof):
    assert inclusion_proof(LEAVES, index, size) == proof
    assert root_from_inclusion_proof(LEAVES[index], proof, index=index, size=size) == ROOTS[size]
    verify_inclusion(LEAVES[index], proof, index=index, size=size, root=ROOTS[size])
    assert_inclusion_corruptions_fail(LEAVES[index], proof, index, size, ROOTS[size])


@pytest.mark.parametrize("old, new, proof", CONSISTENCY_PROOFS)
def test_consistency_proof_vectors(old, new, proof):
    assert consistency_proof(LEAVES, old, new) == proof
    verify_consistency(proof, old_size=old, new_size=new, old_root=ROOTS[old], new_root=ROOTS[new])
    if proof:
        assert_consistency_corruptions_fail(proof, old, new, ROOTS[old], ROOTS[new])


@pytest.mark.parametrize("index, size, ranges", INCLUSION_SHAPES)
def test_inclusion_proof_shapes(index, size, ranges):
    expected = [merkle_root(MANY[start:end]) for start, end in ranges]
    assert inclusion_proof(MANY, index, size) == expected
    verify_inclusion(MANY[index], expected, index=index, size=size, root=merkle_root(MANY, size))


@pytest.mark.parametrize("old, new, ranges", CONSISTENCY_SHAPES)
def test_consistency_proof_shapes(old, new, ranges):
    expected = [merkle_root(MANY[start:end]) for start, end in ranges]
    assert consistency_proof(MANY, old, new) == expected
    verify_consistency(expected, old_size=old, new_size=new,
                       old_root=merkle_root(MANY, old), new_root=merkle_root(MANY, new))


# --- Proofs: every proof of every tree up to 64 leaves ---------------------------------------


def assert_inclusion_corruptions_fail(leaf, proof, index, size, root):
    """The corruptions of transparency-dev's and CT's verifier tests, and a few more."""

    def refused(leaf=leaf, proof=proof, index=index, size=size, root=root):
        return not holds(verify_inclusion, leaf, proof, index=index, size=size, root=root)

    for position in range(len(proof)):
        for bit in (0, 3 + 8 * position, 255):
            bad = list(proof)
            bad[position] = flip(bad[position], bit)
            assert refused(proof=bad), ("flipped bit", position, bit)
    assert refused(leaf=flip(leaf, 7)) and refused(root=flip(root, 100))
    assert refused(leaf=b"WrongLeaf") and refused(root=EMPTY_ROOT) and refused(root=SOME_HASH)
    for wrong in {index - 1, index + 1, index ^ 2, size, size + 1} - {index}:
        assert refused(index=wrong), ("wrong index", wrong)
    # A proof is for one tree size; checked against the root of another size it fails. (Against
    # the same root a different size can pass: see test_tree_size_is_bound_by_the_root_only.)
    for wrong in {size - 1, size + 1, size * 2, size // 2} - {size}:
        if 0 <= wrong < len(MANY_ROOTS):
            wrong_root = MANY_ROOTS[wrong] if root == MANY_ROOTS[size] else ROOTS.get(wrong, SOME_HASH)
            assert refused(size=wrong, root=wrong_root), ("wrong size", wrong)
    assert refused(proof=proof + [b""]) and refused(proof=proof + [root]) and refused(proof=proof + [leaf])
    assert refused(proof=[b""] + proof) and refused(proof=[root] + proof) and refused(proof=[SOME_HASH] + proof)
    if proof:
        assert refused(proof=proof[:-1]) and refused(proof=proof[1:])
        assert refused(proof=proof[:1] + [SOME_HASH] + proof[1:])
    if len(proof) > 1:
        assert refused(proof=proof[::-1]) and refused(proof=proof[1:2] + proof[:1] + proof[2:])


def assert_consistency_corruptions_fail(proof, old, new, old_root, new_root):
    def refused(proof=proof, old=old, new=new, old_root=old_root, new_root=new_root):
        return not holds(verify_consistency, proof, old_size=old, new_size=new, old_root=old_root, new_root=new_root)

    for position in range(len(proof)):
        for bit in (0, 4 + 8 * position, 255):
            bad = list(proof)
            bad[position] = flip(bad[position], bit)
            assert refused(proof=bad), ("flipped bit", position, bit)
    assert refused(old_root=flip(old_root, 9)) and refused(new_root=flip(new_root, 200))
    assert refused(old_root=b"WrongRoot") and refused(new_root=b"WrongRoot")
    assert refused(old_root=new_root, new_root=old_root) and refused(new_root=old_root)
    for wrong in {old - 1, old + 1, old ^ 2, 0, new} - {old}:
        assert refused(old=wrong), ("wrong old size", wrong)
    roots = MANY_ROOTS if new_root == MANY_ROOTS[new] else None
    for wrong in {new - 1, new + 1, new * 2, new // 2} - {new}:
        wrong_root = roots[wrong] if roots and wrong < len(roots) else SOME_HASH
        assert refused(new=wrong, new_root=wrong_root), ("wrong new size", wrong)
    assert refused(proof=[])
    assert refused(proof=proof + [b""]) and refused(proof=proof + [old_root]) and refused(proof=proof + [new_root])
    assert refused(proof=[b""] + proof) and refused(proof=[old_root] + proof) and refused(proof=[proof[0]] + proof)
    assert refused(proof=proof[:-1]) and refused(proof=proof[1:])
    if len(proof) > 1:
        assert refused(proof=proof[::-1]) or proof == proof[::-1]


def test_every_inclusion_proof_up_to_64_leaves():
    for size in range(1, 65):
        root = MANY_ROOTS[size]
        for index in range(size):
            proof = inclusion_proof(MANY, index, size)
            assert len(proof) == inclusion_proof_length(index, size)
            verify_inclusion(MANY[index], proof, index=index, size=size, root=root)
            assert_inclusion_corruptions_fail(MANY[index], proof, index, size, root)


def test_audit_paths_are_the_inclusion_proofs_of_each_leaf():
    rng = random.Random(6962)

    def mth(start: int, end: int) -> bytes:
        return merkle_root(MANY[start:end])

    for size in [*range(1, 40), 64, 65, 127, 200, 300]:
        everyone = audit_paths(mth, range(size), size)
        assert everyone == {i: inclusion_proof(MANY, i, size) for i in range(size)}
        for _ in range(5):
            some = [rng.randrange(size) for _ in range(rng.randrange(1, 12))]  # unsorted, repeated
            assert audit_paths(mth, some, size) == {i: everyone[i] for i in some}
    assert audit_paths(mth, [], 5) == {}


def test_audit_paths_leave_no_garbage_for_the_cycle_collector():
    """A node computes paths for every receipt it answers with: a reference cycle per call (a
    recursive inner function makes one) once made half of a busy node's garbage, and each pass
    of the cycle collector that found it stopped the node ~10 ms."""
    gc.collect()
    collecting = gc.isenabled()
    gc.disable()
    try:
        for size in (1, 2, 7, 300):
            audit_paths(lambda start, end: (start, end), [0, size // 2, size - 1], size)
        assert gc.collect() == 0
    finally:
        if collecting:
            gc.enable()


def test_audit_paths_ask_for_each_shared_hash_once():
    asked: list[tuple[int, int]] = []

    def mth(start: int, end: int) -> str:
        asked.append((start, end))
        return merkle_root(MANY[start:end]).hex()

    paths = audit_paths(mth, range(100, 200), 300)
    assert len(asked) == len(set(asked)) < 2 * 100 + 2 * 9
    assert paths[150] == [h.hex() for h in inclusion_proof(MANY, 150, 300)]


@pytest.mark.parametrize("indexes, size", [([5], 5), ([-1], 5), ([0, 7], 7), ([0], 0)])
def test_audit_paths_refuse_leaves_outside_the_tree(indexes, size):
    with pytest.raises(ProofError):
        audit_paths(lambda a, b: b"", indexes, size)


def test_every_consistency_proof_up_to_64_leaves():
    for new in range(0, 65):
        for old in range(0, new + 1):
            proof = consistency_proof(MANY, old, new)
            assert len(proof) == consistency_proof_length(old, new)
            verify_consistency(proof, old_size=old, new_size=new, old_root=MANY_ROOTS[old], new_root=MANY_ROOTS[new])
            if proof:
                assert_consistency_corruptions_fail(proof, old, new, MANY_ROOTS[old], MANY_ROOTS[new])


def test_every_single_bit_flip_fails_in_a_tree_of_8():
    for size in (7, 8):
        root = ROOTS[size]
        for index in range(size):
            proof = inclusion_proof(LEAVES, index, size)
            for position in range(len(proof)):
                for bit in range(256):
                    bad = list(proof)
                    bad[position] = flip(bad[position], bit)
                    assert not holds(verify_inclusion, LEAVES[index], bad, index=index, size=size, root=root)
            for bit in range(256):
                assert not holds(verify_inclusion, flip(LEAVES[index], bit), proof, index=index, size=size, root=root)
                assert not holds(verify_inclusion, LEAVES[index], proof, index=index, size=size, root=flip(root, bit))
        for old in range(1, size):
            proof = consistency_proof(LEAVES, old, size)
            for position in range(len(proof)):
                for bit in range(256):
                    bad = list(proof)
                    bad[position] = flip(bad[position], bit)
                    assert not holds(verify_consistency, bad, old_size=old, new_size=size,
                                     old_root=ROOTS[old], new_root=root)


def test_tree_size_is_bound_by_the_root_only():
    # As in RFC 9162, a proof does not carry the tree size: leaf 0 takes the same path in trees
    # of 3 and 4 leaves. So the size must come with its root, from one signed tree head.
    proof = inclusion_proof(LEAVES, 0, 3)
    verify_inclusion(LEAVES[0], proof, index=0, size=4, root=ROOTS[3])
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[0], proof, index=0, size=4, root=ROOTS[4])


def test_generation_reads_leaves_from_a_function():
    for size in (1, 13, 64):
        for index in (0, size // 2, size - 1):
            assert inclusion_proof(MANY.__getitem__, index, size) == inclusion_proof(MANY, index, size)
        for old in (0, 1, size // 3, size):
            assert consistency_proof(MANY.__getitem__, old, size) == consistency_proof(MANY, old, size)
    # Proofs for an older, smaller tree come from the same leaves.
    assert inclusion_proof(MANY, 3, 5) == inclusion_proof(MANY[:5], 3, 5)


# --- Edge cases and malformed input ----------------------------------------------------------


def test_consistency_of_trivial_sizes():
    # The empty tree is a prefix of every tree; a tree is consistent with itself.
    verify_consistency([], old_size=0, new_size=0, old_root=EMPTY_ROOT, new_root=EMPTY_ROOT)
    verify_consistency([], old_size=0, new_size=5, old_root=EMPTY_ROOT, new_root=ROOTS[5])
    verify_consistency([], old_size=5, new_size=5, old_root=ROOTS[5], new_root=ROOTS[5])
    assert consistency_proof(LEAVES, 0, 8) == [] and consistency_proof(LEAVES, 8, 8) == []
    cases = [
        ([], 0, 0, EMPTY_ROOT, SOME_HASH, "different roots"),
        ([], 0, 1, SOME_HASH, ROOTS[1], "empty tree"),
        ([], 1, 1, ROOTS[1], ROOTS[2], "different roots"),
        ([], 1, 0, ROOTS[1], EMPTY_ROOT, "larger than"),
        ([], 2, 1, ROOTS[2], ROOTS[1], "larger than"),
        ([], 1, 2, ROOTS[1], ROOTS[2], "must have 1 hashes, got 0"),
        ([EMPTY_ROOT], 0, 0, EMPTY_ROOT, EMPTY_ROOT, "must have 0 hashes, got 1"),
        ([EMPTY_ROOT], 0, 1, EMPTY_ROOT, ROOTS[1], "must have 0 hashes, got 1"),
        ([ROOTS[1]], 1, 1, ROOTS[1], ROOTS[1], "must have 0 hashes, got 1"),
    ]
    for proof, old, new, old_root, new_root, message in cases:
        with pytest.raises(ProofError, match=message):
            verify_consistency(proof, old_size=old, new_size=new, old_root=old_root, new_root=new_root)


def test_single_leaf_tree():
    leaf = leaf_hash(b"data")
    verify_inclusion(leaf, [], index=0, size=1, root=leaf)
    for bad_leaf, bad_root in [(leaf, b""), (b"", leaf), (b"", b"")]:
        with pytest.raises(ProofError, match="32 bytes"):
            verify_inclusion(bad_leaf, [], index=0, size=1, root=bad_root)
    with pytest.raises(ProofError, match="leads to root"):
        verify_inclusion(leaf, [], index=0, size=1, root=leaf_hash(b"other"))


@pytest.mark.parametrize("index, size", [(0, 0), (1, 0), (1, 1), (2, 1), (8, 7), (8, 8)])
def test_leaf_index_must_be_below_tree_size(index, size):
    with pytest.raises(ProofError, match="not below tree size"):
        verify_inclusion(SOME_HASH, [], index=index, size=size, root=EMPTY_ROOT)
    with pytest.raises(ProofError, match="not below tree size"):
        root_from_inclusion_proof(SOME_HASH, [], index=index, size=size)
    with pytest.raises(ProofError, match="not below tree size"):
        inclusion_proof(MANY, index, size)


@pytest.mark.parametrize("value", [-1, 2**64, True, 1.0, "1", None])
def test_sizes_and_indexes_are_uint64(value):
    proof = inclusion_proof(LEAVES, 1, 5)
    with pytest.raises(ProofError, match="leaf index"):
        verify_inclusion(LEAVES[1], proof, index=value, size=5, root=ROOTS[5])
    with pytest.raises(ProofError, match="tree size"):
        verify_inclusion(LEAVES[1], proof, index=1, size=value, root=ROOTS[5])
    with pytest.raises(ProofError, match="old tree size"):
        verify_consistency([], old_size=value, new_size=5, old_root=ROOTS[5], new_root=ROOTS[5])
    with pytest.raises(ProofError, match="new tree size"):
        verify_consistency([], old_size=5, new_size=value, old_root=ROOTS[5], new_root=ROOTS[5])
    with pytest.raises(ProofError):
        inclusion_proof(LEAVES, value, 5)
    with pytest.raises(ProofError):
        consistency_proof(LEAVES, 1, value)
    with pytest.raises(ProofError):
        CompactTree(value, [])


@pytest.mark.parametrize("bad", [b"", b"WrongLeaf", bytes(31), bytes(33), bytearray(32), memoryview(bytes(32)),
                                 "0" * 64, 0, None])
def test_hashes_must_be_32_bytes(bad):
    proof = inclusion_proof(LEAVES, 1, 5)
    with pytest.raises(ProofError, match="leaf hash"):
        verify_inclusion(bad, proof, index=1, size=5, root=ROOTS[5])
    with pytest.raises(ProofError, match="root"):
        verify_inclusion(LEAVES[1], proof, index=1, size=5, root=bad)
    with pytest.raises(ProofError, match="inclusion proof hash 2"):
        verify_inclusion(LEAVES[1], proof[:2] + [bad], index=1, size=5, root=ROOTS[5])
    proof = consistency_proof(LEAVES, 3, 5)
    with pytest.raises(ProofError, match="old root"):
        verify_consistency(proof, old_size=3, new_size=5, old_root=bad, new_root=ROOTS[5])
    with pytest.raises(ProofError, match="new root"):
        verify_consistency(proof, old_size=3, new_size=5, old_root=ROOTS[3], new_root=bad)
    with pytest.raises(ProofError, match="consistency proof hash 0"):
        verify_consistency([bad] + proof[1:], old_size=3, new_size=5, old_root=ROOTS[3], new_root=ROOTS[5])
    with pytest.raises(ProofError, match="leaf hash"):
        CompactTree().append(bad)
    with pytest.raises(ProofError, match="leaf hash 2"):
        merkle_root(LEAVES[:2] + [bad])
    with pytest.raises(ProofError, match="leaf hash 2"):
        inclusion_proof(lambda i: bad if i == 2 else LEAVES[i], 0, 4)


@pytest.mark.parametrize("proof", [b"".join(LEAVES[:3]), bytearray(96), "abc", None, 3, {1: 2}])
def test_a_proof_is_a_list_of_hashes(proof):
    with pytest.raises(ProofError, match="must be a list of hashes"):
        verify_inclusion(LEAVES[0], proof, index=0, size=8, root=ROOTS[8])
    with pytest.raises(ProofError, match="must be a list of hashes"):
        verify_consistency(proof, old_size=1, new_size=8, old_root=ROOTS[1], new_root=ROOTS[8])


def test_a_proof_may_be_a_tuple():
    proof = tuple(inclusion_proof(LEAVES, 6, 7))
    verify_inclusion(LEAVES[6], proof, index=6, size=7, root=ROOTS[7])


def test_proof_length_is_checked_before_the_hashes():
    class Unreadable(Sequence):
        def __len__(self) -> int:
            return 10**9

        def __getitem__(self, i):
            raise AssertionError("a proof of the wrong length was read")

    with pytest.raises(ProofError, match="must have 3 hashes, got 1000000000"):
        verify_inclusion(LEAVES[0], Unreadable(), index=0, size=8, root=ROOTS[8])
    with pytest.raises(ProofError, match="must have 3 hashes, got 1000000000"):
        verify_consistency(Unreadable(), old_size=1, new_size=8, old_root=ROOTS[1], new_root=ROOTS[8])


def test_leaf_sources():
    with pytest.raises(ProofError, match="needs 9 leaf hashes, only 8"):
        inclusion_proof(LEAVES, 0, 9)
    with pytest.raises(ProofError, match="needs 9 leaf hashes, only 8"):
        merkle_root(LEAVES, 9)
    with pytest.raises(ProofError, match="tree size is needed"):
        merkle_root(LEAVES.__getitem__)
    with pytest.raises(ProofError, match="sequence of leaf hashes or a function"):
        merkle_root(b"".join(LEAVES), 1)
    with pytest.raises(ProofError, match="needs 16 leaf hashes"):
        subtree_hash(LEAVES, 4, 0)


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


def test_public_api():
    assert sorted(merkle.__all__) == sorted([
        "EMPTY_ROOT", "HASH_SIZE", "CompactTree", "LeafHashes", "ProofError", "complete_subtrees",
        "consistency_proof", "inclusion_proof", "leaf_hash", "merkle_root", "node_hash", "range_hash",
        "root_from_inclusion_proof", "subtree_hash", "verify_consistency", "verify_inclusion",
    ])
    for name in merkle.__all__:
        assert hasattr(merkle, name)


def test_append_returns_the_subtrees_it_finished_and_ranges_fold_them() -> None:
    """What a log stores from ``append`` (every complete subtree, by level and index) gives the
    hash of every range RFC 6962's recursion asks about, and refuses any other range."""
    tree, stored = CompactTree(), {}
    for i, leaf in enumerate(MANY[:100]):
        stored[0, i] = leaf
        for level, hashed in enumerate(tree.append(leaf), start=1):
            index = (tree.size >> level) - 1
            assert hashed == subtree_hash(MANY, level, index)
            stored[level, index] = hashed
    assert len(stored) == 2 * 100 - (100).bit_count()  # every complete subtree, once
    for size in range(1, 101):
        assert range_hash(lambda level, index: stored[level, index], 0, size) == merkle_root(MANY, size)
    assert range_hash(lambda level, index: stored[level, index], 64, 100) == merkle_root(MANY[64:100])
    with pytest.raises(ProofError, match="not a range of complete subtrees"):
        range_hash(lambda level, index: stored[level, index], 2, 7)
