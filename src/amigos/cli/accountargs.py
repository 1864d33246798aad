"""What the account commands (``wallet``, ``session``, ``recovery``) read from the command line
and the terminal: amounts, durations, addresses, keys, and the user's confirmation.

Amounts are AMI in base units, written in digits; durations are a number with a unit
(``90s``, ``15m``, ``48h``, ``30d``, ``2w``) or plain seconds. Where a command takes an address
or a public key, the name of an account of the keystore is accepted too.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from ..accounts.token import MAX_AMOUNT
from ..client import Client
from ..crypto.keys import PUBLIC_KEY_SIZE, format_address, parse_address
from ..errors import InvalidAddress, UsageError
from ..wallet import save_qr
from .context import Context
from .output import EXIT_FAILED, EXIT_OK, Output
from .services import where_in_log

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d{1,9})([smhdw]?)")


def amount(text: str) -> int:
    """An argparse type: AMI in base units, a whole number from 1 to MAX_AMOUNT in digits."""
    if not text.isascii() or not text.isdigit() or len(text) > 20 or int(text) == 0 or int(text) > MAX_AMOUNT:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount: AMI in base units, a whole number "
                                         f"from 1 to {MAX_AMOUNT} written in digits")
    return int(text)


def duration(text: str) -> int:
    """An argparse type: seconds, from ``90s``, ``15m``, ``48h``, ``30d``, ``2w`` or ``3600``."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or int(match[1]) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: a whole number with s, m, h, d or w "
                                         "(30d, 48h) or seconds")
    return int(match[1]) * UNITS[match[2] or "s"]


def address(ctx: Context, text: str) -> str:
    """An ``amigo1…`` address (canonical form), or the address a keystore account acts as."""
    try:
        return format_address(parse_address(text))
    except InvalidAddress:
        pass
    stored = ctx.settings.keystore.find(text)
    if stored is not None:
        return stored.acts_as
    raise UsageError(f"{text!r} is neither an amigo1… address nor an account of the keystore")


def chosen_address(ctx: Context) -> str:
    """The address the command's optional ``account`` argument names, else the acting account's."""
    return address(ctx, ctx.args.account) if ctx.args.account is not None else ctx.acting_address()


def public_key(ctx: Context, text: str) -> bytes:
    """A 32-byte Ed25519 public key in hex, or the key of a keystore account."""
    stored = ctx.settings.keystore.find(text)
    if stored is not None:
        return stored.public_key
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != PUBLIC_KEY_SIZE:
        raise UsageError(f"{text!r} is neither a public key ({2 * PUBLIC_KEY_SIZE} hex digits) "
                         "nor an account of the keystore")
    return key


def signing_client(ctx: Context, acting_for: str | None = None) -> Client:
    """The client that signs this command's account transaction (or signed read) on the node.
    A local home runs calls unsigned, as names: it has no keys, ledger or sessions to check."""
    if ctx.node_url() is None:
        raise UsageError("account operations are signed transactions, checked by a node's ledger; a local home "
                         "runs unsigned calls: work on a node (--node URL; `amigos dev` runs one)")
    return ctx.client(signs=True, acting_for=acting_for)


def add_yes(parser: argparse.ArgumentParser, help: str = "do it without asking to confirm") -> None:
    parser.add_argument("-y", "--yes", action="store_true", help=help)


def add_qr_file(parser: argparse.ArgumentParser) -> None:
    qr = parser.add_mutually_exclusive_group()
    qr.add_argument("--png", type=Path, metavar="FILE", help="also write the QR code to FILE as a PNG")
    qr.add_argument("--svg", type=Path, metavar="FILE", help="also write the QR code to FILE as an SVG")


def saved_qr(args: argparse.Namespace, text: str) -> Path | None:
    """The file ``--png`` or ``--svg`` named, once the QR code of ``text`` is written to it."""
    image: Path | None = args.png or args.svg
    if image is not None:
        save_qr(text, image)
    return image


def ask(prompt: str) -> str:
    """A line the user types on standard input, the prompt on stderr (stdout keeps only
    results); "" at the end of input."""
    print(prompt, end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    if not answer:
        print(file=sys.stderr)
    return answer.strip()


def confirmed(ctx: Context, question: str) -> bool:
    """Whether the user agrees: ``--yes``, or ``y`` typed (end of input is a no)."""
    return bool(ctx.args.yes) or ask(f"{question} [y/N] ").lower() in ("y", "yes")


def declined(out: Output, what: str) -> int:
    out.error(f"not confirmed: {what}", "answer y, or pass --yes", type="NotConfirmed")
    return EXIT_FAILED


def print_outcome(out: Output, receipt: Any, text: str, **data: Any) -> int:
    """The receipt of an account action that went through (the SDK raises the error of one
    that failed): ``text`` on stdout, where it is in the log on stderr."""
    if out.json:
        out.data({**receipt.to_dict(), **data})
        return EXIT_OK
    out.line(text)
    out.note(f"  {where_in_log(receipt)}")
    return EXIT_OK
