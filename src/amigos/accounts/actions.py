"""Account operations (``AccountMessage``): their parameters, who may sign them, what they do.

Who signs a transaction for an account is one of three roles (:func:`identify_signer`):

* the **master** key — the key the address derives from, or the key a recovery installed;
* a **session** key the master granted (:mod:`.sessions`), limited by its permissions;
* the **recovery key** (:mod:`.recovery`), which may only announce and finalise a takeover.

:func:`check_may_sign` applies the signing rules before any message runs (an ante check: a
refused transaction changes nothing); :func:`apply_action` runs one action as a message of an
admitted transaction.

=====================  ================================  =====================================
action                 params                            who may sign
=====================  ================================  =====================================
``send``               to, amount, memo?                 master; session with a SEND_* right
``stake``              amount                            master; session with STAKE_MANAGE
``unstake``            amount                            master; session with STAKE_MANAGE
``grant_session``      public_key, device, permissions,  master
                       expires_at, daily_limit?,
                       tx_limit?, services?, ip_ranges?
``revoke_session``     public_key                        master
``revoke_all_sessions``                                  master (the kill switch)
``set_guardians``      guardians, threshold, timelock    master (guardians ``[]``: none)
``approve_recovery``   account, new_key                  a guardian: master; session with ACCOUNT_RECOVER
``cancel_recovery``                                      master
``finalize_recovery``  account                           anyone: master; session with ACCOUNT_RECOVER
``set_recovery_key``   public_key (or None), timelock    master
``announce_takeover``  new_key                           recovery key
``cancel_takeover``                                      master
``finalize_takeover``                                    recovery key
``set_webhook``        url (or None)                     master
=====================  ================================  =====================================
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit
from dataclasses import dataclass
from typing import Any, Callable

from ..crypto.keys import PUBLIC_KEY_SIZE, address_bytes, is_canonical_address, parse_address
from ..errors import MALFORMED, UNKNOWN_KEY, AccountRuleBroken, TransactionRefused, UsageError
from ..ledger.tx import AccountMessage, Call, Deploy, Message, Transaction
from ..vm.paths import validate_path
from . import recovery, sessions, token
from .sessions import (
    ACCOUNT_RECOVER,
    IMPORT_EXECUTE,
    PERMISSIONS,
    STAKE_MANAGE,
    Session,
    check_permission,
    check_service_allowed,
    check_session_live,
    check_spending,
)
from .state import View, account_event, is_master, master_key_key, webhook_key, write

MASTER, SESSION, RECOVERY_KEY = "master", "session", "recovery-key"
ACTION_GAS = 5_000
"""Gas one account action costs: a few small state reads and writes."""
MAX_MEMO = 256
MAX_WEBHOOK_URL = 2048


@dataclass(frozen=True)
class Signer:
    role: str
    session: Session | None = None


# --------------------------------------------------------------------------- parameters


def _refuse(action: str, message: str) -> TransactionRefused:
    return TransactionRefused(MALFORMED, f"account action {action!r}: {message}")


def _amount(value: object) -> int:
    if type(value) is not int or not 0 < value <= token.MAX_AMOUNT:
        raise ValueError(f"must be an int from 1 to {token.MAX_AMOUNT}")
    return value


def _time(value: object) -> int:
    if type(value) is not int or not 0 <= value < 2**63:
        raise ValueError("must be a Unix time in seconds (an int ≥ 0)")
    return value


def _seconds(value: object) -> int:
    if type(value) is not int or value < 0:
        raise ValueError("must be a number of seconds (an int ≥ 0)")
    return value


def _count(value: object) -> int:
    if type(value) is not int or value < 1:
        raise ValueError("must be an int ≥ 1")
    return value


def _address(value: object) -> str:
    if not is_canonical_address(value):
        raise ValueError("must be an amigo1… address in canonical (lower-case) form")
    return value  # type: ignore[return-value]


def _key(value: object) -> bytes:
    if type(value) is not bytes or len(value) != PUBLIC_KEY_SIZE:
        raise ValueError(f"must be a {PUBLIC_KEY_SIZE}-byte Ed25519 public key")
    return value


def _optional(parse: Callable[[object], Any]) -> Callable[[object], Any]:
    return lambda value: None if value is None else parse(value)


def _text(limit: int) -> Callable[[object], str]:
    def parse(value: object) -> str:
        if type(value) is not str or not 0 < len(value) <= limit or not value.isprintable():
            raise ValueError(f"must be 1 to {limit} printable characters")
        return value
    return parse


def _list(parse: Callable[[object], Any], limit: int) -> Callable[[object], tuple[Any, ...]]:
    def parse_list(value: object) -> tuple[Any, ...]:
        if type(value) is not list or len(value) > limit:
            raise ValueError(f"must be a list of at most {limit} items")
        return tuple(parse(item) for item in value)
    return parse_list


def _permission(value: object) -> str:
    if value not in PERMISSIONS:
        raise ValueError(f"must name permissions from {', '.join(sorted(PERMISSIONS))}")
    return value  # type: ignore[return-value]


def _service(value: object) -> str:
    try:
        return validate_path(value)
    except UsageError as exc:
        raise ValueError(str(exc)) from None


def _ip_range(value: object) -> str:
    if type(value) is not str:
        raise ValueError("must be IP ranges such as '192.0.2.0/24'")
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"has {value!r}, not an IP range ({exc})") from None


def _url(value: object) -> str:
    if type(value) is not str or len(value) > MAX_WEBHOOK_URL or not value.isprintable() or " " in value:
        raise ValueError(f"must be an http(s) URL of at most {MAX_WEBHOOK_URL} characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        raise ValueError("must be an http(s) URL that parses") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL with a host")
    return value


Params = dict[str, Any]
ParamSpec = dict[str, tuple[Callable[[object], Any], bool]]
"""Each parameter's parser and whether it may be left out (then it is None)."""


def parse_params(action: str, spec: ParamSpec, params: dict[str, Any]) -> Params:
    unknown = set(params) - set(spec)
    if unknown:
        raise _refuse(action, f"unknown parameter {sorted(unknown)[0]!r} (it takes {', '.join(spec) or 'none'})")
    parsed = {}
    for name, (parse, optional) in spec.items():
        if name not in params:
            if not optional:
                raise _refuse(action, f"parameter {name!r} is missing")
            parsed[name] = None
            continue
        try:
            parsed[name] = parse(params[name])
        except ValueError as exc:
            raise _refuse(action, f"{name} {exc}") from None
    return parsed


# --------------------------------------------------------------------------- the actions


@dataclass(frozen=True)
class Context:
    view: View
    account: str
    now: int


Effect = tuple[Any, list[dict[str, Any]]]
"""What an action returns: its result and its events."""


def do_send(ctx: Context, p: Params) -> Effect:
    token.transfer(ctx.view, ctx.account, p["to"], p["amount"])
    return None, [account_event(ctx.account, "sent", to=p["to"], amount=p["amount"], memo=p["memo"])]


def do_stake(ctx: Context, p: Params) -> Effect:
    token.stake(ctx.view, ctx.account, p["amount"])
    return None, [account_event(ctx.account, "staked", amount=p["amount"])]


def do_unstake(ctx: Context, p: Params) -> Effect:
    release = token.unstake(ctx.view, ctx.account, p["amount"], ctx.now)
    return {"released_at": release}, [account_event(ctx.account, "unstaked", amount=p["amount"], released_at=release)]


def do_grant_session(ctx: Context, p: Params) -> Effect:
    key = p["public_key"]
    _check_free_key(ctx, key)
    session = Session(
        public_key=key, device=p["device"], permissions=frozenset(p["permissions"]), granted_at=ctx.now,
        expires_at=p["expires_at"], daily_limit=p["daily_limit"], tx_limit=p["tx_limit"],
        services=p["services"], ip_ranges=p["ip_ranges"],
    )
    try:
        sessions.check_grant(session, ctx.now)
        sessions.make_room(ctx.view, ctx.account, ctx.now)
    except ValueError as exc:
        raise AccountRuleBroken(str(exc)) from None
    sessions.save_session(ctx.view, ctx.account, session)
    return None, [account_event(ctx.account, "session_granted", **session.describe(ctx.now))]


def _check_free_key(ctx: Context, key: bytes) -> None:
    """A key has one role per account: not its master, not its recovery key, not a live session."""
    if is_master(ctx.view, ctx.account, key) or recovery.recovery_key_of(ctx.view, ctx.account) == key:
        raise AccountRuleBroken("that key already signs for this account as its master or recovery key")
    existing = sessions.load_session(ctx.view, ctx.account, key)
    if existing is not None and existing.is_active(ctx.now):
        raise AccountRuleBroken(f"that key already has a session ({existing.device!r}): revoke it first")


def do_revoke_session(ctx: Context, p: Params) -> Effect:
    session = sessions.load_session(ctx.view, ctx.account, p["public_key"])
    if session is None or not session.is_active(ctx.now):
        raise AccountRuleBroken(f"no active session for key {p['public_key'].hex()}")
    sessions.revoke(ctx.view, ctx.account, session, ctx.now)
    return None, [account_event(ctx.account, "session_revoked", public_key=session.public_key.hex(), device=session.device)]


def do_revoke_all_sessions(ctx: Context, p: Params) -> Effect:
    count = sessions.revoke_all(ctx.view, ctx.account, ctx.now)
    return {"revoked": count}, [account_event(ctx.account, "sessions_revoked", count=count)]


def do_set_guardians(ctx: Context, p: Params) -> Effect:
    if not p["guardians"]:
        return None, recovery.set_guardians(ctx.view, ctx.account, None, ctx.now)
    guardians = recovery.Guardians(p["guardians"], p["threshold"] or 0, p["timelock"] or 0)
    try:
        recovery.check_guardians(ctx.account, guardians)
    except ValueError as exc:
        raise AccountRuleBroken(str(exc)) from None
    return None, recovery.set_guardians(ctx.view, ctx.account, guardians, ctx.now)


def do_approve_recovery(ctx: Context, p: Params) -> Effect:
    return None, recovery.approve_recovery(ctx.view, ctx.account, p["account"], p["new_key"], ctx.now)


def do_cancel_recovery(ctx: Context, p: Params) -> Effect:
    return None, recovery.cancel_recovery(ctx.view, ctx.account)


def do_finalize_recovery(ctx: Context, p: Params) -> Effect:
    return None, recovery.finalize_recovery(ctx.view, p["account"], ctx.now)


def do_set_recovery_key(ctx: Context, p: Params) -> Effect:
    key, timelock = p["public_key"], p["timelock"] or recovery.DEFAULT_TAKEOVER_TIMELOCK
    if key is not None:
        _check_free_key(ctx, key)
        try:
            recovery.check_timelock(timelock, recovery.MIN_TAKEOVER_TIMELOCK)
        except ValueError as exc:
            raise AccountRuleBroken(str(exc)) from None
    return None, recovery.set_recovery_key(ctx.view, ctx.account, key, timelock)


def do_announce_takeover(ctx: Context, p: Params) -> Effect:
    return None, recovery.announce_takeover(ctx.view, ctx.account, p["new_key"], ctx.now)


def do_cancel_takeover(ctx: Context, p: Params) -> Effect:
    return None, recovery.cancel_takeover(ctx.view, ctx.account)


def do_finalize_takeover(ctx: Context, p: Params) -> Effect:
    return None, recovery.finalize_takeover(ctx.view, ctx.account, ctx.now)


def do_set_webhook(ctx: Context, p: Params) -> Effect:
    write(ctx.view, webhook_key(ctx.account), p["url"])
    return None, [account_event(ctx.account, "webhook_set", url=p["url"])]


@dataclass(frozen=True)
class ActionRule:
    params: ParamSpec
    run: Callable[[Context, Params], Effect]
    session_permission: str | None
    """The permission a session needs for it; None: sessions may not sign it at all."""
    recovery_key: bool = False
    """Signed by the recovery key (and nobody else)."""
    spends: bool = False


_REQUIRED, _OPTIONAL = False, True
ACTIONS: dict[str, ActionRule] = {
    "send": ActionRule({"to": (_address, _REQUIRED), "amount": (_amount, _REQUIRED),
                        "memo": (_text(MAX_MEMO), _OPTIONAL)}, do_send, None, spends=True),
    "stake": ActionRule({"amount": (_amount, _REQUIRED)}, do_stake, STAKE_MANAGE),
    "unstake": ActionRule({"amount": (_amount, _REQUIRED)}, do_unstake, STAKE_MANAGE),
    "grant_session": ActionRule({
        "public_key": (_key, _REQUIRED), "device": (_text(sessions.MAX_DEVICE_NAME), _REQUIRED),
        "permissions": (_list(_permission, len(PERMISSIONS)), _REQUIRED), "expires_at": (_time, _REQUIRED),
        "daily_limit": (_amount, _OPTIONAL), "tx_limit": (_amount, _OPTIONAL),
        "services": (_list(_service, sessions.MAX_ALLOWED_SERVICES), _OPTIONAL),
        "ip_ranges": (_list(_ip_range, sessions.MAX_IP_RANGES), _OPTIONAL),
    }, do_grant_session, None),
    "revoke_session": ActionRule({"public_key": (_key, _REQUIRED)}, do_revoke_session, None),
    "revoke_all_sessions": ActionRule({}, do_revoke_all_sessions, None),
    "set_guardians": ActionRule({"guardians": (_list(_address, recovery.MAX_GUARDIANS), _REQUIRED),
                                 "threshold": (_count, _OPTIONAL), "timelock": (_seconds, _OPTIONAL)},
                                do_set_guardians, None),
    "approve_recovery": ActionRule({"account": (_address, _REQUIRED), "new_key": (_key, _REQUIRED)},
                                   do_approve_recovery, ACCOUNT_RECOVER),
    "cancel_recovery": ActionRule({}, do_cancel_recovery, None),
    "finalize_recovery": ActionRule({"account": (_address, _REQUIRED)}, do_finalize_recovery, ACCOUNT_RECOVER),
    "set_recovery_key": ActionRule({"public_key": (_optional(_key), _OPTIONAL), "timelock": (_seconds, _OPTIONAL)},
                                   do_set_recovery_key, None),
    "announce_takeover": ActionRule({"new_key": (_key, _REQUIRED)}, do_announce_takeover, None, recovery_key=True),
    "cancel_takeover": ActionRule({}, do_cancel_takeover, None),
    "finalize_takeover": ActionRule({}, do_finalize_takeover, None, recovery_key=True),
    "set_webhook": ActionRule({"url": (_optional(_url), _OPTIONAL)}, do_set_webhook, None),
}


def parse_action(message: AccountMessage) -> tuple[ActionRule, Params]:
    """The rule and checked parameters of an account message (refused as ``malformed``)."""
    rule = ACTIONS.get(message.action)
    if rule is None:
        raise TransactionRefused(MALFORMED, f"unknown account action {message.action!r} "
                                            f"(one of {', '.join(sorted(ACTIONS))})")
    return rule, parse_params(message.action, rule.params, message.params)


# --------------------------------------------------------------------------- signing rules


def identify_signer(view: View, account: str, public_key: bytes, now: int) -> Signer:
    """Which role ``public_key`` has for ``account`` at block time ``now``, or refuse it."""
    if is_master(view, account, public_key):
        return Signer(MASTER)
    # The recovery key before sessions: a revoked or expired session's record outlives it, and
    # its key may since have become the recovery key (a live session never can).
    if recovery.recovery_key_of(view, account) == public_key:
        return Signer(RECOVERY_KEY)
    session = sessions.load_session(view, account, public_key)
    if session is not None:
        check_session_live(session, now)
        return Signer(SESSION, session)
    if view.get(master_key_key(account)) is not None and address_bytes(public_key) == parse_address(account):
        raise TransactionRefused(UNKNOWN_KEY, f"this key stopped being the master of {account} when it was recovered")
    raise TransactionRefused(UNKNOWN_KEY, f"key {public_key.hex()} may not sign for account {account}")


def outgoing_coins(messages: tuple[Message, ...]) -> int:
    """AMI a transaction moves out of its account: sends, and coins sent with calls."""
    total = 0
    for message in messages:
        if type(message) is AccountMessage and message.action == "send":
            total += message.params["amount"]
        elif type(message) is Call:
            total += message.coins
    return total


def check_message_allowed(signer: Signer, message: Message) -> None:
    """The signer's role (and a session's permissions and allow-list) covers ``message``."""
    if type(message) is AccountMessage:
        rule, _ = parse_action(message)
        if rule.recovery_key != (signer.role == RECOVERY_KEY):
            who = "only the recovery key" if rule.recovery_key else "the recovery key may not"
            raise TransactionRefused(sessions.NOT_PERMITTED, f"{who} sign {message.action!r}")
        if signer.session is not None:
            if rule.spends:
                return  # check_spending decides
            if rule.session_permission is None:
                raise TransactionRefused(sessions.NOT_PERMITTED, f"a session may not {message.action!r}: only the master key can")
            check_permission(signer.session, rule.session_permission, message.action)
        return
    if signer.role == RECOVERY_KEY:
        raise TransactionRefused(sessions.NOT_PERMITTED, "the recovery key may only announce and finalise a takeover")
    if signer.session is not None:
        what = f"deploy {message.path}" if type(message) is Deploy else f"call {message.path}"
        check_permission(signer.session, IMPORT_EXECUTE, what)
        if type(message) is Call:
            check_service_allowed(signer.session, message.path)


def check_may_sign(view: View, tx: Transaction, now: int) -> Signer:
    """Every signing rule for ``tx`` at block time ``now``: the key's role, each message within
    it, and a session's spending limits. Returns the signer."""
    signer = identify_signer(view, tx.account, tx.public_key, now)
    if signer.session is not None and sessions.READ_ONLY in signer.session.permissions:
        raise TransactionRefused(sessions.NOT_PERMITTED, "a READ_ONLY session signs no transaction: it only "
                                                         "authenticates reads")
    for message in tx.messages:
        check_message_allowed(signer, message)
    if signer.session is not None:
        check_spending(signer.session, outgoing_coins(tx.messages), now, recovery.is_frozen(view, tx.account))
    return signer


def apply_action(view: View, account: str, message: AccountMessage, now: int) -> Effect:
    """Run an admitted account message (its signer was checked by :func:`check_may_sign`)."""
    rule, params = parse_action(message)
    return rule.run(Context(view, account, now), params)
