"""The client state file: the node key pinned for each node URL and the newest tree head the
client checked there, as one JSON object ``{url: {"node_key": hex, "head": head or null}}``.

The file is what makes trust on first use safe across runs: losing it silently would let the
next contact pin whatever key a node shows. So a file that cannot be read, or that is not this
form, is a :class:`~amigos.errors.UsageError` naming the file and the fault, and it is never
rewritten: the user decides whether to repair it or remove it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..keystore import write_private_file
from ..ledger.block import SignedTreeHead
from ..node.wire import WireError, head_from_json, head_to_json, parse_hex

Pins = dict[str, Any]
"""The whole file: an entry per node URL (entries for other URLs are kept as they are)."""


def damaged(path: Path, fault: str) -> UsageError:
    """The error for a state file that cannot be used as it is."""
    return UsageError(f"the client state file {path} is damaged: {fault} (repair or remove it; "
                      "it pins the keys of the nodes this client trusts)")


def read_pins(path: Path) -> Pins:
    """Every entry of the state file at ``path``; ``{}`` if there is no file yet."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise UsageError(f"cannot read the client state file {path}: {exc.strerror or exc}") from None
    try:
        pins = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise damaged(path, "it is not UTF-8 text") from None
    except ValueError as exc:  # an empty or truncated file is not JSON either
        raise damaged(path, f"it is not JSON ({exc})") from None
    if type(pins) is not dict:
        raise damaged(path, "it is not a JSON object of node URLs")
    return pins


def pinned(path: Path, url: str) -> tuple[bytes, SignedTreeHead | None] | None:
    """The node key and tree head saved for ``url`` in the state file at ``path`` (the head's
    signature is not checked here); None if the file has no entry for it."""
    pins = read_pins(path)
    if url not in pins:
        return None
    entry = pins[url]
    if type(entry) is not dict:
        raise damaged(path, f"the entry for {url} is not a JSON object")
    try:
        key = parse_hex(entry.get("node_key"), "node_key", 32)
        head = None if entry.get("head") is None else head_from_json(entry["head"])
    except WireError as exc:
        raise damaged(path, f"the entry for {url}: {exc}") from None
    return key, head


def save_pin(path: Path, url: str, node_key: bytes, head: SignedTreeHead | None) -> None:
    """Write the entry for ``url`` into the state file, keeping the others. The file is
    read again first (another client may have written it) and replaced whole (mode 0600), so a
    crash leaves the old file or the new one, never half of one."""
    pins = read_pins(path)
    pins[url] = {"node_key": node_key.hex(), "head": None if head is None else head_to_json(head)}
    _write_pins(path, pins)


def forget_pin(path: Path, url: str) -> bool:
    """Drop the entry for ``url`` (after its node was reset on purpose); False if there was none."""
    pins = read_pins(path)
    if pins.pop(url, None) is None:
        return False
    _write_pins(path, pins)
    return True


def _write_pins(path: Path, pins: Pins) -> None:
    try:
        write_private_file(path, json.dumps(pins, indent=2).encode("utf-8"), replace=True)
    except OSError as exc:
        raise UsageError(f"cannot write the client state file {path}: {exc.strerror or exc}") from None
