"""What the node enforces about accounts beyond the log: client IP allow-lists of sessions,
and where account events are posted (webhooks).

Both are read on hot paths (every submission, every committed block), so the node keeps them
in memory: :class:`AccountPolicies` is loaded from the state once at start and then follows the
account events of every committed block (``session_granted`` carries a session's IP ranges,
``webhook_set`` an account's webhook), so it never reads the store again.

A session's IP ranges are a **node policy**: the client's address is not part of the signed
transaction nor of the log, so a replay cannot check it, and another node (or a node behind a
proxy that hides client addresses) sees other addresses. The check narrows where a stolen
session key can be used against this node; it is not a rule of the chain.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable

from .. import codec
from ..accounts.sessions import NOT_PERMITTED, Session
from ..accounts.state import SESSION_PREFIX, WEBHOOK_PREFIX, View
from ..crypto.address import ADDRESS_PREFIX, is_canonical_address
from ..errors import TransactionRefused
from ..ledger.tx import Transaction


REVOKING_EVERY_SESSION = frozenset({"sessions_revoked", "recovery_finalized", "takeover_finalized"})
"""Account events after which the account has no live session (the kill switch, and a new
master installed by a recovery): the node forgets the IP ranges of all of them, so a key that
was one of them (say, the recovered master) is not held to its old session's ranges."""


class AccountPolicies:
    """IP ranges of the unrevoked sessions that have them, by (account, session key); webhooks
    by account."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[tuple[str, bytes], Session] = {}
        self._webhooks: dict[str, str] = {}

    def load(self, view: View) -> None:
        """Read every session with IP ranges and every webhook from the state (at start)."""
        for key, value in view.scan(SESSION_PREFIX):
            account, _, public_key = key[len(SESSION_PREFIX):].partition(b"\x00")
            session = Session.from_value(public_key, codec.decode(value))
            if session.ip_ranges is not None and session.revoked_at is None:
                self._sessions[(account.decode(), public_key)] = session
        for key, value in view.scan(WEBHOOK_PREFIX):
            url = codec.decode(value)
            if url is not None:
                self._webhooks[key[len(WEBHOOK_PREFIX):].decode()] = url

    def follow(self, events: Iterable[dict[str, Any]]) -> None:
        """Take in the account events of a committed block."""
        with self._lock:
            for event in events:
                account, name, attrs = event["service"], event["name"], event["attrs"]
                if name == "session_granted":
                    self._granted(account, attrs)
                elif name == "session_revoked":
                    self._sessions.pop((account, bytes.fromhex(attrs["public_key"])), None)
                elif name in REVOKING_EVERY_SESSION:
                    self._forget_sessions(account, lambda session: True)
                elif name == "webhook_set":
                    if attrs["url"] is None:
                        self._webhooks.pop(account, None)
                    else:
                        self._webhooks[account] = attrs["url"]

    def _granted(self, account: str, attrs: dict[str, Any]) -> None:
        """A grant first drops the account's revoked and expired sessions from the state
        (``make_room``), so the expired ones go here too: what the node holds is then what it
        would load from the state after a restart, and no key keeps ranges it no longer has."""
        now = attrs["granted_at"]
        self._forget_sessions(account, lambda session: session.expires_at <= now)
        key = bytes.fromhex(attrs["public_key"])
        self._sessions.pop((account, key), None)  # the new grant replaces whatever the key had
        if attrs["ip_ranges"] is not None:
            self._sessions[(account, key)] = Session(
                public_key=key, device=attrs["device"], permissions=frozenset(attrs["permissions"]),
                granted_at=now, expires_at=attrs["expires_at"], ip_ranges=tuple(attrs["ip_ranges"]))

    def _forget_sessions(self, account: str, which: Callable[[Session], bool]) -> None:
        for entry in [e for e, session in self._sessions.items() if e[0] == account and which(session)]:
            del self._sessions[entry]

    def check_client(self, tx: Transaction, client_ip: str | None) -> None:
        """Refuse (not-permitted) a transaction signed by a session key whose IP ranges do not
        hold ``client_ip`` (None: the server does not know the client's address, which no
        range holds). A revoked or expired session is the ledger's to refuse."""
        session = self._sessions.get((tx.account, tx.public_key))
        if session is not None and not session.allows_ip(client_ip or ""):
            raise TransactionRefused(NOT_PERMITTED, f"the session of {session.device!r} may not be used from "
                                                    f"{client_ip or 'an unknown address'} (this node checks its IP ranges)")

    @property
    def restricts_ips(self) -> bool:
        """Whether any session has IP ranges (if none, submissions need no check at all)."""
        return bool(self._sessions)

    def webhook(self, account: str) -> str | None:
        return self._webhooks.get(account)


def account_events(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events about accounts (their ``service`` is an address) among a receipt's events.
    Service paths start with their domain, so the prefix alone skips most events cheaply."""
    return [e for e in events if e["service"].startswith(ADDRESS_PREFIX) and is_canonical_address(e["service"])]
