"""``amigos wallet …``: AMI, the native token — balance, send, stake, payment requests, history.

Amounts are AMI in base units (whole numbers). Who pays is the chosen account (``--as NAME``, or
the default account); a device's session key pays for the account it acts for, within its
session's limits. A payment request is an ``amigos:`` URI (:mod:`amigos.wallet.request`):
``wallet request`` makes one and draws its QR code, ``wallet pay`` shows what one asks and pays
it once confirmed.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from ..accounts.token import SYMBOL
from ..client.verify import problem_error
from ..errors import NodeError, UsageError
from ..node.wire import receipt_fields
from ..wallet import PaymentRequest, parse_payment_uri, qr_terminal
from . import Commands
from .accountargs import (
    add_qr_file,
    add_yes,
    address,
    amount,
    chosen_address,
    confirmed,
    declined,
    duration,
    print_outcome,
    saved_qr,
    signing_client,
)
from .context import Context
from .logs import block_ranges, close_log, open_log
from .output import EXIT_OK

TARGET = ("home", "node", "signer")


def register(commands: Commands) -> None:
    wallet = commands.group("wallet", "AMI: balance, send, stake, payment requests, history",
                            description=__doc__.split("\n\n")[1])
    p = wallet.add("balance", "show the AMI an account holds, has staked and is unbonding", balance, takes=TARGET)
    p.add_argument("account", nargs="?", metavar="ADDRESS", help="an address or keystore account (default: yours)")

    p = wallet.add("send", "send AMI to an address", send, takes=TARGET)
    p.add_argument("to", metavar="TO", help="the recipient: an amigo1… address or a keystore account")
    p.add_argument("amount", type=amount, help="AMI in base units")
    p.add_argument("--memo", help="a note the recipient sees (up to 256 characters)")

    p = wallet.add("stake", "stake AMI from your balance", stake, takes=TARGET)
    p.add_argument("amount", type=amount, help="AMI in base units")
    p = wallet.add("unstake", "start unbonding staked AMI (paid back after the unbonding period)", unstake, takes=TARGET)
    p.add_argument("amount", type=amount, help="AMI in base units")

    p = wallet.add("history", "list an account's sends, receipts and staking, from the node's log", history,
                   takes=TARGET)
    p.add_argument("account", nargs="?", metavar="ADDRESS", help="an address or keystore account (default: yours)")
    p.add_argument("--limit", type=int, default=50, help="the last N entries (default: 50)")

    p = wallet.add("request", "ask to be paid: print an amigos: URI and its QR code", request, takes=TARGET,
                   helps={"signer": "the account to be paid (default: the default account)"})
    p.add_argument("--amount", type=amount, required=True, help="AMI in base units")
    p.add_argument("--memo", help="what the payment is for (up to 256 characters)")
    p.add_argument("--expires-in", type=duration, metavar="DURATION", help="after this (30m, 24h, 7d) it must not be paid")
    p.add_argument("--to", metavar="ADDRESS", help="the address to be paid (default: the account of --as)")
    add_qr_file(p)

    p = wallet.add("pay", "pay an amigos: payment request (shows it and asks first)", pay, takes=TARGET)
    p.add_argument("uri", metavar="URI", help="the amigos:… request")
    add_yes(p)

    p = wallet.add("faucet", "get free AMI from a dev node's faucet (`amigos dev`)", faucet, takes=("node", "signer"))
    p.add_argument("account", nargs="?", metavar="ADDRESS", help="who gets it (default: you)")


# --------------------------------------------------------------------------- reading


def balance(ctx: Context) -> int:
    who = chosen_address(ctx)
    with ctx.client() as client:
        held = client.account(who)
    if ctx.out.json:
        ctx.out.data({"address": who, "balance": held["balance"], "staked": held["staked"],
                      "unbonding": held["unbonding"]})
        return EXIT_OK
    ctx.out.line(f"{held['balance']} {SYMBOL}")
    ctx.out.note(f"  {who}")
    if held["staked"]:
        ctx.out.note(f"  staked {held['staked']} {SYMBOL}")
    for unbonding in held["unbonding"]:
        ctx.out.note(f"  unbonding {unbonding['amount']} {SYMBOL}, paid back at {when(unbonding['released_at'])}")
    return EXIT_OK


def when(unix_time: int) -> str:
    return datetime.fromtimestamp(unix_time, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------- moving AMI


def send(ctx: Context) -> int:
    to = address(ctx, ctx.args.to)
    with signing_client(ctx) as client:
        receipt = client.send(to, ctx.args.amount, memo=ctx.args.memo)
    return print_outcome(ctx.out, receipt, f"sent {ctx.args.amount} {SYMBOL} to {to}")


def stake(ctx: Context) -> int:
    with signing_client(ctx) as client:
        receipt = client.stake(ctx.args.amount)
    return print_outcome(ctx.out, receipt, f"staked {ctx.args.amount} {SYMBOL}")


def unstake(ctx: Context) -> int:
    with signing_client(ctx) as client:
        receipt = client.unstake(ctx.args.amount)
    return print_outcome(ctx.out, receipt, f"unbonding {ctx.args.amount} {SYMBOL}: "
                                           f"back in the balance at {when(receipt.result['released_at'])}")


def faucet(ctx: Context) -> int:
    import httpx

    url = ctx.node_url()
    if url is None:
        raise UsageError("the faucet is a dev node's (`amigos dev`): pass --node URL")
    who = chosen_address(ctx)
    try:
        response = httpx.post(f"{url}/v1/faucet", json={"address": who}, timeout=60)
    except httpx.HTTPError as exc:
        raise NodeError(0, "unreachable", f"cannot reach the node at {url}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or type(body) is not dict:
        raise problem_error(response.status_code, body, response.text)
    if ctx.out.json:
        ctx.out.data({"address": who, **body})
    else:
        ctx.out.line(f"the faucet sent {body.get('amount')} {SYMBOL} to {who}")
    return EXIT_OK


# --------------------------------------------------------------------------- requests


def request(ctx: Context) -> int:
    args = ctx.args
    to = address(ctx, args.to) if args.to is not None else ctx.acting_address()
    with ctx.client() as client:
        chain_id = getattr(client, "chain_id", None)  # a local home has no chain
    expires_at = int(time.time()) + args.expires_in if args.expires_in is not None else None
    wanted = PaymentRequest(recipient=to, amount=args.amount, memo=args.memo, expires_at=expires_at, chain_id=chain_id)
    uri = wanted.uri()
    image = saved_qr(args, uri)
    if ctx.out.json:
        ctx.out.data({"uri": uri, "recipient": to, "amount": args.amount, "memo": args.memo,
                      "expires_at": expires_at, "chain_id": chain_id, "qr_file": None if image is None else str(image)})
        return EXIT_OK
    ctx.out.line(uri)
    ctx.out.line(qr_terminal(uri))
    ctx.out.note(describe_request(wanted))
    if image is not None:
        ctx.out.note(f"  QR code written to {image}")
    return EXIT_OK


def describe_request(wanted: PaymentRequest) -> str:
    lines = [f"  pay {wanted.amount} {SYMBOL} to {wanted.recipient}"]
    if wanted.memo is not None:
        lines.append(f"  for: {wanted.memo}")
    if wanted.expires_at is not None:
        lines.append(f"  valid until {when(wanted.expires_at)}")
    if wanted.chain_id is not None:
        lines.append(f"  on chain {wanted.chain_id}")
    return "\n".join(lines)


def pay(ctx: Context) -> int:
    wanted = parse_payment_uri(ctx.args.uri)
    if wanted.is_expired(time.time()):
        raise UsageError(f"this request expired at {when(wanted.expires_at or 0)}: ask for a new one")
    with signing_client(ctx) as client:
        check_chain(wanted, client.chain_id)
        ctx.out.note(f"payment request:\n{describe_request(wanted)}", "bold")
        if not confirmed(ctx, f"pay {wanted.amount} {SYMBOL} to {wanted.recipient}?"):
            return declined(ctx.out, "nothing was paid")
        receipt = client.send(wanted.recipient, wanted.amount, memo=wanted.memo)
    return print_outcome(ctx.out, receipt, f"paid {wanted.amount} {SYMBOL} to {wanted.recipient}")


def check_chain(wanted: PaymentRequest, chain_id: str) -> None:
    """A request names the chain it is for; paying it on another would pay someone else's
    address there (or nobody's)."""
    if wanted.chain_id is not None and wanted.chain_id != chain_id:
        raise UsageError(f"this request is for chain {wanted.chain_id!r}, and the node serves {chain_id!r}: "
                         "pay it with --node pointing at that chain's node")


# --------------------------------------------------------------------------- history


def history(ctx: Context) -> int:
    if ctx.args.limit < 1:
        raise UsageError("--limit is 1 or more")
    who = chosen_address(ctx)
    source, _ = open_log(ctx)
    try:
        entries = []
        for head, first in block_ranges(source, 1, source.height):
            for index in range(first, head.head.size):
                entries.extend(account_entries(source.leaf(index), who, head.head.time))
    finally:
        close_log(source)
    entries = entries[-ctx.args.limit:]
    if ctx.out.json:
        ctx.out.data({"address": who, "entries": entries})
        return EXIT_OK
    for entry in entries:
        ctx.out.line(describe_entry(entry))
    if not entries:
        ctx.out.note(f"nothing in the log moved AMI for {who}")
    return EXIT_OK


MOVES = ("sent", "staked", "unstaked")
"""The account events that move AMI. (Unbondings paid back at a block's start and payments by
service code are in the state, not in any receipt: ``wallet balance`` shows their sum.)"""


def account_entries(leaf: bytes, who: str, block_time: int) -> list[dict[str, Any]]:
    """What one receipt of the log did to ``who``'s AMI: account events by it or naming it as
    the recipient, and coins it sent with calls."""
    fields = receipt_fields(leaf)
    tx = fields["transaction"].tx
    base = {"height": fields["height"], "index": fields["index"], "time": block_time, "tx_hash": fields["tx_hash"].hex()}
    entries = []
    if tx.account == who and fields["ok"]:
        for message in tx.messages:
            coins = getattr(message, "coins", 0)
            if coins:
                entries.append({**base, "kind": "paid", "amount": coins, "to": message.path})
    for event in fields["events"] if fields["ok"] else []:
        attrs = event["attrs"]
        if event["service"] == who and event["name"] in MOVES:
            entries.append({**base, "kind": event["name"], **attrs})
        elif event["name"] == "sent" and attrs.get("to") == who:
            entries.append({**base, "kind": "received", "from": event["service"], "amount": attrs["amount"],
                            "memo": attrs.get("memo")})
    return entries


def describe_entry(entry: dict[str, Any]) -> str:
    kind, amount_ = entry["kind"], entry["amount"]
    text = {
        "sent": f"sent     -{amount_} {SYMBOL} to {entry.get('to')}",
        "paid": f"paid     -{amount_} {SYMBOL} to {entry.get('to')} with a call",
        "received": f"received +{amount_} {SYMBOL} from {entry.get('from')}",
        "staked": f"staked    {amount_} {SYMBOL}",
        "unstaked": f"unstaked  {amount_} {SYMBOL} (back at {when(entry['released_at'])})" if entry.get("released_at")
        else f"unstaked  {amount_} {SYMBOL}",
    }[kind]
    memo = f"  “{entry['memo']}”" if entry.get("memo") else ""
    return f"{when(entry['time'])}  block {entry['height']:<6} {text}{memo}"
