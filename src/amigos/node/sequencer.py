"""The mempool and the single sequencer: transactions in, durable blocks out.

Clients hand signed transactions to :meth:`Sequencer.submit` from any thread and get a future.
One sequencer thread takes what has arrived, waits up to ``block_interval`` seconds (or until
``max_block_transactions``) for more, applies them as one block and commits it in one database
transaction (group commit). Only then are the futures resolved: a client never holds a receipt
whose block could still be lost.

The checks that need neither state nor cryptography (the bytes decode strictly, the chain id)
run in the submitting thread, so garbage never reaches the sequencer; the ledger then applies
every other ante check in order (expiry, gas, signature, key, nonce). Signatures are verified
in the sequencer thread on purpose: PyNaCl lets go of the GIL while it verifies, so the event
loop serves HTTP meanwhile, whereas an event loop (or a worker thread) that verified would
wait for the GIL after each signature until the busy sequencer's switch interval ran out
(milliseconds, for a 50 µs check).
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
import logging
from typing import Any, Callable, Sequence

from ..errors import MALFORMED, TransactionRefused, UsageError
from ..ledger.ante import check_chain_id
from ..ledger.block import Admitted, BlockResult, Ledger, SignedTreeHead, TxReceipt
from ..ledger.tx import SignedTransaction, decode_signed

DEFAULT_BLOCK_INTERVAL = 0.005
"""Seconds the sequencer waits for more transactions once one arrived. Short: transactions
that arrive while a block is applied and committed go into the next one anyway (64 concurrent
clients make blocks of about 50 at 5 ms, against 64 at 20 ms but half the throughput)."""
DEFAULT_MAX_BLOCK_TRANSACTIONS = 2000
GATHER_STEP = 0.001
"""Seconds between the sequencer's looks at the queue while a block gathers: each look hands
the signatures that arrived to the verifier."""
FULL_ENOUGH = 256
"""Transactions a block may start with at once, without waiting the block interval for more:
the wait is there to gather concurrent clients' transactions, which a batch this large does
not need (a client's batch arrives as one)."""
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What became of a submitted transaction: its receipt (with its log leaf and the signed
    head of its block), or why it was refused."""

    receipt: TxReceipt | None
    refused: TransactionRefused | None
    leaf: bytes | None = None
    head: SignedTreeHead | None = None
    transaction: SignedTransaction | None = None


class Submission:
    """What one submission brought: the outcome of each of its transactions, in order, as each
    becomes known (a refusal at admission at once, the others when their block is durable),
    and :attr:`future`, which resolves to all of them (or to the one outcome of a submission
    made with :meth:`Sequencer.submit`). One future per submission, not per transaction: a
    future costs microseconds and several objects for the garbage collector to follow, and a
    batch has hundreds."""

    def __init__(self, count: int, single: bool = False) -> None:
        self.outcomes: list[Outcome | None] = [None] * count
        self.future: Future[Any] = Future()
        self._single = single
        self._waiting = count
        if not count:  # nothing to wait for
            self.future.set_result(self.outcomes)

    def settle(self, position: int, outcome: Outcome) -> None:
        """Record the outcome of transaction ``position``: by admission before the submission is
        queued, then by the sequencer thread alone."""
        self.outcomes[position] = outcome
        self._waiting -= 1
        if not self._waiting:
            self.future.set_result(self.outcomes[0] if self._single else self.outcomes)

    def fail(self, exc: BaseException) -> None:
        """The block of some of its transactions was lost: so is the submission."""
        if not self.future.done():
            self.future.set_exception(exc)


Queued = tuple[Admitted, Submission, int]
"""A transaction waiting for its block: which submission brought it, at which position."""


class Sequencer:
    def __init__(self, ledger: Ledger, *, block_interval: float = DEFAULT_BLOCK_INTERVAL,
                 max_block_transactions: int = DEFAULT_MAX_BLOCK_TRANSACTIONS) -> None:
        if block_interval < 0 or max_block_transactions < 1:
            raise UsageError("block_interval must be >= 0 and max_block_transactions >= 1")
        self.ledger = ledger
        self.block_interval = block_interval
        self.max_block_transactions = max_block_transactions
        self._queue: queue.SimpleQueue[list[Queued] | None] = queue.SimpleQueue()
        """Each item is what one submission brought: one transaction, or a client's batch."""
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._leftover: list[Queued] = []
        """The part of a submission that did not fit in the last block."""
        self._stop_seen = False
        """The sequencer took the stop mark off the queue: it commits what it holds, then ends."""
        self.blocks = 0
        """Blocks this sequencer committed."""
        self._listeners: list[Callable[[BlockResult], None]] = []

    def add_listener(self, listener: Callable[[BlockResult], None]) -> None:
        """Call ``listener`` in the sequencer thread with every committed block, before the
        block's clients get their outcomes (so what a listener publishes is never behind what a
        client was told). It must be quick and must not raise."""
        self._listeners.append(listener)

    # ------------------------------------------------------------ clients

    def submit(self, raw: bytes, check: Callable[[SignedTransaction], None] | None = None) -> Future[Outcome]:
        """Queue one signed transaction (its canonical bytes); the future resolves once its
        block is durable, or at once if it is refused without reading state. ``check`` is a
        node's own policy, run on the decoded transaction before it is queued (it raises
        TransactionRefused)."""
        return self._submit([raw], check, Submission(1, single=True)).future

    def submit_many(self, raws: Sequence[bytes],
                    check: Callable[[SignedTransaction], None] | None = None) -> Submission:
        """:meth:`submit` for each of ``raws``, queued together: they go into one block (or
        consecutive ones) in this order. The submission's future resolves to their outcomes."""
        return self._submit(raws, check, Submission(len(raws)))

    def _submit(self, raws: Sequence[bytes], check: Callable[[SignedTransaction], None] | None,
                submission: Submission) -> Submission:
        admitted: list[Queued] = []
        for position, raw in enumerate(raws):
            try:
                stx = admit_statelessly(raw, self.ledger.chain_id)
                if check is not None:
                    check(stx)
            except TransactionRefused as refusal:
                refusal.__traceback__ = None  # it would hold this frame, which holds the submission that holds it
                submission.settle(position, Outcome(None, refusal))
                continue
            admitted.append((Admitted(stx), submission, position))
        if admitted:  # a refusal needs no sequencer: it comes back even from a stopped one
            if self._stopping or self._thread is None:
                raise UsageError("the sequencer is not running")
            self._queue.put(admitted)
        return submission

    # ------------------------------------------------------------ the sequencer thread

    def start(self) -> None:
        if self._thread is not None:
            raise UsageError("the sequencer is already running")
        self._thread = threading.Thread(target=self._run, name="amigos-sequencer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Commit what is queued, then stop."""
        if self._thread is None:
            return
        self._stopping = True
        self._queue.put(None)
        self._thread.join()
        self._thread = None

    def _run(self) -> None:
        while True:
            batch, last = self._next_batch()
            if batch:
                self._commit(batch)
            if last:
                return

    def _next_batch(self) -> tuple[list[Queued], bool]:
        """The next block's transactions, and whether the sequencer stops after it: block for
        the first submission, then let more gather for block_interval (not at all once there
        are FULL_ENOUGH), up to max_block_transactions; what is left of a submission beyond
        that starts the next block. The sequencer sleeps out the interval rather than wait on
        the queue: a thread waiting there is woken by every submission, a cost the event loop
        pays (tens of µs each on a virtual machine) while it holds the GIL."""
        if self._leftover:  # it waited for its first block already
            batch, self._leftover, deadline = self._leftover, [], 0.0
        elif self._stop_seen:
            return [], True
        else:
            first = self._queue.get()
            if first is None:
                return [], True
            batch, deadline = list(first), time.monotonic() + self.block_interval
        while len(batch) < FULL_ENOUGH and not self._stop_seen:
            pause = deadline - time.monotonic()
            if pause <= 0:
                break
            # The verifier checks what has arrived while more does, so the block need not wait
            # for signatures; what arrives meanwhile waits in the queue, waking nobody.
            self._verify_ahead(batch)
            time.sleep(min(pause, GATHER_STEP))
            self._take_queued(batch)
        self._take_queued(batch)
        self._leftover = batch[self.max_block_transactions:]
        return batch[:self.max_block_transactions], self._stop_seen and not self._leftover

    def _verify_ahead(self, batch: list[Queued]) -> None:
        """Have the block's signatures checked while it gathers. Only a head start: if that
        fails, the block checks them itself, and the sequencer must go on either way."""
        try:
            self.ledger.verify_ahead([admitted for admitted, _, _ in batch])
        except Exception:  # noqa: BLE001 - a bug here must not stop the sequencer
            log.exception("checking signatures ahead failed")

    def _take_queued(self, batch: list[Queued]) -> None:
        """Add what waits in the queue to ``batch``, up to a full block (a submission whole)."""
        while not self._stop_seen and len(batch) < self.max_block_transactions:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is None:
                self._stop_seen = True
            else:
                batch.extend(item)

    def _commit(self, batch: list[Queued]) -> None:
        try:
            result = self.ledger.apply_block([admitted for admitted, _, _ in batch])
        except BaseException as exc:  # noqa: BLE001 - the block is lost: tell every client
            for _, submission, _ in batch:
                submission.fail(exc)
            if not isinstance(exc, Exception):
                raise
            return
        self.blocks += 1
        for listener in self._listeners:
            try:
                listener(result)
            except Exception:  # noqa: BLE001 - a listener's bug must not stop the sequencer
                log.exception("block listener %r failed", listener)
        leaves = iter(result.leaves)
        for (admitted, submission, position), outcome in zip(batch, result.outcomes):
            if isinstance(outcome, TransactionRefused):
                submission.settle(position, Outcome(None, outcome))
            else:
                submission.settle(position, Outcome(outcome, None, next(leaves), result.head, admitted.stx))


def admit_statelessly(raw: object, chain_id: str) -> SignedTransaction:
    """The checks that need no state and cost next to nothing: well-formed bytes, the chain."""
    if type(raw) is not bytes:
        raise TransactionRefused(MALFORMED, "a transaction is sent as bytes")
    stx = decode_signed(raw)
    check_chain_id(stx.tx, chain_id)
    return stx
