"""Messages between the runtime and its worker processes.

A message is a JSON list (UTF-8: lists, strs, ints, bools and None, parsed in C), and may end
in one ``bytes`` element, its attachment, which crosses as it is. A frame is two 4-byte
big-endian numbers, the JSON's length and the attachment's (plus one; 0: none), then the JSON,
then the attachment. Service values inside the JSON (arguments, results, event attributes,
state entries read) travel as their canonical :mod:`amigos.codec` bytes, carried as Latin-1
text (:func:`text` and :func:`raw`: one character per byte); bulk bytes (the keys and entries a
batch wrote) go in the attachment instead, joined (:func:`join_parts`), which costs neither side
a JSON escape per byte nor a conversion per entry. Never pickle: a worker is assumed compromised,
and reading what it sends must not be able to run anything in the parent.
"""

from __future__ import annotations

import io
import json
import os
import select
import struct
from collections.abc import Iterator, Sequence
from itertools import repeat
from typing import Any

from .. import codec

MAX_MESSAGE = 256 << 20
"""Largest message either side accepts (a batch's results, a page of state)."""
READ_BYTES = 1 << 16
"""Bytes asked of one read: a pipe's default capacity, and small enough that the buffer comes
from the heap (larger ones are mapped and unmapped by the allocator at each read)."""
_HEADER = struct.Struct(">II")
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False, allow_nan=False)


def text(data: bytes) -> str:
    """Bytes as JSON can carry them (one character per byte)."""
    return data.decode("latin-1")


def raw(carried: object) -> bytes:
    """The bytes :func:`text` made; ValueError if ``carried`` is not such a text."""
    if type(carried) is not str:
        raise ValueError("expected bytes carried as text")
    return carried.encode("latin-1")


def join_parts(parts: Sequence[bytes]) -> tuple[list[int], bytes]:
    """``parts`` as an attachment: their lengths (for the JSON) and their bytes, joined."""
    return list(map(len, parts)), b"".join(parts)


def split_parts(lengths: Any, joined: Any) -> list[bytes]:
    """The parts :func:`join_parts` joined; ValueError unless ``lengths`` (:func:`are_counts`)
    adds up to exactly the bytes of ``joined``."""
    if not are_counts(lengths) or type(joined) is not bytes or sum(lengths) != len(joined):
        raise ValueError("attachment parts that do not add up")
    return list(map(io.BytesIO(joined).read, lengths))  # each read in C, a quarter of what slicing costs


SCALARS = frozenset({str, int, bool, type(None)})
"""What JSON carries exactly as itself."""


_INT = frozenset({int})
_STR = frozenset({str})


def are_counts(values: Any) -> bool:
    """Whether ``values`` is a list of ints (not bools), none negative: what a message's
    lengths, counts, gas and indexes must be (the type checks run in C)."""
    return type(values) is list and _INT.issuperset(map(type, values)) and (not values or min(values) >= 0)


def are_names(values: Any) -> bool:
    """Whether ``values`` is a list of distinct strs: what an event run's attribute names must
    be (the type checks run in C)."""
    return type(values) is list and _STR.issuperset(map(type, values)) and len(set(values)) == len(values)


def is_flat(value: Any) -> bool:
    """A list of scalars or a str-keyed dict of scalars (the type checks run in C: this is on
    every argument, result and event of a batch)."""
    t = type(value)
    if t is list:
        return SCALARS.issuperset(map(type, value))
    return t is dict and _STR.issuperset(map(type, value)) and SCALARS.issuperset(map(type, value.values()))


def pack(value: Any) -> Any:
    """A service value for a message. A str, int, bool or None goes as itself; a list or
    str-keyed dict of those as ``[0, value]``; anything else as ``[1, its codec bytes as text]``.
    Most arguments, results and event attributes are of the first two kinds and cost nothing to
    read back."""
    if type(value) in SCALARS:
        return value
    if is_flat(value):
        return [0, value]
    return [1, text(codec.encode(value))]


def unpack(packed: Any) -> Any:
    """The value :func:`pack` packed; ValueError (or CodecError) for anything else."""
    if type(packed) in SCALARS:
        return packed
    if type(packed) is not list or len(packed) != 2:
        raise ValueError("malformed value")
    form, value = packed
    if form == 1:
        return codec.decode(raw(value))
    if form != 0 or not is_flat(value):  # a JSON object's keys are str
        raise ValueError("malformed value")
    return value


def to_columns(rows: Sequence[Sequence[Any]]) -> list[Any]:
    """``rows`` (all of one length) as ``[n, columns]``, where a column of scalars that are all
    equal (and of one type: ``1 == True``) goes as a list of one entry. The fields a batch's
    calls share (service, function, signer, block, gas) then cross once, not once a call."""
    columns = []
    for column in map(list, zip(*rows)):
        kinds = set(map(type, column))
        same = len(kinds) == 1 and kinds <= SCALARS and column.count(column[0]) == len(column)
        columns.append(column[:1] if same else column)
    return [len(rows), columns]


def from_columns(packed: Any) -> Iterator[tuple[Any, ...]]:
    """The rows :func:`to_columns` packed."""
    n, columns = packed
    return zip(*(column if len(column) == n else repeat(column[0], n) for column in columns))


def _no_floats(token: str) -> None:
    raise ValueError(f"no floats in messages ({token[:20]})")


class ChannelClosed(Exception):
    """The other end is gone, sent something malformed, or did not answer in time."""


class Channel:
    """One end of a pair of pipes, carrying JSON messages.

    The parent's end has a ``timeout``: it waits at most that long for the worker, and a send
    that finds the pipe full reads whatever the worker sends meanwhile (kept for the next
    :meth:`receive`). So the parent never blocks on a write while the worker blocks on one to
    it, whatever the size of the messages, and the worker's end (no timeout: ``select`` is not
    among its system calls) can simply block.
    """

    def __init__(self, read_fd: int, write_fd: int, timeout: float | None = None) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.timeout = timeout
        self.inbox = bytearray()
        """Bytes read and not yet received: one read often brings more than one message."""
        if timeout is not None:
            os.set_blocking(write_fd, False)

    def send(self, *messages: Any) -> None:
        """Send ``messages`` (lists; one that ends in ``bytes`` sends them as its attachment) in
        order, in one write (the other end wakes once for all)."""
        frames = []
        for message in messages:
            attachment = message[-1] if message and type(message[-1]) is bytes else None
            data = _ENCODER.encode(message if attachment is None else message[:-1]).encode("utf-8", "surrogatepass")
            size = len(data) + (0 if attachment is None else len(attachment))
            if size > MAX_MESSAGE:
                raise ChannelClosed(f"message of {size} bytes is over the limit")
            if attachment is None:
                frames += (_HEADER.pack(len(data), 0), data)
            else:
                frames += (_HEADER.pack(len(data), len(attachment) + 1), data, attachment)
        view = memoryview(b"".join(frames))
        try:
            while view:
                try:
                    view = view[os.write(self.write_fd, view):]
                except BlockingIOError:  # the parent's end: read while the pipe is full
                    self._wait_for_room()
        except OSError as exc:  # BrokenPipeError: the worker died
            raise ChannelClosed(f"write failed: {exc}") from None

    def _wait_for_room(self) -> None:
        readable, writable, _ = select.select([self.read_fd], [self.write_fd], [], self.timeout)
        if readable:
            self._fill(None)
            if len(self.inbox) > 2 * MAX_MESSAGE:
                raise ChannelClosed("the other end sends without reading")
        elif not writable:
            raise ChannelClosed(f"no room to write within {self.timeout} s")

    def receive(self, timeout: float | None = None) -> Any:
        """The next message; ``timeout`` (by default the channel's) seconds without a whole
        message closes the channel."""
        wait = self.timeout if timeout is None else timeout
        size, attached = _HEADER.unpack(self._take(_HEADER.size, wait))
        total = size + max(attached - 1, 0)
        if total > MAX_MESSAGE:
            raise ChannelClosed(f"message of {total} bytes is over the limit")
        data = self._take(size, wait)
        try:
            message = json.loads(data.decode("utf-8", "surrogatepass"), parse_float=_no_floats, parse_constant=_no_floats)
        except (ValueError, RecursionError) as exc:
            raise ChannelClosed(f"malformed message: {exc}") from None
        if attached:
            if type(message) is not list:
                raise ChannelClosed("malformed message: an attachment to what is not a list")
            message.append(self._take(attached - 1, wait))
        return message

    def _take(self, n: int, timeout: float | None) -> bytes:
        while len(self.inbox) < n:
            self._fill(timeout)
        data = bytes(self.inbox[:n])
        del self.inbox[:n]
        return data

    def _fill(self, timeout: float | None) -> None:
        """Read what the pipe holds (waiting for something at most ``timeout`` seconds)."""
        if timeout is not None:
            ready, _, _ = select.select([self.read_fd], [], [], timeout)
            if not ready:
                raise ChannelClosed(f"no answer within {timeout} s")
        try:
            chunk = os.read(self.read_fd, READ_BYTES)
        except OSError as exc:
            raise ChannelClosed(f"read failed: {exc}") from None
        if not chunk:
            raise ChannelClosed("the other end closed the channel")
        self.inbox += chunk

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass
