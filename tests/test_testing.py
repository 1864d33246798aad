"""amigos.testing: its fixtures (used here through the plugin, as a service's tests use them),
its assertions (each must fail when it should, with a message that says why) and run_tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from amigos_test_runner import run_amigos_test

from amigos import LocalRuntime
from amigos.errors import UsageError
from amigos.testing import (
    START_TIME,
    Accounts,
    Chain,
    Clock,
    DeployFile,
    assert_event,
    assert_fails,
    assert_gas_below,
    assert_ok,
    run_tests,
)

CONTEXT = "import std\n\ndef context():\n    std.emit('seen', name='context', height=std.height())\n" \
          "    return std.caller(), std.height(), std.time()\n"


@pytest.fixture
def service(runtime: LocalRuntime, tmp_path: Path, deploy_file: DeployFile) -> str:
    source = tmp_path / "context.py"
    source.write_text(CONTEXT)
    return deploy_file("hub.amigos.dev/alice/context", source)  # absolute: used as is


def test_blocks_take_the_clock_and_move_with_the_chain(runtime: LocalRuntime, accounts: Accounts, clock: Clock,
                                                       chain: Chain, service: str) -> None:
    assert (chain.height, chain.time) == (1, START_TIME)  # the deploy was block 1
    assert assert_ok(runtime.call(service, "context", signer=accounts.bob)) == ("bob", 2, START_TIME)
    chain.advance(seconds=90, blocks=3)
    assert chain.height == 5 and clock.now == START_TIME + 90
    assert assert_ok(runtime.call(service, "context", signer=accounts.bob)) == ("bob", 6, START_TIME + 90)
    clock.set(START_TIME)  # block time never goes back: the next block keeps the last time
    assert assert_ok(runtime.call(service, "context", signer=accounts.bob))[2] == START_TIME + 90


def test_deploy_file_signs_as_the_namespace_owner(runtime: LocalRuntime, service: str) -> None:
    assert runtime.service(service).owner == "alice"


def test_deploy_file_reports_a_missing_file(deploy_file: DeployFile) -> None:
    with pytest.raises(UsageError, match="no service file at .*nothing.py"):
        deploy_file("hub.amigos.dev/alice/nothing", "nothing.py")
    with pytest.raises(UsageError, match="not a service path"):
        deploy_file("counter", __file__)


@pytest.mark.parametrize("bad", [-1, "10", 1.5, None, True])
def test_the_clock_refuses_garbage(bad: object, chain: Chain) -> None:
    clock = Clock()
    with pytest.raises(UsageError):
        clock.advance(bad)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        chain.advance(blocks=bad)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        clock.set(bad)  # type: ignore[arg-type]
    assert clock.now == START_TIME and chain.height == 0


def test_accounts_are_valid_signer_names(accounts: Accounts) -> None:
    assert (accounts.alice, accounts["amigo1xyz"]) == ("alice", "amigo1xyz")
    for bad in ["", "has space", "x" * 129]:
        with pytest.raises(UsageError):
            accounts[bad]


def test_assertions_pass_on_what_happened(runtime: LocalRuntime, service: str) -> None:
    receipt = runtime.call(service, "context", signer="bob")
    event = assert_event(receipt, "seen", name="context", height=2)  # "name" as an attribute too
    assert event.service == service
    assert assert_gas_below(receipt, receipt.gas_used + 1) == receipt.gas_used
    assert_fails(runtime.call(service, "nothing", signer="bob"), type="NotFound")


def test_assertions_fail_saying_why(runtime: LocalRuntime, service: str) -> None:
    ok = runtime.call(service, "context", signer="bob")
    failed = runtime.call(service, "context", 1, signer="bob")
    with pytest.raises(AssertionError, match="the call failed: InvalidArgument: "):
        assert_ok(failed)
    with pytest.raises(AssertionError, match=r"the call succeeded \(result \('bob', 2, .*\) but should have failed"):
        assert_fails(ok)
    with pytest.raises(AssertionError, match="expected the call to fail with ServiceError, it failed with InvalidArgument"):
        assert_fails(failed)
    with pytest.raises(AssertionError, match="expected the call to fail with InvalidArgument: other"):
        assert_fails(failed, "other", type="InvalidArgument")
    with pytest.raises(AssertionError, match=r"no event seen height=3; the call emitted:\n  seen \{'name': 'context', 'height': 2\} from"):
        assert_event(ok, "seen", height=3)
    with pytest.raises(AssertionError, match="no event missing"):
        assert_event(ok, "missing")
    with pytest.raises(AssertionError, match="the call failed"):
        assert_event(failed, "seen")
    with pytest.raises(AssertionError, match=f"the call used {ok.gas_used} gas, not below {ok.gas_used}"):
        assert_gas_below(ok, ok.gas_used)


PROJECT_TEST = '''
from amigos.testing import assert_ok

def test_counter(runtime, accounts, deploy_file):
    counter = deploy_file("hub.amigos.dev/dev/counter", "counter.py")   # next to this file
    assert assert_ok(runtime.call(counter, "increment", 2, signer=accounts.bob)) == 2
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A developer's folder: a service in a subfolder and its test next to it."""
    (tmp_path / "services").mkdir()
    counter = Path(__file__).resolve().parent.parent / "hub" / "counter.py"
    (tmp_path / "services" / "counter.py").write_text(counter.read_text())
    (tmp_path / "services" / "test_counter.py").write_text(textwrap.dedent(PROJECT_TEST))
    return tmp_path


def test_run_tests_runs_the_tests_under_the_folder_or_the_files_given(project: Path) -> None:
    (project / "services" / "test_broken.py").write_text("def test_broken():\n    assert False\n")
    done = run_amigos_test(project)
    assert done.returncode == 1 and "1 failed, 1 passed" in done.stdout, done.stdout + done.stderr
    done = run_amigos_test(project, ["services/test_counter.py"])
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr


def test_run_tests_loads_the_plugin_once_when_its_entry_point_is_installed(project: Path, tmp_path: Path) -> None:
    """An installed Amigos registers the plugin through its entry point; run_tests also asks for
    it with -p: pytest must see one plugin, not fail on a second registration."""
    site = tmp_path / "site"
    dist = site / "amigos_plugin_check-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: amigos-plugin-check\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[pytest11]\namigos.testing = amigos.testing\n")
    done = run_amigos_test(project, python_path=[site], env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": ""})
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr


def test_run_tests_refuses_a_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="no such test file or folder: test_nothing.py"):
        run_tests(["test_nothing.py"], [])
