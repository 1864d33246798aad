"""Messages between the runtime and its worker processes.

Each message is a 4-byte big-endian length and that many bytes of :mod:`amigos.codec`: plain
data only (None, bool, int, str, bytes, list, tuple, dict, Decimal). Never pickle: a worker is
assumed compromised, and decoding what it sends must not be able to run anything in the parent.
"""

from __future__ import annotations

import os
import select
import struct
from typing import Any

from .. import codec
from ..errors import CodecError

MAX_MESSAGE = 256 << 20
"""Largest message either side accepts (a batch's results, a page of state)."""
MESSAGE_DEPTH = codec.MAX_DEPTH + 8
"""Values nest up to codec.MAX_DEPTH inside a few levels of message structure."""
_HEADER = struct.Struct(">I")


class ChannelClosed(Exception):
    """The other end is gone, sent something malformed, or did not answer in time."""


class Channel:
    """One end of a pair of pipes, carrying codec-encoded messages."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd

    def send(self, message: Any) -> None:
        data = codec.encode(message, max_depth=MESSAGE_DEPTH)
        if len(data) > MAX_MESSAGE:
            raise ChannelClosed(f"message of {len(data)} bytes is over the limit")
        view = memoryview(_HEADER.pack(len(data)) + data)
        try:
            while view:
                view = view[os.write(self.write_fd, view):]
        except OSError as exc:  # BrokenPipeError: the worker died
            raise ChannelClosed(f"write failed: {exc}") from None

    def receive(self, timeout: float | None = None) -> Any:
        """The next message; ``timeout`` seconds without a whole message closes the channel.
        (Workers call it without a timeout: ``select`` is not among their system calls.)"""
        (size,) = _HEADER.unpack(self._read(_HEADER.size, timeout))
        if size > MAX_MESSAGE:
            raise ChannelClosed(f"message of {size} bytes is over the limit")
        data = self._read(size, timeout)
        try:
            return codec.decode(data, max_depth=MESSAGE_DEPTH)
        except (CodecError, TypeError, ValueError) as exc:  # TypeError: an unhashable dict key
            raise ChannelClosed(f"malformed message: {exc}") from None

    def _read(self, n: int, timeout: float | None) -> bytes:
        chunks: list[bytes] = []
        while n:
            if timeout is not None:
                ready, _, _ = select.select([self.read_fd], [], [], timeout)
                if not ready:
                    raise ChannelClosed(f"no answer within {timeout} s")
            try:
                chunk = os.read(self.read_fd, min(n, 1 << 20))
            except OSError as exc:
                raise ChannelClosed(f"read failed: {exc}") from None
            if not chunk:
                raise ChannelClosed("the other end closed the channel")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass
