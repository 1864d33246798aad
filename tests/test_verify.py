"""``amigos verify`` over a home folder whose SQLite file was tampered with, and ``amigos serve``
as a real process: the SDK, the event stream and ``verify --node`` against it."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

import amigos
from amigos import codec
from amigos.cli import main
from amigos.ledger.block import HEAD_PREFIX, LEAF_HASH_PREFIX, LEAF_PREFIX, Genesis, LogMismatch, decode_leaf
from amigos.ledger.tx import AccountMessage, Call, Deploy, Transaction, sign
from amigos.node import Node
from amigos.node.app import create_app
from amigos.node.verify import RemoteLog, verify_log
from asgi_transport import sync_client

CHAIN = "amigos-test"
COUNTER = "import std\ncount = 0\n\ndef increment(by: int = 1) -> int:\n    global count\n    count += by\n    std.emit('incremented', by=by)\n    return count\n"
ALICE = amigos.Account.from_seed(bytes([1]) * 32)
BOB = amigos.Account.from_seed(bytes([2]) * 32)
PATH = f"hub.amigos.dev/{ALICE.address}/counter"
ENV = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": os.pathsep.join(sys.path)}


def tx(account: amigos.Account, nonce: int, message: object) -> bytes:
    t = Transaction(chain_id=CHAIN, account=account.address, public_key=account.public_key, nonce=nonce,
                    gas_limit=5_000_000, messages=[message])
    return sign(t, account).encode()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A stopped node's home: block 1 deploys, blocks 2-5 hold one or two calls each."""
    node = Node(tmp_path / "node", chain_id=CHAIN, isolation="none")  # blocks made by hand, no sequencer
    blocks = [[tx(ALICE, 1, Deploy(PATH, COUNTER))],
              [tx(BOB, 1, Call(PATH, "increment", (1,))), tx(ALICE, 2, Call(PATH, "increment", (2,)))],
              [tx(BOB, 2, Call(PATH, "increment", (3,)))],
              [tx(BOB, 3, Call(PATH, "increment", (4,))), tx(ALICE, 3, Call(PATH, "increment", (5,)))],
              [tx(BOB, 4, Call(PATH, "increment", (6,)))]]
    for block in blocks:
        assert not node.ledger.apply_block(block).refused
    node.stop()
    return tmp_path / "node"


def verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main(["--json", "verify", *args, "--isolation", "none"])
    return code, json.loads(capsys.readouterr().out)


# The store keeps recent writes in its `log` table and older ones in `state`: change both.

def stored(home: Path, key: bytes) -> bytes:
    with sqlite3.connect(home / "state.sqlite") as db:
        row = db.execute("SELECT value FROM log WHERE key = ? ORDER BY seq DESC LIMIT 1", (key,)).fetchone()
        row = row or db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
    return bytes(row[0])


def store(home: Path, key: bytes, value: bytes | None) -> None:
    db = sqlite3.connect(home / "state.sqlite")
    with db:
        for table in ("log", "state"):
            if value is None:
                db.execute(f"DELETE FROM {table} WHERE key = ?", (key,))
            else:
                db.execute(f"UPDATE {table} SET value = ? WHERE key = ?", (value, key))
    db.close()


def leaf_key(index: int) -> bytes:
    return LEAF_PREFIX + struct.pack(">Q", index)


def rewrite_leaf(home: Path, index: int, field: int, change: object) -> None:
    fields = decode_leaf(stored(home, leaf_key(index)))
    fields[field] = change(fields[field]) if callable(change) else change
    store(home, leaf_key(index), codec.encode(fields))


def test_an_untouched_log_verifies(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, summary = verify(capsys, "--home", str(home))
    assert code == 0 and summary["ok"] and summary["blocks"] == 5 and summary["receipts"] == 7
    node_key = amigos.Account.from_seed(bytes.fromhex((home / "node.key").read_text())).public_key.hex()
    assert summary["node_key"] == node_key


def test_a_changed_result_names_its_block(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rewrite_leaf(home, 3, 4, [99])  # receipt 3 is in block 3
    code, report = verify(capsys, "--home", str(home))
    assert code == 1 and report["height"] == 3 and "receipt 3 differs" in report["error"]


def test_a_changed_signature_names_its_block(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def flip_a_signature_bit(signed: bytes) -> bytes:
        return signed[:-1] + bytes([signed[-1] ^ 1])

    rewrite_leaf(home, 4, 0, flip_a_signature_bit)  # receipt 4 is in block 4
    code, report = verify(capsys, "--home", str(home))
    assert code == 1 and report["height"] == 4 and "refused on replay" in report["error"]


def test_a_dropped_block_names_its_height(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for index in (1, 2):  # block 2's receipts, and its head
        store(home, leaf_key(index), None)
        store(home, LEAF_HASH_PREFIX + struct.pack(">Q", index), None)
    store(home, HEAD_PREFIX + struct.pack(">Q", 2), None)
    code, report = verify(capsys, "--home", str(home))
    assert code == 1 and report["height"] == 2 and "missing" in report["error"]


def test_a_head_signed_by_another_key_names_its_block(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = verify(capsys, "--home", str(home), "--node-key", BOB.public_key.hex())
    assert code == 1 and report["height"] == 1 and "not signed by the node's key" in report["error"]


def test_verify_wants_exactly_one_log(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify"]) == 2
    assert main(["verify", "--home", str(home / "nowhere")]) == 2
    assert "no node state" in capsys.readouterr().err


# --------------------------------------------------------------------------- the genesis

GENESIS = Genesis({ALICE.address: 1_000, BOB.address: 500})


@pytest.fixture
def funded(tmp_path: Path) -> Path:
    """A stopped node's home with a genesis: block 1 applies it, block 2 spends from it."""
    node = Node(tmp_path / "funded", chain_id=CHAIN, isolation="none", genesis=GENESIS).start()
    assert node.submit(tx(ALICE, 1, AccountMessage("send", {"to": BOB.address, "amount": 300}))).result().receipt.ok
    node.stop()
    return tmp_path / "funded"


def test_a_log_verifies_from_its_genesis_and_not_from_an_edited_one(funded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, summary = verify(capsys, "--home", str(funded))
    assert code == 0 and summary["blocks"] == 2
    (funded / "genesis.json").write_text(json.dumps(Genesis({ALICE.address: 1_000, BOB.address: 501}).to_value()))
    code, report = verify(capsys, "--home", str(funded))
    assert code == 1 and report["height"] == 1  # block 1's state hash covers the genesis
    (funded / "genesis.json").write_text("[]")
    assert main(["verify", "--home", str(funded)]) == 2
    assert "genesis" in capsys.readouterr().err


def test_a_node_that_lies_about_its_genesis_fails_verification_at_block_1(funded: Path) -> None:
    node = Node(funded, isolation="none").start()
    http = sync_client(create_app(node))
    try:
        assert verify_log(RemoteLog("http://node.test", http), node.key.public_key).blocks == 2
        node.genesis = Genesis({ALICE.address: 1_300})  # what it serves from now on: no bob, alice richer
        with pytest.raises(LogMismatch) as mismatch:
            verify_log(RemoteLog("http://node.test", http), node.key.public_key)
        assert mismatch.value.height == 1
        node.genesis = type("Garbage", (), {"to_value": lambda self: {"allocations": {"x": -1}}})()
        with pytest.raises(LogMismatch, match="malformed genesis") as mismatch:
            verify_log(RemoteLog("http://node.test", http), node.key.public_key)
        assert mismatch.value.height == 1
    finally:
        http.close()
        node.stop()


@pytest.mark.parametrize("text", ["nope", "[]", '{"allocations": {"amigo1x": 5}}', '{"allocations": {}, "more": 1}',
                                  '{"allocations": {"' + ALICE.address + '": -5}}', "\udcff"])
def test_serve_refuses_a_garbage_genesis_file_in_one_line(tmp_path: Path, text: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "genesis.json").write_text(text, errors="surrogateescape")
    assert main(["serve", "--home", str(tmp_path / "home"), "--port", "0", "--genesis", str(tmp_path / "genesis.json")]) == 2
    err = capsys.readouterr().err
    assert "genesis" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "home").exists()


def test_serve_refuses_a_genesis_other_than_the_homes(funded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "other.json").write_text(json.dumps({"allocations": {ALICE.address: 1}}))
    assert main(["serve", "--home", str(funded), "--port", "0", "--genesis", str(tmp_path / "other.json")]) == 2
    assert "another genesis" in capsys.readouterr().err


# --------------------------------------------------------------------------- a real server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "amigos.cli", "serve", "--home", str(tmp_path / "served"),
                                "--port", str(port), "--chain-id", CHAIN],
                               env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/v1/node", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "amigos serve did not start"
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
        assert process.returncode in (0, -signal.SIGTERM), output  # uvicorn ends by the signal it got
        assert "Traceback" not in output, output


def test_serve_talk_stream_and_verify_a_real_node(server: str) -> None:
    node = amigos.connect(server, account=ALICE)
    assert node.chain_id == CHAIN
    events: list[dict] = []

    def listen() -> None:  # live: what commits from now on, for this service
        with httpx.stream("GET", f"{server}/v1/events", params={"service": PATH, "limit": 3}, timeout=30) as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))

    listener = threading.Thread(target=listen)
    listener.start()
    time.sleep(0.3)  # let it subscribe before the first block
    node.deploy(PATH, COUNTER)
    assert node.call(PATH, "increment", 2).result == 2
    receipts = node.submit_many([amigos.Call(PATH, "increment", (1,)) for _ in range(20)])
    assert [r.result for r in receipts] == list(range(3, 23))
    listener.join(timeout=30)
    assert [e.get("name") or "receipt" for e in events] == ["receipt", "receipt", "incremented"]
    done = subprocess.run([sys.executable, "-m", "amigos.cli", "--json", "verify", "--node", server],
                          env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["receipts"] == 22 and summary["node_key"] == node.node_key.hex()


def start_server(home: Path) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "amigos.cli", "serve", "--home", str(home),
                                "--port", str(port), "--chain-id", CHAIN],
                               env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/v1/node", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "amigos serve did not start"
        time.sleep(0.05)


def test_kill_9_of_a_serving_node_under_load_loses_no_acknowledged_receipt(tmp_path: Path) -> None:
    """Clients call a real `amigos serve` from 8 threads; the node is killed with SIGKILL mid-load,
    twice, and restarted on the same home: every receipt a client got is in the log, with a proof,
    and the whole log verifies."""
    home = tmp_path / "crashing"
    acknowledged: dict[bytes, object] = {}
    lock = threading.Lock()
    for round_ in range(2):
        process, url = start_server(home)
        if round_ == 0:
            amigos.connect(url, account=ALICE).deploy(PATH, COUNTER)
        stop = threading.Event()

        def client(seed: int, url: str = url, stop: threading.Event = stop) -> None:
            node = amigos.connect(url, account=amigos.Account.from_seed(bytes([seed]) * 32))
            while not stop.is_set():
                try:
                    receipt = node.call(PATH, "increment")
                except Exception:  # noqa: BLE001 - the node was killed under us
                    return
                with lock:
                    acknowledged[receipt.tx_hash] = receipt.result

        threads = [threading.Thread(target=client, args=(40 + i,)) for i in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        before = len(acknowledged)
        while len(acknowledged) < before + 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        stop.set()
        for t in threads:
            t.join(timeout=30)
        assert len(acknowledged) >= before + 100, f"round {round_}: only {len(acknowledged) - before} receipts"
    process, url = start_server(home)
    try:
        checker = amigos.connect(url, account=ALICE)
        for tx_hash, result in acknowledged.items():
            receipt = checker.receipt(tx_hash)  # proven against the node's current signed head
            assert receipt.ok and receipt.result == result
    finally:
        process.terminate()
        process.wait(timeout=20)
    done = subprocess.run([sys.executable, "-m", "amigos.cli", "verify", "--home", str(home)],
                          env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
