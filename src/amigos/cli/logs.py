"""``events``, ``log`` and ``verify``: what a node's log says.

A node (``--node URL``) serves its log over the API; a node's home folder (``--home DIR`` of
``amigos serve`` or ``amigos dev``) holds it and can be read while the node runs. A plain local
home has no log (local calls keep no receipts), which these commands say instead of inventing
one.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any, Iterator

from ..crypto.keys import parse_address
from ..errors import NodeError, UsageError
from ..jsonvalue import to_json
from ..ledger.block import LogMismatch, SignedTreeHead
from ..ledger.tx import Call, Deploy
from ..node.verify import LocalLog, LogSource, RemoteLog, verify_log
from ..node.wire import concerns_account, head_to_json, receipt_fields, receipt_to_json, touched_services
from ..runtime import ISOLATIONS
from ..vm.paths import validate_path
from . import Commands
from .context import Context, is_node_home
from .output import EXIT_FAILED, EXIT_OK, Output, ProgressBar

TARGET = ("home", "node")
POLL_SECONDS = 0.3


def register(commands: Commands) -> None:
    p = commands.add("events", "print the events services emitted, from the log; --follow for new ones", events,
                     takes=TARGET, epilog="With --json: one JSON object per line.")
    p.add_argument("--account", metavar="ADDRESS",
                   help="only receipts of transactions signed for this account, or with events about it")
    p.add_argument("--service", metavar="PATH", help="only this service's events")
    p.add_argument("--from", dest="start", type=int, metavar="INDEX",
                   help="start at this log index (default: the beginning; with --follow: what commits from now on)")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing events as blocks commit (Ctrl-C stops)")

    p = commands.add("log", "print a node's blocks and their receipts", log, takes=TARGET)
    p.add_argument("--from", dest="start", type=int, metavar="HEIGHT", help="first block (default: the last --limit blocks)")
    p.add_argument("--limit", type=int, default=10, help="how many blocks (default: 10)")

    p = commands.add("verify", "replay a node's whole log from genesis and check every block", verify, takes=TARGET)
    p.add_argument("--node-key", metavar="HEX", help="the node's public key (default: what the node or its home says)")
    p.add_argument("--isolation", choices=ISOLATIONS, default="process",
                   help="where replayed service code runs (default: confined worker processes)")


def open_log(ctx: Context) -> tuple[LogSource, bytes]:
    """The log this command reads, and the node key its heads must be signed with."""
    url = ctx.node_url()
    if url is None:
        home = ctx.home()
        if not is_node_home(home):
            raise UsageError(f"{home} is a local home without a log: local calls keep no receipts "
                             "(run a node with `amigos dev` or `amigos serve` and use --node URL)")
        local = LocalLog(home)
        return local, local.node_key()
    with ctx.client() as client:  # pins the node's key, or checks it against the pinned one
        source = RemoteLog(url)
        if source.served_key != client.node_key:
            raise UsageError(f"the node at {url} changed its key while it was read")
        return source, source.served_key


def close_log(source: LogSource) -> None:
    if isinstance(source, LocalLog):
        source.close()


def block_ranges(source: LogSource, first: int, last: int) -> Iterator[tuple[SignedTreeHead, int]]:
    """Each block from height ``first`` to ``last``: its head and its first log index."""
    previous = source.head_at(first - 1) if first > 1 else None
    start = 0 if previous is None else previous.head.size
    for height in range(first, last + 1):
        head = source.head_at(height)
        if head is None:
            raise UsageError(f"the log has no block {height}")
        yield head, start
        start = head.head.size


# ------------------------------------------------------------ events


def event_filter(ctx: Context) -> tuple[str | None, str | None]:
    account, service = ctx.args.account, ctx.args.service
    if account is not None:
        parse_address(account)
    if service is not None:
        validate_path(service)
    if ctx.args.start is not None and ctx.args.start < 0:
        raise UsageError("--from is a log index, 0 or more")
    return account, service


def leaf_events(leaf: bytes, account: str | None, service: str | None) -> list[dict[str, Any]]:
    """The events of one receipt under the filters, as the node's event stream shows them."""
    fields = receipt_fields(leaf)
    if account is not None and not concerns_account(fields, account):
        return []
    if service is not None and service not in touched_services(fields):
        return []
    return [{"tx_hash": fields["tx_hash"].hex(), "height": fields["height"], "index": fields["index"],
             "service": e["service"], "name": e["name"], "attrs": to_json(e["attrs"])}
            for e in fields["events"] if service is None or e["service"] == service]


def print_event(out: Output, event: dict[str, Any]) -> None:
    if out.json:
        out.data_line(event)
        return
    attrs = " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in event["attrs"].items())
    index = out.paint(f"#{event['index']}", "dim")
    out.line(f"{index} block {event['height']}  {event['service']}  {out.paint(event['name'], 'bold')} {attrs}")


def events(ctx: Context) -> int:
    account, service = event_filter(ctx)
    url = ctx.node_url()
    if url is not None and ctx.args.follow:
        return follow_stream(ctx, url, account, service)
    source, _ = open_log(ctx)
    try:
        if ctx.args.follow and ctx.args.start is None:  # as the node's stream: what commits from now on
            latest = source.head_at(source.height) if source.height else None
            start = 0 if latest is None else latest.head.size
        else:
            start = printed_events(ctx.out, source, ctx.args.start or 0, account, service)
        seen = source.height
    finally:
        close_log(source)
    if not ctx.args.follow:
        return EXIT_OK
    while True:  # a node's home, read again as its blocks commit
        time.sleep(POLL_SECONDS)
        source, _ = open_log(ctx)
        try:
            start = printed_events(ctx.out, source, start, account, service, after=seen)
            seen = source.height
        finally:
            close_log(source)


def printed_events(out: Output, source: LogSource, start: int, account: str | None, service: str | None, *,
                   after: int = 0) -> int:
    """Print the events from log index ``start`` on, in the blocks after height ``after`` (those
    up to it were read before: a poll reads only the new ones); return the log index to go on from."""
    size = start
    for head, first in block_ranges(source, after + 1, source.height):
        if head.head.size <= start:
            continue
        for index in range(max(first, start), head.head.size):
            for event in leaf_events(source.leaf(index), account, service):
                print_event(out, event)
        size = head.head.size
    return size


def follow_stream(ctx: Context, url: str, account: str | None, service: str | None) -> int:
    """The node's Server-Sent Events stream (``/v1/events``), until Ctrl-C or the node stops."""
    import httpx

    params = {k: v for k, v in (("account", account), ("service", service), ("from", ctx.args.start)) if v is not None}
    try:
        with httpx.stream("GET", f"{url}/v1/events", params=params, timeout=httpx.Timeout(10.0, read=None)) as response:
            if response.status_code != 200:
                response.read()
                raise UsageError(f"the node refused the event stream: {response.status_code} {response.text[:200]}")
            kind = None
            for line in response.iter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:") and kind == "event":
                    print_event(ctx.out, json.loads(line[5:]))
    except httpx.HTTPError as exc:
        raise NodeError(0, "unreachable", f"the event stream of {url} broke off: {exc}") from None
    ctx.out.note("the node closed the stream (it stopped)")
    return EXIT_OK


# ------------------------------------------------------------ log


def describe_message(message: object) -> str:
    if isinstance(message, Deploy):
        return f"deploy {message.path}"
    if isinstance(message, Call):
        args = ", ".join([json.dumps(to_json(a), ensure_ascii=False) for a in message.args]
                         + [f"{k}={json.dumps(to_json(v), ensure_ascii=False)}" for k, v in message.kwargs.items()])
        return f"call {message.path}.{message.function}({args})"
    return type(message).__name__.lower()


def log(ctx: Context) -> int:
    args, out = ctx.args, ctx.out
    if args.limit < 1:
        raise UsageError("--limit is 1 or more")
    source, node_key = open_log(ctx)
    try:
        last_height = source.height
        first = args.start if args.start is not None else max(1, last_height - args.limit + 1)
        if first < 1:
            raise UsageError("--from is a block height, 1 or more")
        blocks, sound = [], True
        for head, start in block_ranges(source, first, min(last_height, first + args.limit - 1)):
            signed = head.node_key == node_key and head.verify()
            sound &= signed
            receipts = []
            for index in range(start, head.head.size):
                leaf = source.leaf(index)
                receipt = receipt_to_json(leaf)
                del receipt["leaf"]
                receipt["messages"] = [describe_message(m) for m in receipt_fields(leaf)["transaction"].tx.messages]
                receipts.append(receipt)
            blocks.append({"height": head.head.height, "head": head_to_json(head), "signed": signed, "receipts": receipts})
    finally:
        close_log(source)
    if out.json:
        out.data({"ok": sound, "height": last_height, "blocks": blocks})
    else:
        print_blocks(out, blocks, last_height)
    return EXIT_OK if sound else EXIT_FAILED


def print_blocks(out: Output, blocks: list[dict[str, Any]], last_height: int) -> None:
    if not blocks:
        out.note(f"no blocks (the log has {last_height})")
    for block in blocks:
        head = block["head"]
        when = datetime.fromtimestamp(head["time"], timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        mark = out.paint("signed", "green") if block["signed"] else out.paint("NOT SIGNED BY THE NODE KEY", "red")
        title = out.paint(f"block {block['height']}", "bold")
        out.line(f"{title}  {when}  {len(block['receipts'])} receipts, "
                 f"log size {head['size']}, root {head['root'][:16]}…  {mark}")
        for r in block["receipts"]:
            status = out.paint("ok", "green") if r["ok"] else out.paint(f"failed: {r['error']['type']}: {r['error']['message']}", "red")
            out.line(f"  #{r['index']} {r['tx_hash'][:12]}… {r['account']} nonce {r['nonce']}: "
                     f"{'; '.join(r['messages'])} → {status}, gas {r['gas_used']}")


# ------------------------------------------------------------ verify


def verify(ctx: Context) -> int:
    args, out = ctx.args, ctx.out
    url = ctx.node_url()
    source: LocalLog | RemoteLog = RemoteLog(url) if url else LocalLog(ctx.home())
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
        bar = ProgressBar("blocks")
        try:
            summary = verify_log(source, node_key, isolation=args.isolation, progress=bar)
        except LogMismatch as mismatch:
            bar.done()
            if out.json:  # a finding, not a failure of the command: the same shape as a summary
                out.data({"ok": False, "height": mismatch.height, "error": str(mismatch)})
            else:
                out.error(f"the log does not hold at height {mismatch.height}: {mismatch}")
            return EXIT_FAILED
        bar.done()
    finally:
        close_log(source)
    if out.json:
        out.data(summary.to_dict())
    else:
        out.line(f"log sound: {summary.blocks} blocks, {summary.receipts} receipts replayed and checked")
        out.line(f"  chain {summary.chain_id}, node key {summary.node_key.hex()}")
        out.line(f"  tree root {summary.root.hex()}, state hash {summary.state_hash.hex()}")
    return EXIT_OK
