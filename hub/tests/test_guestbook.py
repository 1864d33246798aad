"""The guestbook: one signature per account, shown with names, and what it refuses."""

import pytest

from amigos import LocalRuntime
from amigos.testing import (
    Accounts,
    Chain,
    DeployFile,
    assert_event,
    assert_fails,
    assert_ok,
)


@pytest.fixture
def names(deploy_file: DeployFile) -> str:
    return deploy_file("hub.amigos.dev/amigos/names", "../names.py")


@pytest.fixture
def guestbook(deploy_file: DeployFile, names: str) -> str:
    return deploy_file("hub.amigos.dev/amigos/guestbook", "../guestbook.py")  # imports names, so it comes second


def test_sign_and_read(runtime: LocalRuntime, accounts: Accounts, chain: Chain, names: str, guestbook: str) -> None:
    assert_ok(runtime.call(names, "register", "alice", signer=accounts.alice))
    chain.advance(seconds=3600, blocks=2)
    receipt = runtime.call(guestbook, "sign", "Lovely place!", signer=accounts.alice)
    assert assert_ok(receipt) == 1
    assert_event(receipt, "signed", number=1, author=accounts.alice)
    assert receipt.height == 6  # names, guestbook, register, two empty blocks, then this call
    assert runtime.query(guestbook, "entry", 1) == {"author": "alice", "message": "Lovely place!", "time": chain.time}
    assert runtime.query(guestbook, "entry_of", accounts.alice) == 1
    assert_ok(runtime.call(guestbook, "sign", "hi\n# not a heading", signer=accounts.bob))
    assert runtime.render(guestbook) == (
        "# Guestbook\n\n2 signatures. Sign with `sign(message)`.\n\n"
        f"**bob** at {chain.time}:\n\n> hi\n> # not a heading\n\n"
        f"**@alice** at {chain.time}:\n\n> Lovely place!\n"
    )


def test_each_account_signs_once(runtime: LocalRuntime, accounts: Accounts, guestbook: str) -> None:
    assert_ok(runtime.call(guestbook, "sign", "first", signer=accounts.bob))
    assert_fails(runtime.call(guestbook, "sign", "again", signer=accounts.bob), "you signed already, as entry 1")
    assert runtime.query(guestbook, "entry", 1)["message"] == "first"


@pytest.mark.parametrize("message", ["", "   ", "x" * 281, 42, None, ["hi"]])
def test_garbage_messages_are_refused(runtime: LocalRuntime, accounts: Accounts, guestbook: str, message: object) -> None:
    assert_fails(runtime.call(guestbook, "sign", message, signer=accounts.mallory),
                 "a message is text of 1 to 280 characters")
    assert runtime.query(guestbook, "entry_of", accounts.mallory) == 0


@pytest.mark.parametrize("number", [0, 2, -1, True, "1"])
def test_unknown_entries_are_not_found(runtime: LocalRuntime, accounts: Accounts, guestbook: str, number: object) -> None:
    assert_ok(runtime.call(guestbook, "sign", "first", signer=accounts.bob))
    assert_fails(runtime.call(guestbook, "entry", number, signer=accounts.bob), f"no entry {number!r}")
