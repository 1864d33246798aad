"""Applying signed transactions in blocks: the state machine of a Phase 1 node.

    apply_block(ledger, transactions, time)
        for each transaction:
            admit it (the ante checks)                  refused: not in the block, nothing changed
            bump its key's nonce, charge intrinsic gas  kept even if its messages fail
            run its messages in order, all or nothing   deploys and calls, through the runtime
            write its receipt as a leaf of the log
        then: chain the state hash, append the leaves to the Merkle tree, sign the tree head,
        and commit state, receipts and head in one database transaction.

Everything a replay needs is in the log: the transaction bytes, the block time, and what came
out. Replaying the same transactions into a fresh ledger gives the same receipts, state hashes
and tree roots (signatures aside, which only the node's key can make).

The ledger keeps its own entries in the runtime's store under ``x/``, next to service state:
nonces (``x/n/…``), receipts (``x/l/<index>``) and their leaf hashes (``x/lh/<index>``), the
hash of every complete subtree of two leaves or more (``x/h/<level><index>``, see
:func:`amigos.merkle.complete_subtrees`), the index of each transaction hash (``x/t/<hash>``),
tree heads (``x/b/<height>``), the compact Merkle tree (``x/c``) and the state hash (``x/s``).
Any range of the log, and so any inclusion or consistency proof, is O(log n) stored subtree
hashes: a node proves against a long log right after a restart without reading its leaves.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Protocol, Sequence, cast

from .. import accounts, codec
from ..crypto.keys import Account, is_canonical_address, parse_address, verify_signature
from ..errors import DeployError, ExecutionError, ProofError, TransactionRefused, UsageError, execution_error
from ..merkle import CompactTree, leaf_hash, node_hash, range_hash
from ..merkle.proof import audit_path, subproof
from ..runtime import Call as RuntimeCall
from ..runtime import LocalRuntime, StateView
from ..vm import bank
from ..vm.gas import MAX_GAS
from ..vm.keys import MAX_AMOUNT
from ..vm.machine import Outcome
from .ante import ante_check, intrinsic_gas
from .tx import AccountMessage, Call, Deploy, Message, SignedTransaction, Transaction, decode_signed

HEAD_DOMAIN = b"amigos/tree-head/v1\x00"
"""Prefix of the bytes a node signs for a tree head (never valid as a transaction's bytes)."""
NONCE_PREFIX = b"x/n/"
LEAF_PREFIX = b"x/l/"
LEAF_HASH_PREFIX = b"x/lh/"
SUBTREE_PREFIX = b"x/h/"
TX_INDEX_PREFIX = b"x/t/"
HEAD_PREFIX = b"x/b/"
TREE_KEY = b"x/c"
GENESIS_KEY = b"x/g"
STATE_HASH_KEY = b"x/s"
GENESIS_STATE_HASH = hashlib.sha256(b"amigos/genesis").digest()
PLAIN_CALLS_PER_RUN = 64
"""Most plain calls run in one go. Enough that a worker round trip costs little per call, few
enough that the calls run while the verifier is still checking the block's later signatures."""
FEWEST_CALLS_PER_RUN = 16
"""Fewest plain calls run in one go while more wait: a block of fewer than 128 runs them in two
groups or more, so a worker runs one while the ledger admits and logs the others."""
VERIFY_AHEAD_FROM = 8
"""Fewest transactions in a block whose signatures go to the verifier: for fewer, the round
trip costs about what checking them here does."""


# ---------------------------------------------------------------- what comes out


@dataclass(frozen=True)
class TxReceipt:
    """What a transaction did. ``error`` is None or an ExecutionError-like (type, message)
    of the first message that failed (``failed_message`` is its index)."""

    tx_hash: bytes
    height: int
    index: int
    """Position of the leaf in the log (0-based, over all blocks)."""
    ok: bool
    results: list[Any]
    error: ExecutionError | None
    failed_message: int | None
    gas_used: int
    events: list[dict[str, Any]]
    writes_hash: bytes
    """SHA-256 of the state changes the transaction made (see :func:`hash_writes`)."""


@dataclass(frozen=True)
class TreeHead:
    """The log after a block: ``size`` leaves with Merkle root ``root``; ``state_hash`` chains
    every block's state changes since genesis."""

    chain_id: str
    height: int
    time: int
    size: int
    root: bytes
    state_hash: bytes

    def signing_bytes(self) -> bytes:
        return HEAD_DOMAIN + codec.encode([self.chain_id, self.height, self.time, self.size, self.root, self.state_hash])


@dataclass(frozen=True)
class SignedTreeHead:
    head: TreeHead
    node_key: bytes
    signature: bytes

    def verify(self) -> bool:
        return verify_signature(self.node_key, self.head.signing_bytes(), self.signature)


@dataclass
class Admitted:
    """A transaction this process decoded from its bytes, so it is well formed (see
    :func:`amigos.node.sequencer.admit_statelessly`): the ledger does not check that twice."""

    stx: SignedTransaction
    verdict: Callable[[], bool] | None = None
    """The verifier's verdict on its signature, when :meth:`Ledger.verify_ahead` asked for it
    before its block began."""


@dataclass(frozen=True)
class BlockResult:
    receipts: list[TxReceipt]
    refused: list[tuple[bytes, TransactionRefused]]
    """Transactions the ante checks refused, with why: they are in no block."""
    head: SignedTreeHead
    outcomes: list[TxReceipt | TransactionRefused]
    """One per transaction given, in the same order: its receipt or its refusal."""
    leaves: list[bytes]
    """The log leaf of each receipt, in the order of ``receipts``."""
    subtrees: list[tuple[int, int, bytes]]
    """``(level, index, hash)`` of every complete subtree the block finished, its leaves
    (level 0) included: what proofs against this block's head need beyond earlier blocks."""


@dataclass
class PlainCall:
    """An admitted transaction whose one message is a call that sends no AMI, waiting to run
    with others (see :meth:`Ledger._run_plain_calls`)."""

    stx: SignedTransaction
    position: int
    """Its place among the block's outcomes."""
    intrinsic_gas: int
    session: accounts.Session | None
    """The session that signed it (at admission), or None."""

    @property
    def budget(self) -> int:
        return min(self.stx.tx.gas_limit - self.intrinsic_gas, MAX_GAS)

    def runtime_call(self) -> RuntimeCall:
        call = self.stx.tx.messages[0]
        assert type(call) is Call
        return RuntimeCall(call.path, call.function, call.args, dict(call.kwargs), self.stx.tx.account, self.budget)


@dataclass
class BlockInProgress:
    """What a block being applied has made so far."""

    height: int
    time: int
    tree: CompactTree
    digest: Any = field(default_factory=hashlib.sha256)
    """The hash of the block's state changes, which its state hash chains."""
    receipts: list[TxReceipt] = field(default_factory=list)
    refused: list[tuple[bytes, TransactionRefused]] = field(default_factory=list)
    outcomes: list[TxReceipt | TransactionRefused | None] = field(default_factory=list)
    """One per transaction so far; None for a plain call that has not run yet."""
    leaves: list[bytes] = field(default_factory=list)
    subtrees: list[tuple[int, int, bytes]] = field(default_factory=list)
    plain_calls: list[PlainCall] = field(default_factory=list)
    """Admitted plain calls that wait to run."""
    running: tuple[list[PlainCall], Callable[[], list[Outcome]]] | None = None
    """Plain calls running (in a worker) while the ledger goes on, and how to take their
    outcomes."""

    def refuse(self, raw: bytes, refusal: TransactionRefused) -> None:
        self.refused.append((raw, refusal))
        self.outcomes.append(refusal)


def decode_item(item: bytes | Admitted) -> tuple[bytes, SignedTransaction | None]:
    """A block's transaction as bytes, and decoded (None if the bytes do not decode: the ante
    checks then refuse them as malformed)."""
    if type(item) is Admitted:
        return item.stx.encode(), item.stx
    assert isinstance(item, bytes)
    try:
        return item, decode_signed(item)
    except TransactionRefused:
        return item, None


def is_plain_call(tx: Transaction) -> bool:
    """One message, a call that sends no AMI: what most transactions are, and what can run
    together with others (:meth:`Ledger._run_plain_calls`)."""
    messages = tx.messages
    return len(messages) == 1 and type(messages[0]) is Call and messages[0].coins == 0


def nonce_bump(tx: Transaction) -> dict[bytes, bytes | None]:
    """The write that uses up ``tx``'s nonce: made first, and kept whatever its messages do."""
    return {nonce_key(tx.account, tx.public_key): codec.encode(tx.nonce)}


def no_gas_left() -> ExecutionError:
    """The error of a message its transaction has no gas left for: it does not run."""
    return execution_error("OutOfGas", "no gas left for this message")


def receipt_of(stx: SignedTransaction, height: int, index: int, results: list[Any], error: ExecutionError | None,
               failed: int | None, gas_used: int, events: list[dict[str, Any]],
               writes: dict[bytes, bytes | None]) -> TxReceipt:
    """The receipt of ``stx`` at log ``index``, whether its calls ran one by one or together:
    ``writes`` are what its messages changed (none if one failed), hashed with its nonce bump;
    the gas it used counts up to its limit."""
    tx = stx.tx
    return TxReceipt(stx.tx_hash, height, index, error is None, results, error, failed, min(gas_used, tx.gas_limit),
                     events, hash_writes({**writes, **nonce_bump(tx)}))


class Verdicts(Protocol):
    def __getitem__(self, index: int) -> bool:
        """Whether signature ``index`` of the batch is good (waiting for it if need be)."""
        ...


class SignatureChecker(Protocol):
    """Checks a block's signatures ahead of the ante checks: a node's is
    :class:`amigos.node.verifier.SignatureVerifier`, a helper process."""

    def verify_ahead(self, batch: Sequence[tuple[bytes, bytes, bytes]]) -> Verdicts:
        """Start checking ``(public key, message, signature)`` for each of ``batch``."""
        ...


# ---------------------------------------------------------------- the ledger


@dataclass(frozen=True)
class Genesis:
    """What a chain starts with: AMI balances (``{address: amount}``). The first block writes
    them and its state hash covers them, so a replay from a different genesis fails at block 1."""

    allocations: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for address, amount in self.allocations.items():
            if not is_canonical_address(address):
                raise UsageError(f"genesis: {address!r} is not an amigo1… address")
            if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
                raise UsageError(f"genesis: the allocation of {address} must be an int from 1 to {MAX_AMOUNT}")
        if sum(self.allocations.values()) > MAX_AMOUNT:
            raise UsageError(f"genesis: the allocations add up to more than {MAX_AMOUNT}")

    def to_value(self) -> dict[str, Any]:
        return {"allocations": dict(sorted(self.allocations.items()))}

    @classmethod
    def from_value(cls, value: Any) -> Genesis:
        if type(value) is not dict or set(value) != {"allocations"} or type(value["allocations"]) is not dict:
            raise UsageError("a genesis is {\"allocations\": {address: amount}}")
        return cls(dict(value["allocations"]))


def logged_genesis(view: StateView) -> Genesis | None:
    """The genesis the first block of the log in ``view`` applied (None before it)."""
    stored = view.get(GENESIS_KEY)
    return None if stored is None else Genesis.from_value(codec.decode(stored))


class Ledger:
    """A chain of blocks over a :class:`~amigos.runtime.LocalRuntime`: the node's state machine.

    ``node_key`` signs tree heads; a verifier replaying the log passes ``node_key=None`` and
    checks the logged signatures instead. ``genesis`` is applied by the first block; once there
    is a block, the genesis it applied (stored in the log) is the one that counts.
    """

    def __init__(self, runtime: LocalRuntime, chain_id: str, node_key: Account | None,
                 genesis: Genesis | None = None, verifier: SignatureChecker | None = None) -> None:
        if type(chain_id) is not str or not chain_id:
            raise UsageError("a chain id must be a non-empty str")
        self.runtime = runtime
        self.verifier = verifier
        """Checks a block's signatures in a helper process ahead of the ante checks (a node
        has one); without it each is checked when its transaction's turn comes."""
        self.chain_id = chain_id
        self.node_key = node_key
        self.genesis = logged_genesis(runtime.view) or genesis or Genesis()
        self._checked_signer: tuple[Transaction, int, accounts.Signer] | None = None
        """The last transaction the ante checks let sign, its block time and its signer."""

    # ------------------------------------------------------------ reading

    def last_nonce(self, account: str, public_key: bytes) -> int:
        raw = self.runtime.view.get(nonce_key(account, public_key))
        return 0 if raw is None else int(codec.decode(raw))

    def check_signer(self, tx: Transaction, block_time: int) -> None:
        self._checked_signer = (tx, block_time, accounts.check_may_sign(self.runtime.view, tx, block_time))

    def _signer(self, tx: Transaction, now: int) -> accounts.Signer:
        """Who signed ``tx``: what the ante checks found just before it is applied (its nonce
        bump, the only write in between, changes no signer), else identified again."""
        checked = self._checked_signer
        if checked is not None and checked[0] is tx and checked[1] == now:
            return checked[2]
        return accounts.identify_signer(self.runtime.view, tx.account, tx.public_key, now)

    def tree(self) -> CompactTree:
        raw = self.runtime.view.get(TREE_KEY)
        if raw is None:
            return CompactTree()
        size, hashes = codec.decode(raw)
        return CompactTree(size, hashes)

    def state_hash(self) -> bytes:
        return self.runtime.view.get(STATE_HASH_KEY) or GENESIS_STATE_HASH

    def leaf(self, index: int) -> bytes:
        raw = self.runtime.view.get(leaf_key(index))
        if raw is None:
            raise UsageError(f"no receipt at log index {index}")
        return raw

    def leaf_hash(self, index: int) -> bytes:
        raw = self.runtime.view.get(leaf_hash_key(index))
        if raw is None:
            raise UsageError(f"no receipt at log index {index}")
        return raw

    def index_of(self, tx_hash: bytes) -> int | None:
        """The log index of the receipt of the transaction ``tx_hash``, if it is in the log."""
        raw = self.runtime.view.get(TX_INDEX_PREFIX + tx_hash) if type(tx_hash) is bytes else None
        return None if raw is None else struct.unpack(">Q", raw)[0]

    def subtree_hash(self, level: int, index: int) -> bytes:
        """The hash of the complete subtree ``(level, index)`` of the log (level 0: a leaf hash).
        A log written before these were stored has only its leaf hashes: the subtree is then
        hashed from its halves."""
        if level == 0:
            return self.leaf_hash(index)
        raw = self.runtime.view.get(subtree_key(level, index))
        if raw is not None:
            return raw
        return node_hash(self.subtree_hash(level - 1, 2 * index), self.subtree_hash(level - 1, 2 * index + 1))

    def range_hash(self, start: int, end: int) -> bytes:
        """The Merkle hash of receipts ``[start, end)`` (a range a proof asks about), from
        O(log n) stored subtree hashes."""
        return range_hash(self.subtree_hash, start, end)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """That receipt ``index`` is in the tree of the first ``size`` receipts (RFC 9162)."""
        check_proof_sizes(index, size, index < size)
        return audit_path(self.range_hash, index, 0, size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """That the tree of ``old_size`` receipts is a prefix of the tree of ``new_size``."""
        check_proof_sizes(old_size, new_size, old_size <= new_size)
        if old_size == 0 or old_size == new_size:
            return []
        return subproof(self.range_hash, old_size, 0, new_size, True)

    def head_at(self, height: int) -> SignedTreeHead | None:
        raw = self.runtime.view.get(head_key(height))
        return None if raw is None else decode_signed_head(raw)

    # ------------------------------------------------------------ writing

    def apply_block(self, transactions: Sequence[bytes | Admitted], time: int | None = None) -> BlockResult:
        """Apply ``transactions`` (signed encodings, or :class:`Admitted` ones) as the next block
        at ``time`` (default: the runtime's clock) and commit it. Refused transactions are left
        out and reported."""
        if self.node_key is None:
            raise UsageError("this ledger has no node key: it can only verify")
        return self._apply(transactions, time, sign_head=self._sign)

    def _sign(self, head: TreeHead) -> SignedTreeHead:
        assert self.node_key is not None
        return SignedTreeHead(head, self.node_key.public_key, self.node_key.sign(head.signing_bytes()))

    def _apply(self, transactions: Sequence[bytes | Admitted], time: int | None, sign_head: Any) -> BlockResult:
        rt = self.runtime
        with rt.batch(time=time) as block:
            built = BlockInProgress(block.height, block.time, self.tree())
            per_run = min(PLAIN_CALLS_PER_RUN, max(FEWEST_CALLS_PER_RUN, len(transactions) // 2))
            built.digest.update(self._begin_block(block.height, block.time))
            items = [decode_item(item) for item in transactions]
            verdicts = self._verdicts(transactions, [decoded for _, decoded in items])
            for (raw, decoded), verdict in zip(items, verdicts):
                plain = decoded is not None and is_plain_call(decoded.tx)
                if not plain:  # it may depend on what the waiting calls do: they go first
                    self._settle_plain_calls(built)
                try:
                    stx = ante_check(decoded or raw, chain_id=self.chain_id, block_time=block.time, state=self,
                                     admitted=decoded is not None, signature_verdict=verdict)
                except TransactionRefused as refusal:
                    built.refuse(raw, refusal)
                    continue
                if plain:
                    built.plain_calls.append(self._admit_plain_call(stx, block.time, len(built.outcomes)))
                    built.outcomes.append(None)  # its receipt comes when the waiting calls run
                    if len(built.plain_calls) == per_run:
                        self._run_plain_calls(built)
                else:
                    self._log(built, stx, self._apply_transaction(stx, block.height, block.time, built.tree.size))
            self._settle_plain_calls(built)
            tree = built.tree
            state_hash = hashlib.sha256(self.state_hash() + built.digest.digest()).digest()
            head = sign_head(TreeHead(self.chain_id, block.height, block.time, tree.size, tree.root(), state_hash))
            rt.view.apply({
                TREE_KEY: codec.encode([tree.size, list(tree.hashes)]),
                STATE_HASH_KEY: state_hash,
                head_key(block.height): encode_signed_head(head),
            })
        outcomes = cast("list[TxReceipt | TransactionRefused]", built.outcomes)
        return BlockResult(built.receipts, built.refused, head, outcomes, built.leaves, built.subtrees)

    def verify_ahead(self, admitted: Sequence[Admitted]) -> None:
        """Hand the signatures of transactions bound for a later block to the verifier now
        (each keeps how to get its verdict): a sequencer gathering a block has them checked
        while more arrive, and the block does not wait for them. Without a verifier, or
        already asked: nothing to do."""
        todo = [item for item in admitted if item.verdict is None]
        if self.verifier is None or not todo:
            return
        for item, ask in zip(todo, self._ask_verifier([item.stx for item in todo])):
            item.verdict = ask

    def _verdicts(self, transactions: Sequence[bytes | Admitted],
                  decoded: list[SignedTransaction | None]) -> list[Callable[[], bool] | None]:
        """For each of a block's transactions, how to get the verdict on its signature from the
        verifier (None: the ante checks verify it themselves): asked for before the block or
        now, which is worth it from a few transactions on."""
        asks = [item.verdict if type(item) is Admitted else None for item in transactions]
        todo = [i for i, stx in enumerate(decoded) if stx is not None and asks[i] is None]
        if self.verifier is None or len(todo) < VERIFY_AHEAD_FROM:
            return asks
        for i, ask in zip(todo, self._ask_verifier([cast(SignedTransaction, decoded[i]) for i in todo])):
            asks[i] = ask
        return asks

    def _ask_verifier(self, signed: list[SignedTransaction]) -> list[Callable[[], bool]]:
        assert self.verifier is not None
        verdicts = self.verifier.verify_ahead([(stx.tx.public_key, stx.tx.signing_bytes(), stx.signature)
                                               for stx in signed])
        return [partial(verdicts.__getitem__, number) for number in range(len(signed))]

    def _log(self, built: BlockInProgress, stx: SignedTransaction, receipt: TxReceipt, position: int | None = None) -> None:
        """Append ``receipt`` to the log: its leaf, the subtrees it completes, its transaction's
        index; and to the block's state hash. ``position`` is its place among the block's
        outcomes if it has one already (a plain call's)."""
        tree, index = built.tree, receipt.index
        leaf = encode_receipt(receipt, stx)
        hashed = leaf_hash(leaf)
        writes = {
            leaf_key(index): leaf,
            leaf_hash_key(index): hashed,
            TX_INDEX_PREFIX + stx.tx_hash: struct.pack(">Q", index),
        }
        built.subtrees.append((0, index, hashed))
        for level, subtree in enumerate(tree.append(hashed), start=1):
            writes[subtree_key(level, (tree.size >> level) - 1)] = subtree
            built.subtrees.append((level, (tree.size >> level) - 1, subtree))
        self.runtime.view.apply(writes)
        built.digest.update(receipt.writes_hash)
        built.receipts.append(receipt)
        built.leaves.append(leaf)
        if position is None:
            built.outcomes.append(receipt)
        else:
            built.outcomes[position] = receipt

    def _begin_block(self, height: int, now: int) -> bytes:
        """What happens at the start of every block, before its transactions: the first block
        writes the genesis, and unbondings that are due are paid back. Returns the hash of what
        it wrote, which the block's state hash covers."""
        view = self.runtime.view
        view.savepoint()
        if height == 1:
            view.apply({GENESIS_KEY: codec.encode(self.genesis.to_value())})
            for address, amount in sorted(self.genesis.allocations.items()):
                bank.credit(view, address, amount)
        accounts.release_unbonded(view, now)
        writes = view.changes_since_savepoint()
        view.release_savepoint()
        return hash_writes(writes) if writes else b""

    def _admit_plain_call(self, stx: SignedTransaction, now: int, position: int) -> PlainCall:
        """What :meth:`_apply_transaction` does before a plain call runs, its nonce bumped at once
        so that the next transaction of the key sees it; the call waits to run with others."""
        tx = stx.tx
        self.runtime.view.apply(nonce_bump(tx))
        return PlainCall(stx, position, intrinsic_gas(stx), self._signer(tx, now).session)

    def _run_plain_calls(self, built: BlockInProgress) -> None:
        """Start the plain calls admitted since the last other transaction, all in one go (one
        round trip to a worker under process isolation), then log the receipts of the ones
        started before them: a worker runs the new calls meanwhile, and the ledger admits the
        next ones while it still does.

        Each comes out exactly as :meth:`_apply_transaction` would make it. Running them after
        admitting them all changes nothing: a plain call moves no AMI out of its account, so no
        ante rule reads what the calls write, and the session it records use of is written the
        same by every successful call of a block (:func:`amigos.accounts.record_session_use`
        with nothing spent at one block time). So that is written only after a call succeeds,
        as a failed one must leave no trace. Nor does logging and admitting while calls run:
        both write only the ledger's and the accounts' keys, which service code cannot read
        (the pool refuses any other write while a batch runs)."""
        waiting, built.plain_calls = built.plain_calls, []
        finished = self._take_running(built)
        if waiting:
            runnable = [p for p in waiting if p.budget > 0]
            built.running = (waiting, self.runtime.start_in_block([p.runtime_call() for p in runnable]))
        self._log_plain_calls(built, *finished)

    def _settle_plain_calls(self, built: BlockInProgress) -> None:
        """Run and log every plain call admitted so far: before a transaction of another kind,
        which may depend on what they do, and at the end of the block."""
        self._run_plain_calls(built)
        self._log_plain_calls(built, *self._take_running(built))

    @staticmethod
    def _take_running(built: BlockInProgress) -> tuple[list[PlainCall], list[Outcome]]:
        """The plain calls that were running and their outcomes (their writes now applied);
        none if none were."""
        if built.running is None:
            return [], []
        calls, outcomes = built.running
        built.running = None
        return calls, outcomes()

    def _log_plain_calls(self, built: BlockInProgress, calls: list[PlainCall], outcomes: list[Outcome]) -> None:
        view = self.runtime.view
        ran = iter(outcomes)
        for plain in calls:
            outcome = next(ran) if plain.budget > 0 else None
            if outcome is None or not outcome.ok:
                error = outcome.error if outcome is not None else no_gas_left()
                used = outcome.gas_used if outcome is not None else 0
                receipt = receipt_of(plain.stx, built.height, built.tree.size, [], error, 0,
                                     plain.intrinsic_gas + used, [], {})
                self._log(built, plain.stx, receipt, plain.position)
                continue
            writes = dict(outcome.writes)
            if plain.session is not None:
                view.savepoint()
                accounts.record_session_use(view, plain.stx.tx.account, plain.session, 0, built.time)
                writes.update(view.changes_since_savepoint())
                view.release_savepoint()
            receipt = receipt_of(plain.stx, built.height, built.tree.size, [outcome.result], None, None,
                                 plain.intrinsic_gas + outcome.gas_used, [e.to_dict() for e in outcome.events], writes)
            self._log(built, plain.stx, receipt, plain.position)

    def _apply_transaction(self, stx: SignedTransaction, height: int, now: int, index: int) -> TxReceipt:
        """Bump the nonce and charge intrinsic gas (kept whatever happens), then run the
        messages as one unit: if one fails, none of them changed anything — nor what a session
        spent on them."""
        tx = stx.tx
        view = self.runtime.view
        view.apply(nonce_bump(tx))
        gas_used = intrinsic_gas(stx)
        view.savepoint()
        signer = self._signer(tx, now)
        if signer.session is not None:
            accounts.record_session_use(view, tx.account, signer.session, accounts.outgoing_coins(tx.messages), now)
        results: list[Any] = []
        events: list[dict[str, Any]] = []
        error: ExecutionError | None = None
        failed: int | None = None
        for number, message in enumerate(tx.messages):
            budget = min(tx.gas_limit - gas_used, MAX_GAS)
            result, used, message_events, error = self._run_message(tx.account, message, budget, now)
            gas_used += used
            if error is not None:
                failed = number
                break
            results.append(result)
            events.extend(message_events)
        writes = view.changes_since_savepoint()
        if error is not None:
            view.rollback_to_savepoint()
            self.runtime.machine.forget()  # a loaded service may hold the undone globals
            results, events, writes = [], [], {}
        else:
            view.release_savepoint()
        return receipt_of(stx, height, index, results, error, failed, gas_used, events, writes)

    def _run_message(self, account: str, message: Message, budget: int,
                     now: int) -> tuple[Any, int, list[dict[str, Any]], ExecutionError | None]:
        rt = self.runtime
        if budget <= 0:
            return None, 0, [], no_gas_left()
        if isinstance(message, Call):
            receipt = rt.call(message.path, message.function, *message.args, signer=account, gas=budget,
                              kwargs=dict(message.kwargs), coins=message.coins)
            events = [e.to_dict() for e in receipt.events]
            return receipt.result, receipt.gas_used, events, receipt.error
        if isinstance(message, Deploy):
            try:
                info, used = rt.deploy_metered(message.path, message.source, signer=account, gas=budget)
            except DeployError as exc:
                return None, exc.gas_used, [], execution_error("DeployFailed", str(exc))
            return {"path": info.path, "version": info.version, "code_hash": info.code_hash}, used, [], None
        assert isinstance(message, AccountMessage)
        if budget < accounts.ACTION_GAS:
            return None, budget, [], execution_error("OutOfGas", f"an account action needs {accounts.ACTION_GAS} gas")
        try:
            result, events = accounts.apply_action(rt.view, account, message, now)
        except ExecutionError as exc:
            return None, accounts.ACTION_GAS, [], exc
        return result, accounts.ACTION_GAS, events, None


# ---------------------------------------------------------------- replay


class LogMismatch(Exception):
    """A replayed block did not come out as logged; ``height`` is the first bad block."""

    def __init__(self, height: int, message: str) -> None:
        super().__init__(f"block {height}: {message}")
        self.height = height


def replay(source: Ledger, target: Ledger, node_key: bytes) -> int:
    """Re-execute every block of ``source``'s log into ``target`` (a ledger over a fresh
    runtime) and check each against the log: the head's signature by ``node_key``, each
    receipt leaf, the state hash and the tree root. Returns the number of blocks checked;
    raises :class:`LogMismatch` naming the first block that does not hold."""
    height = 1
    while True:
        logged = source.head_at(height)
        if logged is None:
            return height - 1
        if logged.node_key != node_key or not logged.verify():
            raise LogMismatch(height, "the tree head is not signed by the node's key")
        first = target.tree().size
        leaves = [source.leaf(i) for i in range(first, logged.head.size)]  # each read once
        transactions = [decode_leaf(leaf)[0] for leaf in leaves]

        def check_block(head: TreeHead) -> SignedTreeHead:
            # Called before the replayed block commits: name the first receipt that differs.
            if head.size != logged.head.size:
                raise LogMismatch(height, "a logged transaction is refused on replay (forged or replayed?)")
            for i, leaf in enumerate(leaves, start=first):
                if target.leaf(i) != leaf:
                    raise LogMismatch(height, f"receipt {i} differs from the logged one")
            if head != logged.head:
                raise LogMismatch(height, "the tree head differs from the logged one")
            return logged

        try:
            target._apply(transactions, logged.head.time, sign_head=check_block)
        except LogMismatch:
            raise
        except Exception as exc:  # noqa: BLE001 - anything else is a log that cannot be replayed
            raise LogMismatch(height, f"cannot be replayed: {exc}") from None
        height += 1


# ---------------------------------------------------------------- encodings


def nonce_key(account: str, public_key: bytes) -> bytes:
    return NONCE_PREFIX + parse_address(account) + public_key


def leaf_key(index: int) -> bytes:
    return LEAF_PREFIX + struct.pack(">Q", index)


def leaf_hash_key(index: int) -> bytes:
    return LEAF_HASH_PREFIX + struct.pack(">Q", index)


def subtree_key(level: int, index: int) -> bytes:
    return SUBTREE_PREFIX + bytes((level,)) + struct.pack(">Q", index)


def check_proof_sizes(first: int, second: int, in_order: bool) -> None:
    if type(first) is not int or type(second) is not int or first < 0 or not in_order:
        raise ProofError(f"no proof between sizes {first} and {second}")


def head_key(height: int) -> bytes:
    return HEAD_PREFIX + struct.pack(">Q", height)


def hash_writes(writes: dict[bytes, bytes | None]) -> bytes:
    """SHA-256 over the state changes in key order: ``codec.encode([key, value])`` of each (the
    value None for a deletion), written out here because every receipt hashes its writes."""
    digest = hashlib.sha256()
    for key in sorted(writes):
        value = writes[key]
        digest.update(b"%b%b%b%b" % (_PAIR_OF_BYTES, codec.encode_varint(len(key)), key,
                                     _NONE if value is None else _BYTES + codec.encode_varint(len(value)) + value))
    return digest.digest()


_PAIR_OF_BYTES = bytes((codec.LIST, 2, codec.BYTES))
"""How ``codec.encode([key, value])`` starts: a list of two, its first item bytes."""
_NONE = bytes((codec.NONE,))
_BYTES = bytes((codec.BYTES,))


def encode_receipt(receipt: TxReceipt, stx: SignedTransaction) -> bytes:
    """The log leaf: the signed transaction's bytes and what it did, canonically encoded."""
    error = None if receipt.error is None else [receipt.error.type, receipt.error.message]
    return codec.encode([
        stx.encode(), receipt.height, receipt.index, receipt.ok, receipt.results, error,
        receipt.failed_message, receipt.gas_used, receipt.events, receipt.writes_hash,
    ])


def decode_leaf(leaf: bytes) -> list[Any]:
    """The fields of a log leaf, starting with the signed transaction's bytes."""
    return list(codec.decode(leaf))


def encode_signed_head(head: SignedTreeHead) -> bytes:
    h = head.head
    return codec.encode([[h.chain_id, h.height, h.time, h.size, h.root, h.state_hash], head.node_key, head.signature])


def decode_signed_head(raw: bytes) -> SignedTreeHead:
    (chain_id, height, time, size, root, state_hash), node_key, signature = codec.decode(raw)
    return SignedTreeHead(TreeHead(chain_id, height, time, size, root, state_hash), node_key, signature)
