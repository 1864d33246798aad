"""A confined worker process: runs batches of calls for a :class:`~amigos.vm.pool.WorkerPool`.

Started as ``python -m amigos.vm.worker READ_FD WRITE_FD ADDRESS_SPACE CPU_SECONDS``. It imports
everything it will ever need, confines itself (:func:`amigos.vm.confine.confine`: only its two
pipes, no files, no sockets, no processes) and only then reads its first request. Every byte of
state it sees comes over the pipe from the parent, which alone touches the database.

Requests and replies (JSON lists, see :mod:`amigos.vm.channel`; keys, entries and values
are codec bytes carried as text)::

    parent → worker   ["batch", invalidate, jobs, n]   invalidate: None (drop every cache)
                                                       or a list of keys changed elsewhere;
                                                       the batch has n jobs in all
    parent → worker   ["jobs", jobs]                   the rest of the batch's jobs, in chunks
                                                       sent right after the first

``jobs`` is a list of runs of jobs of one kind, each run as columns
(:func:`~amigos.vm.channel.to_columns`: what the jobs share goes once).
    worker → parent   ["get", key]                     parent → worker  ["value", entry | None]
    worker → parent   ["scan", prefix, start, limit]   parent → worker  ["rows", [k, v, k, v…]]
    worker → parent   ["results", results, gas,        the jobs finished since the last
                       failures, events,               message, in order, and what they wrote:
                       sets, deletes, counts]          sent before any read, and when as many
                                                       wait as jobs remain (see flush_due)
    worker → parent   ["done", results, gas, failures, the same for the batch's last jobs;
                       events, sets, deletes, counts,  the batch is over
                       cpu_ms]

A job is ``["call", path, function, arguments, origin, height, time, gas, readonly,
received]``, with ``arguments`` ``[[packed arg, …], {name: packed arg}]``
(:func:`~amigos.vm.channel.pack`), or ``["deploy", path, source, origin, height, time, gas,
upgrade]``. The finished jobs' outcomes go as columns, one entry per job or only where
there is something to say: ``results`` the packed result of each job (None for a failed one),
``gas`` the gas each used, ``failures`` ``[index, type, message, line]`` for each failed job,
``index`` counting the message's jobs from 0, and ``events`` the events, in runs of those that
share service, name and attribute names (a token's transfers all do): ``[service, name, names,
indexes, values]``, ``indexes`` the job that emitted each event of the run and ``values`` their
attributes' packed values, event after event. So a batch of calls that return scalars and emit
events of one shape costs the parent a few type checks in C per message, not a Python loop per
field. The writes of a message's successful jobs go job after job: ``sets`` a flat list
``[key, entry, key, entry…]``, ``deletes`` a list of keys, and ``counts`` ``[sets, deletes,
sets, deletes…]``, how many of each every job (a failed one: none) wrote. The parent merges
them in order and applies them as one, which leaves its state exactly as applying each job's
writes in turn would; a ledger also gets each job's own writes, to hash them into its receipt.
"""

from __future__ import annotations

import gc
import sys
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from ..errors import execution_error
from . import keys
from .channel import SCALARS, Channel, ChannelClosed, from_columns, pack, raw, text, texts, unpack
from .confine import Limits, confine
from .machine import Context, Event, Machine, Outcome
from .service import compile_service

FLUSH_MIN = 8
"""Fewest outcomes sent in a ``results`` message of their own (see :func:`flush_due`)."""
CACHE_ENTRIES = 200_000
"""Most state entries a worker caches between batches (then it starts afresh)."""
CACHE_ITEM_BYTES = 8 * 1024
"""Larger values are not cached: a service could otherwise pin memory by reading them."""


class RemoteReader:
    """State read from the parent, with a cache kept valid by the parent's invalidations and
    the worker's own writes (which the parent applies in the same order)."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.cache: dict[bytes, bytes | None] = {}
        self.jobs: deque[Sequence[Any]] = deque()
        """Jobs of the running batch not started yet (more arrive while it runs)."""
        self.results: list[Any] = []
        """The packed results of the outcomes not sent yet (None for a failure). They go before
        any read: the parent must apply their writes before it answers (one message for many
        outcomes keeps a batch cheap)."""
        self.gas: list[int] = []
        self.failures: list[list[Any]] = []
        self.events: list[list[Any]] = []
        """Runs of events of one shape: ``[service, name, names, indexes, values]``."""
        self.sets: list[bytes] = []
        self.deletes: list[bytes] = []
        self.counts: list[int] = []
        """The writes of the outcomes not sent yet: the ``sets``, ``deletes`` and ``counts``
        columns of the next message (keys and entries become text as the message is made)."""

    def finish(self, outcome: Outcome) -> None:
        """Record a finished job; its writes are what later jobs (and reads) see."""
        index = len(self.results)
        if outcome.ok:
            self._remember_writes(outcome.writes)
            result = outcome.result
            self.results.append(result if type(result) in SCALARS else pack(result))
            for event in outcome.events:
                self._add_event(index, event)
        else:
            error = outcome.error
            assert error is not None  # a failed outcome always says why
            self.results.append(None)
            self.failures.append([index, error.type, error.message, error.line])
            self.counts += (0, 0)
        self.gas.append(outcome.gas_used)

    def _remember_writes(self, writes: dict[bytes, bytes | None]) -> None:
        """Add a job's writes to the next message's columns, and to the cache (all but the
        large ones, as :meth:`_remember`), in one pass."""
        cache = self.cache
        if len(cache) + len(writes) > CACHE_ENTRIES:
            cache.clear()
        cache.update(writes)
        sets, deletes = self.sets, self.deletes
        set_count, delete_count = len(sets), len(deletes)
        for key, value in writes.items():
            if value is None:
                deletes.append(key)
            else:
                sets += (key, value)
                if len(key) + len(value) > CACHE_ITEM_BYTES:
                    del cache[key]
        self.counts += ((len(sets) - set_count) // 2, len(deletes) - delete_count)

    def _add_event(self, index: int, event: Event) -> None:
        """Add job ``index``'s ``event`` to the last run of events, or start a run of its shape."""
        attrs = event.attrs
        names = tuple(attrs)
        runs = self.events
        if not runs or runs[-1][2] != names or runs[-1][0] != event.service or runs[-1][1] != event.name:
            runs.append([event.service, event.name, names, [], []])
        run = runs[-1]
        run[3].append(index)
        values = attrs.values()
        run[4] += values if SCALARS.issuperset(map(type, values)) else map(pack, values)

    def finished_message(self, kind: str) -> list[Any]:
        """The ``results`` (or ``done``) message for the outcomes not sent yet."""
        message = [kind, self.results, self.gas, self.failures, self.events,
                   texts(self.sets), texts(self.deletes), self.counts]
        self.results, self.gas, self.failures, self.events = [], [], [], []
        self.sets, self.deletes, self.counts = [], [], []
        return message

    def send_finished(self, *requests: list[Any]) -> None:
        """Send the outcomes not sent yet, and ``requests`` after them in the same write."""
        self.channel.send(*([self.finished_message("results")] if self.results else []), *requests)

    def get(self, key: bytes) -> bytes | None:
        try:
            return self.cache[key]
        except KeyError:
            pass
        check_readable(key)
        self.send_finished(["get", text(key)])
        carried = self.reply()[1]
        value = None if carried is None else raw(carried)
        self._remember(key, value)
        return value

    def scan(self, prefix: bytes, start: bytes | None = None, limit: int | None = None) -> list[tuple[bytes, bytes]]:
        check_readable(prefix)
        self.send_finished(["scan", text(prefix), None if start is None else text(start), limit])
        flat = self.reply()[1]
        return [(raw(flat[i]), raw(flat[i + 1])) for i in range(0, len(flat), 2)]

    def reply(self) -> list[Any]:
        """The parent's next answer; chunks of jobs that come first are queued."""
        while True:
            message = self.channel.receive()
            if message[0] != "jobs":
                return message
            self.take_jobs(message[1])

    def take_jobs(self, runs: list[Any]) -> None:
        for run in runs:
            self.jobs.extend(from_columns(run))

    def next_job(self) -> Sequence[Any]:
        while not self.jobs:  # the parent sent the whole batch: the next chunk is on its way
            self.take_jobs(self.channel.receive()[1])
        return self.jobs.popleft()

    def _remember(self, key: bytes, value: bytes | None) -> None:
        """Cache an entry read (unless it is large)."""
        if len(self.cache) >= CACHE_ENTRIES:
            self.cache.clear()
        if value is None or len(key) + len(value) <= CACHE_ITEM_BYTES:
            self.cache[key] = value


def check_readable(key: bytes) -> None:
    """Refuse to read what the pool does not keep this worker's cache valid for (it logs
    changes to :data:`~amigos.vm.keys.SERVICE_READABLE` keys only): a machine that reads
    anything else would serve stale state, so it must fail here, loudly, instead."""
    if not key.startswith(keys.SERVICE_READABLE):
        raise RuntimeError(f"a sandbox worker reads service code and state only, not {key[:40]!r}")


def forget_changed(machine: Machine, reader: RemoteReader, invalidate: list[bytes] | None) -> None:
    """Drop what another process changed: cached entries, and loaded services whose code or
    globals changed (a loaded service holds its globals)."""
    if invalidate is None:
        reader.cache.clear()
        machine.forget()
        return
    for carried in invalidate:
        key = raw(carried)
        reader.cache.pop(key, None)
        path = keys.service_holding(key)
        if path is not None:
            machine.forget(path)


def run_job(machine: Machine, job: Sequence[Any]) -> Outcome:
    kind = job[0]
    if kind == "call":
        _, path, function, arguments, origin, height, now, gas_limit, readonly, received = job
        packed_args, packed_kwargs = arguments
        args = tuple(packed_args) if SCALARS.issuperset(map(type, packed_args)) else tuple(map(unpack, packed_args))
        kwargs = {k: unpack(v) for k, v in packed_kwargs.items()} if packed_kwargs else {}
        return machine.execute(path, function, args, kwargs, context=Context(origin, height, now, received),
                               gas_limit=gas_limit, readonly=readonly)
    if kind == "deploy":
        _, path, source, origin, height, now, gas_limit, upgrade = job
        compiled = compile_service(path, source)
        return machine.deploy(compiled, context=Context(origin, height, now), gas_limit=gas_limit, upgrade=upgrade)
    raise ValueError(f"unknown job {kind!r}")


def flush_due(finished: int, remaining: int) -> bool:
    """Whether to send the outcomes not sent yet, with ``remaining`` jobs of the batch to go.

    Each message wakes the parent, which applies it while this worker runs on; but on a busy
    machine each wake-up is also a switch between processes. Sending when as many outcomes
    wait as jobs remain does both: a batch of n jobs sends about log2(n) messages (at half,
    three quarters…), and the parent has only the last few outcomes left to apply when the
    batch ends."""
    return finished >= max(FLUSH_MIN, remaining)


def serve(channel: Channel) -> None:
    reader = RemoteReader(channel)
    machine = Machine(reader)
    channel.send(["ready"])
    while True:
        try:
            request = channel.receive()
        except ChannelClosed:
            return  # the parent is gone or retired us
        _, invalidate, jobs, count = request
        gc.disable()  # collect between batches, not in the middle of one (see Machine._begin)
        forget_changed(machine, reader, invalidate)
        reader.take_jobs(jobs)
        for done in range(1, count + 1):
            job = reader.next_job()
            try:
                outcome = run_job(machine, job)
            except Exception as exc:  # noqa: BLE001 - a bad job fails alone, the worker lives on
                outcome = Outcome(False, None, execution_error("InvalidArgument", f"bad job: {exc}"), 0)
            reader.finish(outcome)
            if flush_due(len(reader.results), count - done):
                reader.send_finished()
        channel.send([*reader.finished_message("done"), int(time.process_time() * 1000)])
        gc.enable()


def main(argv: list[str]) -> None:
    read_fd, write_fd, address_space, cpu_seconds = (int(a) for a in argv)
    channel = Channel(read_fd, write_fd)
    confine({read_fd, write_fd}, Limits(address_space=address_space, cpu_seconds=cpu_seconds))
    serve(channel)


if __name__ == "__main__":
    main(sys.argv[1:])
