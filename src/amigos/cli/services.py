"""``deploy``, ``call``, ``query``, ``render``, ``state``, ``services`` and ``show``: the same
commands in a local home and on a node."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import DeployError, UsageError
from ..jsonvalue import parse_argument, to_json
from ..vm.paths import path_to_import
from ..vm.service import compile_service
from . import Commands, describe_error
from .context import Context
from .output import EXIT_FAILED, EXIT_OK, Output

TARGET = ("home", "node")
ARGUMENTS = "Arguments parse as JSON when they can (42, true, [1,2], {\"a\": 1}), else as strings;\n" \
            "a negative number goes after `--`: amigos call PATH f -- -4"


def register(commands: Commands) -> None:
    p = commands.add("deploy", "deploy (or upgrade) a service from a Python file", deploy, takes=(*TARGET, "signer"),
                     epilog="The service is importable by others as `from hub.NAMESPACE import NAME`.")
    p.add_argument("path", help="where it lives, e.g. hub.amigos.dev/alice/counter")
    p.add_argument("file", type=Path, help="the service's source file")
    p.add_argument("--gas", type=int, help="gas limit for its initialisation")

    for name, summary, handler in (("call", "call a function: a state change, signed on a node", call),
                                   ("query", "call a function read-only", query)):
        p = commands.add(name, summary, handler, takes=(*TARGET, "signer"), epilog=ARGUMENTS)
        p.add_argument("path", help="the service, e.g. hub.amigos.dev/alice/counter")
        p.add_argument("function", help="the function's name")
        p.add_argument("args", nargs="*", help="positional arguments")
        p.add_argument("--kw", action="append", default=[], metavar="NAME=VALUE", help="a keyword argument (repeatable)")
        p.add_argument("--gas", type=int, help="gas limit")

    p = commands.add("render", "print a service's markdown page", render, takes=TARGET)
    p.add_argument("path")
    p.add_argument("subpath", nargs="?", default="", help="passed to the service's render(path)")

    p = commands.add("state", "print a service's persistent state as JSON", state, takes=TARGET)
    p.add_argument("path")

    p = commands.add("services", "list deployed services, or search them", services, takes=TARGET)
    p.add_argument("query", nargs="?", help="only services whose path or doc contains this (any case)")

    p = commands.add("show", "show a service: doc, functions, dependencies, versions, source", show, takes=TARGET)
    p.add_argument("path")
    p.add_argument("--source", action="store_true", help="also print the source code")


def read_source(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror if isinstance(exc, OSError) else exc}") from None


def call_arguments(args: argparse.Namespace) -> tuple[list[Any], dict[str, Any]]:
    kwargs = {}
    for item in args.kw:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise UsageError(f"--kw expects NAME=VALUE, got {item!r}")
        kwargs[name] = parse_argument(value)
    return [parse_argument(a) for a in args.args], kwargs


def deploy(ctx: Context) -> int:
    args, out = ctx.args, ctx.out
    source = read_source(args.file)
    try:
        compile_service(args.path, source)  # the language rules, checked here: exact lines, nothing sent
        with ctx.client(signs=True) as client:
            receipt = client.deploy(args.path, source, gas=args.gas)
            info = {**client.describe(args.path), "gas_used": receipt.gas_used, "block": receipt.height,
                    "tx_hash": receipt.tx_hash}
            del info["source"]
    except DeployError as exc:  # said here, where the file's name is known
        where = f"{args.file}" + (f" line {exc.line}" if exc.line is not None else "")
        out.error(f"deploy failed: {where}: {exc.message} [{exc.rule}]", type="DeployError", file=str(args.file),
                  line=exc.line, rule=exc.rule)
        return EXIT_FAILED
    if out.json:
        out.data({"ok": True, "service": info})
        return EXIT_OK
    out.line(f"deployed {out.paint(info['path'], 'bold')} version {info['version']} (owner {info['owner']})")
    out.line(f"  import it with: {path_to_import(info['path'])}")
    out.note(f"  gas used {info['gas_used']}, block {info['block']}" + (f", tx {info['tx_hash']}" if info["tx_hash"] else ""))
    return EXIT_OK


def call(ctx: Context) -> int:
    positional, kwargs = call_arguments(ctx.args)
    with ctx.client(signs=True) as client:
        receipt = client.call(ctx.args.path, ctx.args.function, *positional, gas=ctx.args.gas, kwargs=kwargs)
    return print_receipt(receipt, ctx.out)


def print_receipt(receipt: Any, out: Output) -> int:
    """A local :class:`amigos.Receipt` or a node's proven one: the result on stdout, the rest
    (events, gas, where it is in the log) on stderr."""
    if out.json:
        out.data(receipt.to_dict())
    elif receipt.ok:
        out.line(json.dumps(to_json(receipt.result), ensure_ascii=False))
        for event in receipt.events:
            attrs = " ".join(f"{k}={json.dumps(to_json(v), ensure_ascii=False)}" for k, v in event.attrs.items())
            out.note(f"  event {event.name} {attrs}")
        out.note(f"  gas used {receipt.gas_used}, {where_in_log(receipt)}")
    else:
        out.error(describe_error(receipt.error))
    return EXIT_OK if receipt.ok else EXIT_FAILED


def where_in_log(receipt: Any) -> str:
    """The block of a receipt; for a node's proven receipt, also its transaction and log index."""
    where = f"block {receipt.height}"
    if receipt.proof is not None:
        where += f", tx {receipt.tx_hash}, proven in the node's log at index {receipt.index}"
    return where


def query(ctx: Context) -> int:
    positional, kwargs = call_arguments(ctx.args)
    with ctx.client() as client:
        result = client.query(ctx.args.path, ctx.args.function, *positional, kwargs=kwargs, gas=ctx.args.gas)
    if ctx.out.json:
        ctx.out.data({"ok": True, "result": to_json(result), "error": None})
    else:
        ctx.out.line(json.dumps(to_json(result), ensure_ascii=False))
    return EXIT_OK


def render(ctx: Context) -> int:
    with ctx.client() as client:
        text = client.render(ctx.args.path, ctx.args.subpath)
    if ctx.out.json:
        ctx.out.data({"ok": True, "markdown": text})
    else:
        ctx.out.line(text)
    return EXIT_OK


def state(ctx: Context) -> int:
    with ctx.client() as client:
        ctx.out.data(client.state(ctx.args.path))
    return EXIT_OK


def matches(info: dict[str, Any], query: str | None) -> bool:
    if not query:
        return True
    return query.lower() in info["path"].lower() or query.lower() in (info.get("doc") or "").lower()


def services(ctx: Context) -> int:
    out = ctx.out
    with ctx.client() as client:
        found = [s for s in client.services() if matches(s, ctx.args.query)]
    if out.json:
        out.data(found)
        return EXIT_OK
    for s in found:
        summary = (s.get("doc") or "").strip().splitlines()
        out.line(f"{out.paint(s['path'], 'bold')}  v{s['version']}  {out.paint(s['owner'], 'dim')}  {summary[0] if summary else ''}")
    if not found:
        out.note("no services" + (f" match {ctx.args.query!r}" if ctx.args.query else " yet"))
    return EXIT_OK


def show(ctx: Context) -> int:
    out = ctx.out
    with ctx.client() as client:
        info = client.describe(ctx.args.path)
    if out.json:
        out.data(info)
        return EXIT_OK
    out.line(f"{out.paint(info['path'], 'bold')}  v{info['version']}  owner {info['owner']}")
    if info.get("doc"):
        out.line(f"\n{info['doc'].strip()}\n")
    out.line(f"import: {path_to_import(info['path'])}")
    if info["dependencies"]:
        out.line("depends on: " + ", ".join(info["dependencies"]))
    out.line("functions:")
    for fn in info["functions"]:
        out.line(f"  {out.paint(fn['name'], 'bold')}{fn['signature']}")
        if fn.get("doc"):
            out.line(f"      {fn['doc'].strip().splitlines()[0]}")
    out.line("versions: " + ", ".join(f"v{v['version']} at block {v['height']}" for v in info["versions"]))
    if ctx.args.source:
        out.line("\n" + info["source"])
    return EXIT_OK
