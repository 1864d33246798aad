"""Inclusion and consistency proofs for the API, in O(log n) once warm.

``Ledger.inclusion_proof`` hashes every leaf of the tree for each proof: fine for a test, not
for a node that proves every receipt it returns. In RFC 6962's recursion the left part of every
split is a *complete* subtree (see :mod:`amigos.merkle.tree`), and in an append-only log a
complete subtree never changes once its last leaf is in. :class:`LogProofs` remembers the hash
of each range of at least ``2**min_level`` committed leaves that it computes (complete subtrees,
and the right edges that all proofs against one head share), so the first proof over a tree of
n receipts costs O(n) hashes and each later one about ``log2(n) * 2**min_level``. The proofs
are :mod:`amigos.merkle`'s own (``audit_path`` and ``subproof``, RFC 9162 §2.1.3.1, §2.1.4.1)
over this remembering ``mth``: the same bytes as ``inclusion_proof`` and ``consistency_proof``.
"""

from __future__ import annotations

from typing import Callable

from ..errors import ProofError
from ..merkle import EMPTY_ROOT, node_hash
from ..merkle.proof import audit_path, subproof
from ..merkle.tree import largest_power_of_two_below

MAX_REMEMBERED = 1 << 20
"""Subtree hashes kept (32 MB or so); past that the memory starts over."""


class LogProofs:
    """Proofs over the leaf hashes ``leaf_hash(i)`` of an append-only log. Only ask about trees
    whose leaves are committed: what is remembered is taken to be final."""

    def __init__(self, leaf_hash: Callable[[int], bytes], min_level: int = 3) -> None:
        self.leaf_hash = leaf_hash
        self.min_size = 1 << min_level
        self._known: dict[tuple[int, int], bytes] = {}
        """(start, end) of a range of committed leaves → its hash. Any such range is final,
        complete subtree or not: the right edges that every proof against one tree head shares
        are computed once for a whole batch of receipts."""

    def mth(self, start: int, end: int) -> bytes:
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n == 1:
            return self.leaf_hash(start)
        remember = n >= self.min_size
        if remember:
            known = self._known.get((start, end))
            if known is not None:
                return known
        k = largest_power_of_two_below(n)
        value = node_hash(self.mth(start, start + k), self.mth(start + k, end))
        if remember:
            if len(self._known) >= MAX_REMEMBERED:
                self._known.clear()
            self._known[(start, end)] = value
        return value

    def inclusion(self, index: int, size: int) -> list[bytes]:
        """The audit path of leaf ``index`` in the tree of the first ``size`` leaves."""
        if not 0 <= index < size:
            raise ProofError(f"leaf index {index} is not below tree size {size}")
        return audit_path(self.mth, index, 0, size)

    def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        """That the tree of ``old_size`` leaves is a prefix of the tree of ``new_size``."""
        if not 0 <= old_size <= new_size:
            raise ProofError(f"no consistency proof from size {old_size} to size {new_size}")
        if old_size == 0 or old_size == new_size:
            return []
        return subproof(self.mth, old_size, 0, new_size, True)
