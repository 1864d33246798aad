"""The token: the GRC20/ERC20 rules for balances, transfers and allowances, and what it refuses."""

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

SUPPLY = 1_000_000 * 10 ** 6


@pytest.fixture
def token(deploy_file: DeployFile) -> str:
    return deploy_file("hub.amigos.dev/amigos/token", "../token.py")  # deployed by "amigos", who receives the supply


def balances(runtime: LocalRuntime, token: str, *owners: str) -> list[int]:
    return [runtime.query(token, "balance_of", owner) for owner in owners]


def test_the_deployer_holds_the_supply(runtime: LocalRuntime, token: str) -> None:
    assert runtime.query(token, "balance_of", "amigos") == SUPPLY
    assert runtime.query(token, "balance_of", "nobody") == 0
    assert runtime.render(token) == "# Amigo Token (AMT)\n\nTotal supply: 1,000,000.000000 AMT. Holders: 1.\n"


def test_transfer_moves_tokens_and_emits(runtime: LocalRuntime, accounts: Accounts, token: str) -> None:
    receipt = runtime.call(token, "transfer", accounts.bob, 1_500_000, signer="amigos")
    assert assert_ok(receipt) is True
    assert_event(receipt, "transfer", sender="amigos", to=accounts.bob, amount=1_500_000)
    assert_gas_below(receipt, 10_000)
    assert balances(runtime, token, "amigos", accounts.bob) == [SUPPLY - 1_500_000, 1_500_000]
    assert runtime.render(token, f"balance/{accounts.bob}") == "# AMT balance\n\n`bob` holds 1.500000 AMT.\n"


def test_transfer_to_oneself_keeps_the_balance(runtime: LocalRuntime, token: str) -> None:
    assert_ok(runtime.call(token, "transfer", "amigos", 10, signer="amigos"))
    assert balances(runtime, token, "amigos") == [SUPPLY]


def test_cannot_transfer_more_than_the_balance(runtime: LocalRuntime, accounts: Accounts, token: str) -> None:
    assert_ok(runtime.call(token, "transfer", accounts.bob, 100, signer="amigos"))
    assert_fails(runtime.call(token, "transfer", accounts.carol, 101, signer=accounts.bob),
                 "insufficient balance: 100 available")
    assert_fails(runtime.call(token, "transfer", accounts.bob, 1, signer=accounts.mallory),
                 "insufficient balance: 0 available")
    assert balances(runtime, token, accounts.bob, accounts.carol) == [100, 0]


@pytest.mark.parametrize("to, amount, message", [
    ("bob", 0, "an amount is between 1 and the total supply"),
    ("bob", -5, "an amount is between 1 and the total supply"),
    ("bob", SUPPLY + 1, "an amount is between 1 and the total supply"),
    ("bob", 2 ** 4000, "an amount is between 1 and the total supply"),
    ("bob", True, "an amount is an int"),
    ("bob", "10", "an amount is an int"),
    ("bob", None, "an amount is an int"),
    ("", 10, "an account is a string of 1 to 128 printable characters"),
    (42, 10, "an account is a string of 1 to 128 printable characters"),
    ("x" * 129, 10, "an account is a string of 1 to 128 printable characters"),
    ("bob\n# owned", 10, "an account is a string of 1 to 128 printable characters"),
    ("`bob`", 10, "an account is a string of 1 to 128 printable characters"),
])
def test_garbage_transfers_are_refused(runtime: LocalRuntime, token: str, to: object, amount: object,
                                       message: str) -> None:
    assert_fails(runtime.call(token, "transfer", to, amount, signer="amigos"), message)
    assert balances(runtime, token, "amigos") == [SUPPLY]


def test_a_float_amount_never_reaches_the_service(runtime: LocalRuntime, token: str) -> None:
    assert_fails(runtime.call(token, "transfer", "bob", 1.5, signer="amigos"), type="InvalidArgument")


def test_approve_then_transfer_from_spends_the_allowance(runtime: LocalRuntime, accounts: Accounts, token: str) -> None:
    receipt = runtime.call(token, "approve", accounts.bob, 300, signer="amigos")
    assert_event(receipt, "approval", owner="amigos", spender=accounts.bob, amount=300)
    assert runtime.query(token, "allowance", "amigos", accounts.bob) == 300

    receipt = runtime.call(token, "transfer_from", "amigos", accounts.carol, 200, signer=accounts.bob)
    assert_event(receipt, "transfer", sender="amigos", to=accounts.carol, amount=200)
    assert runtime.query(token, "allowance", "amigos", accounts.bob) == 100
    assert_fails(runtime.call(token, "transfer_from", "amigos", accounts.bob, 101, signer=accounts.bob),
                 "allowance exceeded: 100 left")
    assert balances(runtime, token, accounts.carol, accounts.bob) == [200, 0]


def test_an_allowance_is_only_for_its_spender(runtime: LocalRuntime, accounts: Accounts, token: str) -> None:
    assert_ok(runtime.call(token, "approve", accounts.bob, 300, signer="amigos"))
    assert_fails(runtime.call(token, "transfer_from", "amigos", accounts.mallory, 1, signer=accounts.mallory),
                 "allowance exceeded: 0 left")
    assert_fails(runtime.call(token, "transfer_from", accounts.bob, accounts.bob, 1, signer="amigos"),
                 "allowance exceeded: 0 left")


def test_an_allowance_beyond_the_balance_cannot_overdraw(runtime: LocalRuntime, accounts: Accounts, token: str) -> None:
    assert_ok(runtime.call(token, "transfer", accounts.bob, 10, signer="amigos"))
    assert_ok(runtime.call(token, "approve", accounts.carol, 1_000, signer=accounts.bob))
    receipt = runtime.call(token, "transfer_from", accounts.bob, accounts.carol, 11, signer=accounts.carol)
    assert_fails(receipt, "insufficient balance: 10 available")
    assert runtime.query(token, "allowance", accounts.bob, accounts.carol) == 1_000  # nothing was spent


def test_approve_zero_withdraws_and_garbage_is_refused(runtime: LocalRuntime, accounts: Accounts, token: str) -> None:
    assert_ok(runtime.call(token, "approve", accounts.bob, 5, signer="amigos"))
    assert_ok(runtime.call(token, "approve", accounts.bob, 0, signer="amigos"))
    assert runtime.query(token, "allowance", "amigos", accounts.bob) == 0
    assert_fails(runtime.call(token, "approve", accounts.bob, -1, signer="amigos"),
                 "an amount is between 0 and the total supply")
    assert_fails(runtime.call(token, "approve", "", 5, signer="amigos"),
                 "an account is a string of 1 to 128 printable characters")
    assert runtime.query(token, "allowance", 1, [2]) == 0


def test_render_refuses_to_echo_markdown(runtime: LocalRuntime, token: str) -> None:
    assert runtime.render(token, "balance/x`\n# Owned") == "# Not an account\n"
