"""Inclusion and consistency proofs for the API, from memory once warm.

The ledger stores the hash of every complete subtree of the log (``Ledger.subtree_hash``), so
any range a proof asks about is O(log n) reads, even right after a restart. A node proves every
receipt it returns, so :class:`LogProofs` also keeps what it read or was handed in memory: the
sequencer hands over the subtrees each block finished (:meth:`LogProofs.remember`) before any
client of that block gets its receipt, so the proofs of fresh receipts need neither the store
nor its lock. Ranges of committed leaves are final, complete subtrees or not, so the right edges
that all proofs against one head share are hashed once. The proofs are :mod:`amigos.merkle`'s
own (``audit_path`` and ``subproof``, RFC 9162 §2.1.3.1, §2.1.4.1) over this remembering range
hash: the same bytes as ``inclusion_proof`` and ``consistency_proof``.
"""

from __future__ import annotations

from typing import Callable, Iterable, TypeVar

from ..errors import ProofError
from ..merkle import EMPTY_ROOT, node_hash
from ..merkle.proof import audit_path, audit_paths, subproof
from ..merkle.tree import largest_power_of_two_below

T = TypeVar("T")
MAX_REMEMBERED = 1 << 20
"""Range hashes kept (100 MB or so); past that the memory starts over."""


def range_key(start: int, end: int) -> int:
    """Leaves ``[start, end)`` as one int (a log has fewer than 2**64 leaves). Not a tuple: the
    garbage collector tracks tuples, and a busy node remembers new ranges by the thousand a
    second, each of which would count towards its next pass."""
    return start << 64 | end


class LogProofs:
    """Proofs over an append-only log whose complete subtree hashes ``subtree(level, index)``
    reads (level 0: the leaf hashes). Only ask about trees whose leaves are committed: what is
    remembered is taken to be final. Safe to use from several threads."""

    def __init__(self, subtree: Callable[[int, int], bytes]) -> None:
        self.subtree = subtree
        self._known: dict[int, bytes] = {}
        """A range of committed leaves (:func:`range_key`) → its hash. Only whole dict operations
        touch it, which the GIL makes atomic."""

    def remember(self, subtrees: Iterable[tuple[int, int, bytes]]) -> None:
        """Keep the hashes of committed complete subtrees, given as ``(level, index, hash)``."""
        if len(self._known) >= MAX_REMEMBERED:
            self._known = {}
        known = self._known
        for level, index, hashed in subtrees:
            known[range_key(index << level, (index + 1) << level)] = hashed

    def mth(self, start: int, end: int) -> bytes:
        """The Merkle hash of leaves ``[start, end)``, a range RFC 6962's recursion asks about."""
        known = self._known.get(range_key(start, end))
        if known is not None:
            return known
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and start % n == 0:
            value = self.subtree(n.bit_length() - 1, start // n)
        else:
            k = largest_power_of_two_below(n)
            value = node_hash(self.mth(start, start + k), self.mth(start + k, end))
        if len(self._known) >= MAX_REMEMBERED:
            self._known = {}
        self._known[range_key(start, end)] = value
        return value

    def inclusion(self, index: int, size: int) -> list[bytes]:
        """The audit path of leaf ``index`` in the tree of the first ``size`` leaves."""
        if not 0 <= index < size:
            raise ProofError(f"leaf index {index} is not below tree size {size}")
        return audit_path(self.mth, index, 0, size)

    def inclusions(self, indexes: list[int], size: int, form: Callable[[bytes], T]) -> dict[int, list[T]]:
        """The audit paths of leaves ``indexes`` in the tree of the first ``size`` leaves, each
        hash in the ``form`` the caller writes it in (hex, say): what one answer's receipts, all
        proven against one head, carry. They share most hashes, which are looked up and put in
        that form once each."""
        return audit_paths(lambda start, end: form(self.mth(start, end)), indexes, size)

    def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        """That the tree of ``old_size`` leaves is a prefix of the tree of ``new_size``."""
        if not 0 <= old_size <= new_size:
            raise ProofError(f"no consistency proof from size {old_size} to size {new_size}")
        if old_size == 0 or old_size == new_size:
            return []
        return subproof(self.mth, old_size, 0, new_size, True)
