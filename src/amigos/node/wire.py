"""The JSON forms of what the node's API serves and the SDK checks: tree heads and receipts.

Bytes are lower-case hex. A receipt carries its log ``leaf`` (the exact bytes that were hashed
into the Merkle tree) next to the readable fields, so a client that checks the inclusion proof
reads the fields from the leaf it checked, not from text the node could have made up.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..errors import CodecError, TransactionError
from ..jsonvalue import to_json
from ..ledger.block import SignedTreeHead, TreeHead, TxReceipt, decode_leaf
from ..ledger.tx import SignedTransaction

MAX_BATCH = 2000
"""Most transactions in one request (one full block); a client splits longer lists."""


class WireError(ValueError):
    """JSON that is not the form this module reads (a malformed or hostile answer)."""


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""One encoder for every answer (``json.dumps`` with options makes a new one each call)."""


def dump_json(value: Any) -> str:
    """Compact JSON that is always valid UTF-8 once encoded: service strings may hold lone
    surrogates, which only the escaped form (``\\ud800``) can carry."""
    text = _COMPACT.encode(value)
    try:
        text.encode()
    except UnicodeEncodeError:
        text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text


def json_text(value: Any) -> str:
    """The compact JSON text ``dump_json`` tries first: it may hold lone surrogates, which a
    caller that assembles an answer from such texts checks for once, on the whole."""
    return _COMPACT.encode(value)


def load_json(text: str | bytes) -> Any:
    """JSON as the node reads it from files and requests: strict, so ``NaN`` and ``Infinity``
    (which Python's json takes and no other JSON reader does) raise ValueError like any
    malformed text; nesting too deep raises RecursionError."""
    return json.loads(text, parse_constant=_no_constant)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_hex(text: object, what: str, size: int | None = None) -> bytes:
    """Strict hex: an even number of hex digits and nothing else, optionally exactly ``size``
    bytes. ``bytes.fromhex`` takes only hex digits and whitespace between pairs; two digits per
    byte read means there was no whitespace (quicker than a regular expression over a
    transaction's thousand digits)."""
    try:
        raw = bytes.fromhex(text) if type(text) is str else None
    except ValueError:
        raw = None
    if raw is None or 2 * len(raw) != len(text):  # type: ignore[arg-type]
        raise WireError(f"{what} must be a string of hex digits (two per byte)")
    if size is not None and len(raw) != size:
        raise WireError(f"{what} must be {size} bytes ({2 * size} hex digits), not {len(raw)}")
    return raw


def head_to_json(signed: SignedTreeHead) -> dict[str, Any]:
    h = signed.head
    return {
        "chain_id": h.chain_id,
        "height": h.height,
        "time": h.time,
        "size": h.size,
        "root": h.root.hex(),
        "state_hash": h.state_hash.hex(),
        "node_key": signed.node_key.hex(),
        "signature": signed.signature.hex(),
    }


def head_from_json(obj: object) -> SignedTreeHead:
    """The signed tree head a JSON object describes (its signature is not checked here)."""
    if type(obj) is not dict:
        raise WireError("a tree head is a JSON object")
    try:
        chain_id, height, time, size = obj["chain_id"], obj["height"], obj["time"], obj["size"]
        head = TreeHead(chain_id, height, time, size, parse_hex(obj["root"], "root", 32),
                        parse_hex(obj["state_hash"], "state_hash", 32))
        signed = SignedTreeHead(head, parse_hex(obj["node_key"], "node_key", 32),
                                parse_hex(obj["signature"], "signature", 64))
    except KeyError as exc:
        raise WireError(f"a tree head lacks {exc}") from None
    if type(chain_id) is not str or any(type(v) is not int or v < 0 for v in (height, time, size)):
        raise WireError("a tree head has a str chain_id and non-negative int height, time and size")
    return signed


def receipt_fields(leaf: bytes) -> dict[str, Any]:
    """The fields of a log leaf, as Python values (see docs/protocol.md, "Blocks and the
    transparent log"). Raises :class:`WireError` if the bytes are not a receipt leaf."""
    try:
        fields = decode_leaf(leaf)
        (stx_bytes, height, index, ok, results, error, failed, gas_used, events, writes_hash) = fields
        stx = SignedTransaction.decode(stx_bytes)
    except (CodecError, TransactionError, ValueError, TypeError) as exc:
        raise WireError(f"not a receipt leaf: {exc}") from None
    return {
        "tx_hash": hashlib.sha256(stx_bytes).digest(),
        "transaction": stx,
        "height": height,
        "index": index,
        "ok": ok,
        "results": results,
        "error": error,
        "failed_message": failed,
        "gas_used": gas_used,
        "events": events,
        "writes_hash": writes_hash,
    }


def receipt_fields_of(receipt: TxReceipt, stx: SignedTransaction) -> dict[str, Any]:
    """The :func:`receipt_fields` of the leaf the ledger made of ``receipt`` and ``stx``, from
    those objects (the sequencer hands them over): the codec maps values one to one, so
    decoding the leaf again would give these very values."""
    error = receipt.error
    return {
        "tx_hash": receipt.tx_hash,
        "transaction": stx,
        "height": receipt.height,
        "index": receipt.index,
        "ok": receipt.ok,
        "results": receipt.results,
        "error": None if error is None else [error.type, error.message],
        "failed_message": receipt.failed_message,
        "gas_used": receipt.gas_used,
        "events": receipt.events,
        "writes_hash": receipt.writes_hash,
    }


def receipt_to_json(leaf: bytes, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """A receipt as the API shows it, read from its leaf (``fields``: the leaf's
    :func:`receipt_fields`, when the caller decoded them already)."""
    f = receipt_fields(leaf) if fields is None else fields
    tx = f["transaction"].tx
    error = f["error"]
    return {
        "tx_hash": f["tx_hash"].hex(),
        "height": f["height"],
        "index": f["index"],
        "account": tx.account,
        "public_key": tx.public_key.hex(),
        "nonce": tx.nonce,
        "ok": f["ok"],
        "results": to_json(f["results"]),
        "error": None if error is None else {"type": error[0], "message": error[1]},
        "failed_message": f["failed_message"],
        "gas_used": f["gas_used"],
        "events": [{**e, "attrs": to_json(e.get("attrs"))} for e in f["events"]],
        "writes_hash": f["writes_hash"].hex(),
        "leaf": leaf.hex(),
    }


def receipt_text(leaf: bytes, fields: dict[str, Any], proof: str) -> str:
    """``json_text({**receipt_to_json(leaf, fields), "proof": …})`` written out, ``proof`` being
    the proof's text (:func:`proof_text`). A batch's answer is hundreds of receipts, and the
    encoder spends a good part of a microsecond on each value of each (it was the largest part
    of answering a batch). Only the values a service made (results, events) and their
    neighbours go through the encoder; the rest are hex, ints and an address, whose JSON is
    their text.

    The text may hold lone surrogates (from a service's strings): like ``dump_json``'s first
    attempt, it is valid JSON text that fails to encode to UTF-8, so a caller checks it the same
    way. tests/test_api_submit.py compares both forms on odd receipts."""
    f = fields
    tx = f["transaction"].tx
    error = f["error"]
    # The members a service made, and those between them, in one call: most of the encoder's
    # cost is per call, not per value.
    made = json_text({
        "results": to_json(f["results"]),
        "error": None if error is None else {"type": error[0], "message": error[1]},
        "failed_message": f["failed_message"],
        "gas_used": f["gas_used"],
        "events": [{**e, "attrs": to_json(e.get("attrs"))} for e in f["events"]],
    })
    return "".join((
        '{"tx_hash":"', f["tx_hash"].hex(),
        '","height":', _scalar(f["height"]),
        ',"index":', _scalar(f["index"]),
        ',"account":', json_text(tx.account),
        ',"public_key":"', tx.public_key.hex(),
        '","nonce":', _scalar(tx.nonce),
        ',"ok":', _scalar(f["ok"]),
        ",", made[1:-1],
        ',"writes_hash":"', f["writes_hash"].hex(),
        '","leaf":"', leaf.hex(),
        '","proof":', proof, "}",
    ))


def proof_text(size: int, hashes: list[str]) -> str:
    """``json_text({"size": size, "hashes": …})`` of an inclusion proof whose hashes are
    given as their JSON texts (:func:`quoted_hex`)."""
    return '{"size":%s,"hashes":[%s]}' % (_scalar(size), ",".join(hashes))


def quoted_hex(raw: bytes) -> str:
    """The JSON text of ``raw`` in hex."""
    return '"%s"' % raw.hex()


def _scalar(value: Any) -> str:
    """The JSON of None, a bool or an int as the encoder writes it, without its overhead."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return int.__repr__(value)
    return json_text(value)


def concerns_account(fields: dict[str, Any], account: str) -> bool:
    """Whether a receipt is of a transaction signed for ``account`` or emitted an event about it
    (a guardian's approval of its recovery, say): what a stream or log filtered by account shows."""
    return fields["transaction"].tx.account == account or any(e["service"] == account for e in fields["events"])


def touched_services(fields: dict[str, Any]) -> set[str]:
    """Paths of the services a receipt's transaction deployed or called, or that emitted its events."""
    paths = {m.path for m in fields["transaction"].tx.messages if hasattr(m, "path")}
    paths.update(e.get("service") for e in fields["events"])
    return paths
