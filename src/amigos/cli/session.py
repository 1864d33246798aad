"""``amigos session …``: device sessions — keys that sign for an account with only the rights
its master key granted them.

Adding a device takes two steps:

1. on the new device, ``amigos session pair --for ADDRESS --device NAME`` makes a key, keeps it
   in the keystore (remembering the account it will act for) and shows a pairing code, as text
   and as a QR code;
2. on the master device, ``amigos session approve CODE --permissions …`` shows exactly what it
   would grant and, once confirmed, grants the session in a signed transaction.

From then on the new device's commands act for ADDRESS, signed by its own key, and the node
refuses whatever the session does not allow. ``session list`` shows the account's sessions,
``session revoke`` ends one, ``session revoke-all`` ends them all at once (the kill switch).

A pairing code is ``amigos-pair:ADDRESS?key=HEX&device=NAME&check=HEX``: the account it is for,
the device's public key, its name (percent-encoded), and the first 4 bytes of a SHA-256 over the
rest, so that a code mistyped or cut short is refused rather than granting a session to a key
nobody holds.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from ..accounts.sessions import MAX_DEVICE_NAME, PERMISSIONS, Session, check_grant
from ..accounts.token import SYMBOL
from ..crypto.keys import PUBLIC_KEY_SIZE, Account, format_address, parse_address
from ..errors import InvalidAddress, UsageError
from ..keystore import NAME
from ..vm.paths import validate_path
from ..wallet import qr_terminal
from . import Commands
from .accountargs import (
    add_qr_file,
    add_yes,
    amount,
    confirmed,
    declined,
    duration,
    print_outcome,
    saved_qr,
    signing_client,
)
from .accounts import account_name, add_protection, keep
from .context import Context
from .output import EXIT_OK
from .wallet import when

TARGET = ("home", "node", "signer")
SCHEME = "amigos-pair:"
MAX_CODE = 1024
DEFAULT_LIFETIME = 30 * 86400


def register(commands: Commands) -> None:
    session = commands.group("session", "device sessions: pair a device, grant, list and revoke its rights",
                             description=__doc__.split("\n\n", 1)[1].rsplit("\n\nA pairing code", 1)[0])
    p = session.add("pair", "on a new device: make its key and show the pairing code to approve", pair)
    p.add_argument("--for", dest="account", required=True, metavar="ADDRESS", help="the account this device will act for")
    p.add_argument("--device", required=True, metavar="NAME", help="what to call this device (e.g. \"Ana's phone\")")
    p.add_argument("--save-as", type=account_name, metavar="NAME",
                   help="the keystore name of the new key (default: the device name, if it is a valid name)")
    add_qr_file(p)
    add_protection(p)

    p = session.add("approve", "on the master device: grant a paired device its session", approve, takes=TARGET,
                    epilog="Permissions: " + ", ".join(sorted(PERMISSIONS)) + ".\n"
                           "SEND_LIMIT_DAILY needs --daily-limit, SEND_LIMIT_TX needs --tx-limit.")
    p.add_argument("code", metavar="CODE", help="the pairing code the new device showed")
    p.add_argument("--permissions", required=True, type=permissions, metavar="P,P…",
                   help="what the device may do, comma-separated (see below)")
    p.add_argument("--daily-limit", type=amount, metavar="N",
                   help=f"{SYMBOL} it may send per day (24-hour windows from the grant)")
    p.add_argument("--tx-limit", type=amount, metavar="N", help=f"{SYMBOL} it may send in one transaction")
    p.add_argument("--expires-in", type=duration, default=DEFAULT_LIFETIME, metavar="DURATION",
                   help="how long the session lasts (default: 30d; at most 365d)")
    p.add_argument("--services", type=service_list, metavar="PATH,…", help="the only services it may call")
    p.add_argument("--ip-ranges", type=ip_range_list, metavar="CIDR,…", help="the only client addresses it may send from")
    add_yes(p)

    p = session.add("list", "list the account's sessions: devices, permissions, remaining limits, last use",
                    list_, takes=TARGET)
    p.add_argument("--all", action="store_true", help="also revoked and expired sessions")

    p = session.add("revoke", "end one device's session", revoke, takes=TARGET)
    p.add_argument("which", metavar="KEY|DEVICE", help="the session's public key (hex) or its device name")

    p = session.add("revoke-all", "end every session of the account at once (the kill switch)", revoke_all, takes=TARGET)
    add_yes(p)


# --------------------------------------------------------------------------- pairing codes


@dataclass(frozen=True)
class PairingCode:
    """What a new device asks its account's master to grant a session to."""

    account: str
    public_key: bytes
    device: str

    def __post_init__(self) -> None:
        if not 0 < len(self.device) <= MAX_DEVICE_NAME or not self.device.isprintable():
            raise UsageError(f"a device name is 1 to {MAX_DEVICE_NAME} printable characters")

    def text(self) -> str:
        body = f"{SCHEME}{self.account}?key={self.public_key.hex()}&device={quote(self.device, safe='')}"
        return f"{body}&check={checksum(body)}"

    def fingerprint(self) -> str:
        """The start of the key, in groups, for the user to compare on both screens."""
        digits = self.public_key.hex()[:16]
        return "-".join(digits[i:i + 4] for i in range(0, 16, 4))


def checksum(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).digest()[:4].hex()


def parse_pairing_code(text: str) -> PairingCode:
    """The code ``session pair`` showed; a UsageError saying what is wrong with anything else."""
    text = text.strip()
    if len(text) > MAX_CODE or not text.lower().startswith(SCHEME):
        raise UsageError("a pairing code starts with 'amigos-pair:' (copy the whole code `session pair` showed)")
    body, sep, check = text.rpartition("&check=")
    if not sep or check.lower() != checksum(body):
        raise UsageError("this pairing code is damaged (its check does not match): copy it again, whole")
    account_text, _, query = body[len(SCHEME):].partition("?")
    fields = dict(pair.partition("=")[::2] for pair in query.split("&"))
    if set(fields) != {"key", "device"}:
        raise UsageError("a pairing code carries exactly a key and a device name")
    try:
        account = format_address(parse_address(account_text))
        key = bytes.fromhex(fields["key"])
        device = unquote_to_bytes(fields["device"]).decode("utf-8")
    except (InvalidAddress, ValueError):
        raise UsageError("this pairing code does not hold an address, a key and a device name") from None
    if len(key) != PUBLIC_KEY_SIZE:
        raise UsageError(f"the key in this pairing code is not {PUBLIC_KEY_SIZE} bytes")
    return PairingCode(account, key, device)


def pair(ctx: Context) -> int:
    args = ctx.args
    try:
        account = format_address(parse_address(args.account))
    except InvalidAddress as exc:
        raise UsageError(f"--for: {exc.message}") from None
    name = args.save_as or default_key_name(args.device)
    key = Account.generate()
    code = PairingCode(account, key.public_key, args.device)  # checks the device name before storing
    if key.address == account:
        raise UsageError("the new key is the account's own key")  # one in 2^160: never
    stored, _ = keep(ctx, name, key, acting_for=account)
    image = saved_qr(args, code.text())
    if ctx.out.json:
        ctx.out.data({"code": code.text(), "account": account, "device": args.device, "key_name": name,
                      "public_key": key.public_key.hex(), "fingerprint": code.fingerprint(),
                      "file": str(stored.path), "qr_file": None if image is None else str(image)})
        return EXIT_OK
    ctx.out.line(code.text())
    ctx.out.line(qr_terminal(code.text()))
    ctx.out.note(f"  key {name} kept in {stored.path}, to act for {account} once approved\n"
                 f"  fingerprint {code.fingerprint()}: the master device must show the same\n"
                 f"  on the master device run: amigos session approve CODE --permissions …")
    return EXIT_OK


def default_key_name(device: str) -> str:
    """The device name as a keystore name (``Ana Phone`` → ``ana-phone``), if it makes one."""
    slug = "-".join(device.lower().split())
    if not NAME.fullmatch(slug):
        raise UsageError(f"the device name {device!r} does not make a keystore name: pass --save-as NAME")
    return slug


# --------------------------------------------------------------------------- granting


def permissions(text: str) -> list[str]:
    """An argparse type: permissions, comma-separated, in any case."""
    chosen = sorted({p.strip().upper() for p in text.split(",") if p.strip()})
    unknown = [p for p in chosen if p not in PERMISSIONS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown permission {unknown[0] if unknown else text!r}: "
                                         f"choose from {', '.join(sorted(PERMISSIONS))}")
    return chosen


def comma_list(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError("give at least one item")
    return items


def service_list(text: str) -> list[str]:
    """An argparse type: service paths, comma-separated."""
    try:
        return [validate_path(path) for path in comma_list(text)]
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def ip_range_list(text: str) -> list[str]:
    """An argparse type: IP ranges (``192.0.2.0/24``, ``2001:db8::/32``, one address), comma-separated."""
    ranges = []
    for item in comma_list(text):
        try:
            ranges.append(str(ipaddress.ip_network(item, strict=True)))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{item!r} is not an IP range: {exc}") from None
    return ranges


def approve(ctx: Context) -> int:
    args = ctx.args
    code = parse_pairing_code(args.code)
    master = ctx.stored()
    if master.acting_for is not None:
        raise UsageError(f"{master.name} is a session key: only the master key of {master.acting_for} grants sessions")
    if code.account != master.address:
        raise UsageError(f"this pairing code is for {code.account}, not for {master.name} ({master.address})")
    now = int(time.time())
    grant = Session(public_key=code.public_key, device=code.device, permissions=frozenset(args.permissions),
                    granted_at=now, expires_at=now + args.expires_in, daily_limit=args.daily_limit,
                    tx_limit=args.tx_limit, services=tuple(args.services) if args.services else None,
                    ip_ranges=tuple(args.ip_ranges) if args.ip_ranges else None)
    try:
        check_grant(grant, now)  # the node's own rules, told before anything is signed
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with signing_client(ctx) as client:
        ctx.out.note(describe_grant(code, grant), "bold")
        if not confirmed(ctx, f"grant this session to {code.device!r}?"):
            return declined(ctx.out, "no session was granted")
        receipt = client.grant_session(code.public_key, device=code.device, permissions=list(args.permissions),
                                       expires_in=args.expires_in, daily_limit=args.daily_limit,
                                       tx_limit=args.tx_limit, services=args.services, ip_ranges=args.ip_ranges)
    return print_outcome(ctx.out, receipt, f"granted {code.device!r} a session for {master.address}",
                         public_key=code.public_key.hex(), device=code.device)


def describe_grant(code: PairingCode, grant: Session) -> str:
    lines = [f"grant a session to device {code.device!r}",
             f"  key          {code.public_key.hex()}",
             f"  fingerprint  {code.fingerprint()} (the new device shows the same?)",
             f"  for account  {code.account}",
             f"  permissions  {', '.join(sorted(grant.permissions))}"]
    if grant.daily_limit is not None:
        lines.append(f"  daily limit  {grant.daily_limit} {SYMBOL} per 24 hours from the grant")
    if grant.tx_limit is not None:
        lines.append(f"  tx limit     {grant.tx_limit} {SYMBOL} per transaction")
    lines.append(f"  expires      {when(grant.expires_at)} (about; counted from the block that grants it)")
    if grant.services is not None:
        lines.append(f"  services     only {', '.join(grant.services)}")
    if grant.ip_ranges is not None:
        lines.append(f"  from         only {', '.join(grant.ip_ranges)}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- listing and revoking


def list_(ctx: Context) -> int:
    who = ctx.acting_address()
    with signing_client(ctx) as client:  # a node shows sessions only to the account's own keys
        found = client.sessions()
    shown = [s for s in found if ctx.args.all or s["active"]]
    if ctx.out.json:
        ctx.out.data({"address": who, "sessions": shown})
        return EXIT_OK
    for s in shown:
        ctx.out.line(describe_session(s))
    if not shown:
        ctx.out.note(f"no {'' if ctx.args.all else 'active '}sessions for {who}")
    return EXIT_OK


def describe_session(s: dict[str, Any]) -> str:
    state = "active" if s["active"] else ("revoked" if s["revoked_at"] is not None else "expired")
    lines = [f"{s['device']}  {s['public_key'][:16]}…  {state}, until {when(s['expires_at'])}",
             f"  permissions  {', '.join(s['permissions'])}"]
    if s["daily_limit"] is not None:
        lines.append(f"  today        {s['remaining_today']} of {s['daily_limit']} {SYMBOL} left "
                     f"(until {when(s['window_ends_at'])})")
    if s["tx_limit"] is not None:
        lines.append(f"  per tx       {s['tx_limit']} {SYMBOL}")
    if s["services"] is not None:
        lines.append(f"  services     {', '.join(s['services'])}")
    if s["ip_ranges"] is not None:
        lines.append(f"  from         {', '.join(s['ip_ranges'])}")
    lines.append(f"  last used    {when(s['last_used']) if s['last_used'] is not None else 'never'}")
    return "\n".join(lines)


def chosen_session(sessions: list[dict[str, Any]], which: str) -> dict[str, Any]:
    """The active session ``which`` names: its public key in hex, or its device name."""
    active = [s for s in sessions if s["active"]]
    by_key = [s for s in active if s["public_key"] == which.lower()]
    by_device = [s for s in active if s["device"] == which]
    matches = by_key or by_device
    if not matches:
        devices = ", ".join(repr(s["device"]) for s in active) or "none"
        raise UsageError(f"no active session has key or device {which!r} (active devices: {devices})")
    if len(matches) > 1:
        keys = ", ".join(s["public_key"] for s in matches)
        raise UsageError(f"{len(matches)} sessions are called {which!r}: revoke one by its key ({keys})")
    return matches[0]


def revoke(ctx: Context) -> int:
    with signing_client(ctx) as client:
        session = chosen_session(client.sessions(), ctx.args.which)
        receipt = client.revoke_session(bytes.fromhex(session["public_key"]))
    return print_outcome(ctx.out, receipt, f"revoked the session of {session['device']!r}",
                         public_key=session["public_key"], device=session["device"])


def revoke_all(ctx: Context) -> int:
    with signing_client(ctx) as client:
        active = [s for s in client.sessions() if s["active"]]
        devices = ", ".join(repr(s["device"]) for s in active) or "none"
        ctx.out.note(f"this revokes every session of {ctx.acting_address()} at once: {devices}", "bold")
        if not confirmed(ctx, f"revoke all {len(active)} sessions?"):
            return declined(ctx.out, "no session was revoked")
        receipt = client.revoke_all_sessions()
    revoked = receipt.result["revoked"]
    return print_outcome(ctx.out, receipt, f"revoked {revoked} session{'' if revoked == 1 else 's'}")
