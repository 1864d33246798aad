"""Checking a block's signatures in a helper process, ahead of the ledger that needs them.

A node's sequencer applies a block one transaction at a time, and an Ed25519 check (about 50 µs)
is a third of what each costs it. PyNaCl lets go of the GIL while it verifies, but a thread of
the node that verified would wait for the GIL again after each signature (the sequencer holds it
for milliseconds at a time), so the checks move to a process of their own: the ledger hands it a
whole block's signatures at once, it checks them in order and streams back one verdict byte
each, and by the time the ledger's ante checks reach a transaction its verdict is mostly there.
On two cores the signatures cost the sequencer next to nothing.

Wire (the helper's stdin and stdout): the parent sends a batch, ``count:u32`` then ``count`` times
``public key (32) · signature (64) · length:u32 · message``; the helper reads it whole (so the
parent's write never waits on the checks), then answers with ``count`` bytes, 1 for a good
signature and 0 for a bad one, sent a few at a time as it goes.

The helper runs only this module's loop over bytes from its parent, confined like a sandbox
worker (:func:`amigos.vm.confine.confine`: its two pipes and nothing else) since the bytes are
the public's. If it cannot start or dies, every signature is checked in-process instead: the
verdicts are the same either way, only slower.
"""

from __future__ import annotations

import os
import select
import struct
import subprocess
import sys
from collections.abc import Sequence
from typing import BinaryIO

from ..crypto.keys import SIGNATURE_SIZE, verify_signature

FIRST_ANSWER = 8
"""Verdicts in the helper's first answer to a batch: few, so the ledger can start soon."""
ANSWER = 32
"""Verdicts in each further answer."""
ANSWER_TIMEOUT = 10.0
"""Seconds the helper may take to read a batch or send its next verdicts (a batch of 2,000
takes a tenth of that); past them it counts as dead, and the rest is checked in-process."""
_U32 = struct.Struct(">I")
Signed = tuple[bytes, bytes, bytes]
"""``(public key, message, signature)``."""


class SignatureVerifier:
    """A helper process that checks batches of signatures (started on first use)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._pending: Verdicts | None = None

    def verify_ahead(self, batch: Sequence[Signed]) -> Verdicts:
        """Start checking ``batch``; the verdicts are read as they are asked for. Only one
        batch is in flight: starting another first reads what is left of the previous."""
        if self._pending is not None:
            self._pending.read_all()
        process = self._running()
        verdicts = Verdicts(self, batch, process)
        self._pending = verdicts
        return verdicts

    def _running(self) -> subprocess.Popen[bytes] | None:
        if self._process is not None and self._process.poll() is None:
            return self._process
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, env={"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
                start_new_session=True,
            )
        except OSError:
            self._process = None
        return self._process

    def _failed(self) -> None:
        """The helper broke: stop it; the next batch starts a new one."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def close(self) -> None:
        if self._process is not None:
            self._process.stdin.close()  # type: ignore[union-attr]
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process.stdout.close()  # type: ignore[union-attr]
            self._process = None


class Verdicts:
    """Whether each signature of a batch is good, in batch order: ``verdicts[i]`` waits for the
    helper's answer about signature ``i`` (or checks it in-process if the helper failed)."""

    def __init__(self, owner: SignatureVerifier, batch: Sequence[Signed], process: subprocess.Popen[bytes] | None) -> None:
        self.owner = owner
        self.batch = batch
        self.known = bytearray()
        self.process = process
        if process is not None:
            try:
                self._send(process)
            except OSError:
                self._give_up()

    def _send(self, process: subprocess.Popen[bytes]) -> None:
        out = bytearray(_U32.pack(len(self.batch)))
        for public_key, message, signature in self.batch:
            if len(public_key) != 32 or len(signature) != SIGNATURE_SIZE:  # a bad verdict either way
                public_key, signature = bytes(32), bytes(SIGNATURE_SIZE)
            out += public_key + signature + _U32.pack(len(message)) + message
        assert process.stdin is not None
        fd = process.stdin.fileno()
        os.set_blocking(fd, False)
        view = memoryview(out)
        while view:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:  # the helper reads the batch whole before it checks any
                if not select.select([], [fd], [], ANSWER_TIMEOUT)[1]:
                    raise OSError("the signature verifier does not read") from None

    def __getitem__(self, index: int) -> bool:
        while index >= len(self.known):
            if not self._read():
                break
        if index < len(self.known):
            return self.known[index] == 1
        public_key, message, signature = self.batch[index]
        return verify_signature(public_key, message, signature)

    def _read(self) -> bool:
        """Take the verdicts the helper has sent; False once there is no helper to ask."""
        if self.process is None:
            return False
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()  # read raw: a buffer would hide what select sees
        try:
            ready = select.select([fd], [], [], ANSWER_TIMEOUT)[0]
            chunk = os.read(fd, len(self.batch) - len(self.known)) if ready else b""
        except (OSError, ValueError):
            chunk = b""
        if not chunk or any(byte > 1 for byte in chunk):
            self._give_up()
            return False
        self.known += chunk
        if len(self.known) == len(self.batch) and self.owner._pending is self:
            self.owner._pending = None
        return True

    def _give_up(self) -> None:
        """Check what is left in-process, and retire the helper (its pipe is out of step)."""
        self.process = None
        if self.owner._pending is self:
            self.owner._pending = None
        self.owner._failed()

    def read_all(self) -> None:
        while len(self.known) < len(self.batch) and self._read():
            pass


# --------------------------------------------------------------------------- the helper


def serve(read_fd: int, write_fd: int) -> None:
    """Answer batches until the parent closes the pipe."""
    reader = os.fdopen(read_fd, "rb")
    while True:
        batch = read_batch(reader)
        if batch is None:
            return
        verdicts = bytearray()
        due = FIRST_ANSWER
        for public_key, message, signature in batch:
            verdicts.append(verify_signature(public_key, message, signature))
            if len(verdicts) == due:
                os.write(write_fd, verdicts)  # at most a pipe's atomic write: never partial
                verdicts, due = bytearray(), ANSWER
        if verdicts:
            os.write(write_fd, verdicts)


def read_batch(reader: BinaryIO) -> list[Signed] | None:
    """The next batch from the parent; None once it closed the pipe (or sent half a batch)."""
    head = reader.read(4)
    if len(head) < 4:
        return None
    batch = []
    for _ in range(_U32.unpack(head)[0]):
        fixed = reader.read(32 + SIGNATURE_SIZE + 4)
        if len(fixed) < 32 + SIGNATURE_SIZE + 4:
            return None
        (length,) = _U32.unpack_from(fixed, 32 + SIGNATURE_SIZE)
        message = reader.read(length)
        if len(message) < length:
            return None
        batch.append((fixed[:32], message, fixed[32:32 + SIGNATURE_SIZE]))
    return batch


def main() -> None:
    from ..vm.confine import Limits, confine

    try:
        confine({0, 1}, Limits(address_space=1 << 30, cpu_seconds=1 << 30))
    except Exception:  # noqa: BLE001 - no sandbox here: the loop below runs no one else's code
        pass
    serve(0, 1)


if __name__ == "__main__":
    main()
