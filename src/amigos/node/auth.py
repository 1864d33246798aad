"""Signed reads: how a request proves it comes from a key of an account, to read what only the
account's own devices may see (its sessions, its webhook).

A request carries three headers::

    Amigos-Key        the signing public key, 64 hex digits
    Amigos-Time       the signing time, Unix seconds (decimal digits)
    Amigos-Signature  Ed25519 signature, 128 hex digits, over
                      b"amigos/read/v1\\x00" + codec.encode([chain_id, METHOD, target, time])

where ``target`` is the request's path, then ``?`` and the query string exactly as sent when
there is one (``/v1/accounts/amigo1…?key=ab``). The node accepts a signature whose time is
within :data:`READ_WINDOW` seconds of its clock; the key must then be the account's master key
or the key of one of its active sessions (a ``READ_ONLY`` session is enough: that is what
``READ_ONLY`` is for). Signing the chain id, method and target means a signature cannot be
used for another node's chain or another request; the window bounds how long a captured one
can be replayed (it can only repeat that same read).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from .. import codec
from ..accounts import sessions
from ..accounts.state import View, is_master
from ..crypto.keys import Account, verify_signature

READ_DOMAIN = b"amigos/read/v1\x00"
READ_WINDOW = 60
"""Seconds a signed read is accepted before or after its signing time."""
KEY_HEADER = "Amigos-Key"
TIME_HEADER = "Amigos-Time"
SIGNATURE_HEADER = "Amigos-Signature"
MASTER, SESSION = "master", "session"
_KEY = re.compile(r"[0-9a-fA-F]{64}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{128}")
_TIME = re.compile(r"[0-9]{1,19}")


class ReadRefused(Exception):
    """A signed read that does not hold: ``status`` 400 (malformed) or 403 (not allowed)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Reader:
    """Who signed a read: their key, and their role for the account (master or session)."""

    public_key: bytes
    role: str


def read_message(chain_id: str, method: str, target: str, time: int) -> bytes:
    """The bytes a signed read signs."""
    return READ_DOMAIN + codec.encode([chain_id, method.upper(), target, time])


def sign_read(account: Account, chain_id: str, method: str, target: str, time: int) -> dict[str, str]:
    """The headers that sign a read of ``target`` at ``time`` with ``account``'s key."""
    signature = account.sign(read_message(chain_id, method, target, time))
    return {KEY_HEADER: account.public_key.hex(), TIME_HEADER: str(time), SIGNATURE_HEADER: signature.hex()}


def signed_key(headers: Mapping[str, str], chain_id: str, method: str, target: str, now: int) -> bytes | None:
    """The public key that signed this request, or None when it carries none of the headers.
    Raises ReadRefused for partial or malformed headers (400), a time outside the window or
    a bad signature (403)."""
    key, time, signature = (headers.get(name) for name in (KEY_HEADER, TIME_HEADER, SIGNATURE_HEADER))
    if key is None and time is None and signature is None:
        return None
    if key is None or time is None or signature is None:
        raise ReadRefused(400, f"a signed read carries all of {KEY_HEADER}, {TIME_HEADER} and {SIGNATURE_HEADER}")
    if not _KEY.fullmatch(key) or not _TIME.fullmatch(time) or not _SIGNATURE.fullmatch(signature):
        raise ReadRefused(400, f"{KEY_HEADER} is 64 hex digits, {TIME_HEADER} Unix seconds, "
                               f"{SIGNATURE_HEADER} 128 hex digits")
    if abs(int(time) - now) > READ_WINDOW:
        raise ReadRefused(403, f"the read was signed at {time}, more than {READ_WINDOW} s from the node's time {now}")
    public_key = bytes.fromhex(key)
    if not verify_signature(public_key, read_message(chain_id, method, target, int(time)), bytes.fromhex(signature)):
        raise ReadRefused(403, f"{SIGNATURE_HEADER} is not the key's signature of this request")
    return public_key


def reader_of(view: View, account: str, public_key: bytes, now: int) -> Reader:
    """The role of a key that signed a read of ``account``: its master, or an active session
    (any permissions). Anything else is refused (403)."""
    if is_master(view, account, public_key):
        return Reader(public_key, MASTER)
    session = sessions.load_session(view, account, public_key)
    if session is not None and session.is_active(now):
        return Reader(public_key, SESSION)
    raise ReadRefused(403, f"key {public_key.hex()} is neither the master nor an active session of {account}")
