"""Getting an account back when its master key is lost: by friends, or by time.

**Social recovery.** The master names guardians (other accounts) and a threshold M of N.
Guardians approve a recovery to a new master key, one vote each. When M votes name the same key
the time lock starts (``unlock_at``); the current master can cancel until then, and after it
anyone can finalise. While a recovery is pending the account's sessions cannot spend. Changing
the guardians once there are some takes effect only after the current time lock, so a thief
with the master key cannot quietly replace the guardians and outrun a recovery.

**Recovery key.** A separate key that can take the account over only after announcing it and
waiting out a longer time lock; the master can cancel during it.

Either way, the new master replaces the old one (which then signs nothing) and every session
is revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..crypto.keys import address_bytes, parse_address
from ..errors import AccountRuleBroken
from .sessions import DAY, revoke_all
from .state import (
    View,
    account_event,
    guardians_key,
    guardians_pending_key,
    master_key_key,
    read,
    recovery_key,
    recovery_key_key,
    write,
)

HOUR = 3600
MIN_RECOVERY_TIMELOCK = 24 * HOUR
DEFAULT_RECOVERY_TIMELOCK = 48 * HOUR
MIN_TAKEOVER_TIMELOCK = 7 * DAY
DEFAULT_TAKEOVER_TIMELOCK = 14 * DAY
MAX_TIMELOCK = 365 * DAY
MAX_GUARDIANS = 16


@dataclass(frozen=True)
class Guardians:
    members: tuple[str, ...]
    threshold: int
    timelock: int

    def to_value(self) -> dict[str, Any]:
        return {"members": list(self.members), "threshold": self.threshold, "timelock": self.timelock}

    @classmethod
    def from_value(cls, value: dict[str, Any]) -> Guardians:
        return cls(tuple(value["members"]), value["threshold"], value["timelock"])


def check_guardians(account: str, guardians: Guardians) -> None:
    """Rules for a set of guardians (raises ValueError)."""
    members = guardians.members
    if not 1 <= len(members) <= MAX_GUARDIANS:
        raise ValueError(f"name 1 to {MAX_GUARDIANS} guardians")
    if len(set(members)) != len(members):
        raise ValueError("a guardian is named twice")
    if account in members:
        raise ValueError("an account cannot be its own guardian")
    if not 1 <= guardians.threshold <= len(members):
        raise ValueError(f"the threshold must be from 1 to the number of guardians ({len(members)})")
    check_timelock(guardians.timelock, MIN_RECOVERY_TIMELOCK)


def check_timelock(seconds: int, minimum: int) -> None:
    if not minimum <= seconds <= MAX_TIMELOCK:
        raise ValueError(f"the time lock must be from {minimum} to {MAX_TIMELOCK} seconds")


# --------------------------------------------------------------------------- guardians


def current_guardians(view: View, account: str, now: int) -> Guardians | None:
    """The guardians in force at block time ``now``: a scheduled change counts once due."""
    pending = read(view, guardians_pending_key(account))
    if pending is not None and pending["effective_at"] <= now:
        value = pending["guardians"]
    else:
        value = read(view, guardians_key(account))
    return None if value is None else Guardians.from_value(value)


def set_guardians(view: View, account: str, guardians: Guardians | None, now: int) -> list[dict[str, Any]]:
    """Name new guardians (None: none). Immediate for an account without guardians; otherwise
    scheduled after the current time lock, replacing any change scheduled before."""
    current = current_guardians(view, account, now)
    view.apply({guardians_pending_key(account): None})
    value = None if guardians is None else guardians.to_value()
    if current is None:
        write(view, guardians_key(account), value)
        return [account_event(account, "guardians_set", guardians=value)]
    write(view, guardians_key(account), current.to_value())
    effective_at = now + current.timelock
    write(view, guardians_pending_key(account), {"guardians": value, "effective_at": effective_at})
    return [account_event(account, "guardians_change_scheduled", guardians=value, effective_at=effective_at)]


# --------------------------------------------------------------------------- social recovery


def pending_recovery(view: View, account: str) -> dict[str, Any] | None:
    """``{"votes": {guardian: new key}, "key": new key or None, "unlock_at": time or None}``."""
    return read(view, recovery_key(account))


def is_frozen(view: View, account: str) -> bool:
    """Whether a recovery or a takeover is under way (the account's sessions cannot spend)."""
    recovery = pending_recovery(view, account)
    takeover = read(view, recovery_key_key(account))
    return (recovery is not None and recovery["key"] is not None) or (
        takeover is not None and takeover["announced_key"] is not None)


def approve_recovery(view: View, guardian: str, account: str, new_key: bytes, now: int) -> list[dict[str, Any]]:
    """``guardian`` votes to give ``account`` the master key ``new_key``."""
    guardians = current_guardians(view, account, now)
    if guardians is None or guardian not in guardians.members:
        raise AccountRuleBroken(f"{guardian} is not a guardian of {account}")
    recovery = pending_recovery(view, account) or {"votes": {}, "key": None, "unlock_at": None}
    if recovery["key"] is not None:
        raise AccountRuleBroken(f"a recovery of {account} to key {recovery['key'].hex()} is already pending "
                                f"(unlocks at {recovery['unlock_at']}): it can be cancelled or finalised")
    recovery["votes"][guardian] = new_key
    approvals = sum(1 for key in recovery["votes"].values() if key == new_key)
    events = [account_event(account, "recovery_approved", guardian=guardian, new_key=new_key.hex(),
                            approvals=approvals, threshold=guardians.threshold)]
    if approvals >= guardians.threshold:
        recovery["key"] = new_key
        recovery["unlock_at"] = now + guardians.timelock
        events.append(account_event(account, "recovery_started", new_key=new_key.hex(), unlock_at=recovery["unlock_at"]))
    write(view, recovery_key(account), recovery)
    return events


def cancel_recovery(view: View, account: str) -> list[dict[str, Any]]:
    """The master stops a recovery (and drops every vote for one)."""
    if pending_recovery(view, account) is None:
        raise AccountRuleBroken(f"no recovery of {account} to cancel")
    write(view, recovery_key(account), None)
    return [account_event(account, "recovery_cancelled")]


def finalize_recovery(view: View, account: str, now: int) -> list[dict[str, Any]]:
    """Anyone completes a recovery whose time lock ran out."""
    recovery = pending_recovery(view, account)
    if recovery is None or recovery["key"] is None:
        raise AccountRuleBroken(f"no recovery of {account} has the approvals it needs")
    if now < recovery["unlock_at"]:
        raise AccountRuleBroken(f"the recovery of {account} is time-locked until {recovery['unlock_at']}")
    return replace_master(view, account, recovery["key"], now, "recovery_finalized")


# --------------------------------------------------------------------------- recovery key


def recovery_key_of(view: View, account: str) -> bytes | None:
    config = read(view, recovery_key_key(account))
    return None if config is None else config["public_key"]


def set_recovery_key(view: View, account: str, public_key: bytes | None, timelock: int) -> list[dict[str, Any]]:
    """The master names (or with None removes) the recovery key; any takeover it announced
    is dropped."""
    value = None if public_key is None else {"public_key": public_key, "timelock": timelock,
                                             "announced_key": None, "announced_at": None}
    write(view, recovery_key_key(account), value)
    return [account_event(account, "recovery_key_set", public_key=None if public_key is None else public_key.hex(),
                          timelock=timelock)]


def announce_takeover(view: View, account: str, new_key: bytes, now: int) -> list[dict[str, Any]]:
    """The recovery key announces it will make ``new_key`` the master after its time lock."""
    config = read(view, recovery_key_key(account))
    if config["announced_key"] is not None:
        raise AccountRuleBroken(f"a takeover of {account} is already announced")
    config["announced_key"], config["announced_at"] = new_key, now
    write(view, recovery_key_key(account), config)
    return [account_event(account, "takeover_announced", new_key=new_key.hex(), unlock_at=now + config["timelock"])]


def cancel_takeover(view: View, account: str) -> list[dict[str, Any]]:
    config = read(view, recovery_key_key(account))
    if config is None or config["announced_key"] is None:
        raise AccountRuleBroken(f"no takeover of {account} to cancel")
    config["announced_key"], config["announced_at"] = None, None
    write(view, recovery_key_key(account), config)
    return [account_event(account, "takeover_cancelled")]


def finalize_takeover(view: View, account: str, now: int) -> list[dict[str, Any]]:
    config = read(view, recovery_key_key(account))
    if config["announced_key"] is None:
        raise AccountRuleBroken(f"no takeover of {account} was announced")
    unlock_at = config["announced_at"] + config["timelock"]
    if now < unlock_at:
        raise AccountRuleBroken(f"the takeover of {account} is time-locked until {unlock_at}")
    new_key = config["announced_key"]
    config["announced_key"], config["announced_at"] = None, None
    write(view, recovery_key_key(account), config)
    return replace_master(view, account, new_key, now, "takeover_finalized")


# --------------------------------------------------------------------------- the new master


def replace_master(view: View, account: str, new_key: bytes, now: int, event: str) -> list[dict[str, Any]]:
    """Make ``new_key`` the master: the old one signs nothing more, every session is revoked,
    and any other recovery under way is dropped."""
    own = address_bytes(new_key) == parse_address(account)
    view.apply({master_key_key(account): None if own else new_key, recovery_key(account): None})
    config = read(view, recovery_key_key(account))
    if config is not None and config["announced_key"] is not None:
        config["announced_key"], config["announced_at"] = None, None
        write(view, recovery_key_key(account), config)
    revoked = revoke_all(view, account, now)
    return [account_event(account, event, new_key=new_key.hex(), sessions_revoked=revoked)]
