"""The account commands — ``amigos wallet``, ``session``, ``recovery``, ``account backup`` and
``restore`` — against a real node: a :class:`~amigos.node.Node` with a genesis and a clock the
tests move (so time locks and daily windows can run out), served over HTTP by uvicorn in a
thread, and the CLI's ``main()`` run in this process with a user's own config folder.

Every command is run the way a user would, with garbage input (bad URIs, amounts, pairing codes,
devices, passphrases, shares), with and without ``--yes``.
"""

from __future__ import annotations

import json
import os
import pty
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import uvicorn

import amigos
from amigos.cli import main
from amigos.crypto.keys import Account
from amigos.ledger.block import Genesis
from amigos.node import Node
from amigos.node.app import create_app
from amigos.node.faucet import FAUCET_FILE, faucet_genesis
from amigos.node.node import load_key_file
from amigos.wallet import PaymentRequest

PASSPHRASE = "correct horse battery"
START = 1_000_000
SEEDS = {"alice": 1, "bob": 2, "carol": 3, "dave": 4}
KEYS = {name: Account.from_seed(bytes([seed]) * 32) for name, seed in SEEDS.items()}
DAY = 86400


class Clock:
    """The node's clock: real time plus what the tests skipped ahead."""

    def __init__(self) -> None:
        self.skipped = 0

    def __call__(self) -> float:
        return time.time() + self.skipped


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Clock, Node]]:
    """A dev node (with a faucet) whose genesis funds alice, bob, carol and dave, on a free port."""
    clock = Clock()
    home = tmp_path_factory.mktemp("node")
    faucet = load_key_file(home / FAUCET_FILE, create=True)  # the dev node's faucet, funded by the genesis too
    genesis = Genesis({**faucet_genesis(faucet).allocations, **{key.address: START for key in KEYS.values()}})
    node = Node(home, chain_id="amigos-test", isolation="none", block_interval=0.002, genesis=genesis,
                clock=clock, dev=True).start()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(create_app(node), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    # The first block writes the genesis: until a transaction makes one, every balance reads 0.
    assert httpx.post(f"{url}/v1/faucet", json={"address": Account.generate().address}).status_code == 200
    try:
        yield url, clock, node
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        node.stop()
        sock.close()


def use_config(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """A user whose keystore and settings are in ``folder`` (a device of theirs)."""
    monkeypatch.setenv("AMIGOS_CONFIG", str(folder))
    monkeypatch.setenv("AMIGOS_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("NO_COLOR", "1")
    for name in ("AMIGOS_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def user(chain: tuple[str, Clock, Node], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
         capsys: pytest.CaptureFixture[str]) -> str:
    """A user whose keystore holds alice, bob, carol and dave (alice the default), working on the node."""
    use_config(monkeypatch, tmp_path / "config")
    monkeypatch.setenv("AMIGOS_NODE", chain[0])
    for name, key in KEYS.items():
        seed = tmp_path / f"{name}.seed"
        seed.write_text(key.seed.hex())
        assert run(capsys, "account", "import", name, "--from", str(seed), "--protect", "passphrase")[0] == 0
    return chain[0]


def run(capsys: pytest.CaptureFixture[str], *args: str, stdin: str | None = None,
        monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str, str]:
    """``amigos ARGS`` in this process (``stdin``: what the user types)."""
    if stdin is not None:
        assert monkeypatch is not None
        import io
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    try:
        code = main(list(args))
    except SystemExit as exit:
        code = int(exit.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def data(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = run(capsys, "--json", *args)
    assert code == 0, err or out
    return json.loads(out)


def balance(capsys: pytest.CaptureFixture[str], who: str) -> int:
    return data(capsys, "wallet", "balance", who)["balance"]


# --------------------------------------------------------------------------- wallet


def test_balance_send_stake_unstake_history(user: str, capsys: pytest.CaptureFixture[str]) -> None:
    alice, bob = KEYS["alice"].address, KEYS["bob"].address
    before_alice, before_bob = balance(capsys, "alice"), balance(capsys, bob)
    code, out, err = run(capsys, "wallet", "send", "bob", "250", "--memo", "lunch")
    assert code == 0, err
    assert out.strip() == f"sent 250 AMI to {bob}" and "proven in the node's log" in err
    assert balance(capsys, "alice") == before_alice - 250 and balance(capsys, "bob") == before_bob + 250

    code, out, _ = run(capsys, "wallet", "stake", "1000")
    assert code == 0 and out.strip() == "staked 1000 AMI"
    code, out, _ = run(capsys, "wallet", "unstake", "400")
    assert code == 0 and out.startswith("unbonding 400 AMI: back in the balance at ")
    held = data(capsys, "wallet", "balance")
    assert held["address"] == alice and held["staked"] == 600
    assert [u["amount"] for u in held["unbonding"]] == [400]
    code, out, err = run(capsys, "wallet", "balance")
    assert code == 0 and out.strip() == f"{held['balance']} AMI"
    assert "staked 600 AMI" in err and "unbonding 400 AMI" in err

    mine = data(capsys, "wallet", "history")["entries"]
    kinds = [(e["kind"], e["amount"]) for e in mine]
    assert kinds[-3:] == [("sent", 250), ("staked", 1000), ("unstaked", 400)]
    assert mine[-3]["to"] == bob and mine[-3]["memo"] == "lunch"
    theirs = data(capsys, "wallet", "history", "bob")["entries"]
    assert {"kind": "received", "from": alice, "amount": 250, "memo": "lunch"}.items() <= theirs[-1].items()
    code, out, _ = run(capsys, "wallet", "history", "bob", "--limit", "1")
    assert code == 0 and len(out.splitlines()) == 1 and f"received +250 AMI from {alice}" in out and "lunch" in out


@pytest.mark.parametrize("args", [
    ("wallet", "send", "bob", "0"),
    ("wallet", "send", "bob", "-5"),
    ("wallet", "send", "bob", "1.5"),
    ("wallet", "send", "bob", "1e3"),
    ("wallet", "send", "bob", "99999999999999999999999"),
    ("wallet", "send", "bob", "١٢"),  # digits, but not ASCII ones
    ("wallet", "send", "nobody-here", "5"),
    ("wallet", "send", "amigo1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", "5"),
    ("wallet", "stake", "lots"),
    ("wallet", "request", "--amount", "0"),
    ("wallet", "request", "--amount", "5", "--expires-in", "soon"),
    ("wallet", "request", "--amount", "5", "--png", "a.png", "--svg", "a.svg"),
    ("wallet", "history", "--limit", "0"),
])
def test_bad_amounts_and_recipients_are_usage_errors(user: str, capsys: pytest.CaptureFixture[str],
                                                     args: tuple[str, ...]) -> None:
    before = balance(capsys, "alice")
    code, out, err = run(capsys, *args)
    assert code == 2 and out == "" and "error" in err
    assert balance(capsys, "alice") == before


def test_a_send_beyond_the_balance_fails_and_moves_nothing(user: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = balance(capsys, "dave")
    code, out, err = run(capsys, "wallet", "send", "carol", str(before + 1), "--as", "dave")
    assert code == 1 and out == "" and "InsufficientFunds" in err
    assert balance(capsys, "dave") == before


def test_wrong_passphrase_signs_nothing(user: str, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    before = balance(capsys, "alice")
    monkeypatch.setenv("AMIGOS_PASSPHRASE", "not it")
    code, out, err = run(capsys, "wallet", "send", "bob", "5")
    assert code == 1 and "wrong passphrase" in err
    monkeypatch.setenv("AMIGOS_PASSPHRASE", PASSPHRASE)
    assert balance(capsys, "alice") == before


def test_faucet_of_a_dev_node(user: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    newcomer = Account.generate().address
    dripped = data(capsys, "wallet", "faucet", newcomer)
    assert dripped["address"] == newcomer and balance(capsys, newcomer) == dripped["amount"] > 0
    code, _, err = run(capsys, "wallet", "faucet", newcomer)  # one drip per address per minute
    assert code == 1 and "rate-limited" in err and "try again" in err
    code, _, err = run(capsys, "--home", str(tmp_path), "wallet", "faucet")
    assert code == 2 and "does not take --home" in err


# --------------------------------------------------------------------------- payment requests


def test_request_prints_a_uri_and_its_qr_code(user: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "wallet", "request", "--amount", "42", "--memo", "two coffees", "--expires-in", "1h",
                         "--svg", str(tmp_path / "pay.svg"), "--as", "bob")
    assert code == 0, err
    uri = out.splitlines()[0]
    assert re.fullmatch(rf"amigos:{KEYS['bob'].address}\?amount=42&memo=two%20coffees&expires=\d+&chain=amigos-test", uri)
    assert "█" in out or "▀" in out or "▄" in out  # the QR code, drawn with block characters
    assert "pay 42 AMI" in err and "two coffees" in err
    assert (tmp_path / "pay.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    png = tmp_path / "pay.png"
    asked = data(capsys, "wallet", "request", "--amount", "7", "--png", str(png))
    assert asked["uri"] == f"amigos:{KEYS['alice'].address}?amount=7&chain=amigos-test"
    assert png.read_bytes().startswith(b"\x89PNG")
    code, _, err = run(capsys, "wallet", "request", "--amount", "7", "--png", str(tmp_path / "pay.gif"))
    assert code == 2  # a QR code is written as .png or .svg only


def test_pay_asks_first_and_pays_exactly_the_request(user: str, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    carol = KEYS["carol"].address
    uri = data(capsys, "wallet", "request", "--amount", "33", "--memo", "tickets", "--as", "carol")["uri"]
    before = balance(capsys, "carol")
    for answer in ("n\n", "", "maybe\n"):
        code, out, err = run(capsys, "wallet", "pay", uri, stdin=answer, monkeypatch=monkeypatch)
        assert code == 1 and out == "" and "not confirmed" in err and "pay 33 AMI to " + carol in err
    assert balance(capsys, "carol") == before
    code, out, err = run(capsys, "wallet", "pay", uri, stdin="y\n", monkeypatch=monkeypatch)
    assert code == 0 and out.strip() == f"paid 33 AMI to {carol}", err
    assert balance(capsys, "carol") == before + 33
    code, out, _ = run(capsys, "wallet", "pay", uri, "--yes")
    assert code == 0 and balance(capsys, "carol") == before + 66
    entry = data(capsys, "wallet", "history", "carol")["entries"][-1]
    assert entry["kind"] == "received" and entry["amount"] == 33 and entry["memo"] == "tickets"


def test_pay_refuses_expired_requests_and_other_chains(user: str, capsys: pytest.CaptureFixture[str]) -> None:
    bob = KEYS["bob"].address
    before = balance(capsys, "bob")
    expired = PaymentRequest(bob, 5, expires_at=int(time.time()) - 10, chain_id="amigos-test").uri()
    code, _, err = run(capsys, "wallet", "pay", expired, "--yes")
    assert code == 2 and "expired" in err
    elsewhere = PaymentRequest(bob, 5, chain_id="amigos-main").uri()
    code, _, err = run(capsys, "wallet", "pay", elsewhere, "--yes")
    assert code == 2 and "amigos-main" in err and "amigos-test" in err
    assert balance(capsys, "bob") == before


@pytest.mark.parametrize("uri", [
    "",
    "bitcoin:1BoatSLRHtKNngkdXEeobR76b53LETtpyT?amount=1",
    "amigos:",
    "amigos:not-an-address?amount=5",
    "amigos:{bob}",
    "amigos:{bob}?amount=0",
    "amigos:{bob}?amount=-1",
    "amigos:{bob}?amount=1.5",
    "amigos:{bob}?amount=05",
    "amigos:{bob}?amount=5&amount=6",
    "amigos:{bob}?amount=5&fee=1",
    "amigos:{bob}?amount=5&memo=%FF",
    "amigos:{bob}?amount=5&expires=tomorrow",
    "amigos:{bob}?amount=5&chain=NOT%20A%20CHAIN",
    "amigos:{bob}?amount=5&" + "x" * 3000,
])
def test_pay_refuses_garbage_uris(user: str, capsys: pytest.CaptureFixture[str], uri: str) -> None:
    before = balance(capsys, "alice")
    code, out, err = run(capsys, "wallet", "pay", uri.format(bob=KEYS["bob"].address), "--yes")
    assert code == 2 and out == "" and err.startswith("error:")
    assert balance(capsys, "alice") == before


# --------------------------------------------------------------------------- sessions


def pair_phone(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, folder: Path, account: str,
               device: str = "Ana Phone") -> dict[str, Any]:
    """``session pair`` on a new device, whose config folder is ``folder``."""
    use_config(monkeypatch, folder)
    return data(capsys, "session", "pair", "--for", account, "--device", device, "--protect", "passphrase")


def test_pair_approve_act_list_revoke(user: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    alice, master_config = KEYS["alice"].address, tmp_path / "config"
    paired = pair_phone(capsys, monkeypatch, tmp_path / "phone", alice)
    code = paired["code"]
    assert code.startswith(f"amigos-pair:{alice}?key={paired['public_key']}&device=Ana%20Phone&check=")
    assert paired["key_name"] == "ana-phone" and paired["account"] == alice
    shown = data(capsys, "account", "show", "ana-phone")
    assert shown["acting_for"] == alice and shown["default"] is True
    assert shown["address"] != alice  # the phone's key is its own; it acts for alice

    use_config(monkeypatch, master_config)  # the master device
    approve = ("session", "approve", code, "--permissions", "send_limit_tx,SEND_LIMIT_DAILY,stake_manage",
               "--tx-limit", "100", "--daily-limit", "150", "--expires-in", "7d")
    status, out, err = run(capsys, *approve, stdin="n\n", monkeypatch=monkeypatch)
    assert status == 1 and "not confirmed" in err
    assert "Ana Phone" in err and "SEND_LIMIT_DAILY, SEND_LIMIT_TX, STAKE_MANAGE" in err and "150 AMI" in err
    assert paired["fingerprint"] in err
    assert data(capsys, "session", "list")["sessions"] == []
    status, out, err = run(capsys, *approve, stdin="y\n", monkeypatch=monkeypatch)
    assert status == 0 and out.strip() == f"granted 'Ana Phone' a session for {alice}", err

    use_config(monkeypatch, tmp_path / "phone")  # the phone acts for alice, within its session
    bob_before = balance(capsys, KEYS["bob"].address)
    status, out, err = run(capsys, "wallet", "send", KEYS["bob"].address, "100")
    assert status == 0, err
    assert balance(capsys, KEYS["bob"].address) == bob_before + 100
    status, out, err = run(capsys, "wallet", "send", KEYS["bob"].address, "101")
    assert status == 1 and "over-limit" in err and "per-transaction" in err
    status, out, err = run(capsys, "wallet", "send", KEYS["bob"].address, "60")
    assert status == 1 and "over-limit" in err and "today" in err  # 100 + 60 > 150
    assert run(capsys, "wallet", "stake", "10")[0] == 0
    assert data(capsys, "wallet", "balance")["address"] == alice  # the phone's balance is alice's

    listed = data(capsys, "session", "list")["sessions"]
    assert [(s["device"], s["remaining_today"], s["tx_limit"]) for s in listed] == [("Ana Phone", 50, 100)]
    assert listed[0]["last_used"] is not None
    status, out, _ = run(capsys, "session", "list")
    assert "Ana Phone" in out and "50 of 150 AMI left" in out and "per tx       100 AMI" in out

    for forbidden in (("session", "approve", code, "--permissions", "READ_ONLY", "--yes"),
                      ("session", "revoke-all", "--yes")):
        status, _, err = run(capsys, *forbidden)
        assert status != 0 and ("session key" in err or "not-permitted" in err), forbidden

    use_config(monkeypatch, master_config)
    status, _, err = run(capsys, "session", "revoke", "Nobody's Tablet")
    assert status == 2 and "no active session" in err and "'Ana Phone'" in err
    status, out, _ = run(capsys, "session", "revoke", "Ana Phone")
    assert status == 0 and out.strip() == "revoked the session of 'Ana Phone'"
    assert data(capsys, "session", "list")["sessions"] == []
    assert data(capsys, "session", "list", "--all")["sessions"][0]["revoked_at"] is not None

    use_config(monkeypatch, tmp_path / "phone")
    status, _, err = run(capsys, "wallet", "send", KEYS["bob"].address, "1")
    assert status == 1 and "session-revoked" in err


def test_revoke_by_key_or_device_and_the_kill_switch(user: str, capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bob = KEYS["bob"].address
    paired = [pair_phone(capsys, monkeypatch, tmp_path / folder, bob, device)
              for folder, device in (("one", "tablet"), ("two", "tablet"), ("three", "laptop"))]
    svg = tmp_path / "pairing.svg"
    status, out, _ = run(capsys, "session", "pair", "--for", bob, "--device", "tv", "--svg", str(svg))
    assert status == 0 and out.startswith("amigos-pair:") and svg.read_text().lstrip().startswith(("<?xml", "<svg"))
    use_config(monkeypatch, tmp_path / "config")
    for pairing in paired:
        assert run(capsys, "session", "approve", pairing["code"], "--permissions", "READ_ONLY", "--as", "bob",
                   "--yes")[0] == 0
    status, _, err = run(capsys, "session", "revoke", "tablet", "--as", "bob")
    assert status == 2 and "2 sessions are called 'tablet'" in err and paired[0]["public_key"] in err
    status, out, _ = run(capsys, "session", "revoke", paired[0]["public_key"], "--as", "bob")
    assert status == 0 and out.strip() == "revoked the session of 'tablet'"
    status, _, err = run(capsys, "session", "revoke", paired[0]["public_key"], "--as", "bob")
    assert status == 2 and "no active session" in err  # revoked already

    status, _, err = run(capsys, "session", "revoke-all", "--as", "bob", stdin="", monkeypatch=monkeypatch)
    assert status == 1 and "not confirmed" in err and "'tablet'" in err and "'laptop'" in err
    assert len(data(capsys, "session", "list", "--as", "bob")["sessions"]) == 2
    status, out, _ = run(capsys, "session", "revoke-all", "--as", "bob", stdin="yes\n", monkeypatch=monkeypatch)
    assert status == 0 and out.strip() == "revoked 2 sessions"
    assert data(capsys, "session", "list", "--as", "bob")["sessions"] == []


def test_damaged_and_foreign_pairing_codes_grant_nothing(user: str, capsys: pytest.CaptureFixture[str],
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    carol = KEYS["carol"].address
    code = pair_phone(capsys, monkeypatch, tmp_path / "watch", carol, "watch")["code"]
    use_config(monkeypatch, tmp_path / "config")
    key_at = code.index("key=") + 4
    flipped = code[:key_at] + ("0" if code[key_at] != "0" else "1") + code[key_at + 1:]
    damaged = [
        flipped, code[:-1], code[:40], code.replace("watch", "watcH"), code.upper(), "amigos-pair:", "hello",
        code.replace("&device=watch", ""), code + "&extra=1", code.replace("amigos-pair:", "amigos:"),
    ]
    for garbage in damaged:
        status, out, err = run(capsys, "session", "approve", garbage, "--permissions", "READ_ONLY", "--as", "carol", "--yes")
        assert status == 2 and out == "" and err.startswith("error:"), garbage
    status, _, err = run(capsys, "session", "approve", code, "--permissions", "READ_ONLY", "--as", "dave", "--yes")
    assert status == 2 and f"is for {carol}" in err  # dave's master cannot grant a session of carol's
    for bad in (("--permissions", "ALL"), ("--permissions", ""), ("--permissions", "SEND_LIMIT_TX"),
                ("--permissions", "READ_ONLY,STAKE_MANAGE"), ("--permissions", "SEND_UNLIMITED", "--expires-in", "400d"),
                ("--permissions", "READ_ONLY", "--ip-ranges", "10.0.0.1/8"),
                ("--permissions", "READ_ONLY", "--services", "not a path"),
                ("--permissions", "SEND_LIMIT_DAILY", "--daily-limit", "0")):
        status, _, err = run(capsys, "session", "approve", code, *bad, "--as", "carol", "--yes")
        assert status == 2 and err.startswith(("error:", "amigos")), bad
    assert data(capsys, "session", "list", "--as", "carol", "--all")["sessions"] == []


def test_pair_refuses_bad_input_and_keeps_no_key(user: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    use_config(monkeypatch, tmp_path / "fresh")
    alice = KEYS["alice"].address
    for args in (("--for", "amigo1nothing", "--device", "x"), ("--for", alice, "--device", "Ana's phone!"),
                 ("--for", alice, "--device", "x" * 65, "--save-as", "x"),
                 ("--for", alice, "--device", "a\tb", "--save-as", "ab"),
                 ("--for", alice, "--device", "ok", "--save-as", "Not Valid")):
        status, out, err = run(capsys, "session", "pair", *args)
        assert status == 2 and out == "", args
    assert data(capsys, "account", "list") == []


# --------------------------------------------------------------------------- recovery


def test_social_recovery_through_the_time_lock(chain: tuple[str, Clock, Node], user: str,
                                               capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _, clock, _ = chain
    lost = Account.generate()  # an account whose key its owner will lose
    seed = tmp_path / "lost.seed"
    seed.write_text(lost.seed.hex())
    assert run(capsys, "account", "import", "lost", "--from", str(seed))[0] == 0
    assert run(capsys, "wallet", "send", lost.address, "5000", "--as", "alice")[0] == 0
    status, _, err = run(capsys, "recovery", "guardians", "set", "bob", "carol", "dave", "--as", "lost",
                         stdin="n\n", monkeypatch=monkeypatch)
    assert status == 2 and "--threshold" in err
    status, _, err = run(capsys, "recovery", "guardians", "set", "bob", "carol", "dave", "--threshold", "2",
                         "--timelock", "24h", "--as", "lost", stdin="n\n", monkeypatch=monkeypatch)
    assert status == 1 and "not confirmed" in err
    status, out, _ = run(capsys, "recovery", "guardians", "set", "bob", "carol", "dave", "--threshold", "2",
                         "--timelock", "24h", "--as", "lost", "--yes")
    assert status == 0 and out.strip() == "guardians set: 2 of 3"
    shown = data(capsys, "recovery", "guardians", "show", lost.address)
    assert shown["guardians"]["threshold"] == 2 and len(shown["guardians"]["members"]) == 3

    assert run(capsys, "account", "new", "found", "--protect", "passphrase")[0] == 0  # the owner's new key
    found = data(capsys, "account", "show", "found")["public_key"]
    status, out, _ = run(capsys, "recovery", "approve", lost.address, "found", "--as", "bob", "--yes")
    assert status == 0 and out.strip() == "approved (1 of 2 needed)"
    status, _, err = run(capsys, "recovery", "approve", lost.address, found, "--as", "alice", "--yes")
    assert status == 1 and "not a guardian" in err  # alice is not one
    status, out, _ = run(capsys, "recovery", "approve", lost.address, found, "--as", "carol", "--yes")
    assert status == 0 and "can be finalised from" in out
    shown = data(capsys, "recovery", "guardians", "show", lost.address)
    assert shown["recovery"]["new_key"] == found and shown["frozen"] is True
    status, out, _ = run(capsys, "recovery", "guardians", "show", lost.address)
    assert "sessions cannot spend" in out and found in out
    status, _, err = run(capsys, "recovery", "finalize", lost.address, "--as", "dave")
    assert status == 1 and "time-locked" in err

    clock.skipped += DAY + 60
    status, out, _ = run(capsys, "recovery", "finalize", lost.address, "--as", "dave")
    assert status == 0 and f"{lost.address} now has the master key {found}" in out
    status, _, err = run(capsys, "wallet", "send", "bob", "1", "--as", "lost")
    assert status == 1 and "unknown-key" in err  # the old master signs nothing more
    status, out, _ = run(capsys, "recovery", "adopt", lost.address, "--key", "found")
    assert status == 0 and out.strip() == f"found now signs for {lost.address}"
    status, out, err = run(capsys, "wallet", "send", "bob", "1", "--as", "found")
    assert status == 0, err
    assert data(capsys, "wallet", "balance", "found")["address"] == lost.address


def test_recovery_cancelled_by_the_master(user: str, capsys: pytest.CaptureFixture[str]) -> None:
    dave = KEYS["dave"].address
    assert run(capsys, "recovery", "guardians", "set", "alice", "--threshold", "1", "--as", "dave", "--yes")[0] == 0
    thief = Account.generate().public_key.hex()
    assert run(capsys, "recovery", "approve", dave, thief, "--as", "alice", "--yes")[0] == 0
    status, out, _ = run(capsys, "recovery", "cancel", "--as", "dave")
    assert status == 0 and out.strip() == "the recovery was cancelled"
    assert data(capsys, "recovery", "guardians", "show", "dave")["recovery"] is None
    status, _, err = run(capsys, "recovery", "cancel", "--as", "dave")
    assert status == 1 and "no recovery" in err
    status, _, err = run(capsys, "recovery", "approve", dave, "not-a-key", "--as", "alice", "--yes")
    assert status == 2 and "public key" in err


def test_recovery_key_takeover(chain: tuple[str, Clock, Node], user: str, capsys: pytest.CaptureFixture[str],
                               tmp_path: Path) -> None:
    _, clock, _ = chain
    owner = Account.generate()
    seed = tmp_path / "owner.seed"
    seed.write_text(owner.seed.hex())
    assert run(capsys, "account", "import", "owner", "--from", str(seed))[0] == 0
    assert run(capsys, "account", "new", "rescue")[0] == 0
    assert run(capsys, "account", "new", "heir")[0] == 0
    status, out, _ = run(capsys, "recovery", "key", "set", "rescue", "--timelock", "7d", "--as", "owner")
    assert status == 0 and out.startswith("recovery key set: ")
    status, _, err = run(capsys, "recovery", "key", "set", Account.generate().public_key.hex(), "--timelock", "1d",
                         "--as", "owner")
    assert status == 1 and "time lock" in err

    status, out, _ = run(capsys, "recovery", "takeover", "announce", "heir", "--account", owner.address, "--as", "rescue")
    assert status == 0 and "can be finalised from" in out
    status, out, _ = run(capsys, "recovery", "takeover", "cancel", "--as", "owner")
    assert status == 0 and out.strip() == "the takeover was cancelled"
    assert run(capsys, "recovery", "takeover", "announce", "heir", "--account", owner.address, "--as", "rescue")[0] == 0
    status, _, err = run(capsys, "recovery", "takeover", "finalize", "--account", owner.address, "--as", "rescue")
    assert status == 1 and "time-locked" in err
    clock.skipped += 7 * DAY + 60
    status, out, _ = run(capsys, "recovery", "takeover", "finalize", "--account", owner.address, "--as", "rescue")
    heir = data(capsys, "account", "show", "heir")["public_key"]
    assert status == 0 and f"now has the master key {heir}" in out
    assert data(capsys, "recovery", "guardians", "show", owner.address)["master_key"] == heir
    status, out, _ = run(capsys, "recovery", "key", "remove", "--as", "owner")
    assert status == 1  # the old master signs nothing more


# --------------------------------------------------------------------------- backup and restore


def test_backup_then_restore_gives_the_same_address(user: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    alice = KEYS["alice"].address
    status, out, err = run(capsys, "account", "backup", "alice", "--shares", "3", "--threshold", "2",
                           stdin="n\n", monkeypatch=monkeypatch)
    assert status == 1 and out == "" and "warning" in err and "not confirmed" in err  # nothing shown
    status, out, err = run(capsys, "account", "backup", "alice", "--shares", "3", "--threshold", "2", "--yes")
    assert status == 0 and "warning" in err and "kept nowhere" in err
    shares = [line for line in out.splitlines() if len(line.split()) >= 20]
    assert len(shares) == 3 and "share 1 of 3:" in out
    assert not any(s in p.read_text(errors="replace") for p in (tmp_path / "config").rglob("*") if p.is_file()
                   for s in shares)  # never stored

    use_config(monkeypatch, tmp_path / "new-device")
    share_file = tmp_path / "shares.txt"
    share_file.write_text(f"# two of my shares\n\n{shares[2]}\n{shares[0].upper()}\n")
    status, out, err = run(capsys, "account", "restore", "alice", "--from", str(share_file), stdin="n\n",
                           monkeypatch=monkeypatch)
    assert status == 1 and alice in err and "not confirmed" in err
    assert data(capsys, "account", "list") == []
    status, out, err = run(capsys, "account", "restore", "alice", "--from", str(share_file), "--yes")
    assert status == 0 and f"account alice: {alice}" in out and alice in err
    assert run(capsys, "wallet", "send", KEYS["bob"].address, "1")[0] == 0  # the restored key signs

    use_config(monkeypatch, tmp_path / "third-device")
    status, out, _ = run(capsys, "account", "restore", "again", "--yes",  # standard input, not a terminal
                         stdin=f"{shares[1]}\n{shares[2]}\n", monkeypatch=monkeypatch)
    assert status == 0 and f"account again: {alice}" in out

    json_backup = data(capsys, "account", "backup", "again", "--shares", "1", "--threshold", "1", "--yes")
    assert json_backup["address"] == alice and len(json_backup["shares"]) == 1


def test_backup_and_restore_refuse_garbage(user: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in (("--shares", "3", "--threshold", "4"), ("--shares", "0", "--threshold", "0"),
                ("--shares", "17", "--threshold", "2"), ("--shares", "3", "--threshold", "1"),
                ("--shares", "three", "--threshold", "2")):
        status, out, _ = run(capsys, "account", "backup", "alice", *bad, "--yes")
        assert status == 2 and out == "", bad
    monkeypatch.setenv("AMIGOS_PASSPHRASE", "wrong")
    status, out, err = run(capsys, "account", "backup", "alice", "--shares", "3", "--threshold", "2", "--yes")
    assert status == 1 and out == "" and "wrong passphrase" in err
    monkeypatch.setenv("AMIGOS_PASSPHRASE", PASSPHRASE)

    shares = data(capsys, "account", "backup", "bob", "--shares", "3", "--threshold", "2", "--yes")["shares"]
    words = shares[0].split()
    swapped = " ".join(words[:5] + [words[6], words[5]] + words[7:])
    for garbage in ([shares[0]], [shares[0], shares[0]], [swapped, shares[1]], ["not a share at all"], [],
                    [shares[0], " ".join(shares[1].split()[:-1])]):
        status, out, err = run(capsys, "account", "restore", "bobby", "--from", "-", "--yes",
                               stdin="\n".join(garbage) + "\n", monkeypatch=monkeypatch)
        assert status == 2 and out == "" and err.startswith("error:"), garbage
    status, _, err = run(capsys, "account", "restore", "bobby", "--from", str(tmp_path / "missing.txt"), "--yes")
    assert status == 2 and "cannot read" in err
    status, _, err = run(capsys, "account", "restore", "bob", "--from", "-", "--yes", stdin="\n".join(shares[:2]),
                         monkeypatch=monkeypatch)
    assert status == 1 and "exists already" in err
    assert "bobby" not in [a["name"] for a in data(capsys, "account", "list")]


# --------------------------------------------------------------------------- the keystore and a local home


def test_a_tampered_acting_for_is_refused(user: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pair_phone(capsys, monkeypatch, tmp_path / "phone", KEYS["alice"].address, "phone")
    path = next((tmp_path / "phone").rglob("phone.json"))
    body = json.loads(path.read_text())
    body["acting_for"] = "somebody"
    path.write_text(json.dumps(body))
    status, _, err = run(capsys, "account", "show", "phone")
    assert status == 1 and "acting_for" in err


def test_a_local_home_reads_accounts_but_signs_nothing(user: str, capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local home runs unsigned calls as names: it reads balances and makes requests, and
    refuses account operations, which only a ledger checks, with a line saying so."""
    monkeypatch.delenv("AMIGOS_NODE")
    home = ("--home", str(tmp_path / "home"))
    assert data(capsys, *home, "wallet", "balance", "bob")["balance"] == 0
    assert data(capsys, *home, "recovery", "guardians", "show")["guardians"] is None
    asked = data(capsys, *home, "wallet", "request", "--amount", "9", "--as", "bob")
    assert asked["uri"] == f"amigos:{KEYS['bob'].address}?amount=9" and asked["chain_id"] is None
    on_chain = PaymentRequest(KEYS["bob"].address, 5, chain_id="amigos-test").uri()
    for args in (("wallet", "send", "bob", "1"), ("wallet", "stake", "1"), ("wallet", "pay", on_chain, "--yes"),
                 ("session", "list"), ("session", "revoke-all", "--yes"), ("recovery", "cancel"),
                 ("recovery", "key", "remove")):
        status, out, err = run(capsys, *home, *args)
        assert status == 2 and out == "" and "local home runs unsigned calls" in err, args
    status, _, err = run(capsys, *home, "wallet", "history")
    assert status == 2 and "without a log" in err
    status, _, err = run(capsys, "wallet", "faucet")  # no node chosen
    assert status == 2 and "pass --node URL" in err


def test_restore_asks_for_the_shares_on_a_terminal(user: str, capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    """On a terminal, ``account restore`` asks for one share after another until an empty line,
    then shows the address and asks to keep it: prompts on stderr, the result on stdout."""
    shares = data(capsys, "account", "backup", "carol", "--shares", "2", "--threshold", "2", "--yes")["shares"]
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(Path(amigos.__file__).resolve().parent.parent),
           "HOME": str(tmp_path), "AMIGOS_CONFIG": str(tmp_path / "elsewhere"), "AMIGOS_PASSPHRASE": PASSPHRASE,
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "NO_COLOR": "1"}
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "amigos", "account", "restore", "carol"], stdin=follower,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    os.close(follower)
    os.write(leader, f"{shares[1]}\n{shares[0]}\n\ny\n".encode())
    out, err = process.communicate(timeout=60)
    os.close(leader)
    assert process.returncode == 0, err
    assert b"share 1 (an empty line when done): " in err and b"share 3" in err and b"keep it as carol? [y/N]" in err
    assert KEYS["carol"].address.encode() in err
    assert out.decode().strip().startswith(f"account carol: {KEYS['carol'].address}")
