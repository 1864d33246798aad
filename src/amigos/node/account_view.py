"""What ``GET /v1/accounts/{address}`` shows about an account, read from the state.

Everyone sees the public part: AMI balance, stake and unbondings, the master key if a recovery
replaced it, guardians, the recovery key (its public key), and any recovery or takeover under
way with its unlock time. The ``private`` part (the sessions with device names, permissions,
limits, IP ranges and last use; the webhook URL) goes only to a signed read by the account's
master key or one of its active sessions (:mod:`.auth`).
"""

from __future__ import annotations

from typing import Any

from ..accounts import recovery, sessions, token
from ..accounts.state import View, guardians_pending_key, master_key_key, read, recovery_key_key, webhook_key
from .auth import Reader


def account_json(view: View, address: str, now: int, reader: Reader | None) -> dict[str, Any]:
    """The account at time ``now`` (call inside the node's reading())."""
    master = view.get(master_key_key(address))  # the raw key, once a recovery replaced the address's own
    return {
        "balance": token.balance(view, address),
        "staked": token.staked(view, address),
        "unbonding": [{"amount": amount, "released_at": at} for at, amount in token.unbonding(view, address)],
        "master_key": None if master is None else master.hex(),
        "frozen": recovery.is_frozen(view, address),
        "guardians": guardians_json(view, address, now),
        "recovery": recovery_json(recovery.pending_recovery(view, address)),
        "recovery_key": recovery_key_json(read(view, recovery_key_key(address))),
        "private": None if reader is None else private_json(view, address, now, reader),
    }


def guardians_json(view: View, address: str, now: int) -> dict[str, Any] | None:
    current = recovery.current_guardians(view, address, now)
    pending = read(view, guardians_pending_key(address))
    if current is None and pending is None:
        return None
    change = None
    if pending is not None and pending["effective_at"] > now:
        change = {"guardians": pending["guardians"], "effective_at": pending["effective_at"]}
    return {**(current.to_value() if current is not None else {"members": [], "threshold": 0, "timelock": 0}),
            "pending_change": change}


def recovery_json(pending: dict[str, Any] | None) -> dict[str, Any] | None:
    """A social recovery: the guardians' votes, and once enough agree its key and unlock time."""
    if pending is None:
        return None
    return {"votes": [{"guardian": g, "new_key": key.hex()} for g, key in sorted(pending["votes"].items())],
            "new_key": None if pending["key"] is None else pending["key"].hex(), "unlock_at": pending["unlock_at"]}


def recovery_key_json(config: dict[str, Any] | None) -> dict[str, Any] | None:
    if config is None:
        return None
    takeover = None
    if config["announced_key"] is not None:
        takeover = {"new_key": config["announced_key"].hex(), "announced_at": config["announced_at"],
                    "unlock_at": config["announced_at"] + config["timelock"]}
    return {"public_key": config["public_key"].hex(), "timelock": config["timelock"], "takeover": takeover}


def private_json(view: View, address: str, now: int, reader: Reader) -> dict[str, Any]:
    return {
        "reader": {"public_key": reader.public_key.hex(), "role": reader.role},
        "sessions": [s.describe(now) for s in sessions.all_sessions(view, address)],
        "webhook": read(view, webhook_key(address)),
    }
