"""AMI, the native token: balances, transfers and staking.

Amounts are integers of base units, at most :data:`MAX_AMOUNT` (an unsigned 64-bit integer, so
a JavaScript wallet holds them in a BigInt). Accounts and services both hold AMI, each under its
address (:func:`~amigos.accounts.state.service_address` for a service).

Staking moves AMI from the balance to the stake. Unstaking starts an unbonding: the amount is
paid back to the balance by the first block whose time is at least :data:`UNBONDING_PERIOD`
later (:func:`release_unbonded`, run at the start of every block).
"""

from __future__ import annotations

from .. import codec
from ..errors import InsufficientFunds
from ..vm.bank import balance, credit, debit, transfer  # noqa: F401 - the token's transfers
from ..vm.keys import MAX_AMOUNT  # noqa: F401
from .state import (
    UNBONDING_QUEUE_PREFIX,
    View,
    read,
    split_unbonding_queue_key,
    stake_key,
    unbonding_key,
    unbonding_prefix,
    unbonding_queue_key,
    write,
)

SYMBOL = "AMI"
UNBONDING_PERIOD = 21 * 24 * 3600
"""Seconds between an unstake and the block that pays it back."""
RELEASES_PER_BLOCK = 1_000
"""Most unbondings one block pays back; the rest wait for the next block (bounded work)."""


def staked(view: View, address: str) -> int:
    return read(view, stake_key(address)) or 0


def unbonding(view: View, address: str) -> list[tuple[int, int]]:
    """``(release time, amount)`` of each unbonding of ``address``, soonest first."""
    prefix = unbonding_prefix(address)
    return [(int.from_bytes(key[len(prefix):], "big"), codec.decode(value)) for key, value in view.scan(prefix)]


def stake(view: View, address: str, amount: int) -> None:
    debit(view, address, amount)
    write(view, stake_key(address), staked(view, address) + amount)


def unstake(view: View, address: str, amount: int, now: int) -> int:
    """Start unbonding ``amount`` of the stake; return the block time it is paid back at."""
    have = staked(view, address)
    if have < amount:
        raise InsufficientFunds(f"{address} has {have} {SYMBOL} staked, {amount} to unstake")
    write(view, stake_key(address), have - amount or None)
    release = now + UNBONDING_PERIOD
    key = unbonding_key(address, release)
    write(view, key, (read(view, key) or 0) + amount)
    write(view, unbonding_queue_key(release, address), 1)
    return release


def release_unbonded(view: View, now: int) -> None:
    """Pay back every unbonding due at block time ``now`` (up to RELEASES_PER_BLOCK, oldest
    first). Every block runs this, so it reads the queue one entry at a time: a block with
    nothing due reads one row, however long the queue."""
    for _ in range(RELEASES_PER_BLOCK):
        due = view.scan(UNBONDING_QUEUE_PREFIX, limit=1)
        if not due:
            return
        queue_key = due[0][0]
        release, address = split_unbonding_queue_key(queue_key)
        if release > now:
            return
        key = unbonding_key(address, release)
        amount = read(view, key)
        view.apply({queue_key: None, key: None})
        credit(view, address, amount)

