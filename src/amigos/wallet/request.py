"""Payment requests: an ``amigos:`` URI that says who to pay, how much and why, and its QR code.

::

    amigos:amigo1…?amount=2500&memo=Lunch%20on%20Friday&expires=1767225600&chain=amigos-main

* the path is the recipient's address (an account, or a service's address);
* ``amount`` — AMI in base units, required;
* ``memo`` — up to 256 characters, percent-encoded (UTF-8);
* ``expires`` — Unix time after which a wallet must not pay it;
* ``chain`` — the chain it is meant for (a wallet on another chain refuses it).

Unknown parameters are refused rather than ignored: a request that says more than a wallet
understands must not be paid as if it said less. Addresses may be upper case (QR codes encode
upper-case text more compactly); everything else is as written.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes

import segno

from ..crypto.address import format_address, parse_address
from ..errors import InvalidAddress, UsageError
from ..ledger.tx import CHAIN_ID
from ..vm.keys import MAX_AMOUNT

SCHEME = "amigos:"
MAX_MEMO = 256
MAX_URI = 2048
_PARAM = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class PaymentRequest:
    recipient: str
    amount: int
    memo: str | None = None
    expires_at: int | None = None
    chain_id: str | None = None

    def __post_init__(self) -> None:
        check_recipient(self.recipient)
        if type(self.amount) is not int or not 0 < self.amount <= MAX_AMOUNT:
            raise UsageError(f"the amount must be a whole number of base units from 1 to {MAX_AMOUNT}")
        if self.memo is not None and (type(self.memo) is not str or not 0 < len(self.memo) <= MAX_MEMO
                                      or not self.memo.isprintable()):
            raise UsageError(f"a memo is 1 to {MAX_MEMO} printable characters")
        if self.expires_at is not None and (type(self.expires_at) is not int or self.expires_at < 0):
            raise UsageError("expires is a Unix time in seconds")
        if self.chain_id is not None and not (type(self.chain_id) is str and CHAIN_ID.fullmatch(self.chain_id)):
            raise UsageError(f"{self.chain_id!r} is not a chain id")

    def uri(self) -> str:
        params = [f"amount={self.amount}"]
        if self.memo is not None:
            params.append(f"memo={quote(self.memo, safe='')}")
        if self.expires_at is not None:
            params.append(f"expires={self.expires_at}")
        if self.chain_id is not None:
            params.append(f"chain={self.chain_id}")
        return f"{SCHEME}{self.recipient}?{'&'.join(params)}"

    def is_expired(self, now: float) -> bool:
        return self.expires_at is not None and now > self.expires_at


def check_recipient(address: object) -> bytes:
    """The bytes of the address ``address``; a UsageError if it is none."""
    try:
        return parse_address(address)  # type: ignore[arg-type]
    except InvalidAddress as exc:
        raise UsageError(f"the recipient is not an address: {exc.message}") from None


def parse_payment_uri(text: str) -> PaymentRequest:
    """The request an ``amigos:`` URI makes; :class:`UsageError` saying what is wrong otherwise."""
    if type(text) is not str or len(text) > MAX_URI:
        raise UsageError(f"a payment request is an amigos: URI of at most {MAX_URI} characters")
    text = text.strip()
    if not text.lower().startswith(SCHEME):
        raise UsageError("a payment request starts with 'amigos:'")
    recipient, _, query = text[len(SCHEME):].partition("?")
    recipient = format_address(check_recipient(recipient))  # the canonical lower-case form
    values: dict[str, str] = {}
    for pair in query.split("&") if query else []:
        name, sep, value = pair.partition("=")
        if not sep or not _PARAM.fullmatch(name):
            raise UsageError(f"{pair!r} is not a name=value parameter")
        if name in values:
            raise UsageError(f"the parameter {name!r} is given twice")
        if name not in ("amount", "memo", "expires", "chain"):
            raise UsageError(f"unknown parameter {name!r}: this wallet will not pay a request it does not understand")
        values[name] = value
    if "amount" not in values:
        raise UsageError("the request has no amount")
    return PaymentRequest(
        recipient=recipient,
        amount=_whole_number("amount", values["amount"]),
        memo=_memo(values["memo"]) if "memo" in values else None,
        expires_at=_whole_number("expires", values["expires"]) if "expires" in values else None,
        chain_id=values.get("chain"),
    )


def _whole_number(name: str, text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 20 or (len(text) > 1 and text[0] == "0"):
        raise UsageError(f"{name} must be a whole number written in digits, not {text!r}")
    return int(text)


def _memo(text: str) -> str:
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("the memo is not UTF-8 text") from None


# --------------------------------------------------------------------------- QR codes


def _qr(text: str) -> segno.QRCode:
    return segno.make(text, error="m", micro=False)


def qr_terminal(text: str) -> str:
    """The QR code of ``text`` drawn with block characters, for a terminal."""
    out = io.StringIO()
    _qr(text).terminal(out=out, compact=True, border=2)
    return out.getvalue()


def qr_svg(text: str) -> str:
    out = io.BytesIO()
    _qr(text).save(out, kind="svg", scale=6, border=4)
    return out.getvalue().decode()


def save_qr(text: str, path: Path) -> None:
    """Write the QR code of ``text`` to ``path``: a PNG or an SVG, by the file's suffix."""
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("png", "svg"):
        raise UsageError(f"a QR code is written as .png or .svg, not {path.suffix or 'no suffix'}")
    _qr(text).save(str(path), kind=kind, scale=6, border=4)
