"""The process wall: a confined worker cannot open, connect, fork, exec or outgrow its limits.

Each test starts tests/confined_worker.py (a test-only entry point), which confines itself and
then runs raw, unchecked Python sent over its pipe: these tests assume the language wall has
already fallen and check that the process wall alone holds.

Two outcomes count as "refused", and each attack has exactly one expected: calls that plain
interpreter paths make (open, stat, ...) fail with EPERM and the worker carries on; calls that
only an escape would make (socket, fork, exec, ...) kill the worker with SIGSYS.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import select
import signal
import struct
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from amigos.errors import SandboxUnavailable
from amigos.vm import confine as confine_mod
from amigos.vm.confine import ALLOW, KILL, POLICY, Limits, bwrap_command, build_filter

ARCH: confine_mod.Arch | None
try:
    ARCH, UNAVAILABLE = confine_mod.current_arch(), ""
except SandboxUnavailable as exc:  # pragma: no cover - depends on the machine
    ARCH, UNAVAILABLE = None, str(exc)

needs_seccomp = pytest.mark.skipif(ARCH is None, reason=UNAVAILABLE)

WORKER = Path(__file__).resolve().parent / "confined_worker.py"
MiB = 1 << 20
TIMEOUT = 20.0


class Worker:
    """A confined worker process and its framed pipe protocol."""

    def __init__(self, limits: Limits = Limits(address_space=512 * MiB, cpu_seconds=5),
                 wrap: Any = None, **popen: Any) -> None:
        argv = [sys.executable, str(WORKER), json.dumps(asdict(limits))]
        self.proc = subprocess.Popen(
            wrap(argv) if wrap else argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            **popen,
        )
        self.pid = self.proc.pid
        ready = self._read()
        assert ready == {"ready": True}, (ready, self.stderr())

    def _read_exact(self, n: int) -> bytes | None:
        data = b""
        fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        deadline = time.monotonic() + TIMEOUT
        while len(data) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("worker did not answer")
            chunk = os.read(fd, n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def _read(self) -> dict[str, Any] | None:
        header = self._read_exact(4)
        if header is None:
            return None
        body = self._read_exact(struct.unpack(">I", header)[0])
        return None if body is None else json.loads(body)

    def run(self, source: str) -> dict[str, Any] | None:
        """The worker's reply to ``source``, or None if the worker died running it."""
        data = source.encode()
        try:
            self.proc.stdin.write(struct.pack(">I", len(data)) + data)  # type: ignore[union-attr]
        except BrokenPipeError:
            return None
        return self._read()

    def died_of(self) -> int:
        """Wait for the worker to end; the signal that ended it (bwrap reports 128 + sig)."""
        code = self.proc.wait(timeout=TIMEOUT)
        return -code if code < 0 else code - 128

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        assert self.proc.stderr is not None
        data: bytes = self.proc.stderr.read()
        return data.decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=TIMEOUT)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe:
                pipe.close()


@pytest.fixture
def worker() -> Any:
    started: list[Worker] = []

    def start(*args: Any, **kwargs: Any) -> Worker:
        w = Worker(*args, **kwargs)
        started.append(w)
        return w

    yield start
    for w in started:
        w.close()


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


# --- Attacks ---------------------------------------------------------------------------------

REFUSED_WITH_EPERM = {
    "open for writing": "open('/tmp/amigos-confine-escape', 'w')",
    "read /etc/passwd": "open('/etc/passwd').read()",
    "list a directory": "os.listdir('/')",
    "stat a file": "os.stat('/etc/passwd')",
    "import an unloaded module": "assert 'pydoc_data' not in sys.modules\nimport pydoc_data.topics",
}

KILLED_WITH_SIGSYS = {
    "socket": "socket.socket()",
    "socketpair": "socket.socketpair()",
    "fork": "os.fork()",
    "execv": "os.execv(sys.executable, [sys.executable, '-c', 'pass'])",
    "subprocess.run": "subprocess.run(['/bin/true'])",
    "raise a limit back": "resource.setrlimit(resource.RLIMIT_AS, (-1, -1))",
    "signal another process": "os.kill(1, 0)",
    "duplicate a descriptor": "os.dup(0)",
    "raw syscall through ctypes": "ctypes.CDLL(None).syscall(39 if os.uname().machine == 'x86_64' else 172)",
}


@needs_seccomp
@pytest.mark.parametrize("source", REFUSED_WITH_EPERM.values(), ids=REFUSED_WITH_EPERM.keys())
def test_refused_with_eperm_and_worker_carries_on(worker: Any, source: str) -> None:
    w = worker()
    reply = w.run(f"import os, sys\n{source}")
    assert reply is not None, w.stderr()
    assert reply["ok"] is False
    if "import" in source:
        assert reply["type"] == "ModuleNotFoundError"
    else:
        assert reply["type"] == "PermissionError" and reply["errno"] == errno.EPERM, reply
    assert w.run("result = 6 * 7") == {"ok": True, "result": "42"}
    assert not Path("/tmp/amigos-confine-escape").exists()


@needs_seccomp
@pytest.mark.parametrize("source", KILLED_WITH_SIGSYS.values(), ids=KILLED_WITH_SIGSYS.keys())
def test_killed_with_sigsys(worker: Any, source: str) -> None:
    w = worker()
    reply = w.run(f"import os, sys, socket, subprocess, resource, ctypes\n{source}")
    assert reply is None, reply
    assert w.died_of() == signal.SIGSYS


def _unloaded_library(pid: int) -> str | None:
    """A shared object on this machine that the worker has not loaded (loading it again
    would just return the loaded copy without opening anything)."""
    import importlib

    mapped = Path(f"/proc/{pid}/maps").read_text()
    for name in ("_csv", "_bisect", "_heapq", "_random", "_statistics", "unicodedata", "cmath"):
        try:
            path: str | None = getattr(importlib.import_module(name), "__file__", None)
        except ImportError:
            continue
        if path and path.endswith(".so") and os.path.realpath(path) not in mapped:
            return path
    return None


@needs_seccomp
def test_ctypes_cannot_load_a_library(worker: Any) -> None:
    import ctypes

    w = worker()
    lib = _unloaded_library(w.pid)
    if lib is None:
        pytest.skip("no shared object to try loading")
    ctypes.CDLL(lib)  # loads fine unconfined
    reply = w.run(f"import ctypes\nctypes.CDLL({lib!r})")
    assert reply is not None and reply["type"] == "OSError", reply
    assert "not permitted" in reply["message"]


@needs_seccomp
@pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 ABIs")
def test_other_abis_are_killed(worker: Any) -> None:
    # x32 calls carry bit 30 in the number; i386 calls (int 0x80) carry another audit arch.
    # Numbers of those ABIs mean different calls, so they must never match the allowlist.
    x32 = worker()
    assert x32.run("import ctypes\nctypes.CDLL(None).syscall(0x40000000 | 39)") is None
    assert x32.died_of() == signal.SIGSYS

    # mov eax, 20 (i386 getpid); int 0x80; ret
    i386 = (
        "import ctypes, mmap\n"
        "m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n"
        "m.write(b'\\xb8\\x14\\x00\\x00\\x00\\xcd\\x80\\xc3')\n"
        "result = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))()\n"
    )
    unconfined: dict[str, Any] = {}
    try:
        probe = subprocess.run([sys.executable, "-c", i386 + "print(result)"], capture_output=True,
                               timeout=TIMEOUT)
    except subprocess.TimeoutExpired:  # pragma: no cover
        pytest.fail("i386 probe hung")
    unconfined["ok"] = probe.returncode == 0 and probe.stdout.strip().isdigit()
    if not unconfined["ok"]:
        pytest.skip("this kernel has no i386 emulation")
    w = worker()
    assert w.run(i386) is None
    assert w.died_of() == signal.SIGSYS


# --- What the outside sees ----------------------------------------------------------------------


@needs_seccomp
def test_status_shows_no_new_privs_and_seccomp_filter(worker: Any) -> None:
    status = _status(worker().pid)
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"


@needs_seccomp
def test_limits_are_set_and_visible(worker: Any) -> None:
    w = worker(Limits(address_space=300 * MiB, cpu_seconds=7))
    limits = {}
    for line in Path(f"/proc/{w.pid}/limits").read_text().splitlines()[1:]:
        parts = line[26:].split()
        limits[line[:26].strip()] = (parts[0], parts[1])
    assert limits["Max address space"] == (str(300 * MiB),) * 2
    assert limits["Max cpu time"] == ("7", "8")
    assert limits["Max open files"] == ("3", "3")
    assert limits["Max file size"] == ("0", "0")
    assert limits["Max processes"] == ("0", "0")
    assert limits["Max core file size"] == ("0", "0")


@needs_seccomp
def test_only_the_pipes_stay_open(worker: Any, tmp_path: Path) -> None:
    secret = tmp_path / "inherited"
    secret.write_text("inherited secret")
    with open(secret) as f:
        w = worker(pass_fds=(f.fileno(),))
    assert sorted(int(fd) for fd in os.listdir(f"/proc/{w.pid}/fd")) == [0, 1, 2]


# --- Resource limits ---------------------------------------------------------------------------


@needs_seccomp
def test_memory_limit_fails_the_allocation_only(worker: Any) -> None:
    limits_before = resource.getrlimit(resource.RLIMIT_AS)
    w = worker(Limits(address_space=256 * MiB, cpu_seconds=5))
    reply = w.run("x = bytearray(512 * 1024 * 1024)")
    assert reply is not None and reply["type"] == "MemoryError", reply
    reply = w.run("x = [0] * (64 * 1024 * 1024)")
    assert reply is not None and reply["type"] == "MemoryError", reply
    # The worker carries on, and memory within the limit is still there.
    assert w.run("result = len(bytearray(64 * 1024 * 1024))") == {"ok": True, "result": str(64 * MiB)}
    # The parent is untouched, and so is a fresh worker.
    assert resource.getrlimit(resource.RLIMIT_AS) == limits_before
    assert worker().run("result = 1") == {"ok": True, "result": "1"}


@needs_seccomp
def test_a_killed_worker_takes_nobody_with_it(worker: Any) -> None:
    a, b = worker(), worker()
    assert a.run("import socket\nsocket.socket()") is None
    assert a.died_of() == signal.SIGSYS
    assert b.run("result = 'still here'") == {"ok": True, "result": "'still here'"}


@needs_seccomp
def test_cpu_limit_kills_the_worker(worker: Any) -> None:
    w = worker(Limits(address_space=256 * MiB, cpu_seconds=1))
    assert w.run("while True:\n    pass") is None
    assert w.died_of() in (signal.SIGXCPU, signal.SIGKILL)


# --- The filter itself ---------------------------------------------------------------------


def _evaluate(prog: list[tuple[int, int, int, int]], arch: int, nr: int, arg0: int = 0) -> int:
    """Run a seccomp program on one call, as the kernel would (only the opcodes it uses)."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = prog[pc]
        if code == 0x20:
            acc = struct.unpack_from("=I", data, k)[0]
            pc += 1
        elif code == 0x15:
            pc += 1 + (jt if acc == k else jf)
        elif code == 0x06:
            return k
        else:  # pragma: no cover
            raise AssertionError(f"unexpected opcode {code:#x}")


@pytest.mark.parametrize("arch", [confine_mod.X86_64, confine_mod.AARCH64], ids=lambda a: a.name)
def test_filter_program_matches_the_policy(arch: confine_mod.Arch) -> None:
    prog = build_filter({0, 1, 2}, arch)
    numbers = {name: nrs[arch.column] for name, nrs in confine_mod._NUMBERS.items()}
    present = [nr for nr in numbers.values() if nr is not None]
    assert len(present) == len(set(present)), "two calls share a number"
    for name, action in POLICY.items():
        nr = numbers[name]
        if nr is None:
            continue
        got = _evaluate(prog, arch.audit_arch, nr, arg0=1)
        if action == ALLOW:
            assert got == confine_mod.RET_ALLOW, name
        elif action == KILL:
            assert got == confine_mod.RET_KILL_PROCESS, name
        else:
            assert isinstance(action, int)
            assert got == confine_mod.RET_ERRNO | action, name
    listed = set(present)
    for nr in range(1024):  # everything not listed is killed
        if nr not in listed:
            assert _evaluate(prog, arch.audit_arch, nr) == confine_mod.RET_KILL_PROCESS, nr
    read, write = numbers["read"], numbers["write"]
    assert read is not None and write is not None
    for fd in (0, 1, 2):
        assert _evaluate(prog, arch.audit_arch, read, fd) == confine_mod.RET_ALLOW
    for fd in (3, 4, 255, 1 << 31):
        assert _evaluate(prog, arch.audit_arch, write, fd) == confine_mod.RET_ERRNO | errno.EBADF
    # A call through another ABI is killed whatever its number.
    for other in (0x40000003, 0xC00000B7 if arch.name == "x86_64" else 0xC000003E):
        assert _evaluate(prog, other, read, 0) == confine_mod.RET_KILL_PROCESS
    assert _evaluate(prog, arch.audit_arch, 0x40000000 | read, 0) == confine_mod.RET_KILL_PROCESS


def _header_numbers(path: Path) -> dict[str, int]:
    """``__NR_name`` numbers from a kernel header, following ``#define __NR_x __NR3264_x``."""
    macros: dict[str, str] = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "#define" and parts[1].startswith("__NR"):
            macros[parts[1]] = parts[2]
    numbers: dict[str, int] = {}
    for macro, value in macros.items():
        for _ in range(3):
            value = macros.get(value, value)
        if macro.startswith("__NR_") and value.isdigit():
            numbers[macro[len("__NR_") :]] = int(value)
    return numbers


@pytest.mark.parametrize(
    "column,header",
    [(0, "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"), (1, "/usr/include/asm-generic/unistd.h")],
    ids=["x86_64", "aarch64"],
)
def test_syscall_numbers_match_the_kernel_headers(column: int, header: str) -> None:
    if not Path(header).exists():
        pytest.skip(f"{header} not installed")
    known = _header_numbers(Path(header))
    for name, nrs in confine_mod._NUMBERS.items():
        assert nrs[column] == known.get(name), name


def test_unsupported_architecture_is_refused_before_anything_changes(tmp_path: Path) -> None:
    # In a child process: were the check broken, confine() would lock up the test run itself.
    extra = tmp_path / "extra"
    extra.write_text("")
    script = (
        "import os, platform, sys\n"
        "from amigos.errors import SandboxUnavailable\n"
        "from amigos.vm.confine import Limits, confine\n"
        "platform.machine = lambda: 'riscv64'\n"
        f"fd = os.open({str(extra)!r}, os.O_RDONLY)\n"
        "try:\n    confine({0, 1, 2}, Limits())\n"
        "except SandboxUnavailable as exc:\n    print(exc)\n"
        "os.fstat(fd)\n"  # still open: nothing was closed
        "open(os.devnull, 'w').close()\n"  # and no filter installed
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr
    assert "no seccomp policy for riscv64" in out.stdout


# --- Namespaces -------------------------------------------------------------------------------

TESTS = str(Path(__file__).resolve().parent)


def _bwrap_or_skip() -> Any:
    wrap = bwrap_command(["true"], readonly=[TESTS])
    if wrap is None:
        import shutil

        if shutil.which("bwrap") is None:
            pytest.skip("bwrap is not installed (Debian package bubblewrap)")
        pytest.skip("bwrap is installed but cannot create namespaces here")
    return lambda argv: bwrap_command(argv, readonly=[TESTS])


def test_bwrap_namespaces_hide_network_processes_and_files(tmp_path: Path) -> None:
    wrap = _bwrap_or_skip()
    outside = tmp_path / "outside.txt"
    outside.write_text("not for the worker")
    probe = (
        "import json, os, socket\n"
        f"try:\n    open({TESTS!r} + '/written', 'w')\n    ro = False\n"
        "except OSError as e:\n    ro = e.errno == 30\n"
        "print(json.dumps({'pid': os.getpid(), 'uid': os.getuid(), 'ifaces': [n for _, n in socket.if_nameindex()],"
        f" 'outside': os.path.exists({str(outside)!r}), 'readonly': ro,"
        " 'procs': sorted(int(p) for p in os.listdir('/proc') if p.isdigit())}))\n"
    )
    out = subprocess.run(wrap([sys.executable, "-c", probe]), capture_output=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["ifaces"] == ["lo"]  # a fresh net namespace: no way out
    assert seen["uid"] == 65534  # nobody, in a user namespace of its own
    assert seen["pid"] <= 3 and max(seen["procs"]) <= 3  # a fresh pid namespace
    assert not seen["outside"]  # only the interpreter and import path are visible
    assert seen["readonly"]  # and read-only


@needs_seccomp
def test_confined_worker_inside_bwrap(worker: Any) -> None:
    wrap = _bwrap_or_skip()
    w = worker(wrap=wrap)
    # bwrap (pid 1 inside) starts the worker as its child: find the worker's host pid.
    pids = [w.pid]
    for pid in pids:
        for task in os.listdir(f"/proc/{pid}/task"):
            pids += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    inner = [p for p in pids if _status(p)["Name"].startswith("python")]
    assert len(inner) == 1, [(_status(p)["Name"], p) for p in pids]
    status = _status(inner[0])
    assert status["Seccomp"] == "2" and status["NoNewPrivs"] == "1"
    assert len(status["NSpid"].split()) == 2  # it lives in a pid namespace of its own
    assert int(status["CapEff"], 16) == 0  # no capabilities, even if the test runs as root
    for ns in ("user", "mnt", "pid", "net", "ipc", "uts"):
        assert os.readlink(f"/proc/{inner[0]}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
    assert w.run("result = sum(range(10))") == {"ok": True, "result": "45"}
    assert (w.run("open('/etc/passwd')") or {}).get("type") == "PermissionError"
    assert w.run("import socket\nsocket.socket()") is None
    assert w.died_of() == signal.SIGSYS
