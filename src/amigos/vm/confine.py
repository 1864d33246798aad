"""Confine the current process before it runs untrusted code: the process wall of the sandbox.

A worker process calls :func:`confine` once, after it has imported everything it will ever
need and before it reads the first service from its pipe. From then on it can only compute,
use the memory its limits allow, and talk over the pipes it kept:

1. every descriptor except ``keep_fds`` is closed, so nothing inherited stays reachable;
2. resource limits cap memory (``RLIMIT_AS``), CPU seconds (``RLIMIT_CPU``), new descriptors
   (``RLIMIT_NOFILE``), file writes (``RLIMIT_FSIZE``), processes (``RLIMIT_NPROC``) and core
   dumps (``RLIMIT_CORE``); hard limits equal soft ones so they cannot be raised back;
3. ``PR_SET_NO_NEW_PRIVS`` makes any later ``execve`` unable to gain privileges (and lets an
   unprivileged process install a filter at all);
4. a seccomp-BPF filter, deny by default, allows only the system calls that running Python
   over the kept pipes needs (see :data:`POLICY`).

The filter is a small BPF program assembled here from ``struct sock_filter`` records and
installed through the ``seccomp`` system call via :mod:`ctypes`, so no compiled dependency is
needed. Only 64-bit x86_64 and aarch64 are supported; elsewhere :func:`confine` raises
:class:`~amigos.errors.SandboxUnavailable` instead of running unconfined.

:func:`bwrap_command` additionally wraps a worker command in bubblewrap (fresh mount, pid, net,
ipc and uts namespaces, no network, a read-only view of just the interpreter) where bubblewrap
is installed and works.

Observable from outside: ``/proc/PID/status`` of a confined worker shows ``NoNewPrivs: 1`` and
``Seccomp: 2``; ``/proc/PID/limits`` shows the limits.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import platform
import resource
import shutil
import struct
import subprocess
import sys
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from ..errors import SandboxUnavailable

# --- Limits -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """Resource limits of one confined worker."""

    address_space: int = 1 << 30
    """``RLIMIT_AS`` in bytes: the whole virtual address space, interpreter included. An
    allocation past it fails (Python raises ``MemoryError``); nothing else is affected."""

    cpu_seconds: int = 10
    """``RLIMIT_CPU``: at this many CPU seconds the kernel sends ``SIGXCPU`` (which kills the
    worker), one second later ``SIGKILL``. A backstop: gas and the pool's wall clock come first."""

    def __post_init__(self) -> None:
        if self.address_space <= 0 or self.cpu_seconds <= 0:
            raise ValueError("limits must be positive")


# --- What the filter allows --------------------------------------------------------------

ALLOW = "allow"
"""Run the system call."""
KILL = "kill"
"""Kill the whole worker at once (``SECCOMP_RET_KILL_PROCESS``; the parent sees ``SIGSYS``)."""

# System call numbers of the two supported 64-bit ABIs (asm/unistd_64.h for x86_64,
# asm-generic/unistd.h for aarch64). ``None``: the call does not exist on that architecture.
#                  name              x86_64 aarch64
_NUMBERS: dict[str, tuple[int | None, int | None]] = {
    "read": (0, 63),
    "write": (1, 64),
    "close": (3, 57),
    "mmap": (9, 222),
    "munmap": (11, 215),
    "mremap": (25, 216),
    "brk": (12, 214),
    "madvise": (28, 233),
    "mprotect": (10, 226),
    "futex": (202, 98),
    "clock_gettime": (228, 113),
    "clock_getres": (229, 114),
    "gettimeofday": (96, 169),
    "rt_sigaction": (13, 134),
    "rt_sigprocmask": (14, 135),
    "rt_sigreturn": (15, 139),
    "exit": (60, 93),
    "exit_group": (231, 94),
    "open": (2, None),
    "openat": (257, 56),
    "openat2": (437, 437),
    "creat": (85, None),
    "stat": (4, None),
    "lstat": (6, None),
    "fstat": (5, 80),
    "newfstatat": (262, 79),
    "statx": (332, 291),
    "access": (21, None),
    "faccessat": (269, 48),
    "faccessat2": (439, 439),
    "readlink": (89, None),
    "readlinkat": (267, 78),
    "getcwd": (79, 17),
    "ioctl": (16, 29),
    "lseek": (8, 62),
    "getrandom": (318, 278),
}

PIPE_IO = frozenset({"read", "write"})
"""Allowed only on a kept descriptor; on any other the call fails with ``EBADF``, exactly as
it would on a closed descriptor (there are no others, but the rule does not rely on that)."""

POLICY: dict[str, str | int] = {
    # Pipe I/O (restricted to the kept descriptors, see PIPE_IO). close is harmless: a worker
    # can only close its own pipes, which ends its own usefulness and nothing else.
    "read": ALLOW,
    "write": ALLOW,
    "close": ALLOW,
    # Memory: malloc grows with brk and mmap, realloc of big blocks uses mremap, free trims with
    # munmap and madvise; mprotect is allocator bookkeeping. RLIMIT_AS bounds all of them.
    "mmap": ALLOW,
    "munmap": ALLOW,
    "mremap": ALLOW,
    "brk": ALLOW,
    "madvise": ALLOW,
    "mprotect": ALLOW,
    # Locks. The worker runs one thread, so futex should never block, but the interpreter's
    # locks may still call it; it only ever affects this process's own memory.
    "futex": ALLOW,
    # Clock reads go through the vDSO, but fall back to real system calls on clock sources the
    # vDSO cannot read (some virtual machines). Time is no secret; determinism is the language
    # wall's business, not this one's.
    "clock_gettime": ALLOW,
    "clock_getres": ALLOW,
    "gettimeofday": ALLOW,
    # Signals: the interpreter restores its handlers at exit, and a handled signal must be able
    # to return. None of these reach another process (kill and tgkill are not allowed).
    "rt_sigaction": ALLOW,
    "rt_sigprocmask": ALLOW,
    "rt_sigreturn": ALLOW,
    "exit": ALLOW,
    "exit_group": ALLOW,
    # Calls that plain interpreter paths make on their own and handle when they fail: a lazy
    # import stats and opens files, traceback formatting (linecache) stats and opens the source,
    # open() probes isatty (ioctl) and the position (lseek). They fail with an error instead of
    # killing, so such a path degrades (ModuleNotFoundError, a traceback without source lines)
    # rather than crashing the worker. Opening anything, for reading or writing, is refused.
    "open": errno.EPERM,
    "openat": errno.EPERM,
    "openat2": errno.EPERM,
    "creat": errno.EPERM,
    "stat": errno.EPERM,
    "lstat": errno.EPERM,
    "fstat": errno.EPERM,
    "newfstatat": errno.EPERM,
    "statx": errno.EPERM,
    "access": errno.EPERM,
    "faccessat": errno.EPERM,
    "faccessat2": errno.EPERM,
    "readlink": errno.EPERM,
    "readlinkat": errno.EPERM,
    "ioctl": errno.EPERM,
    "lseek": errno.EPERM,
    "getrandom": errno.EPERM,
    # The import system treats only FileNotFoundError from getcwd as "no current directory"
    # (any other error would escape from an import statement), hence ENOENT.
    "getcwd": errno.ENOENT,
    # Everything else — socket, clone/fork/vfork/clone3, execve, ptrace, kill, prctl, seccomp,
    # prlimit64, pipe, dup, mount, ... — and any call of another ABI kills the worker (KILL).
    # No benign interpreter path issues them in a worker, so reaching one means code got past
    # the language wall: stop it on the spot and let the parent see SIGSYS.
}


# --- Architectures -------------------------------------------------------------------------


@dataclass(frozen=True)
class Arch:
    name: str
    audit_arch: int
    """AUDIT_ARCH_* of the 64-bit ABI: the filter kills any call made through another ABI
    (e.g. the i386 ``int 0x80`` entry on x86_64, whose numbers mean different calls)."""
    column: int
    """Index into the rows of :data:`_NUMBERS`."""


X86_64 = Arch("x86_64", audit_arch=0xC000003E, column=0)
AARCH64 = Arch("aarch64", audit_arch=0xC00000B7, column=1)
_ARCHES = {"x86_64": X86_64, "amd64": X86_64, "aarch64": AARCH64, "arm64": AARCH64}
_SECCOMP_SYSCALL = {"x86_64": 317, "aarch64": 277}


def current_arch() -> Arch:
    """The architecture this interpreter makes system calls in, or SandboxUnavailable."""
    if not sys.platform.startswith("linux"):
        raise SandboxUnavailable(f"seccomp confinement needs Linux, not {sys.platform}")
    arch = _ARCHES.get(platform.machine().lower())
    # A 32-bit interpreter on a 64-bit kernel reports the kernel's machine but calls the 32-bit
    # ABI, whose numbers the tables above do not describe.
    if arch is None or sys.maxsize <= 2**32:
        raise SandboxUnavailable(
            f"no seccomp policy for {platform.machine()} ({struct.calcsize('P') * 8}-bit); "
            "supported: 64-bit x86_64 and aarch64"
        )
    return arch


# --- The BPF program ---------------------------------------------------------------------

# Classic BPF opcodes (linux/bpf_common.h) and seccomp return values (linux/seccomp.h).
_BPF_LD_W_ABS = 0x00 | 0x00 | 0x20
_BPF_JEQ_K = 0x05 | 0x10 | 0x00
_BPF_RET_K = 0x06 | 0x00
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000
# Offsets in struct seccomp_data {int nr; u32 arch; u64 instruction_pointer; u64 args[6];}.
_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARG0 = 16 if sys.byteorder == "little" else 20  # low 32 bits of args[0]

Insn = tuple[int, int, int, int]
"""One ``struct sock_filter``: (code, jt, jf, k)."""


def _ld(offset: int) -> Insn:
    return (_BPF_LD_W_ABS, 0, 0, offset)


def _jeq(k: int, jt: int, jf: int) -> Insn:
    return (_BPF_JEQ_K, jt, jf, k)


def _ret(k: int) -> Insn:
    return (_BPF_RET_K, 0, 0, k)


def build_filter(keep_fds: Collection[int], arch: Arch) -> list[Insn]:
    """The seccomp program for ``arch``: POLICY, with pipe I/O limited to ``keep_fds``.

    Layout: check the ABI, load the call number, then one short block per listed call (every
    jump is forward and at most a few instructions long); anything unmatched falls through to
    the final kill. On x86_64 the x32 ABI shares the audit arch but sets bit 30 of the number,
    so its numbers never match a block and x32 calls are killed too.
    """
    fds = sorted(set(keep_fds))
    if len(fds) > 100:  # jump offsets are 8 bits: a pipe I/O block must stay short
        raise ValueError("too many kept descriptors")
    prog: list[Insn] = [
        _ld(_OFF_ARCH),
        _jeq(arch.audit_arch, 1, 0),
        _ret(RET_KILL_PROCESS),
        _ld(_OFF_NR),
    ]
    for name, action in POLICY.items():
        nr = _NUMBERS[name][arch.column]
        if nr is None:
            continue
        if name in PIPE_IO:
            # if nr matches: load fd; allow if it is a kept one, else EBADF. Every path of the
            # block returns, so loading args[0] over the call number is safe.
            block = [_ld(_OFF_ARG0)]
            for fd in fds:
                block += [_jeq(fd, 0, 1), _ret(RET_ALLOW)]
            block.append(_ret(RET_ERRNO | errno.EBADF))
        elif action == ALLOW:
            block = [_ret(RET_ALLOW)]
        elif isinstance(action, int):
            block = [_ret(RET_ERRNO | (action & 0xFFFF))]
        else:
            continue  # KILL is the default
        prog.append(_jeq(nr, 0, len(block)))
        prog += block
    prog.append(_ret(RET_KILL_PROCESS))
    if len(prog) > 4096:  # BPF_MAXINSNS
        raise ValueError("seccomp program too long")
    return prog


def pack_filter(prog: Sequence[Insn]) -> bytes:
    """The program as the kernel reads it: an array of ``struct sock_filter``."""
    return b"".join(struct.pack("=HBBI", *insn) for insn in prog)


# --- Confinement ---------------------------------------------------------------------------

_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_SET_MODE_FILTER = 1
_SECCOMP_FILTER_FLAG_TSYNC = 1


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def confine(keep_fds: Collection[int], limits: Limits) -> None:
    """Confine this process for good; see the module documentation for what that means.

    Call it after every import the process will need: afterwards nothing can be opened, so an
    import of a module not yet loaded fails with ModuleNotFoundError. ``keep_fds`` should be
    pipes (or sockets): with ``RLIMIT_FSIZE`` at 0, writing to a regular file kills the process.
    Raises SandboxUnavailable (before changing anything) on an unsupported platform, and
    OSError if the kernel refuses a step; the caller must then not run untrusted code.
    """
    arch = current_arch()
    keep = set(keep_fds)
    if not keep or min(keep) < 0:
        raise ValueError("keep_fds must name open descriptors")
    for fd in keep:
        os.fstat(fd)  # raises if it is not open: a worker without its pipe is a bug
    prog = pack_filter(build_filter(keep, arch))
    libc = ctypes.CDLL(None, use_errno=True)  # the C library already loaded: nothing opened

    _close_other_fds(keep)
    _set_limits(limits, max(keep) + 1)

    if libc.prctl(_PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0),
                  ctypes.c_ulong(0)) != 0:
        _raise_errno("prctl(PR_SET_NO_NEW_PRIVS)")

    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = _SockFprog(len(prog) // 8, ctypes.cast(buf, ctypes.c_void_p))
    # TSYNC applies the filter to every thread of the process, not just the calling one, in
    # case some library started a thread behind our back.
    rc = libc.syscall(
        ctypes.c_long(_SECCOMP_SYSCALL[arch.name]),
        ctypes.c_ulong(_SECCOMP_SET_MODE_FILTER),
        ctypes.c_ulong(_SECCOMP_FILTER_FLAG_TSYNC),
        ctypes.byref(fprog),
    )
    if rc > 0:  # TSYNC failed: rc is the id of a thread that could not take the filter
        raise OSError(f"seccomp: thread {rc} could not be given the filter")
    if rc != 0:
        _raise_errno("seccomp(SECCOMP_SET_MODE_FILTER)")


def _raise_errno(what: str) -> None:
    err = ctypes.get_errno()
    raise OSError(err, f"{what}: {os.strerror(err)}")


def _close_other_fds(keep: set[int]) -> None:
    """Close every descriptor not in ``keep``: inherited files, sockets, the parent's pipes."""
    try:
        # listdir's own descriptor shows up in the list and is already closed when we get to
        # it; closing it again fails harmlessly.
        open_fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        # No /proc (e.g. a bare mount namespace): close the whole possible range.
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        open_fds = list(range(min(soft, 1 << 16)))
    for fd in open_fds:
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _set_limits(limits: Limits, nofile: int) -> None:
    """Set soft and hard limits together: a process may lower its hard limit but never raise
    it again without privileges (and the filter refuses setrlimit/prlimit64 anyway). A limit
    already lower than asked for is kept: confinement only ever tightens."""
    for which, value in (
        (resource.RLIMIT_AS, limits.address_space),
        # SIGXCPU at the soft limit, SIGKILL at the hard one should SIGXCPU be caught.
        (resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1)),
        # Descriptors must be numbered below this limit: none above the kept ones can appear.
        (resource.RLIMIT_NOFILE, nofile),
        (resource.RLIMIT_FSIZE, 0),
        (resource.RLIMIT_NPROC, 0),
        (resource.RLIMIT_CORE, 0),
    ):
        soft, hard = value if isinstance(value, tuple) else (value, value)
        _, current = resource.getrlimit(which)
        if current != resource.RLIM_INFINITY:
            soft, hard = min(soft, current), min(hard, current)
        resource.setrlimit(which, (soft, hard))


# --- Namespaces (bubblewrap) -------------------------------------------------------------


def _readonly_paths(extra: Iterable[str]) -> list[str]:
    """What a worker must see to start the interpreter and import its modules."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths.update(p for p in sys.path if p and os.path.isdir(p))
    paths.update(extra)
    # Drop paths inside others: binding the outer one covers them.
    found = sorted({os.path.abspath(p) for p in paths if os.path.exists(p)})
    return [p for p in found if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in found)]


def _bwrap_args(readonly: Iterable[str]) -> list[str]:
    args = [
        "--unshare-all",  # fresh ipc, pid, net (loopback only), uts and cgroup namespaces
        # ... and a user namespace, in which the worker is "nobody" with no capabilities at
        # all, even when the node runs as root.
        "--unshare-user", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL",
        "--die-with-parent",  # a worker never outlives the node
        "--new-session",  # no controlling terminal to inject keystrokes into
        "--chdir", "/",
        "--proc", "/proc",  # the new pid namespace's own /proc
        "--dev", "/dev",  # a minimal /dev (null, zero, urandom, ...)
    ]  # fmt: skip
    # The system's libraries, so that the interpreter's shared objects load.
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    for path in _readonly_paths(readonly):
        args += ["--ro-bind", path, path]
    return args


@functools.cache
def _bwrap_works(bwrap: str, args: tuple[str, ...]) -> bool:
    """Whether bwrap can build this sandbox here (it cannot where user namespaces are off for
    unprivileged users, or inside some containers). Probed once by starting the interpreter."""
    try:
        probe = subprocess.run(
            [bwrap, *args, "--", sys.executable, "-S", "-c", "pass"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


def bwrap_command(argv: Sequence[str], readonly: Iterable[str] = ()) -> list[str] | None:
    """``argv`` wrapped in bubblewrap, or None where bubblewrap is missing or cannot run here.

    The command runs in fresh mount, pid, net (loopback only: no network), ipc and uts
    namespaces and sees only a read-only view of the system libraries, the interpreter, the
    import path and ``readonly``; no home, no /etc beyond the loader cache, no /tmp. Inherited
    descriptors (the worker's pipes) pass through. The worker still calls :func:`confine`.

    Inside, bwrap is pid 1 and the worker its child, so the Popen pid is bwrap's; when the
    worker dies of a signal, bwrap exits with 128 + the signal number. Give ``argv`` with
    absolute paths: the command starts in ``/``.
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return None
    args = tuple(_bwrap_args(readonly))
    if not _bwrap_works(bwrap, args):
        return None
    return [bwrap, *args, "--", *argv]


__all__ = [
    "ALLOW",
    "KILL",
    "Limits",
    "POLICY",
    "bwrap_command",
    "build_filter",
    "confine",
    "current_arch",
    "pack_filter",
]
