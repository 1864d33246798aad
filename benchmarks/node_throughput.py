"""End-to-end signed token transfers against a running `amigos serve`, with durable commits.

    python benchmarks/node_throughput.py [--transfers N] [--db URL | --postgres] [--isolation process|none|both]
                                         [--node URL]

Starts a node on 127.0.0.1 (SQLite in a temporary home, ``--db postgresql://…``, or a throwaway
PostgreSQL server with ``--postgres``), deploys hub/token.py and funds 64 accounts, then
measures in the same run:

(a) N transfers, pre-signed, in batches of 500 per request (one client): transfers/s;
(b) then about N more, one per request from 64 concurrent clients (asyncio): transfers/s and
    p50/p99 latency to the durable receipt (a run of seconds: a shorter one's p99 moves by
    tens of ms from run to run);
and PyNaCl Ed25519 verifications/s on one core, printing (a)/verify (issue 4's targets:
(a) >= 0.5 of verify, (b) >= 2,000 tx/s with p99 under 50 ms). It also prints the CPU time the
node's processes (the server and its sandbox workers and signature verifier) spent per
transfer, and the server process's own share (its one GIL serialises HTTP, admission, the
ledger and the commit): on a shared machine these move less than throughput does. From them,
the most that CPU allows: one core for the server's share, every core for all of it. The node
runs with its defaults (process isolation); ``--isolation both`` measures an in-process node
too; ``--node URL`` measures a fresh node started by hand (chain ``amigos-bench``), under a
profiler say.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import httpx  # noqa: E402
import nacl.signing  # noqa: E402

from amigos.crypto.keys import Account  # noqa: E402
from amigos.ledger.tx import Call, Deploy, Transaction, sign  # noqa: E402

CHAIN = "amigos-bench"
SOURCE = (ROOT / "hub" / "token.py").read_text()
OWNER = Account.from_seed(bytes([1]) * 32)
TOKEN = f"hub.amigos.dev/{OWNER.address}/token"


def signed(account: Account, nonce: int, message: object) -> str:
    tx = Transaction(chain_id=CHAIN, account=account.address, public_key=account.public_key, nonce=nonce,
                     gas_limit=1_000_000, messages=[message])
    return sign(tx, account).encode().hex()


def start_node(home: str, db: str | None, isolation: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "amigos.cli", "serve", "--home", home, "--port", str(port), "--chain-id", CHAIN,
               "--isolation", isolation]
    if db:
        command += ["--db", db]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/v1/node", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the node did not start")


def post(client: httpx.Client, body: dict[str, object]) -> dict[str, object]:
    response = client.post("/v1/transactions", json=body, timeout=120)
    response.raise_for_status()
    return response.json()


async def post_raw(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> tuple[int, bytes]:
    """POST /v1/transactions on a keep-alive connection; the status and body of the answer."""
    writer.write(b"POST /v1/transactions HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:"))
    return int(lines[0].split()[1]), await reader.readexactly(length)


def verifications_per_second(n: int = 5000) -> float:
    key = nacl.signing.SigningKey(bytes(32))
    signed_message = key.sign(bytes(200))
    start = time.perf_counter()
    for _ in range(n):
        key.verify_key.verify(signed_message)
    return n / (time.perf_counter() - start)


@dataclass
class Figures:
    rate_a: float
    cpu_a: tuple[float, float]
    """CPU seconds per transfer in (a): the server process's own, and the node's in all."""
    rate_b: float
    cpu_b: tuple[float, float]
    latencies: list[float]


def cpu_per_transfer(before: tuple[float, float], after: tuple[float, float], transfers: int) -> tuple[float, float]:
    return (after[0] - before[0]) / transfers, (after[1] - before[1]) / transfers


def tree_cpu_seconds(pid: int | None) -> tuple[float, float]:
    """CPU seconds spent so far by process ``pid`` itself, and by it and its living descendants
    (Linux /proc): the server process's own share is what its one GIL serialises."""
    if pid is None or not Path("/proc/self/stat").exists():
        return float("nan"), float("nan")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
        times[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += times.get(current, 0.0)
        todo += [child for child, parent in parents.items() if parent == current]
    return times.get(pid, float("nan")), total


def measure(url: str, pid: int | None, transfers: int) -> Figures:
    port = int(url.rsplit(":", 1)[1])
    clients = [Account.from_seed(i.to_bytes(32, "big")) for i in range(1000, 1064)]
    with httpx.Client(base_url=url) as http:
        setup = [signed(OWNER, 1, Deploy(TOKEN, SOURCE))]
        setup += [signed(OWNER, 2 + i, Call(TOKEN, "transfer", (c.address, 10**9))) for i, c in enumerate(clients)]
        post(http, {"txs": setup})
        # (a) batches of 500 from one client
        batch = [signed(clients[i % 64], 1 + i // 64, Call(TOKEN, "transfer", (f"r{i % 1000}", 1)))
                 for i in range(transfers)]
        cpu, start = tree_cpu_seconds(pid), time.perf_counter()
        for first in range(0, len(batch), 500):
            answer = post(http, {"txs": batch[first:first + 500]})
            assert all("receipt" in o for o in answer["outcomes"]), answer["outcomes"][0]  # type: ignore[index]
        rate_a = len(batch) / (time.perf_counter() - start)
        cpu_a = cpu_per_transfer(cpu, tree_cpu_seconds(pid), len(batch))
    # (b) 64 concurrent clients, one transaction per request
    per_client = max(1, transfers // 64)
    used = [len(range(i, transfers, 64)) for i in range(64)]  # nonces each spent in (a)
    latencies: list[float] = []
    # The 64 clients are asyncio tasks with one keep-alive connection each, speaking just
    # enough HTTP/1.1, their transactions signed beforehand: httpx spends about 2 ms of CPU
    # per request, so on two cores a client built on it measures itself more than the node.
    prepared = [[signed(clients[i], used[i] + 1 + k, Call(TOKEN, "transfer", (f"s{i}", 1))) for k in range(per_client)]
                for i in range(64)]

    async def one_client(txs: list[str]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for tx in txs:
                t = time.perf_counter()
                status, body = await post_raw(reader, writer, json.dumps({"tx": tx}).encode())
                if status != 200 or "receipt" not in json.loads(body):
                    raise SystemExit(f"the node answered {status}: {body[:300]!r}")
                latencies.append(time.perf_counter() - t)
        finally:
            writer.close()

    async def all_clients() -> None:
        await asyncio.gather(*(one_client(txs) for txs in prepared))

    cpu, start = tree_cpu_seconds(pid), time.perf_counter()
    asyncio.run(all_clients())
    rate_b = len(latencies) / (time.perf_counter() - start)
    cpu_b = cpu_per_transfer(cpu, tree_cpu_seconds(pid), len(latencies))
    return Figures(rate_a, cpu_a, rate_b, cpu_b, sorted(latencies))


@contextmanager
def store_url(db: str | None, postgres: bool) -> Iterator[str | None]:
    """The store to measure: the URL given, a throwaway PostgreSQL server, or None (SQLite)."""
    if not postgres:
        yield db
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from pgserver import pg_server

    with pg_server() as url:
        yield url


def report(figures: Figures, isolation: str, verify: float) -> None:
    f, lat = figures, figures.latencies
    print(f"  isolation={isolation}")
    print(f"  (a) batches of 500 per request:   {f.rate_a:8,.0f} transfers/s   (a)/verify = {f.rate_a / verify:.2f}"
          f"  (target >= 0.5)   {cpu_text(f.cpu_a)}")
    print(f"  (b) 64 clients, 1 tx per request: {f.rate_b:8,.0f} transfers/s   p50 {statistics.median(lat) * 1000:.1f} ms, "
          f"p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms  (target >= 2,000/s, p99 < 50 ms)   {cpu_text(f.cpu_b)}")


def cpu_text(cpu: tuple[float, float]) -> str:
    server, node = cpu
    text = f"node CPU {node * 1e6:4.0f} us/transfer (server process {server * 1e6:4.0f})"
    if server > 0 and node > 0:  # not NaN: measured
        text += f", so at most {cpu_ceiling(server, node):,.0f}/s here"
    return text


def cpu_ceiling(server: float, node: float) -> float:
    """Transfers/s the CPU they cost allows on this machine even with nothing ever waiting: the
    server process's share runs on one core (one GIL), and all of it on every core there is."""
    return min(1 / server, (os.cpu_count() or 1) / node)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=10_000)
    parser.add_argument("--db", default=None, help="a postgresql://… URL (default: SQLite in the node's home)")
    parser.add_argument("--postgres", action="store_true", help="measure against a throwaway PostgreSQL server")
    parser.add_argument("--isolation", default="process", choices=["process", "none", "both"])
    parser.add_argument("--node", default=None, help="measure this fresh node (chain amigos-bench) instead of starting one")
    args = parser.parse_args()
    isolations = ["process", "none"] if args.isolation == "both" else [args.isolation]
    results: list[tuple[str, Figures]] = []
    with store_url(args.db, args.postgres) as db:
        for isolation in isolations:
            if args.node:
                results.append((isolation, measure(args.node.rstrip("/"), None, args.transfers)))
                break
            if db is not None and results:
                empty_postgres(db)  # the next node starts a fresh log
            process, url = start_node(tempfile.mkdtemp(prefix="amigos-node-bench-"), db, isolation)
            try:
                results.append((isolation, measure(url, process.pid, args.transfers)))
            finally:
                process.terminate()
                process.wait(timeout=30)
    verify = verifications_per_second()
    print(f"node: {'PostgreSQL' if db else 'SQLite'}, durable commits, {args.transfers:,} transfers in (a)")
    for isolation, figures in results:
        report(figures, isolation, verify)
    print(f"  Ed25519 verify (PyNaCl, one core): {verify:8,.0f} /s")


def empty_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE state")


if __name__ == "__main__":
    main()
