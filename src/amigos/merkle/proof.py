"""Inclusion and consistency proofs of an RFC 6962 Merkle tree (RFC 9162 §2.1.3 and §2.1.4).

An *inclusion proof* (audit path) shows that a leaf is in a tree: the hashes of the subtrees
beside the leaf's path to the root, bottom up. A *consistency proof* shows that a tree of size
m is a prefix of a tree of size n, i.e. that the log only grew: the hashes a verifier needs to
rebuild both roots from the same nodes.

Generation follows the recursive definitions PATH and SUBPROOF of RFC 9162 and reads leaf
hashes from a sequence or a function (see :data:`~amigos.merkle.tree.LeafHashes`).
Verification follows the iterative algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2, after checking
every input, and raises :class:`~amigos.errors.ProofError` saying what failed; it returns
nothing when the proof holds.

Leaf indexes are 0-based, as in RFC 9162.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

from ..errors import ProofError
from ._checks import check_count, check_hash, check_proof_hashes
from .hashing import EMPTY_ROOT, node_hash
from .tree import LeafHashes, largest_power_of_two_below, leaf_reader, mth

RangeHash = Callable[[int, int], bytes]
"""The Merkle tree hash of the leaves ``[start, end)``."""
H = TypeVar("H")

# ---------------------------------------------------------------------------------------------
# Proof lengths. Both depend on the sizes alone, so verification knows how many hashes to
# expect before reading any, and a proof of the wrong length is refused with a clear message.


def inclusion_proof_length(index: int, size: int) -> int:
    """How many hashes the inclusion proof of leaf ``index`` in a tree of ``size`` has.

    Below the level where the paths of ``index`` and of the last leaf ``size - 1`` join, every
    node on the leaf's path has a sibling (the bits where they differ). Above it the path runs
    along the tree's right border, where a node has a left sibling only where ``index`` has a
    1-bit; elsewhere it is a lone last node and moves up unchanged.
    """
    below_join = (index ^ (size - 1)).bit_length()
    return below_join + (index >> below_join).bit_count()


def consistency_proof_length(old_size: int, new_size: int) -> int:
    """How many hashes the consistency proof from ``old_size`` to ``new_size`` has.

    The proof is built from the old tree's last complete subtree (its lowest 1-bit): that
    subtree's hash, left out when the old tree is itself complete (the verifier has its root),
    then that subtree's inclusion proof in the new tree, counted one level per subtree level.
    """
    if old_size == 0 or old_size == new_size:
        return 0
    level = (old_size & -old_size).bit_length() - 1
    index = (old_size - 1) >> level
    path = inclusion_proof_length(index, ((new_size - 1) >> level) + 1)
    return path + (0 if index == 0 else 1)


# ---------------------------------------------------------------------------------------------
# Generation (RFC 9162 §2.1.3.1 and §2.1.4.1)


def inclusion_proof(leaves: LeafHashes, index: int, size: int) -> list[bytes]:
    """The inclusion proof of leaf ``index`` in the tree of the first ``size`` leaves."""
    index = check_count(index, "leaf index")
    size = check_count(size, "tree size")
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    return audit_path(partial(mth, leaf_reader(leaves, size)), index, 0, size)


def audit_path(range_hash: RangeHash, m: int, start: int, end: int) -> list[bytes]:
    """PATH(m, D[start:end]): the audit path of leaf ``start + m`` in the subtree of those leaves.
    ``range_hash(a, b)`` is the MTH of leaves ``[a, b)``: a node passes one that remembers."""
    n = end - start
    if n == 1:
        return []
    k = largest_power_of_two_below(n)
    if m < k:
        return audit_path(range_hash, m, start, start + k) + [range_hash(start + k, end)]
    return audit_path(range_hash, m - k, start + k, end) + [range_hash(start, start + k)]


def audit_paths(range_hash: Callable[[int, int], H], indexes: Sequence[int], size: int) -> dict[int, list[H]]:
    """The audit path (:func:`audit_path`) of each of ``indexes`` in the tree of ``size`` leaves,
    all at once: ``{index: path}``. The paths of leaves that are close share all but their lowest
    hashes, so walking the tree once down to every leaf asked about asks ``range_hash`` for each
    shared hash once (about two per leaf for a run of neighbours, not one per level). What
    ``range_hash`` returns is kept as it is: a caller may have it return the hash in hex, say.
    Every index must be below ``size``."""
    wanted = sorted(set(indexes))
    if wanted and not 0 <= wanted[0] <= wanted[-1] < size:
        raise ProofError(f"leaf indexes must be from 0 to {size - 1}")
    paths: dict[int, list[H]] = {}
    # Each subtree still to walk: its leaves [start, end), the leaves asked about in it,
    # wanted[low:high], and ``above``, the siblings of it and its ancestors, top down (a path
    # lists them bottom up). A loop, not a recursive inner function: such a function refers to
    # itself, and the reference cycle each call made was most of what a busy node's garbage
    # collector had to find, stopping the node ~10 ms at a time.
    todo: list[tuple[int, int, int, int, list[H]]] = [(0, size, 0, len(wanted), [])] if wanted else []
    while todo:
        start, end, low, high, above = todo.pop()
        if end - start == 1:
            paths[wanted[low]] = above[::-1]
            continue
        k = largest_power_of_two_below(end - start)
        split = bisect_left(wanted, start + k, low, high)
        if split < high:
            todo.append((start + k, end, split, high, above + [range_hash(start, start + k)]))
        if low < split:
            todo.append((start, start + k, low, split, above + [range_hash(start + k, end)]))
    return paths


def consistency_proof(leaves: LeafHashes, old_size: int, new_size: int) -> list[bytes]:
    """The consistency proof from the tree of the first ``old_size`` leaves to the first ``new_size``.

    Empty when there is nothing to prove: an empty old tree, or equal sizes.
    """
    old_size = check_count(old_size, "old tree size")
    new_size = check_count(new_size, "new tree size")
    if old_size > new_size:
        raise ProofError(f"old tree size {old_size} is larger than new tree size {new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    return subproof(partial(mth, leaf_reader(leaves, new_size)), old_size, 0, new_size, True)


def subproof(range_hash: RangeHash, m: int, start: int, end: int, is_old_root: bool) -> list[bytes]:
    """SUBPROOF(m, D[start:end], b): proves the first ``m`` of these leaves are a prefix of them.

    ``is_old_root`` (the RFC's b) says whether the first ``m`` leaves here are the whole old
    tree, whose root the verifier already has; otherwise their hash goes into the proof.
    """
    n = end - start
    if m == n:
        return [] if is_old_root else [range_hash(start, end)]
    k = largest_power_of_two_below(n)
    if m <= k:
        # The old tree lies within the left part; the right part is new.
        return subproof(range_hash, m, start, start + k, is_old_root) + [range_hash(start + k, end)]
    # The left part is complete and shared by both trees; the old tree ends in the right part.
    return subproof(range_hash, m - k, start + k, end, False) + [range_hash(start, start + k)]


# ---------------------------------------------------------------------------------------------
# Verification (RFC 9162 §2.1.3.2 and §2.1.4.2)


def root_from_inclusion_proof(leaf_hash: bytes, proof: Sequence[bytes], *, index: int, size: int) -> bytes:
    """The root that ``proof`` leads to from leaf ``index`` of a tree of ``size``.

    Useful to compare against several trusted roots; :func:`verify_inclusion` compares with one.
    """
    index = check_count(index, "leaf index")
    size = check_count(size, "tree size")
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    check_hash(leaf_hash, "leaf hash")
    path = check_proof_hashes(proof, inclusion_proof_length(index, size), "inclusion proof")

    # fn walks up from the leaf and sn from the last leaf; they meet at the root (sn == 0).
    fn, sn = index, size - 1
    r = leaf_hash
    for p in path:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            # A right child, or the last node of its level: the proof hash is on the left.
            r = node_hash(p, r)
            # A last node that is a left child has no sibling; it moves up unchanged.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path to the root")
    return r


def verify_inclusion(leaf_hash: bytes, proof: Sequence[bytes], *, index: int, size: int, root: bytes) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves whose root is ``root``."""
    check_hash(root, "root")
    computed = root_from_inclusion_proof(leaf_hash, proof, index=index, size=size)
    if computed != root:
        raise ProofError(
            f"inclusion proof of leaf {index} in a tree of size {size} leads to root "
            f"{computed.hex()}, not {root.hex()}"
        )


def verify_consistency(
    proof: Sequence[bytes], *, old_size: int, new_size: int, old_root: bytes, new_root: bytes
) -> None:
    """Check that the tree of ``old_size`` leaves with ``old_root`` is a prefix of the tree of
    ``new_size`` leaves with ``new_root``: that the log only grew between the two tree heads."""
    old_size = check_count(old_size, "old tree size")
    new_size = check_count(new_size, "new tree size")
    if old_size > new_size:
        raise ProofError(f"old tree size {old_size} is larger than new tree size {new_size}")
    check_hash(old_root, "old root")
    check_hash(new_root, "new root")
    path = check_proof_hashes(proof, consistency_proof_length(old_size, new_size), "consistency proof")

    # The cases with nothing to prove (the proof is empty, as its length was checked).
    if old_size == 0 and old_root != EMPTY_ROOT:
        raise ProofError("old root is not the root of the empty tree, SHA-256 of nothing")
    if old_size == new_size:
        if old_root != new_root:
            raise ProofError(f"two trees of size {old_size} have different roots")
        return
    if old_size == 0:
        return  # the empty tree is a prefix of every tree

    # A complete old tree is itself a node of the new tree: its root starts the path.
    if old_size & (old_size - 1) == 0:
        path = [old_root, *path]
    fn, sn = old_size - 1, new_size - 1
    # Climb from the old tree's last leaf to its last complete subtree, the first node of path.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # fr rebuilds the old root and sr the new one, from the same nodes where the trees share them.
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            # A left sibling: part of both trees.
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            # A last node that is a left child has no sibling; it moves up unchanged.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            # A right sibling: only in the new tree.
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the path to the root")
    if fr != old_root:
        raise ProofError(
            f"consistency proof from size {old_size} to {new_size} leads to old root "
            f"{fr.hex()}, not {old_root.hex()}"
        )
    if sr != new_root:
        raise ProofError(
            f"consistency proof from size {old_size} to {new_size} leads to new root "
            f"{sr.hex()}, not {new_root.hex()}"
        )
