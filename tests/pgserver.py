"""A throwaway PostgreSQL server for the tests (and benchmarks): ``with pg_server() as url: ...``.

It finds ``initdb``/``pg_ctl`` on PATH, in /usr/local/bin or in /usr/lib/postgresql/*/bin,
creates a cluster in a fresh temporary folder, starts it on 127.0.0.1 on a free port with its
unix socket in that folder, and yields a URL with a password (host connections use
scram-sha-256, so tests can check that passwords never show in errors). fsync and
synchronous_commit keep their defaults (on): the tests see the durability the node gets.

PostgreSQL refuses to run as root. Run as root, the server runs as the ``postgres`` user when it
exists (Debian's package creates it), else as a system user ``amigos-pg`` created with useradd.
The server is stopped (immediate mode: its data is thrown away) and the folder removed when
the block ends.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

USER = "amigos"
PASSWORD = "s3cret-test-pw"
SYSTEM_USERS = ("postgres", "amigos-pg")


class ServerUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bin_dir() -> Path | None:
    """A folder holding both ``initdb`` and ``pg_ctl``, newest PostgreSQL first."""
    candidates: list[str] = []
    found = shutil.which("initdb")
    if found:
        candidates.append(str(Path(found).resolve().parent))
    candidates.append("/usr/local/bin")
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    versions.sort(key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0, reverse=True)
    candidates += versions
    for folder in candidates:
        path = Path(folder)
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            real = (path / "initdb").resolve().parent  # /usr/local/bin may hold symlinks only
            return real if (real / "pg_ctl").is_file() else path
    return None


def _server_user() -> pwd.struct_passwd | None:
    """The account to run the server as: None to run as ourselves (not root)."""
    if os.geteuid() != 0:
        return None
    for name in SYSTEM_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USERS[-1]],
                   check=True, capture_output=True)
    return pwd.getpwnam(SYSTEM_USERS[-1])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args: list[str], user: pwd.struct_passwd | None, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
    if user is not None:
        env["HOME"] = user.pw_dir
        kwargs.update(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
    return subprocess.run(args, env=env, text=True, capture_output=True, **kwargs)  # type: ignore[call-overload]


@contextmanager
def pg_server(*, start_timeout: float = 60.0) -> Iterator[str]:
    """Start a PostgreSQL server, yield ``postgresql://amigos:…@127.0.0.1:PORT/postgres``."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise ServerUnavailable(
            "no PostgreSQL server binaries (initdb, pg_ctl) on PATH, in /usr/local/bin or in "
            "/usr/lib/postgresql/*/bin; install them (Debian: apt-get install postgresql)"
        )
    user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="amigos-pg-"))
    data = root / "data"
    try:
        pwfile = root / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        if user is not None:
            os.chown(root, user.pw_uid, user.pw_gid)
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        done = _run([str(bin_dir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}",
                     "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8",
                     "--locale=C", "--no-instructions"], user)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        pwfile.unlink()
        for attempt in range(5):  # another process may take the free port before the server does
            port = _free_port()
            options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root} -c fsync=on"
            started = _run([str(bin_dir / "pg_ctl"), "start", "-D", str(data), "-w", "-t", str(int(start_timeout)),
                            "-l", str(root / "server.log"), "-o", options], user)
            if started.returncode == 0:
                break
            log = (root / "server.log").read_text(errors="replace") if (root / "server.log").exists() else ""
            if "could not bind" not in log or attempt == 4:
                raise RuntimeError(f"pg_ctl start failed ({started.returncode}):\n{started.stdout}\n{started.stderr}\n{log}")
        try:
            yield f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/postgres"
        finally:
            _run([str(bin_dir / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate", "-w", "-t", "30"], user)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":  # a server for trying things by hand: prints its URL, stops on Ctrl-C
    import signal

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # kill/timeout also stop and clean up
    with pg_server() as url:
        print(url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
