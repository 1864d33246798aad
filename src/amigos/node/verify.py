"""``amigos verify``: replay a node's whole log into a fresh runtime and check every block.

The log comes from a home folder (:class:`LocalLog`) or from a running node over its API
(:class:`RemoteLog`, pages of blocks with their leaves), with the genesis it says it starts
from (the home's genesis.json, or ``GET /v1/genesis``). :func:`verify_log` replays it with
:func:`amigos.ledger.replay`, which checks each tree head's signature by the node key, each
transaction's signature and nonce (they are refused on replay otherwise), each receipt, the
state hash chain and the tree root; and it checks that no block is missing up to the last one.
Anything that does not hold is a :class:`~amigos.ledger.LogMismatch` naming the first bad
height.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from ..errors import CodecError, NodeError, UsageError
from ..ledger.block import (
    Genesis,
    Ledger,
    LogMismatch,
    SignedTreeHead,
    decode_leaf,
    replay,
)
from ..runtime import STATE_FILE, LocalRuntime
from .node import CHAIN_FILE, GENESIS_FILE, KEY_FILE, load_node_key, read_genesis_file
from .wire import WireError, head_from_json, parse_hex

BLOCKS_PER_PAGE = 50


class LogSource(Protocol):
    """What a replay reads: tree heads by height and receipt leaves by index."""

    chain_id: str
    genesis: Genesis
    """What the log says it starts from: the first block must have applied exactly this."""
    height: int
    """The last block to check."""

    def head_at(self, height: int) -> SignedTreeHead | None: ...

    def leaf(self, index: int) -> bytes: ...


@dataclass(frozen=True)
class Summary:
    chain_id: str
    node_key: bytes
    blocks: int
    receipts: int
    root: bytes
    state_hash: bytes

    def to_dict(self) -> dict[str, Any]:
        return {"ok": True, "chain_id": self.chain_id, "node_key": self.node_key.hex(), "blocks": self.blocks,
                "receipts": self.receipts, "root": self.root.hex(), "state_hash": self.state_hash.hex()}


class LocalLog:
    """The log in a node's home folder (the node may be running: its blocks up to now)."""

    def __init__(self, home: Path) -> None:
        if not (home / STATE_FILE).exists():
            raise UsageError(f"no node state in {home} (no {STATE_FILE})")
        self.home = home
        chain_file = home / CHAIN_FILE
        if not chain_file.exists():
            raise UsageError(f"no {CHAIN_FILE} in {home}: is it a node's home?")
        self.chain_id = chain_file.read_text(encoding="utf-8").strip()
        genesis_file = home / GENESIS_FILE
        self.genesis = read_genesis_file(genesis_file) if genesis_file.exists() else Genesis()
        self.runtime = LocalRuntime(home)  # opened once the home's files are read: a bad one leaves nothing open
        self.ledger = Ledger(self.runtime, self.chain_id, None)
        self.height = self.runtime.height

    def node_key(self) -> bytes:
        if not (self.home / KEY_FILE).exists():
            raise UsageError(f"no {KEY_FILE} in {self.home}: pass the node's public key with --node-key")
        return load_node_key(self.home, create=False).public_key

    def head_at(self, height: int) -> SignedTreeHead | None:
        return self.ledger.head_at(height)

    def leaf(self, index: int) -> bytes:
        return self.ledger.leaf(index)

    def close(self) -> None:
        self.runtime.close()


class RemoteLog:
    """The log of a running node, read a page of blocks (with their leaves) at a time. Only the
    current page is kept: a replay reads heights in order."""

    def __init__(self, url: str, http: Any = None) -> None:
        import httpx

        self.url = url.rstrip("/")
        self.http = http if http is not None else httpx.Client(base_url=self.url, timeout=120.0)
        info = self._get("/v1/node")
        self.chain_id = str(info.get("chain_id"))
        self.served_key = parse_hex(info.get("node_key"), "node_key", 32)
        self.height = int(info.get("height", 0))
        self._genesis = self._get("/v1/genesis")
        self._heads: dict[int, SignedTreeHead] = {}
        self._leaves: dict[int, bytes] = {}

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        import httpx

        try:
            response = self.http.get(path, params=params)
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise NodeError(0, "unreachable", f"cannot read {self.url}{path}: {exc}") from None
        if response.status_code != 200 or type(body) is not dict:
            raise NodeError(response.status_code, "bad-response", f"{path}: {str(body)[:200]}")
        return body

    @property
    def genesis(self) -> Genesis:
        """The genesis the node says its log starts from (one that is not a genesis is a
        mismatch of block 1, which applied it)."""
        try:
            return Genesis.from_value(self._genesis)
        except UsageError as exc:
            raise LogMismatch(1, f"the node served a malformed genesis: {exc}") from None

    def head_at(self, height: int) -> SignedTreeHead | None:
        if height > self.height:
            return None
        if height not in self._heads:
            self._fetch(height)
        return self._heads.get(height)

    def _fetch(self, height: int) -> None:
        page = self._get("/v1/blocks", **{"from": height, "limit": BLOCKS_PER_PAGE, "leaves": "true"})
        self._heads, self._leaves = {}, {}
        try:
            for block in page.get("blocks", ()):
                self._heads[block["height"]] = head_from_json(block["head"])
                for index, leaf in enumerate(block["leaves"], block["first_index"]):
                    self._leaves[index] = parse_hex(leaf, "leaf")
        except (KeyError, TypeError, WireError) as exc:
            raise LogMismatch(height, f"the node served a malformed block: {exc}") from None

    def leaf(self, index: int) -> bytes:
        try:
            return self._leaves[index]
        except KeyError:
            raise UsageError(f"no receipt at log index {index}") from None


class _Checked:
    """A source as :func:`replay` reads it: nothing past the last height, a missing or
    undecodable leaf or head is a mismatch of its block, and each block reports progress."""

    def __init__(self, source: LogSource, progress: Callable[[int, int], None] | None) -> None:
        self.source = source
        self.progress = progress
        self.current = 0

    def head_at(self, height: int) -> SignedTreeHead | None:
        if height > self.source.height:
            return None
        self.current = height
        if self.progress is not None:
            self.progress(height - 1, self.source.height)
        try:
            return self.source.head_at(height)
        except (CodecError, ValueError, TypeError) as exc:
            raise LogMismatch(height, f"the tree head cannot be read: {exc}") from None

    def leaf(self, index: int) -> bytes:
        try:
            leaf = self.source.leaf(index)
            decode_leaf(leaf)
        except (UsageError, CodecError, ValueError, TypeError) as exc:
            raise LogMismatch(self.current, f"receipt {index} cannot be read: {exc}") from None
        return leaf


def verify_log(source: LogSource, node_key: bytes, *, isolation: str = "none",
               progress: Callable[[int, int], None] | None = None) -> Summary:
    """Replay ``source`` from genesis into a fresh in-memory runtime; raise LogMismatch at the
    first block that does not hold (or is missing), else return what was checked."""
    checked = _Checked(source, progress)
    with LocalRuntime(None, isolation=isolation) as runtime:
        target = Ledger(runtime, source.chain_id, None, genesis=source.genesis)
        blocks = replay(checked, target, node_key)  # type: ignore[arg-type]  # reads head_at and leaf only
        if blocks < source.height:
            raise LogMismatch(blocks + 1, f"the block is missing, though the log goes on to height {source.height}")
        if progress is not None:
            progress(blocks, source.height)
        tree = target.tree()
        return Summary(source.chain_id, node_key, blocks, tree.size, tree.root(), target.state_hash())
