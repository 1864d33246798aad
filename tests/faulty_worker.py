"""TEST-ONLY worker: the real worker, except that calls to a few magic function names make it
misbehave the way a compromised or crashing worker would. Started by tests through
``WorkerPool(worker_module="faulty_worker")``; the node never imports it.

    crash_worker     the process dies at once (a forbidden system call: seccomp kills it)
    send_garbage     it sends a message that is not a valid reply
    hang             it stops answering
    burn_cpu         it spins outside any gas meter until RLIMIT_CPU kills it
    send_bad_writes  it sends the outcomes finished so far with writes that do not add up
    forge_code       it sends them with a write of the service's code (as if its wall fell)
"""

from __future__ import annotations

import os
import sys

from amigos.vm import worker
from amigos.vm.channel import join_parts

_real_run_job = worker.run_job


def send_with_writes(machine, lengths, joined):  # type: ignore[no-untyped-def]
    """The outcomes finished so far, as if the first one had set one key: ``lengths`` and
    ``joined`` its key and entry (see worker.py)."""
    message = machine.reader.finished_message("results")
    finished = len(message[1])
    machine.reader.channel.send([*message[:5], [1, 0] + [0, 0] * (finished - 1), lengths, joined])


def faulty_run_job(machine, job):  # type: ignore[no-untyped-def]
    name = job[2] if job[0] == "call" else ""
    if name == "crash_worker":
        os.kill(os.getpid(), 9)  # kill(2) is not allowed: seccomp ends the process
    if name == "send_garbage":
        machine.reader.channel.send(["results", "not a list of outcomes"])
    if name == "hang":
        machine.reader.channel.receive()  # waits for a message the parent never sends
    if name == "send_bad_writes":
        send_with_writes(machine, [2, 5], b"abc")  # parts that do not add up
    if name == "forge_code":
        send_with_writes(machine, *join_parts([f"c/{job[1]}".encode(), b"evil = 1"]))
    if name == "burn_cpu":
        n = 0
        while True:
            n += 1
    return _real_run_job(machine, job)


worker.run_job = faulty_run_job

if __name__ == "__main__":
    worker.main(sys.argv[1:])
