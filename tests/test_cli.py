"""The amigos command in local mode, through a real subprocess."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

HUB = Path(__file__).resolve().parent.parent / "hub"
COUNTER = "hub.amigos.dev/alice/counter"


def amigos(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "amigos.cli", "--home", str(home), *args],
        capture_output=True, text=True, timeout=60, input=stdin, env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    done = amigos(tmp_path, "deploy", COUNTER, str(HUB / "counter.py"), "--as", "alice")
    assert done.returncode == 0, done.stderr
    assert "from hub.alice import counter" in done.stdout
    return tmp_path


def test_call_query_render_state(home):
    done = amigos(home, "call", COUNTER, "increment", "2", "--as", "bob")
    assert done.returncode == 0 and done.stdout.strip() == "2"
    assert "incremented" in done.stderr
    done = amigos(home, "--json", "call", COUNTER, "increment", "--kw", "by=3")
    receipt = json.loads(done.stdout)
    assert receipt["ok"] is True and receipt["result"] == 5 and receipt["error"] is None
    assert receipt["gas_used"] > 0 and receipt["events"][0]["name"] == "incremented"
    assert amigos(home, "query", COUNTER, "get").stdout.strip() == "5"
    assert "**5**" in amigos(home, "render", COUNTER).stdout
    state = json.loads(amigos(home, "state", COUNTER).stdout)
    assert state["globals"] == {"count": 5}
    shown = amigos(home, "show", COUNTER).stdout
    assert "increment(by: int=1) -> int" in shown
    assert COUNTER in amigos(home, "services").stdout


def test_failed_call_exits_1_with_one_line(home):
    done = amigos(home, "call", COUNTER, "increment", "--", "-4")
    assert done.returncode == 1
    assert done.stderr.strip() == "error: ServiceError: by must be positive (line 16)"
    done = amigos(home, "call", "--json", COUNTER, "increment", "not-a-number")
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"]["type"] == "ServiceError"


@pytest.mark.parametrize("args", [
    ("deploy", COUNTER, "/nonexistent/file.py"),
    ("call", "not a path", "f"),
    ("call", COUNTER, "increment", "1.5"),
    ("frobnicate",),
    ("call", COUNTER),
    ("call", COUNTER, "increment", "--kw", "no-equals"),
    ("--gas", "many", "call", COUNTER, "increment"),
    ("call", COUNTER, "increment", "--as", "bad signer"),
])
def test_usage_errors_exit_2(home, args):
    done = amigos(home, *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr


def test_deploy_error_names_line_and_rule(home, tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import std\nx = 1.5\n")
    done = amigos(home, "deploy", "hub.amigos.dev/alice/bad", str(bad), "--as", "alice")
    assert done.returncode == 1
    assert "line 2" in done.stderr and "[float]" in done.stderr
    garbage = tmp_path / "garbage.py"
    garbage.write_bytes(b"\xff\xfe\x00garbage")
    done = amigos(home, "deploy", "hub.amigos.dev/alice/garbage", str(garbage), "--as", "alice")
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_arguments_parse_as_json_else_string(home, tmp_path):
    echo = tmp_path / "echo.py"
    echo.write_text("def echo(*args):\n    return list(args)\n")
    assert amigos(home, "deploy", "hub.amigos.dev/alice/echo", str(echo), "--as", "alice").returncode == 0
    done = amigos(home, "--json", "query", "hub.amigos.dev/alice/echo", "echo", "42", "hello", "[1,2]", '{"a":true}',
                  '{"$bytes":"00ff"}', '{"$decimal":"1.50"}', "null")
    assert json.loads(done.stdout)["result"] == [42, "hello", [1, 2], {"a": True}, {"$bytes": "00ff"}, {"$decimal": "1.50"}, None]


def test_corrupt_state_file_is_a_clear_error(tmp_path):
    (tmp_path / "state.sqlite").write_bytes(b"this is not a database" * 100)
    done = amigos(tmp_path, "services")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "state" in done.stderr
