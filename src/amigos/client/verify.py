"""The checks a client makes on what a node says, as pure functions over its JSON answers.

No I/O here: the sync and async clients (through :mod:`.protocol`) feed these the node's
answers, so both check exactly the same things.
"""

from __future__ import annotations

from typing import Any

from ..errors import REFUSAL_CODES, ExecutionError, ForkDetected, NodeError, ProofError, TransactionRefused, execution_error
from ..ledger.block import SignedTreeHead
from ..merkle import leaf_hash, verify_consistency, verify_inclusion
from ..node.wire import WireError, head_from_json, head_to_json, parse_hex, receipt_fields
from ..vm.machine import Event
from .receipt import InclusionProof, Receipt


def signed_head(head_json: object, node_key: bytes | None, chain_id: str | None) -> SignedTreeHead:
    """The tree head in ``head_json``, once it is shown to be signed by the pinned ``node_key``
    for ``chain_id``."""
    try:
        shown = head_from_json(head_json)
    except WireError as exc:
        raise ProofError(f"the node's tree head is malformed: {exc}") from None
    if shown.node_key != node_key or not shown.verify():
        raise ProofError("the tree head is not signed by the node's pinned key")
    if shown.head.chain_id != chain_id:
        raise ProofError(f"the tree head is for chain {shown.head.chain_id!r}, not {chain_id!r}")
    return shown


def is_newer(shown: SignedTreeHead, seen: SignedTreeHead | None) -> bool:
    return seen is None or shown.head.size > seen.head.size or shown.head.height > seen.head.height


def sizes_to_prove(seen: SignedTreeHead, shown: SignedTreeHead) -> tuple[int, int] | None:
    """The (old, new) tree sizes a consistency proof must link for ``shown`` to agree with
    ``seen``, or None if the two heads agree without one. Raises ForkDetected for heads that
    contradict each other on their face: two heads for one block, sizes shrinking as heights
    grow, two roots for one size."""
    evidence = head_to_json(seen), head_to_json(shown)
    if seen.head.height == shown.head.height and seen.head != shown.head:
        raise ForkDetected(f"the node signed two different tree heads for block {seen.head.height}", *evidence)
    if (shown.head.height > seen.head.height and shown.head.size < seen.head.size) or (
            shown.head.height < seen.head.height and shown.head.size > seen.head.size):
        raise ForkDetected("the node's tree sizes do not grow with its block heights", *evidence)
    old, new = sorted((seen.head.size, shown.head.size))
    if old == new:
        if seen.head.root != shown.head.root:
            raise ForkDetected(f"two tree heads of size {old} with different roots", *evidence)
        return None
    return old, new


def check_consistency(seen: SignedTreeHead, shown: SignedTreeHead, proof_json: object) -> None:
    """Check that the smaller of the two trees is a prefix of the larger, by ``proof_json`` (the
    node's consistency proof between their sizes; None when the node no longer has the tree of
    the size it signed). Any failure is a ForkDetected with both heads as evidence."""
    old, new = (seen, shown) if seen.head.size <= shown.head.size else (shown, seen)
    evidence = head_to_json(seen), head_to_json(shown)
    if proof_json is None:
        raise ForkDetected(f"the node's log no longer holds the tree of {seen.head.size} receipts it signed", *evidence)
    try:
        if type(proof_json) is not dict or (proof_json.get("from"), proof_json.get("to")) != (old.head.size, new.head.size):
            raise ProofError("the consistency proof is not between the two heads")
        hashes = [parse_hex(h, "hash", 32) for h in proof_json.get("hashes", ())]
        verify_consistency(hashes, old_size=old.head.size, new_size=new.head.size,
                           old_root=old.head.root, new_root=new.head.root)
    except (ProofError, WireError, TypeError) as exc:
        raise ForkDetected(f"the tree of {new.head.size} receipts does not extend the tree of {old.head.size} "
                           f"({exc})", *evidence) from None


def proven_receipt(receipt_json: object, head: SignedTreeHead, tx_hash: bytes) -> Receipt:
    """The receipt in ``receipt_json``, read from its leaf once the leaf is proven to be in
    ``head``'s tree and to be the receipt of transaction ``tx_hash``."""
    try:
        if type(receipt_json) is not dict or type(receipt_json.get("proof")) is not dict:
            raise WireError("a receipt with its leaf and proof")
        leaf = parse_hex(receipt_json.get("leaf"), "leaf")
        proof = receipt_json["proof"]
        hashes = [parse_hex(h, "hash", 32) for h in proof.get("hashes", ())]
        if proof.get("size") != head.head.size:
            raise ProofError("the inclusion proof is not against the head it came with")
    except (WireError, TypeError) as exc:
        raise ProofError(f"the node's receipt is malformed: {exc}") from None
    return proven_leaf(leaf, hashes, head, tx_hash)


def proven_leaf(leaf: bytes, hashes: list[bytes], head: SignedTreeHead, tx_hash: bytes) -> Receipt:
    """The receipt in the log leaf ``leaf``, once ``hashes`` prove it is in ``head``'s tree and
    it is the receipt of transaction ``tx_hash``."""
    try:
        fields = receipt_fields(leaf)
        verify_inclusion(leaf_hash(leaf), hashes, index=fields["index"], size=head.head.size, root=head.head.root)
    except (WireError, TypeError) as exc:
        raise ProofError(f"the node's receipt is malformed: {exc}") from None
    if fields["tx_hash"] != tx_hash:
        raise ProofError("the node answered with the receipt of another transaction")
    error = fields["error"]
    results = list(fields["results"])
    return Receipt(
        ok=fields["ok"],
        result=results[-1] if results else None,
        error=None if error is None else execution_error(error[0], error[1]),
        gas_used=fields["gas_used"],
        events=[Event(e["service"], e["name"], e["attrs"]) for e in fields["events"]],
        height=fields["height"],
        tx_hash=tx_hash.hex(),
        index=fields["index"],
        results=results,
        failed_message=fields["failed_message"],
        writes_hash=fields["writes_hash"],
        proof=InclusionProof(fields["index"], head.head.size, hashes, head),
    )


def problem_error(status: int, problem: Any, text: str) -> TransactionRefused | ExecutionError | NodeError:
    """What a problem answer (RFC 9457, already parsed into ``problem``; ``text`` is the raw
    body) means: a refused transaction, a failed read-only call, or another NodeError."""
    if type(problem) is not dict:
        return NodeError(status, "bad-response", text[:200])
    code, detail = str(problem.get("code", "")), str(problem.get("detail", ""))
    if code in REFUSAL_CODES:
        return TransactionRefused(code, detail)
    error = problem.get("error")
    if type(error) is dict and type(error.get("type")) is str:
        line = error.get("line")
        return execution_error(error["type"], str(error.get("message", "")), line if type(line) is int else None)
    return NodeError(status, code or "error", detail)
