"""AMI balances over a state view: what a call's coins and the native token's transfers move.

Service code pays through ``std.send`` (the machine, metered); the runtime and the ledger
move coins between accounts and services with these functions, outside any service's code.
"""

from __future__ import annotations

from typing import Protocol

from .. import codec
from ..errors import InsufficientFunds, LimitExceeded
from .keys import MAX_AMOUNT, balance as balance_key


class BalanceView(Protocol):
    def get(self, key: bytes) -> bytes | None: ...

    def apply(self, writes: dict[bytes, bytes | None]) -> None: ...


def balance(view: BalanceView, holder: str) -> int:
    raw = view.get(balance_key(holder))
    return 0 if raw is None else codec.decode(raw)


def set_balance(view: BalanceView, holder: str, amount: int) -> None:
    view.apply({balance_key(holder): codec.encode(amount) if amount else None})


def credit(view: BalanceView, holder: str, amount: int) -> None:
    new = balance(view, holder) + amount
    if new > MAX_AMOUNT:
        raise LimitExceeded(f"the balance of {holder} would pass {MAX_AMOUNT} AMI")
    set_balance(view, holder, new)


def debit(view: BalanceView, holder: str, amount: int) -> None:
    have = balance(view, holder)
    if have < amount:
        raise InsufficientFunds(f"{holder} has {have} AMI, {amount} needed")
    set_balance(view, holder, have - amount)


def transfer(view: BalanceView, sender: str, recipient: str, amount: int) -> None:
    """Move ``amount`` from ``sender`` to ``recipient``: both or neither."""
    debit(view, sender, amount)
    try:
        credit(view, recipient, amount)
    except LimitExceeded:
        credit(view, sender, amount)
        raise
