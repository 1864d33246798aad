"""``amigos serve``: run a node, the HTTP API over a home folder (or a PostgreSQL store)."""

from __future__ import annotations

import argparse
import gc
import socket
import sys
from pathlib import Path

from .. import __version__
from ..errors import UsageError
from ..runtime import ISOLATIONS
from . import Commands
from .context import Context
from .output import EXIT_OK

DEFAULT_PORT = 8700
SWITCH_INTERVAL = 0.0005
"""Seconds a thread of the server may hold the GIL while another waits for it (see serve)."""


def register(commands: Commands) -> None:
    p = commands.add("serve", "run a node: the HTTP API over the state in --home", serve, takes=("home",))
    p.add_argument("--db", metavar="URL", help="state store URL (PostgreSQL), instead of SQLite in --home")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--genesis", metavar="FILE", type=Path,
                   help='initial AMI balances, a JSON file {"allocations": {address: amount}}: fixed by the first start')
    p.add_argument("--private-webhooks", action="store_true",
                   help="also post account webhooks to loopback and private addresses (default: public ones only)")
    add_node_options(p)


def add_node_options(parser: argparse.ArgumentParser) -> None:
    """The options of every command that runs a node (serve, dev)."""
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on (default: {DEFAULT_PORT}; 0: any free port)")
    parser.add_argument("--chain-id", help="chain id, fixed by the first start (default: amigos-local)")
    parser.add_argument("--isolation", choices=ISOLATIONS, default="process",
                        help="where service code runs: confined worker processes (default) or this process")


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, or a clear error when the port is taken (before any state is opened)."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be 0-65535, not {port}")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror} (another node running? pass --port N)") from None
    sock.listen(2048)
    return sock


def serve(ctx: Context) -> int:
    import uvicorn

    from ..node import Node
    from ..node.app import create_app
    from ..node.node import read_genesis_file

    args = ctx.args
    genesis = None if args.genesis is None else read_genesis_file(args.genesis)
    sock = listen(args.host, args.port)
    home = ctx.home()
    try:
        node = Node(home, chain_id=args.chain_id, db=args.db, isolation=args.isolation, genesis=genesis,
                    private_webhooks=args.private_webhooks).start()
    except BaseException:
        sock.close()
        raise
    try:
        port = sock.getsockname()[1]
        print(f"amigos node {__version__} on http://{args.host}:{port}  chain {node.chain_id}  "
              f"height {node.info()['height']}\n  node key {node.key.public_key.hex()}\n  home {home}",
              file=sys.stderr, flush=True)
        # On SIGINT/SIGTERM: a few seconds for open requests and event streams, then the app's
        # shutdown stops the node (uvicorn then ends the process by the same signal).
        config = uvicorn.Config(create_app(node, stop_node_on_shutdown=True), log_level="warning",
                                access_log=False, timeout_graceful_shutdown=3)
        # What the node loaded to start lives as long as the server: keep it out of the garbage
        # collector's full passes, each of which would otherwise stop the node for tens of ms.
        # And a young pass per 10,000 new objects, not 700: the requests in flight alone hold
        # more than 700, which refcounting frees when they end, so the default threshold makes
        # passes that find nothing and push those requests into the older generations.
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000)
        # Two threads share the GIL: the event loop, busy with requests, and the sequencer,
        # which lets go of it at every wait on the verifier, a worker or the disk. Each time,
        # it waits for the loop to hand the GIL back, at most the switch interval (5 ms by
        # default): under load, most of a block's time. 0.5 ms: 64 clients get about 8% more
        # transactions through, at a p99 a few ms lower (benchmarks/node_throughput.py).
        sys.setswitchinterval(SWITCH_INTERVAL)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        node.stop()
        sock.close()
    return EXIT_OK
