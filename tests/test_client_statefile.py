"""The client state file (the node keys a client pinned and the last heads it checked): a
damaged file is a clear UsageError naming the file and the fault, and it is never rewritten."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import amigos
from amigos.client import NodeClient
from amigos.errors import UsageError
from amigos.node import Node
from amigos.node.app import create_app
from asgi_transport import sync_client

URL = "http://node.test"
COUNTER = textwrap.dedent('''\
    count = 0

    def increment() -> int:
        global count
        count += 1
        return count
''')
ALICE = amigos.Account.from_seed(bytes([41]) * 32)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    node = Node(tmp_path_factory.mktemp("node"), chain_id="amigos-test", isolation="none", block_interval=0.002).start()
    NodeClient(URL, ALICE, http=sync_client(create_app(node), URL)).deploy(f"hub.amigos.dev/{ALICE.address}/counter",
                                                                           COUNTER)
    yield node
    node.stop()


def connect(node: Node, state: Path) -> NodeClient:
    return amigos.connect(URL, account=ALICE, http=sync_client(create_app(node), URL), state_file=state)


@pytest.fixture
def saved(node: Node, tmp_path: Path) -> dict[str, Any]:
    """A state file as the client writes it, after one contact with the node."""
    state = tmp_path / "good.json"
    connect(node, state)
    return json.loads(state.read_text())  # type: ignore[no-any-return]


def assert_refused_and_kept(node: Node, state: Path, match: str) -> None:
    before = state.read_bytes()
    with pytest.raises(UsageError, match=match) as caught:
        connect(node, state)
    assert str(state) in str(caught.value)
    assert state.read_bytes() == before  # not repaired, not emptied: the user decides


@pytest.mark.parametrize("content, fault", [
    (b"", "not JSON"),
    (b'{"http://node.test": {"node_key": "ab', "not JSON"),
    (b"\x89PNG\r\n\x1a\n\x00\xff\xfe garbage", "not UTF-8"),
    (b"[]", "not a JSON object of node URLs"),
    (b"null", "not a JSON object of node URLs"),
    (b'"http://node.test"', "not a JSON object of node URLs"),
])
def test_a_state_file_that_is_not_a_json_object_is_refused(node: Node, tmp_path: Path, content: bytes,
                                                           fault: str) -> None:
    state = tmp_path / "heads.json"
    state.write_bytes(content)
    assert_refused_and_kept(node, state, f"damaged: it is {fault}")


def entry_is(value: object) -> Callable[[dict[str, Any]], None]:
    return lambda entry: entry.clear() or entry.update(value=value)  # type: ignore[func-returns-value]


def without(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda entry: entry.pop(name)  # type: ignore[no-any-return]


def setting(name: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda entry: entry.update({name: value})


def setting_in_head(name: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda entry: entry["head"].update({name: value})


def head_without(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda entry: entry["head"].pop(name)  # type: ignore[no-any-return]


@pytest.mark.parametrize("damage, fault", [
    (without("node_key"), "node_key must be a string of hex digits"),
    (setting("node_key", 12), "node_key must be a string of hex digits"),
    (setting("node_key", "00" * 31), "node_key must be 32 bytes"),
    (setting("node_key", "zz" * 32), "node_key must be a string of hex digits"),
    (setting("head", "yesterday"), "a tree head is a JSON object"),
    (setting("head", []), "a tree head is a JSON object"),
    (head_without("root"), "a tree head lacks 'root'"),
    (setting_in_head("size", "3"), "non-negative int height, time and size"),
    (setting_in_head("size", -1), "non-negative int height, time and size"),
    (setting_in_head("signature", "00" * 64), "not signed by the pinned key"),
    (setting_in_head("size", 10**6), "not signed by the pinned key"),  # a head the node never signed
])
def test_a_damaged_entry_for_the_node_is_refused(node: Node, tmp_path: Path, saved: dict[str, Any],
                                                 damage: Callable[[dict[str, Any]], None], fault: str) -> None:
    damage(saved[URL])
    state = tmp_path / "heads.json"
    state.write_text(json.dumps(saved))
    assert_refused_and_kept(node, state, f"damaged: .*{fault}")


@pytest.mark.parametrize("entry", [[], "key", 7, True])
def test_an_entry_that_is_not_an_object_is_refused(node: Node, tmp_path: Path, entry: object) -> None:
    state = tmp_path / "heads.json"
    state.write_text(json.dumps({URL: entry}))
    assert_refused_and_kept(node, state, f"damaged: the entry for {URL} is not a JSON object")


def test_a_folder_in_place_of_the_state_file_is_refused(node: Node, tmp_path: Path) -> None:
    state = tmp_path / "heads.json"
    state.mkdir()
    (state / "keep").write_text("mine")
    with pytest.raises(UsageError, match=f"cannot read the client state file {state}"):
        connect(node, state)
    assert (state / "keep").read_text() == "mine"


def test_a_file_damaged_while_the_client_runs_is_not_overwritten(node: Node, tmp_path: Path) -> None:
    """The client saves each newer head: it must not replace a file it cannot read with its
    own entry (that would drop the keys pinned for every other node)."""
    state = tmp_path / "heads.json"
    client = connect(node, state)
    state.write_bytes(b'{"http://other.test": {"node_key": ')  # e.g. another program's half write
    with pytest.raises(UsageError, match="damaged: it is not JSON"):
        client.call(f"hub.amigos.dev/{ALICE.address}/counter", "increment")
    assert state.read_bytes() == b'{"http://other.test": {"node_key": '


def test_entries_for_other_nodes_are_kept_as_they_are(node: Node, tmp_path: Path, saved: dict[str, Any]) -> None:
    state = tmp_path / "heads.json"
    other = {"node_key": "ab" * 32, "head": None, "note": "written by a newer client"}
    state.write_text(json.dumps({"http://other.test": other, URL: saved[URL]}))
    connect(node, state).call(f"hub.amigos.dev/{ALICE.address}/counter", "increment")
    written = json.loads(state.read_text())
    assert written["http://other.test"] == other
    assert written[URL]["head"]["size"] > saved[URL]["head"]["size"]
