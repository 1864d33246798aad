"""The ``amigos`` command.

Local mode works on a folder of state (``--home DIR``, default ``$AMIGOS_HOME`` or
``~/.amigos``). ``amigos serve`` runs a node over such a folder; ``amigos verify`` replays a
node's log (``--node URL``, or the one in ``--home DIR``). Exit status: 0 on
success, 1 when a deploy or call failed or a log does not verify, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from . import __version__
from .errors import AmigosError, DeployError, ExecutionError, UsageError
from .jsonvalue import parse_argument, to_json
from .runtime import ISOLATIONS, LocalRuntime, Receipt

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_ACCOUNT = "dev"
DEFAULT_PORT = 8700


def default_home() -> Path:
    return Path(os.environ.get("AMIGOS_HOME") or Path.home() / ".amigos")


class Output:
    """Human or JSON output; colour only on a terminal and without NO_COLOR."""

    def __init__(self, as_json: bool) -> None:
        self.json = as_json
        self.colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")

    def paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text

    def data(self, value: Any) -> None:
        print(json.dumps(value, indent=2, ensure_ascii=False))

    def error(self, message: str) -> None:
        prefix = "\033[31merror:\033[0m" if sys.stderr.isatty() and not os.environ.get("NO_COLOR") else "error:"
        print(f"{prefix} {message}", file=sys.stderr)


def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--home", type=Path, default=default, help="state folder (default: $AMIGOS_HOME or ~/.amigos)")
    parser.add_argument("--as", dest="signer", default=default, metavar="ACCOUNT", help=f"sign as ACCOUNT (default: {DEFAULT_ACCOUNT})")
    parser.add_argument("--json", action="store_true", default=default, help="print machine-readable JSON")
    parser.add_argument("--gas", type=int, default=default, help="gas limit for the call")
    parser.add_argument("--debug", action="store_true", default=default, help="show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amigos",
        description="Deploy, call and inspect Amigos services.",
        epilog="Arguments parse as JSON when they can (42, true, [1,2], {\"a\": 1}), else as strings.",
    )
    parser.add_argument("--version", action="version", version=f"amigos {__version__}")
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        _common(p, suppress=True)
        return p

    p = command("deploy", "deploy (or upgrade) a service from a Python file")
    p.add_argument("path", help="e.g. hub.amigos.dev/alice/counter")
    p.add_argument("file", type=Path, help="the service's source file")

    for name, help_ in (("call", "call a function (a signed state change)"), ("query", "call a function read-only")):
        p = command(name, help_)
        p.add_argument("path")
        p.add_argument("function")
        p.add_argument("args", nargs="*", help="arguments (JSON or strings); key=value for keyword arguments with --kw")
        p.add_argument("--kw", action="append", default=[], metavar="NAME=VALUE", help="a keyword argument")

    p = command("render", "print the service's markdown page")
    p.add_argument("path")
    p.add_argument("subpath", nargs="?", default="")

    p = command("state", "dump the service's persistent state")
    p.add_argument("path")

    command("services", "list deployed services")

    p = command("show", "show a service: functions, docs, dependencies, versions")
    p.add_argument("path")
    p.add_argument("--source", action="store_true", help="print the source code")

    p = command("serve", "run a node: the HTTP API over the state in --home")
    p.add_argument("--db", metavar="URL", help="state store URL (PostgreSQL), instead of SQLite in --home")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default: {DEFAULT_PORT})")
    p.add_argument("--chain-id", help="chain id, fixed by the first start (default: amigos-local)")
    p.add_argument("--isolation", choices=ISOLATIONS, default="process",
                   help="where service code runs: confined worker processes (default) or this process")

    p = command("verify", "replay a node's whole log from genesis and check every block")
    p.add_argument("--node", metavar="URL", help="a running node, e.g. http://127.0.0.1:8700 (or give --home DIR)")
    p.add_argument("--node-key", metavar="HEX", help="the node's public key (default: what the node or its home says)")
    p.add_argument("--isolation", choices=ISOLATIONS, default="process",
                   help="where replayed service code runs (default: confined worker processes)")

    p = command("dev", "deploy the example services from hub/ into the home folder")
    p.add_argument("--hub", type=Path, default=None, help="folder of example services (default: ./hub)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Output(bool(args.json))
    try:
        return run(args, out)
    except UsageError as exc:
        out.error(str(exc))
        return EXIT_USAGE
    except DeployError as exc:
        if out.json:
            out.data({"ok": False, "error": {"type": "DeployError", "message": exc.message, "line": exc.line, "rule": exc.rule}})
        else:
            out.error(f"deploy failed: {exc}")
        return EXIT_FAILED
    except ExecutionError as exc:
        if out.json:
            out.data({"ok": False, "result": None, "error": exc.to_dict()})
        else:
            out.error(_describe_error(exc))
        return EXIT_FAILED
    except (AmigosError, OSError) as exc:
        if args.debug:
            raise
        out.error(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def _describe_error(error: ExecutionError) -> str:
    where = f" (line {error.line})" if error.line is not None else ""
    return f"{error.type}: {error.message}{where}"


def _parse_kwargs(items: list[str]) -> dict[str, Any]:
    kwargs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise UsageError(f"--kw expects NAME=VALUE, got {item!r}")
        kwargs[name] = parse_argument(value)
    return kwargs


def run(args: argparse.Namespace, out: Output) -> int:
    home = args.home or default_home()
    signer = args.signer or DEFAULT_ACCOUNT
    if args.command == "serve":
        return _serve(args, home)
    if args.command == "verify":
        return _verify(args, home, out)
    with LocalRuntime(home) as rt:
        if args.command == "deploy":
            try:
                source = args.file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise UsageError(f"cannot read {args.file}: {exc}") from None
            info = rt.deploy(args.path, source, signer=signer, gas=args.gas)
            if out.json:
                out.data({"ok": True, "service": info.to_dict()})
            else:
                print(f"deployed {out.paint(info.path, '1')} version {info.version} (owner {info.owner})")
                print(f"  import it with: {info.import_line}")
            return EXIT_OK
        if args.command == "call":
            call_args = [parse_argument(a) for a in args.args]
            receipt = rt.call(args.path, args.function, *call_args, signer=signer, gas=args.gas, kwargs=_parse_kwargs(args.kw))
            return _print_receipt(receipt, out)
        if args.command == "query":
            call_args = [parse_argument(a) for a in args.args]
            result = rt.query(args.path, args.function, *call_args, kwargs=_parse_kwargs(args.kw), gas=args.gas, signer=args.signer)
            if out.json:
                out.data({"ok": True, "result": to_json(result), "error": None})
            else:
                print(json.dumps(to_json(result), ensure_ascii=False))
            return EXIT_OK
        if args.command == "render":
            text = rt.render(args.path, args.subpath)
            if out.json:
                out.data({"ok": True, "markdown": text})
            else:
                print(text)
            return EXIT_OK
        if args.command == "state":
            out.data(to_json(rt.state(args.path)))
            return EXIT_OK
        if args.command == "services":
            services = rt.services()
            if out.json:
                out.data([s.to_dict() for s in services])
            else:
                for s in services:
                    print(f"{out.paint(s.path, '1')}  v{s.version}  {s.owner}  {(s.doc or '').splitlines()[0] if s.doc else ''}")
            return EXIT_OK
        if args.command == "show":
            return _show(rt, args, out)
        if args.command == "dev":
            return _dev(rt, args, out, signer)
    raise UsageError(f"unknown command {args.command}")


def _print_receipt(receipt: Receipt, out: Output) -> int:
    if out.json:
        out.data(receipt.to_dict())
    elif receipt.ok:
        print(json.dumps(to_json(receipt.result), ensure_ascii=False))
        for event in receipt.events:
            attrs = " ".join(f"{k}={json.dumps(to_json(v), ensure_ascii=False)}" for k, v in event.attrs.items())
            print(out.paint(f"  event {event.name} {attrs}", "2"), file=sys.stderr)
        print(out.paint(f"  gas used {receipt.gas_used}, height {receipt.height}", "2"), file=sys.stderr)
    else:
        assert receipt.error is not None
        out.error(_describe_error(receipt.error))
    return EXIT_OK if receipt.ok else EXIT_FAILED


def _show(rt: LocalRuntime, args: argparse.Namespace, out: Output) -> int:
    info = rt.service(args.path)
    if out.json:
        data = info.to_dict()
        if args.source:
            data["source"] = rt.source(args.path)
        out.data(data)
        return EXIT_OK
    print(out.paint(info.path, "1"), f"v{info.version}", f"owner {info.owner}")
    if info.doc:
        print(f"\n{info.doc}\n")
    print(f"import: {info.import_line}")
    if info.dependencies:
        print("depends on: " + ", ".join(info.dependencies))
    print("functions:")
    for fn in info.functions:
        print(f"  {out.paint(fn.name, '1')}{fn.signature}")
        if fn.doc:
            print(f"      {fn.doc.splitlines()[0]}")
    print("versions: " + ", ".join(f"v{v['version']} at height {v['height']}" for v in info.versions))
    if args.source:
        print("\n" + rt.source(args.path))
    return EXIT_OK


def _serve(args: argparse.Namespace, home: Path) -> int:
    import uvicorn

    from .node import Node
    from .node.app import create_app

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0-65535, not {args.port}")
    node = Node(home, chain_id=args.chain_id, db=args.db, isolation=args.isolation).start()
    try:
        print(f"amigos node {__version__} on http://{args.host}:{args.port}  chain {node.chain_id}  "
              f"height {node.info()['height']}\n  node key {node.key.public_key.hex()}\n  home {home}",
              file=sys.stderr, flush=True)
        # On SIGINT/SIGTERM: a few seconds for open requests and event streams, then the app's
        # shutdown stops the node (uvicorn then ends the process by the same signal).
        uvicorn.run(create_app(node, stop_node_on_shutdown=True), host=args.host, port=args.port,
                    log_level="warning", timeout_graceful_shutdown=3)
    finally:
        node.stop()
    return EXIT_OK


def _verify(args: argparse.Namespace, home: Path, out: Output) -> int:
    from .ledger.block import LogMismatch
    from .node.verify import LocalLog, RemoteLog, verify_log

    if (args.node is None) == (args.home is None):
        raise UsageError("verify reads one log: give --node URL or --home DIR")
    source: LocalLog | RemoteLog = RemoteLog(args.node) if args.node else LocalLog(home)
    try:
        if args.node_key is not None:
            try:
                node_key = bytes.fromhex(args.node_key)
            except ValueError:
                node_key = b""
            if len(node_key) != 32:
                raise UsageError("--node-key is the node's 32-byte public key in hex")
        else:
            node_key = source.served_key if isinstance(source, RemoteLog) else source.node_key()
        bar = ProgressBar() if sys.stderr.isatty() else None
        try:
            summary = verify_log(source, node_key, isolation=args.isolation, progress=bar)
        except LogMismatch as mismatch:
            if bar:
                bar.done()
            if out.json:
                out.data({"ok": False, "height": mismatch.height, "error": str(mismatch)})
            else:
                out.error(f"the log does not hold at height {mismatch.height}: {mismatch}")
            return EXIT_FAILED
        if bar:
            bar.done()
    finally:
        if isinstance(source, LocalLog):
            source.close()
    if out.json:
        out.data(summary.to_dict())
    else:
        print(f"log sound: {summary.blocks} blocks, {summary.receipts} receipts replayed and checked")
        print(f"  chain {summary.chain_id}, node key {summary.node_key.hex()}")
        print(f"  tree root {summary.root.hex()}, state hash {summary.state_hash.hex()}")
    return EXIT_OK


class ProgressBar:
    """``[#####·····] 120/240 blocks`` redrawn in place on stderr (a terminal)."""

    WIDTH = 30

    def __call__(self, done: int, total: int) -> None:
        filled = self.WIDTH * done // total if total else self.WIDTH
        print(f"\r[{'#' * filled}{'·' * (self.WIDTH - filled)}] {done}/{total} blocks", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        print(file=sys.stderr, flush=True)


DEV_NAMESPACE = "amigos"


def _dev(rt: LocalRuntime, args: argparse.Namespace, out: Output, signer: str) -> int:
    hub = args.hub or Path("hub")
    if not hub.is_dir():
        raise UsageError(f"no folder of services at {hub} (pass --hub DIR)")
    files = sorted(hub.glob("*.py"))
    pending = {f"hub.amigos.dev/{DEV_NAMESPACE}/{f.stem}": f for f in files if not f.stem.startswith(("_", "test_"))}
    deployed: list[str] = []
    # Deploy in dependency order: retry those whose imports are not there yet.
    while pending:
        progress = False
        errors: dict[str, DeployError] = {}
        for path, file in list(pending.items()):
            try:
                rt.deploy(path, file.read_text(encoding="utf-8"), signer=signer)
            except DeployError as exc:
                errors[path] = exc
                continue
            deployed.append(path)
            del pending[path]
            progress = True
        if not progress:
            for path, exc in errors.items():
                out.error(f"{path}: {exc}")
            return EXIT_FAILED
    if out.json:
        out.data({"ok": True, "home": str(rt.home), "deployed": deployed})
    else:
        print(f"Amigos {__version__} — services in {rt.home}")
        for path in deployed:
            print(f"  {out.paint(path, '1')}")
        print("\nTry:")
        print(f"  amigos --home {rt.home} call hub.amigos.dev/{DEV_NAMESPACE}/counter increment 2")
        print(f"  amigos --home {rt.home} render hub.amigos.dev/{DEV_NAMESPACE}/counter")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
