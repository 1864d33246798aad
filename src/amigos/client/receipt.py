"""What a transaction did, as every client of the SDK answers it, and the errors built from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import DeployError, ExecutionError
from ..jsonvalue import to_json
from ..ledger.block import SignedTreeHead
from ..vm.machine import Event


@dataclass(frozen=True)
class InclusionProof:
    """That leaf ``index`` is in the tree of ``size`` receipts whose signed head is ``head``."""

    index: int
    size: int
    hashes: list[bytes]
    head: SignedTreeHead


@dataclass
class Receipt:
    """What a transaction did. The fields of :class:`amigos.Receipt` (``result`` is the last
    message's result), plus where it is in the log and the proof that it is there.

    A node's receipts are read from their proven log leaf. A local client's (``connect(home)``)
    have no log: ``tx_hash``, ``index``, ``writes_hash`` and ``proof`` are None.
    """

    ok: bool
    result: Any
    error: ExecutionError | None
    gas_used: int
    events: list[Event]
    height: int
    tx_hash: str | None = None
    index: int | None = None
    results: list[Any] = field(default_factory=list)
    failed_message: int | None = None
    writes_hash: bytes | None = field(default=None, repr=False)
    proof: InclusionProof | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "result": to_json(self.result),
            "error": None if self.error is None else self.error.to_dict(),
            "gas_used": self.gas_used,
            "events": [{**e.to_dict(), "attrs": to_json(e.attrs)} for e in self.events],
            "height": self.height,
            "tx_hash": self.tx_hash,
            "index": self.index,
        }


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
