"""The README's tutorial, verbatim, through the real ``amigos`` command against a real
``amigos dev`` node — what a new user does on a fresh machine.

The node is started as the quickstart starts it (``scripts/dev`` runs ``amigos dev --home
.amigos-dev --hub hub``) on the port the tutorial names; the tutorial's steps (its ``console
session`` and ``python session`` blocks and the service files it shows) then run in order in
one shell session with its own home, keystore and config (``amigos.docrun.run_session``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from amigos.docrun import collect, run_session

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PORT = 8700
"""The tutorial says http://127.0.0.1:8700, so the node must be there."""


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture
def dev_node(tmp_path: Path):
    if not port_is_free(PORT):
        message = f"port {PORT} is taken: the tutorial's node cannot start"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NO_COLOR": "1", "HOME": str(tmp_path),
           "AMIGOS_CONFIG": str(tmp_path / "config")}
    log = (tmp_path / "dev.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "amigos", "dev", "--home", ".amigos-dev", "--hub", str(ROOT / "hub")],
                               cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"amigos dev exited with {process.returncode}:\n{(tmp_path / 'dev.log').read_text()}")
            if "Ctrl-C stops the node" in (tmp_path / "dev.log").read_text():
                break
            if time.monotonic() > deadline:
                pytest.fail(f"amigos dev did not come up:\n{(tmp_path / 'dev.log').read_text()}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{PORT}"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_the_readme_tutorial_runs_verbatim_against_amigos_dev(dev_node: str) -> None:
    steps = [e for e in collect(README) if e.in_session or e.filename]
    assert [e.lang for e in steps if e.in_session].count("console") >= 3 and any(e.lang == "python" for e in steps)
    assert httpx.get(f"{dev_node}/v1/services").status_code == 200  # the hub services are there
    result = run_session(steps)
    assert result.ok, f"{result.message}\n--- the session ---\n{result.output}"
