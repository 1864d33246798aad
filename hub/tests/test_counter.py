"""The counter: increments, events, render, and what it refuses."""

import pytest

from amigos import LocalRuntime
from amigos.testing import (
    Accounts,
    DeployFile,
    assert_event,
    assert_fails,
    assert_gas_below,
    assert_ok,
)


@pytest.fixture
def counter(deploy_file: DeployFile) -> str:
    return deploy_file("hub.amigos.dev/amigos/counter", "../counter.py")


def test_increment_adds_and_emits(runtime: LocalRuntime, accounts: Accounts, counter: str) -> None:
    assert assert_ok(runtime.call(counter, "increment", signer=accounts.bob)) == 1
    receipt = runtime.call(counter, "increment", 41, signer=accounts.carol)
    assert assert_ok(receipt) == 42
    assert_event(receipt, "incremented", by=41, caller=accounts.carol)
    assert_gas_below(receipt, 5_000)
    assert runtime.query(counter, "get") == 42


def test_render_shows_the_count(runtime: LocalRuntime, accounts: Accounts, counter: str) -> None:
    runtime.call(counter, "increment", 5, signer=accounts.bob)
    assert runtime.render(counter) == "# Counter\n\nValue: **5**\n"


@pytest.mark.parametrize("by, message", [
    (0, "by must be positive"),
    (-3, "by must be positive"),
    (True, "by must be an int"),
    ("2", "by must be an int"),
    ([1], "by must be an int"),
])
def test_bad_increments_are_refused_and_change_nothing(runtime: LocalRuntime, accounts: Accounts, counter: str,
                                                       by: object, message: str) -> None:
    assert_fails(runtime.call(counter, "increment", by, signer=accounts.bob), message)
    assert runtime.query(counter, "get") == 0


def test_the_count_cannot_overflow_silently(runtime: LocalRuntime, accounts: Accounts, counter: str) -> None:
    assert_ok(runtime.call(counter, "increment", 2 ** 4095, signer=accounts.bob))
    assert_fails(runtime.call(counter, "increment", 2 ** 4095, signer=accounts.bob), type="LimitExceeded")
    assert runtime.query(counter, "get") == 2 ** 4095
