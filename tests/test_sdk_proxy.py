"""Service proxies (``client.service(path)``) against a real node in-process and a local
runtime: results, typed errors with receipts, reads, introspection, bad arguments and lying
service descriptions; and the same calls giving the same answers both ways."""

from __future__ import annotations

import inspect
import pydoc
import textwrap
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

import amigos
from amigos.client import LocalClient, NodeClient, Receipt
from amigos.client.proxy import parse_signature
from amigos.errors import (
    DeployError,
    InvalidArgument,
    NodeError,
    NotFound,
    OutOfGas,
    ReadOnlyViolation,
    ServiceError,
    TransactionError,
    UsageError,
)
from amigos.ledger.tx import AccountMessage
from amigos.node import Node
from amigos.node.app import create_app
from asgi_transport import sync_client
from test_client import URL, start_node

WALLET = textwrap.dedent('''\
    """A wallet of points."""
    import std

    points = std.Map()

    def earn(amount: int, *, note: str = "") -> int:
        """Add ``amount`` points to the caller's balance and return it."""
        std.require(amount > 0, "amount must be positive")
        points[std.caller()] = points.get(std.caller(), 0) + amount
        std.emit("earned", amount=amount, note=note)
        return points[std.caller()]

    def balance(who: str) -> int:
        """The points of ``who``."""
        return points.get(who, 0)

    def spin(n: int) -> int:
        total = 0
        for i in range(n):
            total += i
        return total

    def shape(a, /, b: list[int] = (1, 2), *rest, c=None, **more) -> dict:
        return {"a": a, "b": b, "rest": list(rest), "c": c, "more": more}

    def render(path: str) -> str:
        return f"# Wallet\\n\\n{len(points)} holders"
''')

ALICE = amigos.Account.from_seed(bytes([31]) * 32)
WALLET_PATH = f"hub.amigos.dev/{ALICE.address}/wallet"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    node = start_node(tmp_path_factory.mktemp("proxy-node"))
    yield node
    node.stop()


@pytest.fixture(scope="module")
def remote(node: Node) -> Iterator[NodeClient]:
    client = amigos.connect(URL, account=ALICE, http=sync_client(create_app(node), URL))
    client.deploy(WALLET_PATH, WALLET)
    yield client
    client.close()


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalClient]:
    """The ledger mode: signed with Alice's key through a local ledger."""
    client = amigos.connect(tmp_path_factory.mktemp("proxy-local"), account=ALICE)
    client.deploy(WALLET_PATH, WALLET)
    yield client
    client.close()


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalClient]:
    """The name mode: unsigned calls as the signer name Alice's address."""
    client = amigos.connect(tmp_path_factory.mktemp("proxy-named"), account=ALICE.address)
    client.deploy(WALLET_PATH, WALLET)
    yield client
    client.close()


@pytest.fixture(params=["node", "local", "named"])
def client(request: pytest.FixtureRequest) -> NodeClient | LocalClient:
    return request.getfixturevalue({"node": "remote"}.get(request.param, request.param))  # type: ignore[no-any-return]


def test_a_call_returns_its_result_and_a_query_reads(client: NodeClient | LocalClient) -> None:
    wallet = client.service(WALLET_PATH)
    before = wallet.query.balance(ALICE.address)
    assert wallet.earn(5) == before + 5
    assert wallet.earn(amount=1, note="hi") == before + 6
    assert wallet.query.balance(ALICE.address) == before + 6
    assert wallet.query.render("") == client.render(WALLET_PATH)


def test_a_receipt_when_asked(client: NodeClient | LocalClient) -> None:
    wallet = client.service(WALLET_PATH)
    receipt = wallet.earn.receipt(2, note="r")
    assert receipt.ok and receipt.result == wallet.query.balance(ALICE.address)
    assert receipt.events == [amigos.Event(WALLET_PATH, "earned", {"amount": 2, "note": "r"})]
    failed = wallet.earn.receipt(-1)  # a failed call is a receipt too, not an exception
    assert not failed.ok and isinstance(failed.error, ServiceError)
    assert (receipt.proof is None) == (isinstance(client, LocalClient) and client.ledger is None)


def test_a_failed_call_raises_its_typed_error_with_the_receipt(client: NodeClient | LocalClient) -> None:
    wallet = client.service(WALLET_PATH)
    with pytest.raises(ServiceError, match="amount must be positive") as caught:
        wallet.earn(0)
    receipt = caught.value.receipt  # type: ignore[attr-defined]
    assert not receipt.ok and receipt.error is caught.value and receipt.gas_used > 0
    starved = client.service(WALLET_PATH, gas=20_000)
    with pytest.raises(OutOfGas) as out:
        starved.spin(10**6)
    assert out.value.receipt.gas_used > 0  # type: ignore[attr-defined]
    missing = client.call(WALLET_PATH, "balance")  # past the proxy's own check: the service says so too
    assert not missing.ok and isinstance(missing.error, InvalidArgument)
    with pytest.raises(ReadOnlyViolation):  # a read that tries to write
        wallet.query.earn(1)


def test_a_function_that_is_gone_raises_not_found(tmp_path: Path) -> None:
    client = amigos.connect(amigos.LocalRuntime(), account="bob")
    path = "hub.amigos.dev/bob/gone"
    client.deploy(path, "def hello() -> str:\n    return 'hi'\n")
    proxy = client.service(path)
    client.deploy(path, "def other() -> str:\n    return 'no'\n")  # an upgrade drops hello
    with pytest.raises(NotFound):
        proxy.hello()
    assert client.service(path).other() == "no"  # a new proxy sees the new functions


def test_help_and_signature_show_the_service_function(client: NodeClient | LocalClient) -> None:
    wallet = client.service(WALLET_PATH)
    assert str(inspect.signature(wallet.earn)) == "(amount: int, *, note: str = '') -> int"
    assert str(inspect.signature(wallet.query.balance)) == "(who: str) -> int"
    assert str(inspect.signature(wallet.shape)) == "(a, /, b: list[int] = (1, 2), *rest, c=None, **more) -> dict"
    assert inspect.signature(wallet.earn.receipt) == inspect.signature(wallet.earn)
    page = pydoc.render_doc(wallet.earn, renderer=pydoc.plaintext)
    assert "earn(amount: int, *, note: str = '') -> int" in page
    assert "Add ``amount`` points to the caller's balance" in page
    assert wallet.earn.__name__ == "earn" and wallet.balance.__doc__ == "The points of ``who``."
    assert dir(wallet) == ["balance", "earn", "query", "render", "shape", "spin"]
    assert dir(wallet.query) == ["balance", "earn", "render", "shape", "spin"]


def test_an_unknown_function_lists_the_ones_there_are(client: NodeClient | LocalClient) -> None:
    wallet = client.service(WALLET_PATH)
    with pytest.raises(AttributeError, match=r"has no function 'steal'; it has: balance, earn, render, shape, spin"):
        wallet.steal()
    with pytest.raises(AttributeError, match="has no function 'steal'"):
        wallet.query.steal()
    with pytest.raises(AttributeError):
        wallet._client  # noqa: B018 - private names are never functions
    assert not hasattr(wallet, "__wrapped__")


def test_arguments_that_do_not_fit_cost_nothing(client: NodeClient | LocalClient) -> None:
    wallet = client.service(WALLET_PATH)
    before = wallet.query.balance(ALICE.address)
    spent = _spent(client)
    for bad_call in (lambda: wallet.earn(), lambda: wallet.earn(1, 2), lambda: wallet.earn(1, color="red"),
                     lambda: wallet.query.balance(), lambda: wallet.shape(a=1)):
        with pytest.raises(TypeError):
            bad_call()
    for garbage in (object(), {1, 2}, float("nan"), lambda: 0, {"k": object()}, b"x" * 2_000_000):
        with pytest.raises(TransactionError, match="malformed"):  # as a node's encoding refuses it
            wallet.earn(garbage)
    assert _spent(client) == spent  # no block, no transaction, no nonce spent
    assert wallet.earn(1) == before + 1  # and the next call goes through


def _spent(client: NodeClient | LocalClient) -> int:
    """What every transaction moves on: a local runtime's height, a node account's nonce."""
    if isinstance(client, LocalClient):
        return client.runtime.height
    return client.last_nonce()


def test_parse_signature_reads_without_evaluating() -> None:
    assert str(parse_signature("()")) == "()"
    assert str(parse_signature("(x: Foo[Bar] = unknown_name, *, y=1 + 2)")) == "(x: Foo[Bar] = unknown_name, *, y=1 + 2)"
    evil = parse_signature("(x=__import__('os').system('touch /tmp/pwned-by-signature'))")
    assert str(evil) == "(x=__import__('os').system('touch /tmp/pwned-by-signature'))"
    assert not Path("/tmp/pwned-by-signature").exists()
    for garbage in ("", "x", "(x", "(): pass\nimport os\ndef g()", "()\n    pass\ndef g()", "(" * 10_000,
                    "(x) -> int: pass\n@d\ndef g()", "(x):\n    return 1\n# ", "\x00"):
        with pytest.raises(ValueError, match="not a signature"):
            parse_signature(garbage)


def lying(node: Node, change: Any) -> httpx.Client:
    """An in-process client of ``node`` whose service descriptions ``change`` rewrites."""
    honest = sync_client(create_app(node), URL)

    class Lying(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = honest._transport.handle_request(request)
            if not request.url.path.startswith("/v1/services/"):
                return response
            body = change(httpx.Response(200, content=response.read()).json())
            return httpx.Response(200, json=body, request=request)

    return httpx.Client(transport=Lying(), base_url=URL)


@pytest.mark.parametrize("functions", [
    None, "earn", [None], [{"name": "earn"}], [{"name": 1, "signature": "()"}],
    [{"name": "_secret", "signature": "()"}], [{"name": "a b", "signature": "()"}],
    [{"name": "earn", "signature": "(): pass\nimport os\ndef f()"}], [{"name": "earn", "signature": "()", "doc": 5}],
])
def test_a_garbled_service_description_is_a_clear_error(node: Node, remote: NodeClient, functions: Any) -> None:
    client = amigos.connect(URL, account=ALICE, http=lying(node, lambda body: {**body, "functions": functions}))
    with pytest.raises(NodeError, match="bad-response"):
        client.service(WALLET_PATH)


def test_connect_picks_a_node_or_a_folder(tmp_path: Path, node: Node) -> None:
    home = tmp_path / "home"
    with amigos.connect(home) as first:  # a folder: a LocalRuntime there, signing as "dev"
        first.deploy("hub.amigos.dev/dev/w", WALLET)
        assert first.service("hub.amigos.dev/dev/w").earn(3) == 3
    with amigos.connect(str(home)) as again:  # its state is kept in the folder
        assert again.query("hub.amigos.dev/dev/w", "balance", "dev") == 3
        assert again.describe("hub.amigos.dev/dev/w")["owner"] == "dev"
    runtime = amigos.LocalRuntime()
    with amigos.connect(runtime, account="carol") as named:
        named.deploy("hub.amigos.dev/carol/w", WALLET)
    runtime.query("hub.amigos.dev/carol/w", "balance", "carol")  # the client did not close a runtime it was given
    for not_a_node in ("ftp://node.example/", "127.0.0.1:8700", "localhost:8700/"):
        with pytest.raises(UsageError, match="http:// or https://"):  # rather than a folder of that name
            amigos.connect(not_a_node)
    with pytest.raises(UsageError, match="not an account name"):
        amigos.connect(URL, account="carol", http=sync_client(create_app(node), URL))
    with pytest.raises(UsageError, match="signer"):
        amigos.connect(amigos.LocalRuntime(), account="no spaces allowed")
    with pytest.raises(UsageError, match="already open"):
        amigos.connect(runtime, isolation="process")
    for node_only in (_signed_call(), AccountMessage("rotate_key", {})):
        with pytest.raises(UsageError, match="a signer name has no key or ledger"):
            amigos.connect(runtime).submit_many([amigos.Call(WALLET_PATH, "balance", ("x",)), node_only])
    runtime.close()


def _signed_call() -> Any:
    from amigos.ledger.tx import Call, Transaction, sign

    tx = Transaction(chain_id="c", account=ALICE.address, public_key=ALICE.public_key, nonce=1, gas_limit=10_000,
                     messages=[Call(WALLET_PATH, "balance", ("x",))])
    return sign(tx, ALICE)


SCRIPT_SOURCE = textwrap.dedent('''\
    """Names and greetings."""
    import std

    names = std.Map()

    def register(name: str) -> str:
        std.require(2 <= len(name) <= 16, "a name has 2 to 16 characters")
        std.require(name not in names, "taken")
        names[name] = std.caller()
        std.emit("registered", name=name)
        return name

    def owner(name: str):
        return names.get(name)

    def greet(name: str, punctuation: str = "!") -> str:
        return "Hello, " + name + punctuation

    def render(path: str) -> str:
        return "# Names\\n\\n" + ", ".join(sorted(names.keys()))
''')


def play(client: NodeClient | LocalClient, path: str) -> list[Any]:
    """One script of deploys, calls, reads and failures: what a user would see of each step."""
    client.deploy(path, SCRIPT_SOURCE)
    names = client.service(path)
    seen: list[Any] = [names.register("ana"), names.query.owner("ana"), names.greet("bo", punctuation="?")]
    for step in (lambda: names.register("ana"), lambda: names.register("x"), lambda: names.query.register("zed"),
                 lambda: names.greet(b"\xff"), lambda: client.deploy(path, "import os\n")):
        try:
            seen.append(step())
        except (DeployError, amigos.ExecutionError) as exc:
            seen.append((type(exc).__name__, str(exc)))
    batch = client.submit_many([amigos.Call(path, "register", (n,)) for n in ("cy", "dee", "e")])
    seen.append([(r.ok, r.result, _error(r), r.events, r.results, r.failed_message) for r in batch])
    receipt = names.register.receipt("fay")
    seen.append((receipt.ok, receipt.result, _error(receipt), receipt.events, receipt.results))
    description = client.describe(path)
    seen.append({k: description[k] for k in ("path", "doc", "functions", "dependencies", "source", "version", "import")})
    seen.append([s["path"] for s in client.services() if s["path"] == path])
    seen.append(client.state(path))
    seen.append(client.render(path))
    return seen


def _error(receipt: Receipt) -> tuple[str, str] | None:
    """A receipt's error as both clients report it (a local one also knows its source line)."""
    return None if receipt.error is None else (receipt.error.type, receipt.error.message)


def test_local_and_remote_give_the_same_results(remote: NodeClient, local: LocalClient, named: LocalClient) -> None:
    path = f"hub.amigos.dev/{ALICE.address}/names"
    over_http, in_process, unsigned = play(remote, path), play(local, path), play(named, path)
    for step, (one, other, third) in enumerate(zip(over_http, in_process, unsigned, strict=True)):
        assert one == other == third, f"step {step}"
