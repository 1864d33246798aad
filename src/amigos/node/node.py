"""The node: a runtime, its ledger and the sequencer over one home folder.

::

    HOME/node.key       the node's Ed25519 seed in hex, made on first start, mode 0600
    HOME/chain-id       the chain id, fixed on first start
    HOME/genesis.json   the genesis (initial AMI balances), fixed on first start
    HOME/faucet.key     a dev node's faucet account seed in hex, mode 0600 (dev nodes only)
    HOME/state.sqlite   state, receipts and tree heads (see amigos.runtime and amigos.ledger)

:class:`Node` is what the HTTP API (:mod:`.app`) serves. Transactions go to the sequencer; the
API's reads happen in other threads, inside :meth:`Node.reading`, so they only ever see
committed blocks. Each committed block updates :attr:`Node.latest_head` and wakes the event
streams that :meth:`Node.watch` handed out.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import threading
from concurrent.futures import Future
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import codec
from ..crypto.keys import SEED_SIZE, Account, parse_address
from .verifier import SignatureVerifier
from ..errors import TransactionError, UsageError
from ..jsonvalue import to_json
from ..ledger.block import NONCE_PREFIX, BlockResult, Genesis, Ledger, SignedTreeHead, logged_genesis
from ..ledger.tx import SignedTransaction, check_chain_id_form
from ..merkle import complete_subtrees
from ..runtime import LocalRuntime
from .faucet import FAUCET_FILE, Faucet, faucet_genesis
from .policies import AccountPolicies, account_events
from .proofs import LogProofs
from .sequencer import DEFAULT_BLOCK_INTERVAL, Outcome, Sequencer, Submission
from .webhooks import WebhookSender, webhook_body
from .wire import load_json

KEY_FILE = "node.key"
CHAIN_FILE = "chain-id"
GENESIS_FILE = "genesis.json"
DEFAULT_CHAIN_ID = "amigos-local"
MAX_ACCOUNT_KEYS = 1000
"""Most keys an account listing shows."""


def load_node_key(home: Path, *, create: bool) -> Account:
    """The node's signing key from ``home/node.key``; made (readable by its owner only) when
    missing and ``create``. Refuses a key file others may read: whoever reads it can sign
    tree heads in the node's name."""
    return load_key_file(home / KEY_FILE, create=create)


def load_key_file(path: Path, *, create: bool) -> Account:
    """An account whose seed is kept in hex in ``path`` (mode 0600), made when missing and
    ``create``; refused when others may read it."""
    if not path.exists():
        if not create:
            raise UsageError(f"no key at {path}")
        account = Account.generate()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(account.seed.hex() + "\n")
            out.flush()
            os.fsync(out.fileno())
        return account
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UsageError(f"{path} is readable by others: run chmod 600 {path}")
    try:
        seed = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (UnicodeDecodeError, ValueError):
        seed = b""
    if len(seed) != SEED_SIZE:
        raise UsageError(f"{path} does not hold a {SEED_SIZE}-byte seed in hex")
    return Account.from_seed(seed)


def settle_chain_id(home: Path, wanted: str | None) -> str:
    """The chain id of ``home``: fixed by its first start (``wanted`` or the default); a later
    start may repeat it but not change it, since every logged transaction names it."""
    path = home / CHAIN_FILE
    if path.exists():
        stored = path.read_text(encoding="utf-8").strip()
        if wanted is not None and wanted != stored:
            raise UsageError(f"{home} holds chain {stored!r}, not {wanted!r}")
        return stored
    chain_id = wanted or DEFAULT_CHAIN_ID
    try:
        check_chain_id_form(chain_id)
    except TransactionError as exc:
        raise UsageError(exc.message) from None
    path.write_text(chain_id + "\n", encoding="utf-8")
    return chain_id


def read_genesis_file(path: Path) -> Genesis:
    """The genesis in a JSON file ``{"allocations": {address: amount}}``; a UsageError of one
    line for anything else."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the genesis {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        value = load_json(text)
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"the genesis {path} is not JSON: {exc}") from None
    try:
        return Genesis.from_value(value)
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None


def genesis_json(genesis: Genesis) -> str:
    """A genesis as the canonical text of genesis.json (sorted keys, one line)."""
    return json.dumps(genesis.to_value(), sort_keys=True, separators=(",", ":"))


def settle_genesis(home: Path, wanted: Genesis | None, default: Genesis, logged: Genesis | None) -> Genesis:
    """The genesis of ``home``, kept in genesis.json: the one the log's first block applied
    (``logged``) once there is a log, else ``wanted`` or ``default`` on a first start. A later
    start may repeat it but not change it, since the first block's state hash covers it; and a
    genesis.json that differs from the log is refused (it was edited)."""
    path = home / GENESIS_FILE
    if path.exists():
        settled = read_genesis_file(path)
        if logged is not None and settled != logged:
            raise UsageError(f"{path} is not the genesis the log in {home} starts from (edited?)")
    else:
        settled = logged or wanted or default
        path.write_text(genesis_json(settled) + "\n", encoding="utf-8")
    if wanted is not None and wanted != settled:
        raise UsageError(f"{home} holds another genesis than the one given (see {path}); "
                         "a chain's genesis never changes: use another --home")
    return settled


def check_store_url(db: str | None) -> None:
    """Refuse a store URL that cannot name a store (before anything is written to the home)."""
    if db is not None and (type(db) is not str or not db.startswith(("postgresql://", "postgres://", "sqlite:///"))):
        raise UsageError("--db takes a postgresql://… (or sqlite:///…) URL")


def account_keys(view: Any, address: str) -> list[tuple[bytes, int]]:
    """The keys that signed for ``address`` (up to MAX_ACCOUNT_KEYS) and the last nonce of
    each, from the ledger's nonces. Raises InvalidAddress."""
    prefix = NONCE_PREFIX + parse_address(address)
    return [(key[len(prefix):], int(codec.decode(value))) for key, value in view.scan(prefix, limit=MAX_ACCOUNT_KEYS)]


class Node:
    """A node over ``home``: call :meth:`start` before submitting, :meth:`stop` when done."""

    def __init__(self, home: str | os.PathLike[str], *, chain_id: str | None = None, db: str | None = None,
                 isolation: str = "process", block_interval: float = DEFAULT_BLOCK_INTERVAL,
                 genesis: Genesis | None = None, dev: bool = False, private_webhooks: bool | None = None,
                 clock: Callable[[], int] | None = None) -> None:
        """``genesis`` is fixed by the first start, like ``chain_id``. ``dev`` makes a dev node:
        a faucet (:mod:`.faucet`) whose account a new chain's genesis funds. Webhooks are posted
        to private addresses only when ``private_webhooks`` (by default: on dev nodes)."""
        check_store_url(db)
        if genesis is not None and type(genesis) is not Genesis:
            raise UsageError("genesis must be an amigos.ledger.Genesis")
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.key = load_node_key(self.home, create=True)
        self.chain_id = settle_chain_id(self.home, chain_id)
        faucet_account = load_key_file(self.home / FAUCET_FILE, create=True) if dev else None
        self.runtime = LocalRuntime(self.home, isolation=isolation, db=db, clock=clock)
        try:
            default = Genesis() if faucet_account is None else faucet_genesis(faucet_account)
            self.genesis = settle_genesis(self.home, genesis, default, logged_genesis(self.runtime.view))
        except UsageError:
            self.runtime.close()
            raise
        self.ledger = Ledger(self.runtime, self.chain_id, self.key, genesis=self.genesis, verifier=SignatureVerifier())
        self.proofs = LogProofs(self._stored_subtree)
        """Inclusion and consistency proofs of committed trees (from any thread)."""
        tree = self.ledger.tree()
        # The complete subtrees of the log as it is are the left siblings in every proof of a
        # receipt still to come: with them in memory, fresh receipts never wait for the store.
        self.proofs.remember((level, index, hashed) for (level, index), hashed
                             in zip(complete_subtrees(tree.size), tree.hashes))
        self.latest_head: SignedTreeHead | None = self.ledger.head_at(self.runtime.height)
        """The head of the last committed block (None before the first)."""
        if self.runtime.height and self.latest_head is None:
            self.runtime.close()
            raise UsageError(f"{self.home} holds state that is not in a node's log "
                             "(made with `amigos deploy` or `call` without a node?): use another --home")
        if self.latest_head is not None and self.latest_head.node_key != self.key.public_key:
            self.runtime.close()
            raise UsageError(f"the log in {self.home} was signed by another node key than {KEY_FILE}")
        self.policies = AccountPolicies()
        """Sessions' IP ranges and accounts' webhooks, kept up to date with each block."""
        self.policies.load(self.runtime.view)
        self.faucet = None if faucet_account is None else Faucet(
            faucet_account, self.chain_id, self.ledger.last_nonce(faucet_account.address, faucet_account.public_key))
        """A dev node's faucet (None on other nodes)."""
        self.webhooks = WebhookSender(self.key, allow_private=dev if private_webhooks is None else private_webhooks)
        self.sequencer = Sequencer(self.ledger, block_interval=block_interval)
        self.sequencer.add_listener(self._follow_accounts)
        self.sequencer.add_listener(self._committed)
        self._watchers: dict[asyncio.Event, asyncio.AbstractEventLoop] = {}
        self._watch_lock = threading.Lock()
        self.closing = False
        """Set by :meth:`stop`: event streams end."""

    # ------------------------------------------------------------ life

    def start(self) -> Node:
        if self.runtime.height == 0 and self.genesis.allocations:
            # Block 1 writes the genesis: commit it now, so its balances can be spent (and
            # read) from the start rather than from the first transaction's block.
            self._committed(self.ledger.apply_block([]))
        self.webhooks.start()
        self.sequencer.start()
        return self

    def stop(self) -> None:
        """Commit what is queued, end the event streams, close the state. Stopping twice is harmless."""
        if self.closing:
            return
        self.closing = True
        self._wake_watchers()
        self.sequencer.stop()
        self.webhooks.stop()
        if self.ledger.verifier is not None:
            self.ledger.verifier.close()
        self.runtime.close()

    def __enter__(self) -> Node:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ writing

    def submit(self, raw: bytes, client_ip: str | None = None) -> Future[Outcome]:
        """Queue one signed transaction; see :meth:`Sequencer.submit`. With ``client_ip`` (the
        address it came from), a transaction of a session whose IP ranges do not hold it is
        refused (not-permitted) before it is queued."""
        return self.sequencer.submit(raw, self._client_check(client_ip))

    def submit_many(self, raws: Sequence[bytes], client_ip: str | None = None) -> Submission:
        """:meth:`submit` for each of ``raws``, queued together (see :meth:`Sequencer.submit_many`)."""
        return self.sequencer.submit_many(raws, self._client_check(client_ip))

    def _client_check(self, client_ip: str | None) -> Callable[[SignedTransaction], None] | None:
        """The check of a transaction from ``client_ip`` against its session's IP ranges, if any
        session has some."""
        if client_ip is None or not self.policies.restricts_ips:
            return None
        return lambda stx: self.policies.check_client(stx.tx, client_ip)

    def _committed(self, result: BlockResult) -> None:
        self.proofs.remember(result.subtrees)
        self.latest_head = result.head
        self._wake_watchers()

    def _follow_accounts(self, result: BlockResult) -> None:
        """Keep the account policies up to date with a committed block, and queue its account
        events for the webhooks of their accounts (after the policies: a webhook set in this
        block gets the event that set it)."""
        for receipt in result.receipts:
            events = account_events(receipt.events)
            if not events:
                continue
            self.policies.follow(events)
            for event in events:
                url = self.policies.webhook(event["service"])
                if url is not None:
                    self.webhooks.offer(url, webhook_body(self.chain_id, event["service"], receipt.height,
                                                          receipt.index, receipt.tx_hash,
                                                          {**event, "attrs": to_json(event["attrs"])}))

    def now(self) -> int:
        """The node's time (its runtime's clock, never before the last block)."""
        head = self.latest_head
        return max(int(self.runtime.clock()), 0 if head is None else head.head.time)

    def _stored_subtree(self, level: int, index: int) -> bytes:
        with self.reading():
            return self.ledger.subtree_hash(level, index)

    # ------------------------------------------------------------ reading

    def reading(self) -> AbstractContextManager[None]:
        """Hold while reading the ledger or runtime from an API thread (see LocalRuntime.reading)."""
        return self.runtime.reading()

    @property
    def size(self) -> int:
        """Receipts in the committed log."""
        return 0 if self.latest_head is None else self.latest_head.head.size

    def committed_head(self) -> SignedTreeHead | None:
        """The head of the last committed block, read from the ledger (call inside
        :meth:`reading`). :attr:`latest_head` may lag it for a moment after a commit."""
        return self.ledger.head_at(self.runtime.height) if self.runtime.height else None

    def head_of_size(self, size: int) -> SignedTreeHead | None:
        """A signed head of a tree of exactly ``size`` receipts, if a block ended there. Sizes
        grow with heights, so this is a binary search over heights. Call inside :meth:`reading`."""
        latest = self.committed_head()
        if latest is None or size > latest.head.size:
            return None
        low, high = 1, latest.head.height
        while low < high:  # the first height whose tree holds at least `size` receipts
            middle = (low + high) // 2
            head = self.ledger.head_at(middle)
            if head is None or head.head.size < size:
                low = middle + 1
            else:
                high = middle
        head = self.ledger.head_at(low)
        return head if head is not None and head.head.size == size else None

    def block_range(self, height: int) -> tuple[SignedTreeHead, int] | None:
        """Block ``height``'s head and the log index of its first receipt (its receipts run up to
        the head's size). Call inside :meth:`reading`."""
        head = self.ledger.head_at(height)
        if head is None:
            return None
        previous = self.ledger.head_at(height - 1) if height > 1 else None
        return head, 0 if previous is None else previous.head.size

    def account_keys(self, address: str) -> list[tuple[bytes, int]]:
        """:func:`account_keys` of the node's state. Call inside :meth:`reading`."""
        return account_keys(self.runtime.view, address)

    # ------------------------------------------------------------ waiting for blocks

    def watch(self) -> asyncio.Event:
        """An event of the running event loop, set whenever a block commits (and when the node
        stops). Clear it before checking for news; :meth:`unwatch` it when done."""
        event = asyncio.Event()
        with self._watch_lock:
            self._watchers[event] = asyncio.get_running_loop()
        return event

    def unwatch(self, event: asyncio.Event) -> None:
        with self._watch_lock:
            self._watchers.pop(event, None)

    def _wake_watchers(self) -> None:
        with self._watch_lock:
            watchers = list(self._watchers.items())
        for event, loop in watchers:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # its loop has closed: nobody is waiting any more
                self.unwatch(event)

    def info(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "node_key": self.key.public_key.hex(),
            "height": 0 if self.latest_head is None else self.latest_head.head.height,
            "size": self.size,
        }
