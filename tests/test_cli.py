"""The amigos command: every subcommand in a local home and against a real node (``amigos
serve`` in a subprocess), the keystore's refusals, completion scripts, and ``amigos dev`` as a
real process that serves, deploys hub/, redeploys a saved file and stops on Ctrl-C."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

import amigos
from amigos.cli import main

SRC = Path(amigos.__file__).resolve().parent.parent
HUB = SRC.parent / "hub"
COUNTER = "hub.amigos.dev/alice/counter"
PASSPHRASE = "correct horse battery"


def environment(tmp: Path, **extra: str) -> dict[str, str]:
    """A user with their own home and config folders, and nothing else set."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(SRC), "NO_COLOR": "1",
           "HOME": str(tmp / "user"), "AMIGOS_CONFIG": str(tmp / "config"), "AMIGOS_PASSPHRASE": PASSPHRASE,
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}  # the same keystore on every machine
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def amigos_run(env: dict[str, str], *args: str, stdin: str | None = None, cwd: Path | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "amigos", *args], capture_output=True, text=True, timeout=timeout,
                          input=stdin if stdin is not None else "", env=env, cwd=cwd)


@pytest.fixture
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The same user for subprocesses (the returned environment) and in-process main()."""
    env = environment(tmp_path)
    for name in ("AMIGOS_HOME", "AMIGOS_NODE", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        if name != "PATH":
            monkeypatch.setenv(name, value)
    return env


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """main() in this process: the same code as the console script, faster (argparse's usage
    errors exit through SystemExit, as they do in the console script)."""
    try:
        code = main(list(args))
    except SystemExit as exit:
        code = int(exit.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --------------------------------------------------------------------------- a local home


@pytest.fixture
def home(tmp_path: Path, user: dict[str, str]) -> Path:
    done = amigos_run(user, "--home", str(tmp_path / "home"), "deploy", COUNTER, str(HUB / "counter.py"), "--as", "alice")
    assert done.returncode == 0, done.stderr
    assert "from hub.alice import counter" in done.stdout
    return tmp_path / "home"


def test_call_query_render_state_services_show(home: Path, user: dict[str, str]) -> None:
    h = ("--home", str(home))
    done = amigos_run(user, *h, "call", COUNTER, "increment", "2", "--as", "bob")
    assert done.returncode == 0 and done.stdout.strip() == "2"
    assert "incremented" in done.stderr
    receipt = json.loads(amigos_run(user, *h, "--json", "call", COUNTER, "increment", "--kw", "by=3").stdout)
    assert receipt["ok"] is True and receipt["result"] == 5 and receipt["error"] is None
    assert receipt["gas_used"] > 0 and receipt["events"][0]["name"] == "incremented"
    assert amigos_run(user, *h, "query", COUNTER, "get").stdout.strip() == "5"
    assert "**5**" in amigos_run(user, *h, "render", COUNTER).stdout
    assert json.loads(amigos_run(user, *h, "state", COUNTER).stdout)["globals"] == {"count": 5}
    shown = amigos_run(user, *h, "show", COUNTER, "--source")
    assert "increment(by: int=1) -> int" in shown.stdout and "versions: v1 at block 1" in shown.stdout
    assert "std.require(by > 0" in shown.stdout  # --source
    described = json.loads(amigos_run(user, *h, "show", COUNTER, "--json").stdout)
    assert described["owner"] == "alice" and "def increment" in described["source"]
    assert [f["name"] for f in described["functions"]] == ["increment", "get", "render"]


def test_services_lists_and_searches(home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    other = tmp_path / "names.py"
    other.write_text('"""A registry of names."""\n\nnames = {}\n')
    assert run(capsys, "--home", str(home), "deploy", "hub.amigos.dev/bob/names", str(other), "--as", "bob")[0] == 0
    code, out, _ = run(capsys, "--home", str(home), "services")
    assert code == 0 and COUNTER in out and "hub.amigos.dev/bob/names" in out
    assert json.loads(run(capsys, "--home", str(home), "--json", "services", "REGISTRY")[1])[0]["path"] == "hub.amigos.dev/bob/names"
    out = run(capsys, "--home", str(home), "services", "counter")[1]
    assert COUNTER in out and "names" not in out
    code, out, err = run(capsys, "--home", str(home), "services", "nothing-like-this")
    assert code == 0 and out == "" and "no services match" in err


def test_failed_call_exits_1_with_one_line(home: Path, user: dict[str, str]) -> None:
    done = amigos_run(user, "--home", str(home), "call", COUNTER, "increment", "--", "-4")
    assert done.returncode == 1
    assert done.stderr.strip() == "error: ServiceError: by must be positive (line 16)"
    done = amigos_run(user, "--home", str(home), "call", "--json", COUNTER, "increment", "not-a-number")
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"]["type"] == "ServiceError"


@pytest.mark.parametrize("args", [
    ("deploy", COUNTER, "/nonexistent/file.py"),
    ("call", "not a path", "f"),
    ("call", COUNTER, "increment", "1.5"),
    ("frobnicate",),
    ("call", COUNTER),
    ("call", COUNTER, "increment", "--kw", "no-equals"),
    ("call", COUNTER, "increment", "--gas", "many"),
    ("call", COUNTER, "increment", "--as", "bad signer"),
    ("--node", "http://127.0.0.1:1", "services"),  # with --home from the test: not both
    ("account", "list"),  # with --home: account takes no --home
    ("events", "--from", "-1"),
    ("log", "--limit", "0"),
    ("completion", "tcsh"),
    ("account", "new", "Not A Name"),
    ("config", "set", "node", "ftp://nowhere"),
    ("config", "set", "colour", "red"),
    ("serve", "--port", "70000"),
])
def test_usage_errors_exit_2(home: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]) -> None:
    code, out, err = run(capsys, "--home", str(home), *args)
    assert code == 2, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) in (1, 2)  # argparse adds its usage line


@pytest.mark.parametrize("args", [
    ("frobnicate",), ("completion", "tcsh"), ("account", "new", "Not A Name"), ("config", "set", "colour", "red"),
    ("call", COUNTER, "increment", "--gas", "many"), ("call", COUNTER),
])
def test_argparse_usage_errors_exit_2_as_a_process(home: Path, user: dict[str, str], args: tuple[str, ...]) -> None:
    done = amigos_run(user, "--home", str(home), *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("amigos")


def test_deploy_error_names_line_and_rule(home: Path, user: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import std\nx = 1.5\n")
    done = amigos_run(user, "--home", str(home), "deploy", "hub.amigos.dev/alice/bad", str(bad), "--as", "alice")
    assert done.returncode == 1
    assert "line 2" in done.stderr and "[float]" in done.stderr
    garbage = tmp_path / "garbage.py"
    garbage.write_bytes(b"\xff\xfe\x00garbage")
    done = amigos_run(user, "--home", str(home), "deploy", "hub.amigos.dev/alice/garbage", str(garbage), "--as", "alice")
    assert done.returncode == 2 and "Traceback" not in done.stderr and "cannot read" in done.stderr
    done = amigos_run(user, "--home", str(home), "deploy", "hub.amigos.dev/alice/folder", str(tmp_path), "--as", "alice")
    assert done.returncode == 2 and "cannot read" in done.stderr


def test_arguments_parse_as_json_else_string(home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    echo = tmp_path / "echo.py"
    echo.write_text("def echo(*args):\n    return list(args)\n")
    assert run(capsys, "--home", str(home), "deploy", "hub.amigos.dev/alice/echo", str(echo), "--as", "alice")[0] == 0
    code, out, _ = run(capsys, "--home", str(home), "--json", "query", "hub.amigos.dev/alice/echo", "echo", "42", "hello",
                       "[1,2]", '{"a":true}', '{"$bytes":"00ff"}', '{"$decimal":"1.50"}', "null")
    assert json.loads(out)["result"] == [42, "hello", [1, 2], {"a": True}, {"$bytes": "00ff"}, {"$decimal": "1.50"}, None]


def test_corrupt_state_file_is_a_clear_error_and_debug_shows_the_traceback(tmp_path: Path, user: dict[str, str]) -> None:
    (tmp_path / "state.sqlite").write_bytes(b"this is not a database" * 100)
    done = amigos_run(user, "--home", str(tmp_path), "services")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "state" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    done = amigos_run(user, "--home", str(tmp_path), "services", "--debug")
    assert done.returncode == 1 and "Traceback" in done.stderr


def test_python_dash_m_amigos_and_help(user: dict[str, str]) -> None:
    done = amigos_run(user, "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"amigos {amigos.__version__}"
    done = amigos_run(user, "--help")
    for command in ("deploy", "call", "query", "render", "state", "services", "show", "events", "log", "verify",
                    "account", "config", "serve", "dev", "completion"):
        assert re.search(rf"^\s+{command}\s", done.stdout, re.M), command
    done = amigos_run(user, "account", "--help")
    assert done.returncode == 0 and all(c in done.stdout for c in ("new", "import", "list", "show", "use", "export"))


def test_colour_on_a_terminal_only_and_never_with_no_color(home: Path, user: dict[str, str]) -> None:
    def on_a_terminal(env: dict[str, str]) -> str:
        leader, follower = pty.openpty()
        process = subprocess.Popen([sys.executable, "-m", "amigos", "--home", str(home), "services"],
                                   stdout=follower, stderr=follower, env=env)
        os.close(follower)
        output = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed
                break
            if not chunk:
                break
            output += chunk
        process.wait(timeout=30)
        os.close(leader)
        return output.decode()

    assert "\033[1m" + COUNTER in on_a_terminal({k: v for k, v in user.items() if k != "NO_COLOR"})
    assert "\033[" not in on_a_terminal(user)
    assert "\033[" not in amigos_run({k: v for k, v in user.items() if k != "NO_COLOR"}, "--home", str(home), "services").stdout


def test_local_as_is_a_keystore_address_or_a_free_name(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "account", "new", "carol")[0] == 0
    carol = json.loads(run(capsys, "account", "show", "carol", "--json")[1])["address"]
    who = "import std\ndef who() -> str:\n    return std.caller()\n"
    (home / "who.py").write_text(who)
    assert run(capsys, "--home", str(home), "deploy", "hub.amigos.dev/dave/who", str(home / "who.py"), "--as", "dave")[0] == 0
    whom = ("--home", str(home), "call", "hub.amigos.dev/dave/who", "who")
    assert json.loads(run(capsys, *whom, "--as", "carol")[1]) == carol  # an account acts as its address
    assert json.loads(run(capsys, *whom, "--as", "erin")[1]) == "erin"  # any other name as itself
    assert json.loads(run(capsys, *whom)[1]) == carol  # the default account (carol is the first)
    assert run(capsys, "config", "unset", "account")[0] == 0
    assert json.loads(run(capsys, *whom)[1]) == "dev"  # no default: dev


# --------------------------------------------------------------------------- the keystore


def test_accounts_new_list_show_use_export_import(user: dict[str, str], tmp_path: Path) -> None:
    done = amigos_run(user, "account", "new", "alice")
    assert done.returncode == 0 and "amigo1" in done.stdout and "default" in done.stderr
    assert amigos_run(user, "account", "new", "bob", "--protect", "passphrase").returncode == 0
    accounts = json.loads(amigos_run(user, "--json", "account", "list").stdout)
    assert [(a["name"], a["default"], a["protection"]) for a in accounts] == [("alice", True, "passphrase"), ("bob", False, "passphrase")]
    assert amigos_run(user, "account", "list", "-q").stdout.split() == ["alice", "bob"]
    assert amigos_run(user, "account", "use", "bob").returncode == 0
    bob = json.loads(amigos_run(user, "account", "show", "--json").stdout)
    assert bob["name"] == "bob" and bob["default"] and bob["address"].startswith("amigo1")
    public = amigos_run(user, "account", "export", "bob", "--json")
    assert "seed" not in json.loads(public.stdout) and public.stderr == ""
    secret = amigos_run(user, "account", "export", "bob", "--secret", "--json")
    seed = json.loads(secret.stdout)["seed"]
    assert "warning" in secret.stderr and len(bytes.fromhex(seed)) == 32
    (tmp_path / "seed.txt").write_text(seed + "\n")
    imported = amigos_run(user, "--json", "account", "import", "bobcopy", "--from", str(tmp_path / "seed.txt"))
    assert json.loads(imported.stdout)["account"]["address"] == bob["address"]
    piped = amigos_run(user, "--json", "account", "import", "bobpipe", "--from", "-", stdin=seed)
    assert json.loads(piped.stdout)["account"]["address"] == bob["address"]
    assert amigos_run(user, "account", "new", "alice").returncode == 1  # exists already
    assert amigos_run(user, "account", "use", "nobody").returncode == 1


def test_secret_seeds_are_never_printed_nor_stored_in_the_clear(user: dict[str, str], tmp_path: Path) -> None:
    seed = "11" * 32
    (tmp_path / "seed").write_text(seed)
    outputs = [amigos_run(user, "account", "import", "alice", "--from", str(tmp_path / "seed"))]
    outputs += [amigos_run(user, *args) for args in (("account", "list"), ("account", "show", "alice"),
                                                     ("--json", "account", "show"), ("account", "export"),
                                                     ("config", "list"))]
    assert all(o.returncode == 0 for o in outputs)
    assert not any(seed in o.stdout + o.stderr for o in outputs)
    stored = (tmp_path / "config" / "accounts" / "alice.json").read_text()
    assert seed not in stored and json.loads(stored)["secret"]["kdf"] == "argon2id"


def test_keystore_files_are_private(user: dict[str, str], tmp_path: Path) -> None:
    assert amigos_run(user, "account", "new", "alice").returncode == 0
    config = tmp_path / "config"
    assert stat.S_IMODE(config.stat().st_mode) == 0o700
    assert stat.S_IMODE((config / "accounts").stat().st_mode) == 0o700
    assert stat.S_IMODE((config / "accounts" / "alice.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((config / "config.json").stat().st_mode) == 0o600


def test_wrong_passphrase_no_passphrase_empty_passphrase(user: dict[str, str]) -> None:
    assert amigos_run(user, "account", "new", "alice").returncode == 0
    done = amigos_run({**user, "AMIGOS_PASSPHRASE": "wrong"}, "account", "export", "alice", "--secret")
    assert done.returncode == 1 and "wrong passphrase" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""
    no_passphrase = {k: v for k, v in user.items() if k != "AMIGOS_PASSPHRASE"}
    done = amigos_run(no_passphrase, "account", "export", "alice", "--secret")
    assert done.returncode == 2 and "AMIGOS_PASSPHRASE" in done.stderr
    done = amigos_run({**user, "AMIGOS_PASSPHRASE": ""}, "account", "new", "bob")
    assert done.returncode == 2 and "empty passphrase" in done.stderr


def test_keystore_refuses_loose_permissions_links_and_garbage(user: dict[str, str], tmp_path: Path) -> None:
    assert amigos_run(user, "account", "new", "alice").returncode == 0
    folder = tmp_path / "config" / "accounts"
    key = folder / "alice.json"

    def refused(*words: str) -> None:
        done = amigos_run(user, "account", "export", "alice", "--secret")
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert all(w in done.stderr for w in words), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1

    os.chmod(key, 0o644)
    refused("may be read by others", "chmod 600")
    os.chmod(key, 0o600)
    os.chmod(folder, 0o755)
    refused("may be read by others", "chmod 700")
    os.chmod(folder, 0o700)
    good = key.read_bytes()
    key.write_bytes(b"\x00\xffnot json at all")
    refused("not a readable keystore file")
    key.write_text(json.dumps({"format": "something else"}))
    refused("not a readable keystore file")
    body = json.loads(good)
    body["address"] = "amigo1" + "q" * 38
    key.write_bytes(json.dumps(body).encode())
    refused("does not give the stored address")
    body = json.loads(good)
    body["secret"]["memlimit"] = 1 << 42  # 4 TiB of Argon2 memory: refused before it is tried
    key.write_bytes(json.dumps(body).encode())
    refused("out of bounds")
    key.unlink()
    (tmp_path / "elsewhere.json").write_bytes(good)
    os.chmod(tmp_path / "elsewhere.json", 0o600)
    key.symlink_to(tmp_path / "elsewhere.json")
    refused("not a regular file")
    key.unlink()
    key.write_bytes(b"x" * 100_000)
    os.chmod(key, 0o600)
    refused("too large")


def test_keyring_when_none_is_usable_is_a_clear_error(user: dict[str, str]) -> None:
    done = amigos_run(user, "account", "new", "alice", "--protect", "keyring")
    assert done.returncode == 1 and "no usable OS keyring" in done.stderr
    assert amigos_run(user, "account", "list", "-q").stdout == ""


def test_accounts_in_the_os_keyring(user: dict[str, str], tmp_path: Path) -> None:
    pytest.importorskip("keyring")
    keyring_file = tmp_path / "keyring.json"
    env = {**user, "PYTHON_KEYRING_BACKEND": "file_keyring.FileKeyring", "AMIGOS_TEST_KEYRING": str(keyring_file),
           "PYTHONPATH": f"{SRC}{os.pathsep}{Path(__file__).parent}"}
    del env["AMIGOS_PASSPHRASE"]  # a keyring account asks for none
    done = amigos_run(env, "--json", "account", "new", "alice")
    assert done.returncode == 0, done.stderr
    stored = json.loads(done.stdout)["account"]
    assert stored["protection"] == "keyring"  # the default where a keyring is usable
    assert "secret" not in json.loads(Path(stored["file"]).read_text())
    seed = json.loads(keyring_file.read_text())[f"amigos/{stored['address']}"]
    exported = amigos_run(env, "--json", "account", "export", "alice", "--secret")
    assert exported.returncode == 0 and json.loads(exported.stdout)["seed"] == seed

    keyring_file.write_text(json.dumps({f"amigos/{stored['address']}": "22" * 32}))  # another account's seed
    done = amigos_run(env, "account", "export", "alice", "--secret")
    assert done.returncode == 1 and "does not give the stored address" in done.stderr
    keyring_file.write_text("{}")
    done = amigos_run(env, "account", "export", "alice", "--secret")
    assert done.returncode == 1 and "has no key for account 'alice'" in done.stderr
    done = amigos_run({**env, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}, "account", "export", "alice", "--secret")
    assert done.returncode == 1 and "not usable here" in done.stderr


def test_config_chooses_the_target(user: dict[str, str], home: Path, tmp_path: Path) -> None:
    assert amigos_run(user, "config", "set", "node", "http://127.0.0.1:9/").returncode == 0
    assert amigos_run(user, "config", "get", "node").stdout.strip() == "http://127.0.0.1:9"
    done = amigos_run(user, "services")  # the saved node, which is not there
    assert done.returncode == 1 and "cannot reach the node at http://127.0.0.1:9" in done.stderr and "amigos dev" in done.stderr
    assert COUNTER in amigos_run(user, "--home", str(home), "services").stdout  # --home beats it
    assert COUNTER in amigos_run({**user, "AMIGOS_HOME": str(home)}, "services").stdout  # and so does AMIGOS_HOME
    both = amigos_run({**user, "AMIGOS_HOME": str(home), "AMIGOS_NODE": "http://127.0.0.1:9"}, "services")
    assert both.returncode == 2 and "both" in both.stderr
    assert json.loads(amigos_run(user, "--json", "config", "list").stdout)["node"] == "http://127.0.0.1:9"
    assert amigos_run(user, "config", "unset", "node").returncode == 0
    assert amigos_run(user, "config", "get", "node").stdout == ""
    for garbage in ("{not json", "[]", '{"node": 42}'):
        (tmp_path / "config" / "config.json").write_text(garbage)
        done = amigos_run(user, "services")
        assert done.returncode == 1 and "config.json" in done.stderr and "Traceback" not in done.stderr


# --------------------------------------------------------------------------- against a real node


def free_node(home: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, "-m", "amigos", "serve", "--home", str(home), "--port", "0",
                                "--isolation", "none"], env=env, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    line = process.stderr.readline()
    match = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
    assert match, line
    url = match.group(1)
    for _ in range(200):
        try:
            httpx.get(f"{url}/v1/node")
            return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("the node did not answer")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`amigos serve` in a subprocess, with alice's counter deployed and called by the CLI."""
    tmp = tmp_path_factory.mktemp("node")
    env = environment(tmp)
    process, url = free_node(tmp / "node", env)
    try:
        assert amigos_run(env, "account", "new", "alice").returncode == 0
        yield url, tmp
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


@pytest.fixture
def remote(node: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> str:
    url, tmp = node
    for name, value in environment(tmp).items():
        if name != "PATH":
            monkeypatch.setenv(name, value)
    for name in ("AMIGOS_HOME", "AMIGOS_NODE"):
        monkeypatch.delenv(name, raising=False)
    return url


def test_remote_commands(remote: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    n = ("--node", remote)
    alice = json.loads(run(capsys, "--json", "account", "show", "alice")[1])["address"]
    path = f"hub.amigos.dev/{alice[:20]}/counter"
    code, out, err = run(capsys, *n, "deploy", path, str(HUB / "counter.py"))
    assert code == 0, err
    assert f"deployed {path} version 1 (owner {alice})" in out and "tx " in err
    code, out, err = run(capsys, *n, "call", path, "increment", "2")
    assert code == 0 and out.strip() == "2" and "proven in the node's log" in err
    receipt = json.loads(run(capsys, *n, "--json", "call", path, "increment", "--kw", "by=3")[1])
    assert receipt["ok"] and receipt["result"] == 5 and len(receipt["tx_hash"]) == 64
    code, out, err = run(capsys, *n, "call", path, "increment", "--", "-1")
    assert code == 1 and err.strip() == "error: ServiceError: by must be positive"
    assert run(capsys, *n, "query", path, "get")[1].strip() == "5"
    assert "**5**" in run(capsys, *n, "render", path)[1]
    assert json.loads(run(capsys, *n, "state", path)[1])["globals"] == {"count": 5}
    assert path in run(capsys, *n, "services", "counter")[1]
    shown = json.loads(run(capsys, *n, "--json", "show", path)[1])
    assert shown["owner"] == alice and "def increment" in shown["source"]
    assert "increment(by: int=1) -> int" in run(capsys, *n, "show", path)[1]

    blocks = json.loads(run(capsys, *n, "--json", "log", "--limit", "100")[1])
    assert blocks["ok"] and all(b["signed"] for b in blocks["blocks"])
    mine = [r for b in blocks["blocks"] for r in b["receipts"] if r["account"] == alice and path in r["messages"][0]]
    assert [m["messages"][0] for m in mine][:2] == [f"deploy {path}", f"call {path}.increment(2)"]
    assert not mine[-1]["ok"] and mine[-1]["error"]["type"] == "ServiceError"
    code, out, _ = run(capsys, *n, "log", "--limit", "1")
    assert code == 0 and out.startswith("block ") and "signed" in out
    events = [json.loads(line) for line in run(capsys, *n, "--json", "events", "--service", path)[1].splitlines()]
    assert [(e["name"], e["attrs"]["by"]) for e in events] == [("incremented", 2), ("incremented", 3)]
    assert run(capsys, *n, "events", "--account", "amigo1" + "q" * 38)[0] == 1  # a bad checksum: a clear error
    summary = json.loads(run(capsys, *n, "--json", "verify", "--isolation", "none")[1])
    assert summary["ok"] and summary["receipts"] >= 4


def test_remote_deploy_checks_the_file_before_sending(remote: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import std\n\nx = 1.5\n")
    before = httpx.get(f"{remote}/v1/node").json()["size"]
    code, _, err = run(capsys, "--node", remote, "deploy", "hub.amigos.dev/alice/bad", str(bad))
    assert code == 1 and "line 3" in err and "[float]" in err
    assert httpx.get(f"{remote}/v1/node").json()["size"] == before  # nothing was sent


def test_remote_signing_needs_an_account_and_its_passphrase(remote: str, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run(capsys, "--node", remote, "call", COUNTER, "increment", "--as", "nobody")
    assert code == 2 and "no account 'nobody'" in err
    monkeypatch.setenv("AMIGOS_PASSPHRASE", "not it")
    code, _, err = run(capsys, "--node", remote, "call", COUNTER, "increment")
    assert code == 1 and "wrong passphrase" in err
    monkeypatch.setenv("AMIGOS_CONFIG", str(Path(os.environ["HOME"]) / "empty-config"))
    code, _, err = run(capsys, "--node", remote, "call", COUNTER, "increment")
    assert code == 2 and "amigos account new NAME" in err
    assert run(capsys, "--node", remote, "services")[0] == 0  # reading needs no account


def test_a_node_that_changed_its_key_is_caught(remote: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--node", remote, "services")[0] == 0  # pins the key
    pinned = Path(os.environ["AMIGOS_CONFIG"]) / "nodes.json"
    saved = json.loads(pinned.read_text())
    saved[remote] = {"node_key": "ab" * 32, "head": None}
    pinned.write_text(json.dumps(saved))
    code, _, err = run(capsys, "--node", remote, "services")
    assert code == 1 and "forget-node" in err and "Traceback" not in err
    assert run(capsys, "config", "forget-node", remote)[0] == 0
    assert run(capsys, "--node", remote, "services")[0] == 0


def test_unreachable_node_is_one_line(user: dict[str, str]) -> None:
    done = amigos_run(user, "--node", "http://127.0.0.1:9", "query", COUNTER, "get")
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1
    assert "cannot reach the node" in done.stderr and "amigos dev" in done.stderr


def interruptible() -> None:
    """In a follower about to start: SIGINT back to its default, so that Python turns it into
    KeyboardInterrupt even when the suite itself runs in the background (where a shell starts
    commands with SIGINT ignored, and a child inherits that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_events_follow_streams_new_events(remote: str, node: tuple[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    env = environment(node[1])
    follower = subprocess.Popen([sys.executable, "-m", "amigos", "--node", remote, "--json", "events", "--follow",
                                 "--service", "hub.amigos.dev/alice/counter"], env=env, stdout=subprocess.PIPE, text=True,
                                preexec_fn=interruptible)
    try:
        time.sleep(1.0)  # the stream starts at what commits from now on
        assert run(capsys, "--node", remote, "deploy", COUNTER, str(HUB / "counter.py"))[0] == 0
        assert run(capsys, "--node", remote, "call", COUNTER, "increment", "7")[0] == 0
        assert follower.stdout is not None
        event = json.loads(follower.stdout.readline())
        assert event["service"] == COUNTER and event["name"] == "incremented" and event["attrs"]["by"] == 7
    finally:
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=20) == 130


def test_events_follow_a_node_home_as_its_blocks_commit(remote: str, node: tuple[str, Path],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    env = environment(node[1])
    follower = subprocess.Popen([sys.executable, "-m", "amigos", "--home", str(node[1] / "node"), "--json", "events",
                                 "--follow", "--service", COUNTER], env=env, stdout=subprocess.PIPE, text=True,
                                preexec_fn=interruptible)
    try:
        time.sleep(1.0)  # it has read the home once: what follows is new
        assert run(capsys, "--node", remote, "deploy", COUNTER, str(HUB / "counter.py"))[0] == 0
        assert run(capsys, "--node", remote, "call", COUNTER, "increment", "11")[0] == 0
        assert follower.stdout is not None
        event = json.loads(follower.stdout.readline())  # not the history: what committed since it started
        assert event["service"] == COUNTER and event["name"] == "incremented" and event["attrs"]["by"] == 11
    finally:
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=20) == 130


def test_a_taken_port_is_a_clear_error(user: dict[str, str], tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for command in ("serve", "dev"):
            done = amigos_run(user, command, "--home", str(tmp_path / command), "--port", port, cwd=tmp_path)
            assert done.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in done.stderr, done.stderr
            assert not (tmp_path / command).exists()  # nothing was opened


def test_a_node_home_is_read_locally_but_not_written(remote: str, node: tuple[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    node_home = node[1] / "node"
    code, out, _ = run(capsys, "--home", str(node_home), "log", "--limit", "2")
    assert code == 0 and "signed" in out
    assert run(capsys, "--home", str(node_home), "--json", "events")[0] == 0
    assert run(capsys, "--home", str(node_home), "services")[0] == 0
    code, _, err = run(capsys, "--home", str(node_home), "call", COUNTER, "increment")
    assert code == 2 and "is a node's home" in err


def test_a_plain_home_has_no_log(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("events", "log"):
        code, _, err = run(capsys, "--home", str(home), command)
        assert code == 2 and "without a log" in err and "--node" in err


# --------------------------------------------------------------------------- completion


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_completes_commands_options_and_accounts(user: dict[str, str], tmp_path: Path, shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    assert amigos_run(user, "account", "new", "alice").returncode == 0
    script = tmp_path / f"amigos.{shell}"
    script.write_text(amigos_run(user, "completion", shell).stdout)
    shim = tmp_path / "bin" / "amigos"  # `amigos account list -q` names the accounts
    shim.parent.mkdir()
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m amigos \"$@\"\n")
    shim.chmod(0o755)
    setup = "autoload -U +X compinit && compinit -u; " if shell == "zsh" else ""

    def complete(line: str) -> list[str]:
        words = line.split(" ")
        program = (f"{setup}source {script}; COMP_WORDS=({' '.join(repr(w) for w in words)}); "
                   f"COMP_CWORD={len(words) - 1}; _amigos; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
        done = subprocess.run([shell, "-c", program], capture_output=True, text=True, timeout=30, check=False,
                              env={**user, "PATH": f"{shim.parent}:{user['PATH']}"})
        assert done.returncode == 0, done.stderr
        # zsh's compgen leaves matching the word being typed to compadd, as the shell does
        return sorted(w for w in done.stdout.split() if w.startswith(words[-1]))

    assert complete("amigos acc") == ["account"]
    assert complete("amigos account ") == sorted(["new", "import", "list", "show", "use", "export", "backup", "restore"])
    assert complete("amigos --json account u") == ["use"]
    assert complete("amigos --home /tmp deploy --g") == ["--gas"]
    assert complete("amigos call --as ") == ["alice"]
    assert complete("amigos account use ") == ["alice"]
    assert complete("amigos verify --isolation ") == ["none", "process"]
    assert complete("amigos completion ") == ["bash", "fish", "zsh"]


def test_fish_completion_script_parses(user: dict[str, str], tmp_path: Path) -> None:
    text = amigos_run(user, "completion", "fish").stdout
    assert "-a account" in text and "-l gas" in text
    if shutil.which("fish") is None:
        pytest.skip("fish is not installed")
    script = tmp_path / "amigos.fish"
    script.write_text(text)
    done = subprocess.run(["fish", "--no-execute", str(script)], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    listed = subprocess.run(["fish", "-c", f"source {script}; complete -C 'amigos acc'"], capture_output=True,
                            text=True, timeout=30, check=False, env={**os.environ, "HOME": str(tmp_path)})
    assert listed.stdout.startswith("account"), listed.stdout + listed.stderr


# --------------------------------------------------------------------------- amigos dev


def read_events(process: subprocess.Popen[str], until: Any, timeout: float = 90) -> list[dict[str, Any]]:
    """JSON lines from `amigos dev --json` until one satisfies ``until``."""
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"amigos dev ended: {seen}")
        seen.append(json.loads(line))
        if until(seen[-1]):
            return seen
    raise AssertionError(f"timed out: {seen}")


def start_dev(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "amigos", "--json", "dev", "--port", "0", "--isolation", "none"],
                            env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=30)


def test_amigos_dev_serves_deploys_redeploys_and_stops_on_ctrl_c(user: dict[str, str], tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(HUB, project / "hub", ignore=shutil.ignore_patterns("test_*", "_*", "__pycache__"))
    (project / "services").mkdir()
    mine = project / "services" / "mine.py"
    mine.write_text('"""Mine."""\n\ndef get() -> int:\n    return 1\n')
    (project / "services" / "test_mine.py").write_text("this is not a service")
    hub_paths = {f"hub.amigos.dev/amigos/{f.stem}" for f in (project / "hub").glob("*.py")}

    dev = start_dev(user, project)
    try:
        ready = read_events(dev, lambda e: e["event"] == "ready")[-1]
        url = ready["url"]
        assert set(ready["services"]) == hub_paths | {"hub.amigos.dev/dev/mine"}
        services = {s["path"]: s for s in httpx.get(f"{url}/v1/services").json()["services"]}
        assert set(services) == set(ready["services"])
        dev_address = services["hub.amigos.dev/dev/mine"]["owner"]
        assert dev_address.startswith("amigo1")  # signed by the dev account kept in the home
        assert stat.S_IMODE((project / ".amigos-dev" / "dev-account.key").stat().st_mode) == 0o600

        time.sleep(0.05)  # a later modification time than the first deploy's (an upgrade keeps state: the code changes)
        mine.write_text('"""Mine."""\n\ndef get() -> int:\n    return 2\n')
        read_events(dev, lambda e: e["event"] == "deployed" and e["path"] == "hub.amigos.dev/dev/mine")
        assert httpx.get(f"{url}/v1/query/hub.amigos.dev/dev/mine", params={"function": "get"}).json()["result"] == 2
        mine.write_text("value = 1.5\n")
        error = read_events(dev, lambda e: e["event"] == "error")[-1]
        assert "float" in error["message"] and error["file"].endswith("mine.py")
        assert httpx.get(f"{url}/v1/node").status_code == 200  # still serving
        done = amigos_run(user, "--node", url, "query", "hub.amigos.dev/dev/mine", "get")
        assert done.returncode == 0 and done.stdout.strip() == "2"
    finally:
        assert stop(dev) == 0
    assert dev.stderr is not None and "Traceback" not in dev.stderr.read()

    mine.write_text('"""Mine."""\n\ndef get() -> int:\n    return 2\n')  # as deployed
    again = start_dev(user, project)  # the same home: nothing unchanged is deployed again
    try:
        seen = read_events(again, lambda e: e["event"] == "ready")
        assert [e for e in seen if e["event"] == "deployed"] == []
        assert httpx.get(f"{seen[-1]['url']}/v1/node").json()["size"] == len(hub_paths) + 2
    finally:
        assert stop(again) == 0


def test_amigos_dev_human_output_and_bad_folders(user: dict[str, str], tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(HUB, project / "hub", ignore=shutil.ignore_patterns("test_*", "_*", "__pycache__"))
    dev = subprocess.Popen([sys.executable, "-m", "amigos", "dev", "--port", "0", "--isolation", "none"],
                           env=user, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert dev.stdout is not None
        lines = []
        while not lines or "Ctrl-C stops the node" not in lines[-1]:
            line = dev.stdout.readline()
            assert line, lines
            lines.append(line)
        text = "".join(lines)
        assert "/openapi.json" in text and "/v1/render/hub.amigos.dev/amigos/counter.html" in text
        assert "amigos account new" in text and "call hub.amigos.dev/amigos/counter increment 2" in text
    finally:
        assert stop(dev) == 0
    done = amigos_run(user, "dev", "--watch", str(tmp_path / "missing"), cwd=project)
    assert done.returncode == 2 and "is not a folder" in done.stderr
    done = amigos_run(user, "dev", "--namespace", "amigos", cwd=project)
    assert done.returncode == 2


def test_dev_deploys_a_batch_in_dependency_order_and_names_cycles(tmp_path: Path) -> None:
    from amigos.cli.dev import dependency_order, service_files

    files = {"forum": "from hub.amigos import names\n", "names": "x = 1\n", "zeta": "from hub.amigos import forum\n",
             "ping": "from hub.amigos import pong\n", "pong": "from hub.amigos import ping\n", "bad": "x = 1.5\n",
             "_private": "", "test_names": ""}
    for name, text in files.items():
        (tmp_path / f"{name}.py").write_text(text)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.py").write_text("x = 1\n")
    sources = service_files(tmp_path, "amigos")
    assert sorted(s.path.rsplit("/", 1)[1] for s in sources) == ["bad", "forum", "names", "ping", "pong", "zeta"]
    ordered, problems = dependency_order(sources, {s.file: s.file.read_text() for s in sources})
    assert [s.path.rsplit("/", 1)[1] for s in ordered] == ["names", "forum", "zeta"]
    why = {s.file.stem: text for s, text in problems.items()}
    assert "[float]" in why["bad"] and "bad.py:1" in why["bad"]
    assert "import cycle" in why["ping"] and "hub.amigos.dev/amigos/pong" in why["ping"]
