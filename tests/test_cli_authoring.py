"""``amigos init``, ``amigos test`` and ``amigos run``: writing a service, testing it, and
running the examples of a document — through the real command, in a fresh folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def amigos(cwd: Path, *args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    home = home or cwd
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NO_COLOR": "1", "HOME": str(home),
           "AMIGOS_CONFIG": str(home / ".config")}
    env.pop("AMIGOS_NODE", None)
    return subprocess.run([sys.executable, "-m", "amigos", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_init_writes_a_service_whose_tests_pass(tmp_path: Path) -> None:
    done = amigos(tmp_path, "init", "greeter")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "greeter.py").is_file() and (tmp_path / "test_greeter.py").is_file()
    done = amigos(tmp_path, "test", "test_greeter.py")
    assert done.returncode == 0, done.stdout
    assert "3 passed" in done.stdout and "Warning" not in done.stdout


def test_a_broken_service_fails_its_tests(tmp_path: Path) -> None:
    assert amigos(tmp_path, "init", "greeter").returncode == 0
    service = tmp_path / "greeter.py"
    service.write_text(service.read_text().replace("def hello(", "def hullo("))
    done = amigos(tmp_path, "test")
    assert done.returncode == 1 and "failed" in done.stdout


def test_init_never_overwrites_and_refuses_bad_names(tmp_path: Path) -> None:
    assert amigos(tmp_path, "init", "greeter").returncode == 0
    before = (tmp_path / "greeter.py").read_text()
    (tmp_path / "greeter.py").write_text(before + "# mine\n")
    done = amigos(tmp_path, "init", "greeter")
    assert done.returncode == 2 and "already exists" in done.stderr
    assert (tmp_path / "greeter.py").read_text().endswith("# mine\n")
    for bad in ("Greeter", "hello-world", "1st", "class", "std", "../x", ""):
        done = amigos(tmp_path, "init", bad)
        assert done.returncode == 2, bad
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_no_tests_is_a_clear_failure(tmp_path: Path) -> None:
    done = amigos(tmp_path, "test")
    assert done.returncode == 1 and "no tests found" in done.stderr
    done = amigos(tmp_path, "test", "missing_test.py")
    assert done.returncode == 2 and "no such test file" in done.stderr


def test_run_checks_the_examples_of_a_document(tmp_path: Path) -> None:
    doc = tmp_path / "guide.md"
    doc.write_text("# Guide\n\n## Adding\n\n```python\nprint(1 + 1)\n```\n\n```output\n2\n```\n\n"
                   "## Wrong\n\n```python\nprint(2 + 2)\n```\n\n```output\n5\n```\n")
    done = amigos(tmp_path, "run", "guide.md#Adding")
    assert done.returncode == 0 and "ok   Adding" in done.stdout
    done = amigos(tmp_path, "run", "guide.md")
    assert done.returncode == 1 and "FAIL Wrong" in done.stdout and "1 of 2 examples" in done.stderr
    done = amigos(tmp_path, "run", "guide.md#Nope")
    assert done.returncode == 2 and "Adding" in done.stderr
    done = amigos(tmp_path, "run", "missing.md")
    assert done.returncode == 2


def test_run_the_projects_own_docs(tmp_path: Path) -> None:
    done = amigos(ROOT, "run", "docs/docs.md", home=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
