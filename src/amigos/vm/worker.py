"""A confined worker process: runs batches of calls for a :class:`~amigos.vm.pool.WorkerPool`.

Started as ``python -m amigos.vm.worker READ_FD WRITE_FD ADDRESS_SPACE CPU_SECONDS``. It imports
everything it will ever need, confines itself (:func:`amigos.vm.confine.confine`: only its two
pipes, no files, no sockets, no processes) and only then reads its first request. Every byte of
state it sees comes over the pipe from the parent, which alone touches the database.

Requests and replies (JSON lists, see :mod:`amigos.vm.channel`; keys, entries and values
are codec bytes carried as text, except the writes, which are an attachment)::

    parent → worker   ["batch", invalidate, jobs, n]   invalidate: None (drop every cache)
                                                       or a list of keys changed elsewhere;
                                                       the batch has n jobs in all
    parent → worker   ["jobs", jobs]                   the rest of the batch's jobs, in chunks
                                                       sent right after the first
    worker → parent   ["get", key]                     parent → worker  ["value", entry | None]
    worker → parent   ["scan", prefix, start, limit]   parent → worker  ["rows", [k, v, k, v…]]
    worker → parent   ["results", results, gas,        the jobs finished since the last
                       failures, events, counts,       message, in order, and what they wrote:
                       lengths, writes]                sent before any read, and when as many
                                                       wait as jobs remain (see flush_due)
    worker → parent   ["done", results, gas, failures, the same for the batch's last jobs;
                       events, counts, lengths,        the batch is over
                       cpu_ms, writes]

``jobs`` is a list of runs of jobs of one kind, each run as columns
(:func:`~amigos.vm.channel.to_columns`: what the jobs share goes once). A job is ``["call",
path, function, args, kwargs, origin, height, time, gas, readonly, received]``, with ``args``
``[packed arg, …]`` and ``kwargs`` ``{name: packed arg}`` or None (:func:`~amigos.vm.channel.pack`),
or ``["deploy", path, source, origin, height, time, gas, upgrade]``.

The finished jobs' outcomes go as columns, one entry per job or only where there is something
to say: ``results`` the packed result of each job (None for a failed one), ``gas`` the gas each
used, ``failures`` ``[index, type, message, line]`` for each failed job, ``index`` counting the
message's jobs from 0, and ``events`` the events, in runs of those that share service, name and
attribute names (a token's transfers all do): ``[service, name, names, indexes, values]``,
``indexes`` the job that emitted each event of the run and ``values`` their attributes' packed
values, event after event. So a batch of calls that return scalars and emit events of one shape
costs each side a few type checks and maps in C per message, not a Python loop per field.

The writes of a message's successful jobs are the attachment ``writes``
(:func:`~amigos.vm.channel.join_parts`, ``lengths`` the length of each part): the sets (key,
entry, key, entry…) job after job, then the deletes (keys) job after job; ``counts`` ``[sets,
deletes, sets, deletes…]`` says how many of each every job (a failed one: none) wrote. The
parent merges them in order and applies them as one, which leaves its state exactly as
applying each job's writes in turn would; a ledger also gets each job's own writes, to hash
them into its receipt.
"""

from __future__ import annotations

import gc
import sys
import time
from collections import deque
from collections.abc import Sequence
from itertools import chain, groupby, repeat
from operator import attrgetter, itemgetter
from typing import Any

from ..errors import execution_error
from . import keys
from .channel import SCALARS, Channel, ChannelClosed, from_columns, join_parts, pack, raw, text, unpack
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
        self.finished: list[Outcome] = []
        """Outcomes not sent yet. They go before any read: the parent must apply their writes
        before it answers (one message for many outcomes keeps a batch cheap)."""

    def finish(self, outcome: Outcome) -> None:
        """Record a finished job; its writes are what later jobs (and reads) see."""
        self.finished.append(outcome)
        writes = outcome.writes
        if outcome.ok and writes:
            if len(self.cache) + len(writes) > CACHE_ENTRIES:
                self.cache.clear()
            self.cache.update(writes)  # large entries leave it when the message is made

    def finished_message(self, kind: str, *extra: Any) -> list[Any]:
        """The ``results`` (or ``done``, with ``extra``) message for the outcomes not sent yet."""
        outcomes, self.finished = self.finished, []
        results, gas, failures, events, counts, lengths, joined = outcomes_to_wire(outcomes)
        if lengths and max(lengths) > CACHE_ITEM_BYTES // 2:  # rare: only then can an entry be too large
            self._forget_large(outcomes)
        return [kind, results, gas, failures, events, counts, lengths, *extra, joined]

    def _forget_large(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            for key, value in outcome.writes.items():
                if not cacheable(key, value):
                    self.cache.pop(key, None)

    def send_finished(self, *requests: list[Any]) -> None:
        """Send the outcomes not sent yet, and ``requests`` after them in the same write."""
        self.channel.send(*([self.finished_message("results")] if self.finished else []), *requests)

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
        if cacheable(key, value):
            self.cache[key] = value


def cacheable(key: bytes, value: bytes | None) -> bool:
    """Whether an entry read or written is small enough to cache (CACHE_ITEM_BYTES)."""
    return value is None or len(key) + len(value) <= CACHE_ITEM_BYTES


_OK, _RESULT, _GAS, _EVENTS, _WRITES = map(attrgetter, ("ok", "result", "gas_used", "events", "writes"))
_SERVICE, _NAME, _ATTRS = itemgetter(0), itemgetter(1), itemgetter(2)
"""An :class:`~amigos.vm.machine.Event`'s fields (it is a tuple)."""


def outcomes_to_wire(outcomes: list[Outcome]) -> list[Any]:
    """The columns of a message for ``outcomes``: ``results, gas, failures, events, counts,
    lengths`` and the attachment (see above). Made by mapping C over the outcomes: no Python
    loop per outcome, for a batch of successes."""
    gas = list(map(_GAS, outcomes))
    writes = list(map(_WRITES, outcomes))
    events = list(map(_EVENTS, outcomes))
    if all(map(_OK, outcomes)):
        results, failures = list(map(_RESULT, outcomes)), []
    else:  # a failed job's result, writes and events are nothing
        results = [outcome.result if outcome.ok else None for outcome in outcomes]
        failures = []
        for index, outcome in enumerate(outcomes):
            if not outcome.ok:
                error = outcome.error
                assert error is not None  # a failed outcome always says why
                failures.append([index, error.type, error.message, error.line])
                writes[index], events[index] = {}, []
    if not SCALARS.issuperset(map(type, results)):
        results = list(map(pack, results))
    counts, lengths, joined = writes_to_wire(writes)
    return [results, gas, failures, events_to_wire(events), counts, lengths, joined]


def writes_to_wire(each: list[dict[bytes, bytes | None]]) -> tuple[list[int], list[int], bytes]:
    """``counts``, ``lengths`` and the attachment for the writes of each job: the sets (key,
    entry, key, entry…) job after job, then the deletes (keys) job after job."""
    pieces = list(chain.from_iterable(chain.from_iterable(map(dict.items, each))))
    if None not in pieces[1::2]:  # no deletes, the common case: in C
        counts = list(chain.from_iterable(zip(map(len, each), repeat(0))))
        return (counts, *join_parts(pieces))
    sets: list[bytes] = []
    deletes: list[bytes] = []
    counts = []
    for writes in each:
        set_count, delete_count = len(sets), len(deletes)
        for key, value in writes.items():
            if value is None:
                deletes.append(key)
            else:
                sets += (key, value)
        counts += ((len(sets) - set_count) // 2, len(deletes) - delete_count)
    return (counts, *join_parts(sets + deletes))


def events_to_wire(each: list[list[Event]]) -> list[list[Any]]:
    """The ``events`` column: the events of each job, in runs of one shape (service, name and
    attribute names), each run's attribute values flat and packed."""
    events = list(chain.from_iterable(each))
    indexes = chain.from_iterable(map(repeat, range(len(each)), map(len, each)))
    attrs = list(map(_ATTRS, events))
    shapes = zip(map(_SERVICE, events), map(_NAME, events), map(tuple, attrs))
    runs = []
    for (service, name, names), run in groupby(zip(shapes, indexes, attrs), key=itemgetter(0)):
        _, run_indexes, run_attrs = zip(*run)
        values = list(chain.from_iterable(map(dict.values, run_attrs)))
        if not SCALARS.issuperset(map(type, values)):
            values = list(map(pack, values))
        runs.append([service, name, names, run_indexes, values])
    return runs


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
        _, path, function, packed_args, packed_kwargs, origin, height, now, gas_limit, readonly, received = job
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
            if flush_due(len(reader.finished), count - done):
                reader.send_finished()
        channel.send(reader.finished_message("done", int(time.process_time() * 1000)))
        gc.enable()


def main(argv: list[str]) -> None:
    read_fd, write_fd, address_space, cpu_seconds = (int(a) for a in argv)
    channel = Channel(read_fd, write_fd)
    confine({read_fd, write_fd}, Limits(address_space=address_space, cpu_seconds=cpu_seconds))
    serve(channel)


if __name__ == "__main__":
    main(sys.argv[1:])
