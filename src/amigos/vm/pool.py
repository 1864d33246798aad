"""``WorkerPool``: service code runs in confined worker processes (the second sandbox wall).

The pool has the :class:`~amigos.vm.machine.Machine` interface (``execute``, ``deploy``,
``forget``) plus :meth:`WorkerPool.run`, which sends a whole batch of jobs to one worker at once.
The parent keeps the database: a worker asks it for every entry it reads (and caches them), and
sends back the calls' outcomes and their writes, which the parent applies before answering the
next read, so a worker sees exactly what an in-process machine would.

Caches stay valid through a change log: every key the parent's state view changes that a
worker could have read (:data:`~amigos.vm.keys.SERVICE_READABLE`: service code and state, not
the ledger's nonces and log) is logged with the worker that produced it, and a worker receives
the keys changed by anyone else since its last batch before it runs the next one.

A worker that dies (a crash, a resource limit, a seccomp kill, a malformed or late message) is
replaced. The calls of its batch that finished stand; the one it was running is re-run alone on
a fresh worker, and if that one dies too the call fails with ``WorkerCrashed`` (or
``LimitExceeded`` when the CPU limit killed it). The rest of the batch then goes on as usual.
Nothing is half-applied: the parent only applies outcomes a worker finished.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from itertools import chain, groupby, repeat
from operator import itemgetter
from typing import Any

from .. import codec
from ..errors import CodecError, ExecutionError, SandboxUnavailable, execution_error
from .channel import SCALARS, Channel, ChannelClosed, are_counts, are_names, pack, raw, split_parts, text, to_columns, unpack
from .confine import Limits, bwrap_command
from .gas import Halt, OutOfGasHalt
from .keys import BALANCE_PREFIX, MAX_AMOUNT, SERVICE_READABLE, SERVICE_WRITABLE
from .machine import Context, Event, Outcome, copy_plain
from .service import CompiledService
from .worker import FLUSH_MIN

Job = tuple[Any, ...]
"""``("call", path, function, args, kwargs, origin, height, time, gas, readonly, received)`` or
``("deploy", path, source, origin, height, time, gas, upgrade)`` (see :mod:`~amigos.vm.worker`)."""
Writes = dict[bytes, bytes | None]
Apply = Callable[[Writes], None]
Build = Callable[[bool, Any, ExecutionError | None, int, list[Event]], Any]
"""Makes what a batch returns for each job from ``ok, result, error, gas_used, events``: an
:class:`~amigos.vm.machine.Outcome` by default, the runtime's receipts directly."""

DEFAULT_LIMITS = Limits(address_space=2 << 30, cpu_seconds=600)
"""A worker's rlimits: room for one call's 500 MB (the gas bound) several times over; CPU
seconds over its whole life, so the pool retires a worker at half of them."""
ANSWER_TIMEOUT = 30.0
"""Seconds a worker may take to send its next message (a call is bounded by gas far below)."""
START_TIMEOUT = 30.0
"""Seconds a new worker may take to import, confine itself and say it is ready."""
FIRST_JOBS = 8
"""Jobs in a batch's first message: few, so that the worker starts while the parent encodes
the rest."""
CHUNK_JOBS = 64
"""Jobs in each further message (all of a batch's messages are sent at once)."""
MAX_LOG = 100_000
"""Logged key changes kept; a worker that fell further behind drops all its caches instead."""


class WorkerDied(Exception):
    def __init__(self, message: str, signal_number: int | None) -> None:
        super().__init__(message)
        self.signal_number = signal_number


class Worker:
    """One confined worker process and its channel."""

    def __init__(self, limits: Limits, namespaces: bool, module: str, answer_timeout: float) -> None:
        parent_read, child_write = os.pipe()
        child_read, parent_write = os.pipe()
        argv = [sys.executable, "-m", module, str(child_read), str(child_write),
                str(limits.address_space), str(limits.cpu_seconds)]
        command = (bwrap_command(argv) if namespaces else None) or argv
        self.in_namespaces = command is not argv
        try:
            self.process = subprocess.Popen(
                command,
                pass_fds=(child_read, child_write),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
                start_new_session=True,
            )
        finally:
            os.close(child_read)
            os.close(child_write)
        self.channel = Channel(parent_read, parent_write, answer_timeout)
        self.synced = 0
        """Position in the pool's change log up to which this worker's caches are valid."""
        self.cpu_seconds = 0.0
        self._expect("ready", START_TIMEOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def _expect(self, kind: str, timeout: float) -> list[Any]:
        message = self.receive(timeout)
        if message[0] != kind:
            raise self.died(f"expected {kind!r}, got {message[0]!r}")
        return message

    def receive(self, timeout: float | None = None) -> list[Any]:
        try:
            message = self.channel.receive(timeout)
        except ChannelClosed as exc:
            raise self.died(str(exc)) from None
        if type(message) is not list or not message or type(message[0]) is not str:
            raise self.died("malformed message")
        return message

    def send(self, message: list[Any]) -> None:
        try:
            self.channel.send(message)
        except ChannelClosed as exc:
            raise self.died(str(exc)) from None

    def died(self, reason: str) -> WorkerDied:
        """Make sure the worker is dead (it may be hung, or still dying) and say how it ended."""
        try:
            code = self.process.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.process.wait()
        self.channel.close()
        # Under bubblewrap the worker is bwrap's child, and bwrap exits with 128 + its signal.
        number = -code if code < 0 else code - 128 if self.in_namespaces and code > 128 else None
        if number is not None:
            reason = f"{reason}; exit by signal {number}"
        return WorkerDied(reason, number)

    def kill(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.channel.close()

    def stop(self) -> None:
        """Kill the worker and reap it."""
        self.kill()
        self.process.wait()


class WorkerPool:
    """Runs calls and deploys in confined worker processes, reading state from ``view``."""

    def __init__(self, view: Any, *, size: int = 1, limits: Limits = DEFAULT_LIMITS, namespaces: bool = True,
                 answer_timeout: float = ANSWER_TIMEOUT, worker_module: str = "amigos.vm.worker") -> None:
        """``view`` is the state (a :class:`~amigos.runtime.StateView`); ``size`` workers are
        kept warm; ``namespaces`` runs them under bubblewrap where it works. ``worker_module``
        exists for tests, which start deliberately faulty workers from tests/."""
        self.view = view
        self.limits = limits
        self.namespaces = namespaces
        self.answer_timeout = answer_timeout
        self.worker_module = worker_module
        self.size = max(1, size)
        self.idle: list[Worker] = []
        self.log: list[tuple[Sequence[bytes], Worker | None]] = []
        """The keys each write to the state changed, and the worker whose outcome it was: one
        entry per write, not per key, as the parent writes for every message a worker sends."""
        self.log_start = 0
        """Change-log position of ``log[0]``; workers synced before it drop all caches."""
        self.logged_keys = 0
        """Keys in the log, which is kept to about MAX_LOG of them."""
        self.producer: Worker | None = None
        """The worker whose writes are being applied (the parent's own: None)."""
        self.running: RunningBatch | None = None
        """The batch sent and not taken yet, if any (:meth:`start`)."""
        self.started = 0
        """Workers started over the pool's life (replacements included)."""
        view.watch(self._changed)
        self.idle.append(self._start())

    # ------------------------------------------------------------ the Machine interface

    def execute(self, path: str, function: str, args: Sequence[Any], kwargs: dict[str, Any], *,
                context: Context, gas_limit: int, readonly: bool = False) -> Outcome:
        return self._run_one(call_job(path, function, args, kwargs, context, gas_limit, readonly))

    def deploy(self, compiled: CompiledService, *, context: Context, gas_limit: int, upgrade: bool) -> Outcome:
        return self._run_one(("deploy", compiled.path, compiled.source, context.origin, context.height, context.time,
                              gas_limit, upgrade))

    def _run_one(self, job: Job) -> Outcome:
        """One job, its writes handed back in the outcome (for the caller to apply) as the
        in-process machine does."""
        return self.run([job], lambda writes: None, keep_writes=True)[0]

    def forget(self, path: str | None = None) -> None:
        """State changed in a way the log did not see (a rolled-back block): all caches go, and
        a batch still running against the old state with them."""
        if self.running is not None:
            self.running.abandon()
        self.log_start = self._log_end() + 1  # past every worker's position
        self.log.clear()
        self.logged_keys = 0

    def close(self) -> None:
        if self.running is not None:
            self.running.abandon()
        for worker in self.idle:
            worker.stop()
        self.idle.clear()

    # ------------------------------------------------------------ batches

    def run(self, jobs: list[Job], apply: Apply, build: Build = Outcome, *, keep_writes: bool = False) -> list[Any]:
        """Run ``jobs`` in order and return their outcomes. ``apply`` is called with the writes
        of successful jobs as they arrive (merged, several jobs at a time, in order), before any
        later job reads state: it is where the caller makes them visible. Outcomes come back
        each made by ``build``; with ``keep_writes`` (and ``build`` an
        :class:`~amigos.vm.machine.Outcome`) each also holds its own job's writes."""
        return self.start(jobs, apply, build, keep_writes=keep_writes).outcomes()

    def start(self, jobs: list[Job], apply: Apply, build: Build = Outcome, *, keep_writes: bool = False) -> RunningBatch:
        """:meth:`run`, in two steps: send ``jobs`` to a worker now, and take their outcomes
        with :meth:`RunningBatch.outcomes`. Meanwhile the worker runs them and the caller may do
        other work, as long as it changes no state they read (service code and state,
        :data:`~amigos.vm.keys.SERVICE_READABLE`; the pool refuses such a write) and starts no
        other batch: they run against the state as it was when they were sent."""
        if self.running is not None:
            raise RuntimeError("a batch is running: take its outcomes before starting another")
        batch = RunningBatch(self, jobs, apply, build, keep_writes)
        batch.send_first()  # if no worker could take it, no batch is running
        self.running = batch
        return batch

    def _send(self, worker: Worker, batch: list[Job]) -> None:
        """Send a batch to ``worker``: all of it at once, so the worker never waits for jobs
        (the channel reads what the worker sends while a send waits for room, so large
        batches cannot deadlock)."""
        worker.send(["batch", self._changes_for(worker), jobs_to_wire(batch[:FIRST_JOBS]), len(batch)])
        for first in range(FIRST_JOBS, len(batch), CHUNK_JOBS):
            worker.send(["jobs", jobs_to_wire(batch[first:first + CHUNK_JOBS])])
        worker.synced = self._log_end()

    def _receive(self, worker: Worker, expected: int, outcomes: list[Any], apply: Apply, build: Build,
                 keep_writes: bool) -> None:
        """Serve ``worker``'s reads and take its outcomes until it has sent ``expected`` of them."""
        def apply_as_its_own(writes: Writes) -> None:
            self.producer = worker  # what the worker wrote stays valid in its own caches
            try:
                apply(writes)
            finally:
                self.producer = None

        while True:
            message = worker.receive()
            kind = message[0]
            if kind == "get":
                value = self.view.get(_key(worker, message, 1))
                worker.send(["value", None if value is None else text(value)])
            elif kind == "scan":
                prefix = _key(worker, message, 1)
                start = None if message[2] is None else _key(worker, message, 2)
                limit = message[3]
                if limit is not None and (type(limit) is not int or limit < 0):
                    raise worker.died("malformed scan")
                rows = self.view.scan(prefix, start, limit)
                worker.send(["rows", [text(part) for row in rows for part in row]])
            elif kind == "results" and len(message) == 8:
                take_finished(worker, message, outcomes, expected, apply_as_its_own, self.view, build, keep_writes)
            elif kind == "done" and len(message) == 9:
                take_finished(worker, message, outcomes, expected, apply_as_its_own, self.view, build, keep_writes)
                if len(outcomes) != expected:
                    raise worker.died("batch ended early")
                worker.cpu_seconds = message[7] / 1000 if type(message[7]) is int else 0.0
                worker.synced = self._log_end()
                return
            else:
                raise worker.died(f"unexpected message {kind!r}")

    # ------------------------------------------------------------ workers

    def _start(self) -> Worker:
        self.started += 1
        try:
            worker = Worker(self.limits, self.namespaces, self.worker_module, self.answer_timeout)
        except WorkerDied as death:  # not a call's fault: this host cannot run workers
            raise SandboxUnavailable(f"a confined worker could not start: {death}") from None
        worker.synced = self._log_end()
        return worker

    def _acquire(self) -> Worker:
        return self.idle.pop() if self.idle else self._start()

    def _release(self, worker: Worker) -> None:
        if worker.cpu_seconds > self.limits.cpu_seconds / 2:  # retire it before RLIMIT_CPU hits
            worker.stop()
            return
        self.idle.append(worker)
        while len(self.idle) > self.size:
            extra = self.idle.pop(0)
            extra.stop()

    # ------------------------------------------------------------ the change log

    def _changed(self, keys: Sequence[bytes] | None) -> None:
        """Called by the state view: ``keys`` were written (None: everything may have changed).
        Only keys a worker reads are logged: a block's nonces and log leaves, most of what a
        ledger writes, would cross to every worker for nothing."""
        if keys is None:
            self.forget()
            return
        if self.producer is None:  # a worker's writes are all service state; the host's mostly not
            keys = [key for key in keys if key.startswith(SERVICE_READABLE)]
            if not keys:
                return
            if self.running is not None:
                raise RuntimeError(f"{keys[0][:40]!r} changed while a batch that may read it runs")
        self.log.append((tuple(keys), self.producer))  # a tuple of bytes: untracked by the collector
        self.logged_keys += len(keys)
        if self.logged_keys > MAX_LOG:
            drop = 0
            while self.logged_keys > MAX_LOG // 2:
                self.logged_keys -= len(self.log[drop][0])
                drop += 1
            del self.log[:drop]
            self.log_start += drop

    def _log_end(self) -> int:
        return self.log_start + len(self.log)

    def _changes_for(self, worker: Worker) -> list[str] | None:
        if worker.synced < self.log_start:
            return None
        changed: list[str] = []
        for keys, producer in self.log[worker.synced - self.log_start:]:
            if producer is not worker:
                changed += map(text, keys)
        return changed


class RunningBatch:
    """Jobs sent to a worker (:meth:`WorkerPool.start`) whose outcomes are not taken yet."""

    def __init__(self, pool: WorkerPool, jobs: list[Job], apply: Apply, build: Build, keep_writes: bool) -> None:
        self.pool = pool
        self.apply = apply
        self.build = build
        self.keep_writes = keep_writes
        self.jobs, self.refused = (jobs, {}) if are_plain_calls(jobs) else arguments_to_wire(jobs, build)
        self.size = len(jobs)
        self.worker: Worker | None = None
        """The worker running the batch as first sent (None once its outcomes are being taken)."""
        self.death: WorkerDied | None = None
        """How the first sending failed, if it did."""

    def send_first(self) -> None:
        if not self.jobs:
            return
        worker = self.pool._acquire()
        try:
            self.pool._send(worker, self.jobs)
        except WorkerDied as death:
            self.death = death
        except BaseException:
            worker.stop()  # it may hold part of the batch
            raise
        self.worker = worker

    def outcomes(self) -> list[Any]:
        """Wait for the batch to finish (its writes applied as they arrive) and return its
        outcomes, in order. A worker that dies is replaced, as :class:`WorkerPool` describes."""
        # Decoding a batch's messages allocates many small objects and no cycles; the
        # collector would walk every live object of the host for nothing.
        collecting = gc.isenabled()
        gc.disable()
        try:
            if not self.refused:  # the common case: every job went to the worker
                return self._outcomes_of_jobs()
            ran = iter(self._outcomes_of_jobs())
            return [self.refused[i] if i in self.refused else next(ran) for i in range(self.size)]
        finally:
            if self.pool.running is self:
                self.pool.running = None
            if collecting:
                gc.enable()

    def _outcomes_of_jobs(self) -> list[Any]:
        pool, jobs, build = self.pool, self.jobs, self.build
        outcomes: list[Any] = []
        alone = 0  # calls still to run one at a time: those a worker that died in a batch may have died of
        worker, self.worker = self.worker, None
        while len(outcomes) < len(jobs):
            start = len(outcomes)
            batch = jobs[start:start + 1] if alone else jobs[start:]
            try:
                if worker is None:
                    worker = pool._acquire()
                    pool._send(worker, batch)
                elif self.death is not None:  # the first sending failed
                    death, self.death = self.death, None
                    raise death
                pool._receive(worker, start + len(batch), outcomes, self.apply, build, self.keep_writes)
            except WorkerDied as death:
                worker = None
                if alone:  # it died running this call by itself: the call is the cause
                    outcomes.append(crash_outcome(death, build))
                    alone = 0
                else:
                    alone = suspects(len(batch) - (len(outcomes) - start))
                continue
            except BaseException:  # the parent failed (a read it could not serve, say)
                if worker is not None:
                    worker.stop()  # mid-batch, it would wait for an answer for ever
                raise
            alone = max(alone - 1, 0)
            pool._release(worker)
            worker = None
        return outcomes

    def abandon(self) -> None:
        """Give up the batch (the state it ran against was dropped): its worker is killed."""
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        if self.pool.running is self:
            self.pool.running = None


def _key(worker: Worker, message: list[Any], index: int) -> bytes:
    try:
        return raw(message[index])
    except (IndexError, ValueError):
        raise worker.died("malformed request") from None


def jobs_to_wire(jobs: list[Job]) -> list[list[Any]]:
    """Jobs as runs of one kind (calls, deploys), each as columns (:func:`~amigos.vm.channel.to_columns`)."""
    return [to_columns(list(run)) for _, run in groupby(jobs, key=itemgetter(0))]


def call_job(path: str, function: str, args: Sequence[Any], kwargs: dict[str, Any] | None, context: Context,
             gas_limit: int, readonly: bool) -> Job:
    return ("call", path, function, args, kwargs, context.origin, context.height, context.time, gas_limit, readonly,
            context.received)


def call_jobs(paths: Iterable[str], functions: Iterable[str], args: Iterable[Sequence[Any]],
              kwargs: Iterable[dict[str, Any] | None], origins: Iterable[str], gas_limits: Iterable[int], *,
              height: int, time: int) -> list[Job]:
    """The jobs of calls in one block (given as columns, one entry per call), each as
    :func:`call_job` makes it; built in C, a tuple a call."""
    return list(zip(repeat("call"), paths, functions, args, kwargs, origins, repeat(height), repeat(time), gas_limits,
                    repeat(False), repeat(0)))


_KIND, _ARGS, _KWARGS = itemgetter(0), itemgetter(3), itemgetter(4)
_CALL = frozenset({"call"})
_SEQUENCES = frozenset({tuple, list})


def are_plain_calls(jobs: list[Job]) -> bool:
    """Whether every job is a call whose arguments cross to a worker as they are: positional,
    in a tuple or list, each a str, int, bool or None. Most batches are; the checks run in C."""
    return (_CALL.issuperset(map(_KIND, jobs)) and not any(map(_KWARGS, jobs))
            and _SEQUENCES.issuperset(map(type, map(_ARGS, jobs)))
            and SCALARS.issuperset(map(type, chain.from_iterable(map(_ARGS, jobs)))))


def arguments_to_wire(jobs: list[Job], build: Build) -> tuple[list[Job], dict[int, Any]]:
    """The jobs that can cross to a worker, their arguments packed (:func:`~amigos.vm.channel.pack`),
    and the outcome of each call refused because its arguments are not plain data (by its index
    in ``jobs``), exactly as the in-process machine reports it."""
    crossing: list[Job] = []
    refused: dict[int, Any] = {}
    for index, job in enumerate(jobs):
        if job[0] != "call":
            crossing.append(job)
            continue
        args, kwargs, gas_limit = tuple(job[3]), job[4] or {}, job[8]  # any sequence, as in-process
        try:
            copy_plain(args, "argument", gas_limit)
            copy_plain(kwargs, "argument", gas_limit)
        except Halt as halt:
            used = gas_limit if isinstance(halt, OutOfGasHalt) else 0
            message = f"out of gas (limit {gas_limit})" if isinstance(halt, OutOfGasHalt) else halt.message
            refused[index] = build(False, None, execution_error(halt.error_type, message), used, [])
            continue
        crossing.append((*job[:3], [pack(a) for a in args], {k: pack(v) for k, v in kwargs.items()}, *job[5:]))
    return crossing, refused


def crash_outcome(death: WorkerDied, build: Build) -> Any:
    if death.signal_number == signal.SIGXCPU:
        error = execution_error("LimitExceeded", "the worker's CPU time limit was exceeded")
    else:
        error = execution_error("WorkerCrashed", f"the worker running this call died ({death})")
    return build(False, None, error, 0, [])


def suspects(unanswered: int) -> int:
    """How many of the ``unanswered`` calls of a batch whose worker died must run alone to
    find the one it died of. The worker lost the outcomes it had not sent, and it sends them
    once as many wait as calls remain (:func:`amigos.vm.worker.flush_due`): so at most about
    half of them were finished and lost, and the cause is the call after those. Were each
    call tried again in a batch, a worker would start again for every lost outcome."""
    return min(unanswered, max(FLUSH_MIN, (unanswered + 1) // 2))


def take_finished(worker: Worker, message: list[Any], outcomes: list[Any], expected: int, apply: Apply,
                  view: Any, build: Build = Outcome, keep_writes: bool = False) -> None:
    """Check a ``results`` or ``done`` message whole, then apply its writes and keep its
    outcomes (made by ``build``; with ``keep_writes``, each holding its job's writes): a
    malformed message changes nothing."""
    results, gas, failures, events, counts, lengths = message[1:7]
    try:
        taken = outcomes_from_wire(results, gas, failures, events, build)
        sets, deletes = writes_from_wire(taken, counts, lengths, message[-1])
        each = split_writes(sets, deletes, counts) if keep_writes or deletes else None
        writes = merge_writes(each) if each is not None else dict(zip(sets[0::2], sets[1::2]))
    except (TypeError, ValueError, CodecError) as exc:
        raise worker.died(f"malformed outcome: {exc}") from None
    if len(outcomes) + len(taken) > expected:
        raise worker.died("more outcomes than jobs")
    if writes:
        check_service_writes(worker, writes, view)
        apply(writes)
    if keep_writes:
        assert each is not None
        for outcome, own in zip(taken, each):
            outcome.writes = own
    outcomes.extend(taken)


def check_service_writes(worker: Worker, writes: Writes, view: Any) -> None:
    """Defence in depth against a worker whose language wall fell: it may only write the kinds
    of keys service code can, and its balance changes must add up to zero (std.send moves AMI,
    it never makes any). What it could still do, such a worker — change other services' state,
    move AMI between balances — a replay of the log (``amigos verify``) exposes, since the
    state hash would not come out the same."""
    moved = 0
    for key, value in writes.items():
        if not key.startswith(SERVICE_WRITABLE):
            raise worker.died(f"a write to {key[:40]!r}, which service code cannot change")
        if key.startswith(BALANCE_PREFIX):
            try:
                new = 0 if value is None else codec.decode(value)
                old_raw = view.get(key)
                old = 0 if old_raw is None else codec.decode(old_raw)
            except CodecError:
                raise worker.died("a balance that is not an amount") from None
            if value is not None and (type(new) is not int or not 0 < new <= MAX_AMOUNT):
                raise worker.died("a balance that is not an amount")
            moved += new - old
    if moved:
        raise worker.died(f"balance changes that do not add up to zero ({moved:+d} AMI)")


def writes_from_wire(taken: list[Any], counts: Any, lengths: Any, joined: Any) -> tuple[list[bytes], list[bytes]]:
    """The sets (key, entry, key, entry…) and deletes of a message whose outcomes are
    ``taken``, from its attachment; ValueError unless they are, job by job, exactly what
    ``counts`` says, and a failed job wrote nothing."""
    if not are_counts(counts) or len(counts) != 2 * len(taken):
        raise ValueError("bad write counts")
    parts = split_parts(lengths, joined)
    set_parts = 2 * sum(counts[0::2])
    if set_parts + sum(counts[1::2]) != len(parts):
        raise ValueError("the write counts do not add up")
    if any(counts[2 * i] or counts[2 * i + 1] for i, outcome in enumerate(taken) if not outcome.ok):
        raise ValueError("writes of a failed call")
    return parts[:set_parts], parts[set_parts:]


def split_writes(sets: list[bytes], deletes: list[bytes], counts: list[int]) -> list[Writes]:
    """Each job's own writes, from the parts :func:`writes_from_wire` accepted."""
    each: list[Writes] = []
    at_set = at_delete = 0
    for job in range(0, len(counts), 2):
        end_set, end_delete = at_set + 2 * counts[job], at_delete + counts[job + 1]
        writes: Writes = dict(zip(sets[at_set:end_set:2], sets[at_set + 1:end_set:2]))
        writes.update(dict.fromkeys(deletes[at_delete:end_delete]))
        each.append(writes)
        at_set, at_delete = end_set, end_delete
    return each


def merge_writes(each: list[Writes]) -> Writes:
    merged: Writes = {}
    for writes in each:
        merged.update(writes)
    return merged


def outcomes_from_wire(results: Any, gas: Any, failures: Any, events: Any, build: Build) -> list[Any]:
    """The outcomes a message's columns describe, checked for shape (a worker is not trusted);
    ValueError (or TypeError, CodecError) if anything is off. The common case, scalar results
    and no failures, is checked in C."""
    if type(results) is not list or type(gas) is not list or type(failures) is not list or type(events) is not list:
        raise ValueError("bad field types")
    if len(gas) != len(results) or not are_counts(gas):
        raise ValueError("bad gas")
    if not SCALARS.issuperset(map(type, results)):
        results = list(map(unpack, results))
    errors = dict(map(failure_from_wire, failures))
    if len(errors) != len(failures) or not all(0 <= i < len(results) and results[i] is None for i in errors):
        raise ValueError("bad failures")
    emitted = events_from_wire(events, len(results), errors)
    if not errors:
        return list(map(build, repeat(True), results, repeat(None), gas, emitted))
    return [build(False, None, errors[i], used, []) if i in errors else build(True, result, None, used, emitted[i])
            for i, (result, used) in enumerate(zip(results, gas))]


def failure_from_wire(failure: Any) -> tuple[int, ExecutionError]:
    index, kind, message, line = failure
    if type(index) is not int or type(kind) is not str or type(message) is not str or (
        line is not None and type(line) is not int
    ):
        raise ValueError("bad failure")
    return index, execution_error(kind, message, line)


def events_from_wire(runs: list[Any], count: int, errors: dict[int, ExecutionError]) -> list[list[Event]]:
    """The events of each of a message's ``count`` jobs, from their runs (see
    :mod:`amigos.vm.worker`); none may be of a failed job. Each run's attributes and events
    are made in C."""
    emitted: list[list[Event]] = [[] for _ in range(count)]
    for service, name, names, indexes, values in runs:
        if type(service) is not str or type(name) is not str or not are_names(names) or type(indexes) is not list \
                or type(values) is not list:
            raise ValueError("bad events")
        if not are_counts(indexes) or (indexes and max(indexes) >= count) or not errors.keys().isdisjoint(indexes):
            raise ValueError("an event of no successful call")
        width = len(names)
        if len(values) != width * len(indexes):
            raise ValueError("bad event values")
        if not SCALARS.issuperset(map(type, values)):
            values = list(map(unpack, values))
        each = map(dict, map(zip, repeat(names), zip(*[iter(values)] * width))) if width else ({} for _ in indexes)
        for index, event in zip(indexes, map(_make_event, zip(repeat(service), repeat(name), each))):
            emitted[index].append(event)
    return emitted


_make_event = partial(tuple.__new__, Event)
"""``Event._make`` in C: an :class:`~amigos.vm.machine.Event` (a named tuple) from its fields."""
