"""Roots of RFC 6962 Merkle trees, from all leaves or incrementally.

The tree over leaf hashes ``D[0:n]`` is defined in RFC 6962 §2.1 (RFC 9162 §2.1.1)::

    MTH({})     = SHA-256("")
    MTH({d0})   = d0                                  (already a leaf hash)
    MTH(D[0:n]) = node_hash(MTH(D[0:k]), MTH(D[k:n]))  k: largest power of two < n

so the left part is always a *complete* subtree: 2**level leaves starting at a multiple of
2**level. Such a subtree is named by ``(level, index)`` and covers the leaves
``[index * 2**level, (index + 1) * 2**level)``. In an append-only log a complete subtree never
changes once its last leaf is in, which makes its hash safe to store under that name.

A tree of size n is the complete subtrees given by the binary digits of n, largest first (13 =
8 + 4 + 1), and its root is their hashes folded from the right. :class:`CompactTree` keeps just
those hashes — at most 64 — so a node can append receipts block after block and sign the root
without holding the leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from ..errors import ProofError
from ._checks import check_count, check_hash
from .hashing import EMPTY_ROOT, HASH_SIZE, is_hash, node_hash

LeafHashes = Sequence[bytes] | Callable[[int], bytes]
"""Where leaf hashes come from: a sequence of them, or a function from leaf index to leaf hash
(so that a node can read them from its database)."""

LeafReader = Callable[[int], bytes]


def largest_power_of_two_below(n: int) -> int:
    """The split point ``k`` of RFC 6962 §2.1: the largest power of two smaller than ``n`` (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def leaf_reader(leaves: LeafHashes, size: int) -> LeafReader:
    """A function giving leaf hash ``i`` for ``0 <= i < size``, checking every hash it reads."""
    if callable(leaves):
        get = leaves
    elif isinstance(leaves, Sequence) and not isinstance(leaves, (bytes, bytearray, str)):
        if size > len(leaves):
            raise ProofError(f"a tree of size {size} needs {size} leaf hashes, only {len(leaves)} given")
        get = leaves.__getitem__
    else:
        raise ProofError("leaves must be a sequence of leaf hashes or a function from index to leaf hash")

    def read(i: int) -> bytes:
        value = get(i)
        if not is_hash(value):
            raise ProofError(f"leaf hash {i} must be {HASH_SIZE} bytes")
        return value

    return read


def mth(read: LeafReader, start: int, end: int) -> bytes:
    """MTH(D[start:end]): the RFC 6962 hash of the leaves ``start`` (included) to ``end``."""
    n = end - start
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return read(start)
    k = largest_power_of_two_below(n)
    return node_hash(mth(read, start, start + k), mth(read, start + k, end))


def merkle_root(leaves: LeafHashes, size: int | None = None) -> bytes:
    """The root of the tree of the first ``size`` leaf hashes (all of a sequence by default).

    Computed straight from the recursive definition of RFC 6962 §2.1; it reads every leaf.
    ``size`` may be smaller than the sequence, giving the root the tree had at that size.
    """
    if size is None:
        if callable(leaves):
            raise ProofError("the tree size is needed when leaves come from a function")
        size = len(leaves)
    size = check_count(size, "tree size")
    return mth(leaf_reader(leaves, size), 0, size)


def range_hash(subtree: Callable[[int, int], bytes], start: int, end: int) -> bytes:
    """MTH(D[start:end]) from the hashes of complete subtrees, ``subtree(level, index)``, for a
    range whose ``start`` is a multiple of the largest power of two below ``end - start`` (every
    range RFC 6962's recursion, and so every proof, asks about). Such a range is the complete
    subtrees given by the binary digits of its length, largest first: O(log n) of them."""
    n = end - start
    if n == 0:
        return EMPTY_ROOT
    if n < 0 or start % (1 << (n.bit_length() - 1)):
        raise ProofError(f"leaves {start} to {end} are not a range of complete subtrees")
    return fold_subtree_hashes([subtree(level, index) for level, index in subtrees_of_range(start, n)])


def complete_subtrees(size: int) -> list[tuple[int, int]]:
    """The complete subtrees, as ``(level, index)``, that make up a tree of ``size`` leaves.

    One per binary digit of ``size`` that is set, largest (leftmost) first: 13 leaves are
    ``[(3, 0), (2, 2), (0, 12)]``, i.e. leaves 0-7, 8-11 and 12.
    """
    return list(subtrees_of_range(0, check_count(size, "tree size")))


def subtrees_of_range(start: int, n: int) -> Iterator[tuple[int, int]]:
    """The complete subtrees, as ``(level, index)``, that make up the ``n`` leaves from
    ``start`` (a multiple of the largest power of two in ``n``): one per binary digit of ``n``
    that is set, largest first."""
    for level in reversed(range(n.bit_length())):
        if n >> level & 1:
            yield level, start >> level
            start += 1 << level


def subtree_hash(leaves: LeafHashes, level: int, index: int) -> bytes:
    """The hash of the complete subtree ``(level, index)``: leaves ``[index << level, (index + 1) << level)``.

    It needs only those 2**level leaf hashes, and it never changes once they exist, so a node
    may store it under ``(level, index)`` and never compute it again.
    """
    level = check_count(level, "subtree level")
    index = check_count(index, "subtree index")
    if level >= 64:
        raise ProofError(f"subtree level {level} is not below 64")
    start, end = index << level, (index + 1) << level
    if end - 1 > 2**64 - 1:
        raise ProofError(f"subtree ({level}, {index}) reaches past leaf 2**64-1")
    return mth(leaf_reader(leaves, end), start, end)


def fold_subtree_hashes(hashes: Sequence[bytes]) -> bytes:
    """The root of a tree from the hashes of its complete subtrees, largest first.

    Folded from the right: of 8 + 4 + 1 leaves the root is ``node(h8, node(h4, h1))``, which
    is what the recursive definition gives, since each subtree is the left part of the rest.
    """
    if not hashes:
        return EMPTY_ROOT
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = node_hash(left, root)
    return root


class CompactTree:
    """An append-only Merkle tree that keeps only the hashes of its complete subtrees.

    ``append`` costs one hash plus one per complete subtree the new leaf finishes (two on
    average); ``root`` costs one hash per subtree kept (at most 63). ``size`` and ``hashes``
    are all its state: store them with a block, and ``CompactTree(size, hashes)`` carries on
    from there after a restart.
    """

    __slots__ = ("_size", "_hashes")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        size = check_count(size, "tree size")
        if isinstance(hashes, (bytes, bytearray, str)) or not isinstance(hashes, Sequence):
            raise ProofError("hashes must be a list of subtree hashes")
        if len(hashes) != size.bit_count():
            raise ProofError(
                f"a tree of size {size} has {size.bit_count()} complete subtrees, got {len(hashes)} hashes"
            )
        self._size = size
        self._hashes = [check_hash(h, f"subtree hash {i}") for i, h in enumerate(hashes)]

    @classmethod
    def from_leaves(cls, leaves: LeafHashes, size: int | None = None) -> CompactTree:
        """The compact tree of the first ``size`` leaf hashes (all of a sequence by default)."""
        if size is None:
            if callable(leaves):
                raise ProofError("the tree size is needed when leaves come from a function")
            size = len(leaves)
        subtrees = complete_subtrees(size)
        return cls(size, [subtree_hash(leaves, level, index) for level, index in subtrees])

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The hashes of the complete subtrees (see :func:`complete_subtrees`), largest first."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> list[bytes]:
        """Add one leaf, given by its hash (:func:`amigos.merkle.leaf_hash` of the data).

        Returns the hashes of the complete subtrees of level 1 and up that the leaf finished,
        smallest first: the one of level ``l`` is ``(l, (size >> l) - 1)`` for the new size
        (none after an odd number of leaves). A log that stores them can prove any range with
        O(log n) reads (see :func:`range_hash`)."""
        check_hash(leaf_hash, "leaf hash")
        if self._size == 2**64 - 1:
            raise ProofError("the tree is full: 2**64-1 leaves")
        # Each trailing 1-bit of the old size is a complete subtree of that level which the
        # new leaf's subtree, growing as it merges, now pairs with: 0b1011 + 1 merges three
        # times and leaves 0b1100's two subtrees.
        finished = []
        merged = leaf_hash
        size = self._size
        while size & 1:
            merged = node_hash(self._hashes.pop(), merged)
            finished.append(merged)
            size >>= 1
        self._hashes.append(merged)
        self._size += 1
        return finished

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Add leaves in order, given by their hashes."""
        for leaf_hash in leaf_hashes:
            self.append(leaf_hash)

    def root(self) -> bytes:
        """The root hash of the tree as it is now."""
        return fold_subtree_hashes(self._hashes)

    def __repr__(self) -> str:
        return f"CompactTree(size={self._size}, root={self.root().hex()[:16]}…)"
