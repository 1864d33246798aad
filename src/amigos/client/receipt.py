"""What a transaction did, as every client of the SDK answers it, and the errors built from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import runtime
from ..errors import DeployError, ExecutionError, TransactionRefused
from ..ledger.block import SignedTreeHead


@dataclass(frozen=True)
class InclusionProof:
    """That leaf ``index`` is in the tree of ``size`` receipts whose signed head is ``head``."""

    index: int
    size: int
    hashes: list[bytes]
    head: SignedTreeHead


@dataclass
class Receipt(runtime.Receipt):
    """What a transaction did. The fields of :class:`amigos.Receipt` (``result`` is the last
    message's result), plus where it is in the log and the proof that it is there.

    A node's receipts are read from their proven log leaf. A local client's (``connect(home)``)
    have no log: ``tx_hash``, ``index``, ``writes_hash`` and ``proof`` are None.
    """

    tx_hash: str | None = None
    index: int | None = None
    results: list[Any] = field(default_factory=list)
    failed_message: int | None = None
    writes_hash: bytes | None = field(default=None, repr=False)
    proof: InclusionProof | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "tx_hash": self.tx_hash, "index": self.index}


def failure(receipt: Receipt) -> ExecutionError:
    """The typed error of a failed call (``ServiceError``, ``OutOfGas``…), with the receipt as
    its ``receipt`` attribute: what a service proxy raises."""
    assert receipt.error is not None
    error = receipt.error
    error.receipt = receipt  # type: ignore[attr-defined]
    return error


def deploy_failure(receipt: Receipt) -> DeployError:
    """The DeployError of a failed deploy, with its receipt (a failed deploy still used its
    gas and, on a node, its nonce) as the ``receipt`` attribute."""
    assert receipt.error is not None
    error = DeployError(receipt.error.message, rule="deploy-failed", gas_used=receipt.gas_used)
    error.receipt = receipt  # type: ignore[attr-defined]
    return error


def batch_receipts(outcomes: list[Receipt | TransactionRefused]) -> list[Receipt]:
    """The receipts of a batch's transactions, in order; if any was refused, the first refusal
    is raised instead, with every receipt or refusal in order as its ``outcomes`` attribute."""
    refusals = [o for o in outcomes if isinstance(o, TransactionRefused)]
    if refusals:
        refusals[0].outcomes = outcomes  # type: ignore[attr-defined]
        raise refusals[0]
    return outcomes  # type: ignore[return-value]
