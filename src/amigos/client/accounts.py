"""The account methods every client has: AMI, staking, sessions, recovery (docs/accounts.md).

They are written once, in :class:`AccountMethods`, over what each client provides:
``_transact(messages)`` (sign and submit one transaction; its receipt), ``_read_account(address,
signed)`` (the account's JSON as the node's ``GET /v1/accounts/{address}`` answers it),
``_now()`` (the time ``expires_in`` counts from) and ``_then(result, fn)`` (``fn`` applied to a
result: at once for a sync client, :class:`SyncResults`; after the await for an async one,
:class:`AsyncResults`, whose methods therefore return awaitables).

Each named method (``send``, ``grant_session``…) checks its arguments as the ledger will
before anything is sent (garbage raises :class:`~amigos.errors.TransactionError`, code
``malformed``), returns the receipt of a transaction that succeeded, and raises the typed
error of one that failed (``InsufficientFunds``, ``AccountRuleBroken``…, with the receipt as
``.receipt``), as a service proxy does. :meth:`AccountMethods.account_action` is the generic
form and, like ``call``, returns the receipt failed or not. A transaction the ledger refuses
raises :class:`~amigos.errors.TransactionRefused` with its code either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..accounts.actions import parse_action
from ..accounts.recovery import DEFAULT_RECOVERY_TIMELOCK
from ..crypto.keys import PUBLIC_KEY_SIZE, Account, is_canonical_address
from ..errors import TransactionError, TransactionRefused, UsageError
from ..ledger.tx import AccountMessage, Call, Message, check_messages_form
from ..vm.keys import MAX_AMOUNT
from ..vm.paths import validate_path
from .receipt import Receipt, failure

T = TypeVar("T")
U = TypeVar("U")


def wall_clock() -> int:
    """This machine's clock, in whole Unix seconds: what a node client's time is by default."""
    return int(time.time())


def account_message(action: str, params: dict[str, Any]) -> AccountMessage:
    """The account message for ``action``, once its parameters pass the ledger's own checks
    (what a node would refuse as ``malformed`` is refused here, before anything is sent)."""
    message = AccountMessage(action, params)
    try:
        check_messages_form((message,))
        parse_action(message)
    except TransactionError:
        raise
    except TransactionRefused as refusal:
        raise TransactionError(refusal.message) from None
    return message


def public_key_bytes(key: bytes | str | Account, name: str = "public_key") -> bytes:
    """A public key given as 32 bytes, 64 hex digits (as a pairing code shows it) or an Account."""
    if isinstance(key, Account):
        return key.public_key
    if isinstance(key, str):
        try:
            key = bytes.fromhex(key)
        except ValueError:
            raise TransactionError(f"{name} must be a {PUBLIC_KEY_SIZE}-byte public key (bytes or hex)") from None
    if type(key) is not bytes or len(key) != PUBLIC_KEY_SIZE:
        raise TransactionError(f"{name} must be a {PUBLIC_KEY_SIZE}-byte public key (bytes or hex)")
    return key


def account_address(address: object, name: str = "address") -> str:
    if not is_canonical_address(address):
        raise UsageError(f"{name} must be an amigo1… address in canonical (lower-case) form, not {address!r:.80}")
    return address  # type: ignore[return-value]


def checked_coins(coins: object) -> int:
    """``coins``, the AMI a call sends along, once it is an amount a message can carry."""
    if type(coins) is not int or not 0 <= coins <= MAX_AMOUNT:
        raise UsageError(f"coins must be an int from 0 to {MAX_AMOUNT}")
    return coins


def call_message(path: str, function: str, args: Sequence[Any], kwargs: dict[str, Any] | None, coins: int) -> Call:
    """The message of ``call(path, function, *args, kwargs=…, coins=…)``."""
    checked_coins(coins)
    if kwargs is not None and not isinstance(kwargs, dict):
        raise UsageError("kwargs must be a dict of keyword arguments")
    return Call(validate_path(path), function, tuple(args), dict(kwargs or {}), coins)


def signed_for(key: Account | None, acting_for: object) -> str | None:
    """The account a client with ``key`` acts for, when not the key's own: ``acting_for`` (a
    device's session, or the master a recovery installed), or None."""
    if acting_for is None:
        return None
    if not isinstance(key, Account):
        raise UsageError("acting_for needs the key that signs for that account: connect(…, account=key, acting_for=…)")
    address = account_address(acting_for, "acting_for")
    return None if address == key.address else address


def account_to_read(own: str | None, address: str | None, signed: bool) -> str:
    """The account an account read is about: ``address``, or the client's ``own``. A signed
    read (with the private part) is of the client's own account only."""
    if address is None:
        if own is None:
            raise UsageError("this client has no account: name the address, or connect(…, account=…)")
        return own
    address = account_address(address)
    if signed and address != own:
        raise UsageError("only an account's own keys read its private part (sessions, webhook)")
    return address


def succeeded(receipt: Receipt) -> Receipt:
    """``receipt`` if its transaction succeeded; else its typed error, raised."""
    if not receipt.ok:
        raise failure(receipt)
    return receipt


def expiry(now: int, expires_at: int | None, expires_in: int | None) -> int:
    """The session expiry ``grant_session`` was given: a time, or seconds from ``now``."""
    if (expires_at is None) == (expires_in is None):
        raise UsageError("a session needs an expiry: give expires_at (a Unix time) or expires_in (seconds), not both")
    if expires_at is not None:
        return expires_at
    if type(expires_in) is not int or expires_in <= 0:
        raise UsageError("expires_in must be a positive int of seconds")
    return now + expires_in


class AccountMethods:
    """The account methods of every client (see the module docstring). On an async client each
    returns an awaitable."""

    # ------------------------------------------------------------ what each client provides

    def _transact(self, messages: list[Message]) -> Any:
        raise NotImplementedError

    def _read_account(self, address: str | None, signed: bool) -> Any:
        """The account's JSON, as ``GET /v1/accounts/{address}`` answers it; ``signed``: with
        its private part, read with this client's key (of its own account only)."""
        raise NotImplementedError

    def _now(self) -> int:
        """The time ``expires_in`` counts from."""
        raise NotImplementedError

    @staticmethod
    def _then(result: Any, fn: Callable[[Any], U]) -> Any:
        raise NotImplementedError

    # ------------------------------------------------------------ AMI and staking

    def account_action(self, action: str, **params: Any) -> Any:
        """Send one account action (docs/accounts.md lists them) with ``params`` as the ledger
        takes them; its receipt, failed or not (like ``call``)."""
        return self._transact([account_message(action, params)])

    def _act(self, action: str, **params: Any) -> Any:
        return self._then(self.account_action(action, **params), succeeded)

    def send(self, to: str, amount: int, memo: str | None = None) -> Any:
        """Send ``amount`` AMI to the account or service address ``to``."""
        params: dict[str, Any] = {"to": to, "amount": amount}
        if memo is not None:
            params["memo"] = memo
        return self._act("send", **params)

    def stake(self, amount: int) -> Any:
        """Move ``amount`` AMI from the balance to the stake."""
        return self._act("stake", amount=amount)

    def unstake(self, amount: int) -> Any:
        """Start unbonding ``amount`` staked AMI; the receipt's result says when it is paid
        back (``{"released_at": time}``)."""
        return self._act("unstake", amount=amount)

    def balance(self, address: str | None = None) -> Any:
        """The AMI balance of ``address`` (an account or a service's address; default: this
        client's account)."""
        return self._then(self._read_account(address, False), _field("balance"))

    def account(self, address: str | None = None, *, private: bool = False) -> Any:
        """What the ledger shows about an account (default: this client's): ``balance``,
        ``staked``, ``unbonding``, ``frozen``, ``master_key``, ``guardians``, ``recovery``,
        ``recovery_key`` and the keys that signed for it. ``private``: a read of this client's
        own account signed with its key (the master's or an active session's), whose
        ``private`` part holds the sessions and the webhook URL."""
        return self._read_account(address, private)

    def sessions(self) -> Any:
        """The sessions of this client's account, revoked and expired ones included: device,
        permissions, limits and what is left of them today, last use (a private read)."""
        return self._then(self._read_account(None, True), _private_sessions)

    # ------------------------------------------------------------ sessions

    def grant_session(self, public_key: bytes | str | Account, *, device: str, permissions: Sequence[str],
                      expires_at: int | None = None, expires_in: int | None = None,
                      daily_limit: int | None = None, tx_limit: int | None = None,
                      services: Sequence[str] | None = None, ip_ranges: Sequence[str] | None = None) -> Any:
        """Let the device key ``public_key`` sign for this account with ``permissions`` until
        ``expires_at`` (or for ``expires_in`` seconds), within the limits given."""
        params: dict[str, Any] = {
            "public_key": public_key_bytes(public_key), "device": device,
            "permissions": _listed(permissions, "permissions"),
            "expires_at": expiry(self._now(), expires_at, expires_in),
        }
        optional = {"daily_limit": daily_limit, "tx_limit": tx_limit,
                    "services": _listed(services, "services"), "ip_ranges": _listed(ip_ranges, "ip_ranges")}
        params.update({name: value for name, value in optional.items() if value is not None})
        return self._act("grant_session", **params)

    def revoke_session(self, public_key: bytes | str | Account) -> Any:
        """Revoke the session of ``public_key``: it signs nothing more, queued transactions included."""
        return self._act("revoke_session", public_key=public_key_bytes(public_key))

    def revoke_all_sessions(self) -> Any:
        """The kill switch: revoke every session of this account in one transaction."""
        return self._act("revoke_all_sessions")

    # ------------------------------------------------------------ recovery

    def set_guardians(self, guardians: Sequence[str], threshold: int | None = None,
                      timelock: int = DEFAULT_RECOVERY_TIMELOCK) -> Any:
        """Name the guardians (accounts) of which ``threshold`` may recover this account, after
        ``timelock`` seconds; ``[]`` removes them. A change to existing guardians takes effect
        only after the current time lock."""
        listed = _listed(guardians, "guardians")
        if listed == []:
            return self._act("set_guardians", guardians=[])
        if threshold is None:
            raise UsageError("set_guardians needs a threshold: how many guardians must agree")
        return self._act("set_guardians", guardians=listed, threshold=threshold, timelock=timelock)

    def approve_recovery(self, account: str, new_key: bytes | str | Account) -> Any:
        """As a guardian of ``account``, vote to make ``new_key`` its master key."""
        return self._act("approve_recovery", account=account, new_key=public_key_bytes(new_key, "new_key"))

    def cancel_recovery(self) -> Any:
        """Stop a recovery of this account (the master, during the time lock)."""
        return self._act("cancel_recovery")

    def finalize_recovery(self, account: str) -> Any:
        """Complete the recovery of ``account`` once its time lock ran out (anyone may)."""
        return self._act("finalize_recovery", account=account)

    def set_recovery_key(self, public_key: bytes | str | Account | None, timelock: int | None = None) -> Any:
        """Name the recovery key (None: remove it), which may take the account over after
        announcing it and waiting ``timelock`` seconds (default: the ledger's, 14 days)."""
        params: dict[str, Any] = {"public_key": None if public_key is None else public_key_bytes(public_key)}
        if timelock is not None:
            params["timelock"] = timelock
        return self._act("set_recovery_key", **params)

    def announce_takeover(self, new_key: bytes | str | Account) -> Any:
        """As the recovery key, announce that ``new_key`` becomes the master after the time lock."""
        return self._act("announce_takeover", new_key=public_key_bytes(new_key, "new_key"))

    def cancel_takeover(self) -> Any:
        """Stop an announced takeover (the master)."""
        return self._act("cancel_takeover")

    def finalize_takeover(self) -> Any:
        """As the recovery key, complete an announced takeover once its time lock ran out."""
        return self._act("finalize_takeover")

    def set_webhook(self, url: str | None) -> Any:
        """Have the node post this account's events to ``url`` (None: stop)."""
        return self._act("set_webhook", url=url)


class SyncResults:
    """``_then`` of a sync client: the result is there already."""

    @staticmethod
    def _then(result: T, fn: Callable[[T], U]) -> U:
        return fn(result)


class AsyncResults:
    """``_then`` of an async client: ``fn`` applies once the awaitable is done."""

    @staticmethod
    def _then(result: Any, fn: Callable[[Any], U]) -> Any:
        async def then() -> U:
            return fn(await result)
        return then()


def _private_sessions(info: dict[str, Any]) -> list[dict[str, Any]]:
    return info["private"]["sessions"]  # type: ignore[no-any-return]


def _field(name: str) -> Callable[[dict[str, Any]], Any]:
    def get(info: dict[str, Any]) -> Any:
        return info[name]
    return get


def _listed(values: Sequence[str] | None, name: str) -> list[Any] | None:
    """A list for the ledger (which takes lists), or the garbage as it is for it to refuse."""
    if values is None:
        return None
    if isinstance(values, str):
        raise TransactionError(f"{name} must be a list, not one string")
    return list(values) if isinstance(values, (list, tuple)) else values  # type: ignore[return-value]
