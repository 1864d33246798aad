"""The forum: posts, replies, pages with authors' names, and what it refuses."""

import pytest

from amigos import LocalRuntime
from amigos.testing import (
    Accounts,
    Clock,
    DeployFile,
    assert_event,
    assert_fails,
    assert_gas_below,
    assert_ok,
)


@pytest.fixture
def names(deploy_file: DeployFile) -> str:
    return deploy_file("hub.amigos.dev/amigos/names", "../names.py")


@pytest.fixture
def forum(deploy_file: DeployFile, names: str) -> str:
    return deploy_file("hub.amigos.dev/amigos/forum", "../forum.py")  # imports names, so it comes second


def test_post_and_reply(runtime: LocalRuntime, accounts: Accounts, clock: Clock, forum: str) -> None:
    receipt = runtime.call(forum, "post", "Hello", "First post!", signer=accounts.alice)
    assert assert_ok(receipt) == 1
    assert_event(receipt, "posted", id=1, author=accounts.alice, title="Hello")
    clock.advance(60)
    receipt = runtime.call(forum, "reply", 1, "Welcome", signer=accounts.bob)
    assert assert_ok(receipt) == 1
    assert_event(receipt, "replied", post=1, number=1, author=accounts.bob)
    assert runtime.query(forum, "get_post", 1) == {
        "author": "alice", "title": "Hello", "body": "First post!", "time": clock.now - 60, "replies": 1,
    }
    assert runtime.query(forum, "get_replies", 1) == [{"author": "bob", "body": "Welcome", "time": clock.now}]


def test_pages_show_names_looked_up_when_rendered(runtime: LocalRuntime, accounts: Accounts,
                                                  names: str, forum: str) -> None:
    assert_ok(runtime.call(forum, "post", "Hello", "line one\nline two", signer=accounts.alice))
    assert_ok(runtime.call(forum, "reply", 1, "Hi Alice", signer=accounts.bob))
    assert_ok(runtime.call(names, "register", "alice", signer=accounts.alice))  # after posting
    assert runtime.render(forum) == "# Forum\n\n- [Hello](?path=post/1) by @alice, 1 reply\n"
    assert runtime.render(forum, "post/1") == (
        "# Hello\n\nby @alice\n\n> line one\n> line two\n\n"
        "**bob** replied:\n\n> Hi Alice\n\n[Back to the forum](?path=)\n"
    )


def test_the_index_pages_newest_first(runtime: LocalRuntime, accounts: Accounts, forum: str) -> None:
    with runtime.batch():
        for n in range(1, 26):
            assert_ok(runtime.call(forum, "post", f"Topic {n}", "text", signer=accounts.alice))
    first = runtime.render(forum)
    assert first.index("Topic 25") < first.index("Topic 6]") and "Topic 5]" not in first
    assert first.endswith("[Older posts](?path=page/2)\n")
    second = runtime.render(forum, "page/2")
    assert "Topic 5]" in second and "Topic 1]" in second and "Topic 6]" not in second
    assert "Older posts" not in second
    assert "No posts here yet." in runtime.render(forum, "page/3")


@pytest.mark.parametrize("path", ["post/2", "post/0", "post/-1", "post/x", "page/0", "page/", "post/１",
                                  "page/99999999999999999999", "nothing", "post/1/extra"])
def test_unknown_pages_are_not_found(runtime: LocalRuntime, accounts: Accounts, forum: str, path: str) -> None:
    assert_ok(runtime.call(forum, "post", "Hello", "text", signer=accounts.alice))
    assert runtime.render(forum, path).startswith("# Not found")


def test_markdown_in_titles_and_bodies_stays_text(runtime: LocalRuntime, accounts: Accounts, forum: str) -> None:
    assert_ok(runtime.call(forum, "post", "[click](http://evil) # x", "# Heading\n[link](x)", signer=accounts.mallory))
    page = runtime.render(forum, "post/1")
    assert page.startswith("# \\[click\\]\\(http://evil\\) \\# x\n")
    assert "> # Heading\n> [link](x)" in page
    assert "[\\[click\\]\\(http://evil\\) \\# x](?path=post/1)" in runtime.render(forum)


@pytest.mark.parametrize("title, body, message", [
    ("", "text", "a title is one line of 1 to 100 characters"),
    ("   ", "text", "a title is one line of 1 to 100 characters"),
    ("two\nlines", "text", "a title is one line of 1 to 100 characters"),
    ("t" * 101, "text", "a title is one line of 1 to 100 characters"),
    (7, "text", "a title is one line of 1 to 100 characters"),
    ("Title", "", "a body is text of 1 to 4000 characters"),
    ("Title", "b" * 4001, "a body is text of 1 to 4000 characters"),
    ("Title", b"bytes", "a body is text of 1 to 4000 characters"),
])
def test_garbage_posts_are_refused(runtime: LocalRuntime, accounts: Accounts, forum: str,
                                   title: object, body: object, message: str) -> None:
    assert_fails(runtime.call(forum, "post", title, body, signer=accounts.mallory), message)
    assert runtime.render(forum) == "# Forum\n\nNo posts here yet.\n"


@pytest.mark.parametrize("post_id", [2, 0, -1, True, "1", None, 2 ** 100])
def test_replies_need_an_existing_post(runtime: LocalRuntime, accounts: Accounts, forum: str, post_id: object) -> None:
    assert_ok(runtime.call(forum, "post", "Hello", "text", signer=accounts.alice))
    assert_fails(runtime.call(forum, "reply", post_id, "text", signer=accounts.bob), f"no post {post_id!r}")
    assert runtime.query(forum, "get_post", 1)["replies"] == 0


def test_replies_are_bounded_and_paged(runtime: LocalRuntime, accounts: Accounts, forum: str) -> None:
    with runtime.batch():
        assert_ok(runtime.call(forum, "post", "First", "text", signer=accounts.alice))
        assert_ok(runtime.call(forum, "post", "Second", "text", signer=accounts.alice))
        assert_ok(runtime.call(forum, "reply", 2, "to the second post", signer=accounts.bob))
        for n in range(100):
            assert_ok(runtime.call(forum, "reply", 1, f"reply {n}", signer=accounts.bob))
    assert_fails(runtime.call(forum, "reply", 1, "one too many", signer=accounts.bob),
                 "post 1 has the most replies a post can have")
    last = runtime.query(forum, "get_replies", 1, 99, 100)
    assert [r["body"] for r in last] == ["reply 98", "reply 99"]  # not the second post's reply
    assert_fails(runtime.call(forum, "get_replies", 1, 1, 1000, signer=accounts.bob),
                 "start is an int and limit an int from 1 to 100")
    # The fullest page fits comfortably in a query's gas.
    receipt = runtime.call(forum, "render", "post/1", signer=accounts.bob)
    assert_gas_below(receipt, 2_000_000)
