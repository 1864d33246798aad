"""Device sessions: keys that may sign for an account with only the rights they were granted.

The master key grants a session to a device's key with a set of permissions, limits on the AMI
it may move, an expiry, and optionally the services it may call and the client addresses it may
come from. Every transaction a session key signs is checked against its session before any of
its messages runs (:func:`amigos.accounts.check_may_sign`); what it spends is recorded in the
same state transaction as the spending (:func:`record_use`), so a failed transaction gives its
spending back.

Limits, exactly:

* ``SEND_LIMIT_TX``: the AMI one transaction moves out of the account (direct sends plus coins
  sent with calls) is at most ``tx_limit``.
* ``SEND_LIMIT_DAILY``: the AMI moved out in one day is at most ``daily_limit``. Days are a
  fixed grid of 24-hour windows starting at the grant's block time: window ``n`` is
  ``[granted_at + n·86400, granted_at + (n+1)·86400)``. An idle day never moves the grid.
* ``SEND_UNLIMITED``: no limit (it cannot be combined with the two above).
* A session with none of the three moves no AMI at all.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from typing import Any

from .. import codec
from ..errors import (  # noqa: F401 - the refusal codes of these rules, named here too
    FROZEN,
    NOT_PERMITTED,
    OVER_LIMIT,
    SESSION_EXPIRED,
    SESSION_REVOKED,
    TransactionRefused,
)
from .state import View, read, session_key, sessions_prefix, write

READ_ONLY = "READ_ONLY"
SEND_LIMIT_DAILY = "SEND_LIMIT_DAILY"
SEND_LIMIT_TX = "SEND_LIMIT_TX"
SEND_UNLIMITED = "SEND_UNLIMITED"
STAKE_MANAGE = "STAKE_MANAGE"
IMPORT_EXECUTE = "IMPORT_EXECUTE"
ACCOUNT_RECOVER = "ACCOUNT_RECOVER"
PERMISSIONS = frozenset({READ_ONLY, SEND_LIMIT_DAILY, SEND_LIMIT_TX, SEND_UNLIMITED, STAKE_MANAGE,
                         IMPORT_EXECUTE, ACCOUNT_RECOVER})
SEND_PERMISSIONS = frozenset({SEND_LIMIT_DAILY, SEND_LIMIT_TX, SEND_UNLIMITED})

DAY = 24 * 3600
MAX_SESSION_LIFETIME = 365 * DAY
MAX_SESSIONS = 64
"""Most sessions an account has at once (revoked and expired ones are removed as new ones come)."""
MAX_DEVICE_NAME = 64
MAX_ALLOWED_SERVICES = 64
MAX_IP_RANGES = 32


@dataclass(frozen=True)
class Session:
    """A device key's rights over an account, and what it has spent."""

    public_key: bytes
    device: str
    permissions: frozenset[str]
    granted_at: int
    expires_at: int
    daily_limit: int | None = None
    tx_limit: int | None = None
    services: tuple[str, ...] | None = None
    ip_ranges: tuple[str, ...] | None = None
    revoked_at: int | None = None
    window: int = 0
    """The daily window ``spent`` belongs to."""
    spent: int = 0
    last_used: int | None = None

    def is_active(self, now: int) -> bool:
        return self.revoked_at is None and now < self.expires_at

    def window_at(self, now: int) -> int:
        return (now - self.granted_at) // DAY

    def spent_in_window(self, now: int) -> int:
        return self.spent if self.window == self.window_at(now) else 0

    def remaining_today(self, now: int) -> int | None:
        """AMI still allowed out in the current day (None: no daily limit)."""
        if self.daily_limit is None:
            return None
        return self.daily_limit - self.spent_in_window(now)

    def window_ends_at(self, now: int) -> int:
        return self.granted_at + (self.window_at(now) + 1) * DAY

    def allows_ip(self, ip: str) -> bool:
        """Whether a client at ``ip`` may submit this session's transactions (a node's check:
        the address is not part of the transaction, so a replay cannot check it)."""
        if self.ip_ranges is None:
            return True
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(r) for r in self.ip_ranges)

    def to_value(self) -> dict[str, Any]:
        return {
            "device": self.device, "permissions": sorted(self.permissions),
            "granted_at": self.granted_at, "expires_at": self.expires_at,
            "daily_limit": self.daily_limit, "tx_limit": self.tx_limit,
            "services": None if self.services is None else list(self.services),
            "ip_ranges": None if self.ip_ranges is None else list(self.ip_ranges),
            "revoked_at": self.revoked_at, "window": self.window, "spent": self.spent,
            "last_used": self.last_used,
        }

    @classmethod
    def from_value(cls, public_key: bytes, value: dict[str, Any]) -> Session:
        services, ip_ranges = value["services"], value["ip_ranges"]
        return cls(
            public_key=public_key, device=value["device"], permissions=frozenset(value["permissions"]),
            granted_at=value["granted_at"], expires_at=value["expires_at"],
            daily_limit=value["daily_limit"], tx_limit=value["tx_limit"],
            services=None if services is None else tuple(services),
            ip_ranges=None if ip_ranges is None else tuple(ip_ranges),
            revoked_at=value["revoked_at"], window=value["window"], spent=value["spent"],
            last_used=value["last_used"],
        )

    def describe(self, now: int) -> dict[str, Any]:
        """What a wallet shows about this session at block time ``now``."""
        return {
            "public_key": self.public_key.hex(), "device": self.device,
            "permissions": sorted(self.permissions), "granted_at": self.granted_at,
            "expires_at": self.expires_at, "active": self.is_active(now),
            "revoked_at": self.revoked_at, "daily_limit": self.daily_limit,
            "remaining_today": self.remaining_today(now),
            "window_ends_at": self.window_ends_at(now) if self.daily_limit is not None else None,
            "tx_limit": self.tx_limit,
            "services": None if self.services is None else list(self.services),
            "ip_ranges": None if self.ip_ranges is None else list(self.ip_ranges),
            "last_used": self.last_used,
        }


# --------------------------------------------------------------------------- storage


def load_session(view: View, account: str, public_key: bytes) -> Session | None:
    value = read(view, session_key(account, public_key))
    return None if value is None else Session.from_value(public_key, value)


def save_session(view: View, account: str, session: Session) -> None:
    write(view, session_key(account, session.public_key), session.to_value())


def delete_session(view: View, account: str, public_key: bytes) -> None:
    write(view, session_key(account, public_key), None)


def all_sessions(view: View, account: str) -> list[Session]:
    prefix = sessions_prefix(account)
    return [Session.from_value(key[len(prefix):], codec.decode(value)) for key, value in view.scan(prefix)]


# --------------------------------------------------------------------------- granting


def check_grant(session: Session, now: int) -> None:
    """The rules a new session must meet at block time ``now`` (raises ValueError)."""
    permissions = session.permissions
    if not permissions:
        raise ValueError("a session needs at least one permission")
    if READ_ONLY in permissions and len(permissions) > 1:
        raise ValueError("READ_ONLY cannot be combined with other permissions")
    if SEND_UNLIMITED in permissions and permissions & {SEND_LIMIT_DAILY, SEND_LIMIT_TX}:
        raise ValueError("SEND_UNLIMITED cannot be combined with SEND_LIMIT_DAILY or SEND_LIMIT_TX")
    if (SEND_LIMIT_DAILY in permissions) != (session.daily_limit is not None):
        raise ValueError("daily_limit is given exactly when SEND_LIMIT_DAILY is")
    if (SEND_LIMIT_TX in permissions) != (session.tx_limit is not None):
        raise ValueError("tx_limit is given exactly when SEND_LIMIT_TX is")
    if session.expires_at <= now:
        raise ValueError(f"expires_at {session.expires_at} is not after the block time {now}")
    if session.expires_at > now + MAX_SESSION_LIFETIME:
        raise ValueError(f"a session lasts at most {MAX_SESSION_LIFETIME // DAY} days "
                         f"(expires_at must be at most {now + MAX_SESSION_LIFETIME})")


def make_room(view: View, account: str, now: int) -> None:
    """Drop the account's revoked and expired sessions; refuse if MAX_SESSIONS are active."""
    active = 0
    for session in all_sessions(view, account):
        if session.is_active(now):
            active += 1
        else:
            delete_session(view, account, session.public_key)
    if active >= MAX_SESSIONS:
        raise ValueError(f"an account has at most {MAX_SESSIONS} active sessions; revoke one first")


# --------------------------------------------------------------------------- signing rules


def check_session_live(session: Session, now: int) -> None:
    """A revoked or expired session signs nothing."""
    if session.revoked_at is not None:
        raise TransactionRefused(SESSION_REVOKED, f"the session of {session.device!r} was revoked at {session.revoked_at}")
    if now >= session.expires_at:
        raise TransactionRefused(SESSION_EXPIRED, f"the session of {session.device!r} expired at {session.expires_at}")


def check_permission(session: Session, needed: str, what: str) -> None:
    """The session holds ``needed`` for ``what`` (a READ_ONLY session holds nothing that
    changes state)."""
    if needed not in session.permissions:
        raise TransactionRefused(NOT_PERMITTED, f"the session of {session.device!r} lacks {needed} to {what}")


def check_service_allowed(session: Session, path: str) -> None:
    """A session with an allow-list of services calls only those."""
    if session.services is not None and path not in session.services:
        raise TransactionRefused(NOT_PERMITTED, f"the session of {session.device!r} may not call {path}")


def check_spending(session: Session, outgoing: int, now: int, frozen: bool) -> None:
    """``outgoing`` AMI may leave the account in one transaction signed by this session."""
    if outgoing == 0:
        return
    if frozen:
        raise TransactionRefused(FROZEN, "a recovery of this account is pending: its sessions cannot spend")
    permissions = session.permissions
    if not permissions & SEND_PERMISSIONS:
        raise TransactionRefused(NOT_PERMITTED, f"the session of {session.device!r} may not send AMI")
    if SEND_UNLIMITED in permissions:
        return
    if session.tx_limit is not None and outgoing > session.tx_limit:
        raise TransactionRefused(OVER_LIMIT, f"{outgoing} AMI is over the session's per-transaction limit of {session.tx_limit}")
    remaining = session.remaining_today(now)
    if remaining is not None and outgoing > remaining:
        raise TransactionRefused(
            OVER_LIMIT, f"{outgoing} AMI is over what the session may still send today ({remaining} of "
            f"{session.daily_limit}, until {session.window_ends_at(now)})")


def record_use(view: View, account: str, session: Session, outgoing: int, now: int) -> None:
    """Note that the session signed a transaction at ``now`` moving ``outgoing`` AMI out. Written
    with the transaction's own changes, so a failed transaction gives its spending back."""
    save_session(view, account, replace(session, window=session.window_at(now),
                                        spent=session.spent_in_window(now) + outgoing, last_used=now))


def revoke(view: View, account: str, session: Session, now: int) -> None:
    save_session(view, account, replace(session, revoked_at=now))


def revoke_all(view: View, account: str, now: int) -> int:
    """Revoke every active session of the account (the kill switch); return how many."""
    revoked = 0
    for session in all_sessions(view, account):
        if session.is_active(now):
            revoke(view, account, session, now)
            revoked += 1
    return revoked
