"""The names registry: registering, looking up both ways, transferring, releasing, and the rules."""

import pytest

from amigos import LocalRuntime
from amigos.testing import Accounts, DeployFile, assert_event, assert_fails, assert_ok


@pytest.fixture
def names(deploy_file: DeployFile) -> str:
    return deploy_file("hub.amigos.dev/amigos/names", "../names.py")


def test_register_then_lookup_both_ways(runtime: LocalRuntime, accounts: Accounts, names: str) -> None:
    receipt = runtime.call(names, "register", "alice", signer=accounts.alice)
    assert assert_ok(receipt) == "alice"
    assert_event(receipt, "registered", name="alice", owner=accounts.alice)
    assert runtime.query(names, "lookup", "alice") == accounts.alice
    assert runtime.query(names, "reverse", accounts.alice) == "alice"
    assert runtime.query(names, "display_name", accounts.alice) == "@alice"
    assert runtime.query(names, "display_name", accounts.bob) == "bob"
    assert runtime.query(names, "lookup", "nobody") == ""
    assert runtime.render(names, "alice") == "# @alice\n\nOwned by `alice`.\n"
    assert runtime.render(names, "nobody") == "# @nobody\n\nThis name is free.\n"
    assert runtime.render(names).startswith("# Names\n\n1 names registered.")


def test_first_come_first_served_and_one_name_each(runtime: LocalRuntime, accounts: Accounts, names: str) -> None:
    assert_ok(runtime.call(names, "register", "alice", signer=accounts.alice))
    assert_fails(runtime.call(names, "register", "alice", signer=accounts.mallory), "the name alice is taken")
    assert_fails(runtime.call(names, "register", "alice2", signer=accounts.alice), "you already have the name alice")
    assert runtime.query(names, "lookup", "alice2") == ""


@pytest.mark.parametrize("name, message", [
    ("ab", "a name has 3 to 32 characters"),
    ("a" * 33, "a name has 3 to 32 characters"),
    ("", "a name has 3 to 32 characters"),
    ("Alice", "a name has only lower-case letters, digits and underscores, and starts with a letter"),
    ("9lives", "a name has only lower-case letters, digits and underscores, and starts with a letter"),
    ("_alice", "a name has only lower-case letters, digits and underscores, and starts with a letter"),
    ("al ice", "a name has only lower-case letters, digits and underscores, and starts with a letter"),
    ("alıce", "a name has only lower-case letters, digits and underscores, and starts with a letter"),
    ("ａｌｉｃｅ", "a name has only lower-case letters, digits and underscores, and starts with a letter"),
    ("admin", "the name admin is reserved"),
    ("amigos", "the name amigos is reserved"),
    (42, "a name must be a string"),
    (None, "a name must be a string"),
    (["alice"], "a name must be a string"),
])
def test_names_that_break_the_rules_are_refused(runtime: LocalRuntime, accounts: Accounts, names: str,
                                                name: object, message: str) -> None:
    assert_fails(runtime.call(names, "register", name, signer=accounts.bob), message)
    assert runtime.query(names, "reverse", accounts.bob) == ""


def test_lookups_of_garbage_find_nothing(runtime: LocalRuntime, names: str) -> None:
    assert runtime.query(names, "lookup", 42) == ""
    assert runtime.query(names, "reverse", ["bob"]) == ""
    assert runtime.render(names, "x\n# Owned by mallory").startswith("# Names\n\n")


def test_transfer_hands_the_name_over(runtime: LocalRuntime, accounts: Accounts, names: str) -> None:
    assert_ok(runtime.call(names, "register", "alice", signer=accounts.alice))
    receipt = runtime.call(names, "transfer", "alice", accounts.bob, signer=accounts.alice)
    assert_event(receipt, "transferred", name="alice", sender=accounts.alice, to=accounts.bob)
    assert runtime.query(names, "lookup", "alice") == accounts.bob
    assert runtime.query(names, "reverse", accounts.alice) == ""
    assert runtime.query(names, "reverse", accounts.bob) == "alice"
    assert_ok(runtime.call(names, "register", "alice_again", signer=accounts.alice))  # free for a new name


def test_only_the_owner_transfers_or_releases(runtime: LocalRuntime, accounts: Accounts, names: str) -> None:
    assert_ok(runtime.call(names, "register", "alice", signer=accounts.alice))
    assert_fails(runtime.call(names, "transfer", "alice", accounts.mallory, signer=accounts.mallory),
                 "only the owner of a name can transfer it")
    assert_fails(runtime.call(names, "release", "alice", signer=accounts.mallory),
                 "only the owner of a name can release it")
    assert_fails(runtime.call(names, "transfer", "nobody", accounts.mallory, signer=accounts.mallory),
                 "only the owner of a name can transfer it")
    assert runtime.query(names, "lookup", "alice") == accounts.alice


def test_transfer_refuses_a_receiver_with_a_name_or_garbage(runtime: LocalRuntime, accounts: Accounts, names: str) -> None:
    assert_ok(runtime.call(names, "register", "alice", signer=accounts.alice))
    assert_ok(runtime.call(names, "register", "bobby", signer=accounts.bob))
    assert_fails(runtime.call(names, "transfer", "alice", accounts.bob, signer=accounts.alice), "bob already has a name")
    for garbage in ["", 7, "line\nbreak", "x" * 200]:
        assert_fails(runtime.call(names, "transfer", "alice", garbage, signer=accounts.alice),
                     "an account is a string of 1 to 128 printable characters")
    assert runtime.query(names, "lookup", "alice") == accounts.alice


def test_release_frees_the_name(runtime: LocalRuntime, accounts: Accounts, names: str) -> None:
    assert_ok(runtime.call(names, "register", "alice", signer=accounts.alice))
    assert_event(runtime.call(names, "release", "alice", signer=accounts.alice), "released", name="alice")
    assert runtime.query(names, "reverse", accounts.alice) == ""
    assert_ok(runtime.call(names, "register", "alice", signer=accounts.bob))
    assert runtime.query(names, "lookup", "alice") == accounts.bob
