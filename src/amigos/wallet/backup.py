"""Backing up a master seed as SLIP-39 shares (Shamir's secret sharing with word lists).

``split_seed(seed, shares=5, threshold=3)`` gives five mnemonics of 33 words; any three of
them give the seed back (:func:`combine_shares`), fewer give nothing about it. An optional
passphrase encrypts the seed before it is split (SLIP-39's own scheme), so the shares alone
are not enough. The shares are standard SLIP-39 (the ``shamir-mnemonic`` reference package),
readable by other SLIP-39 tools.
"""

from __future__ import annotations

from typing import Iterable

import shamir_mnemonic

from ..crypto.keys import SEED_SIZE
from ..errors import UsageError

MAX_SHARES = 16


def split_seed(seed: bytes, *, shares: int, threshold: int, passphrase: str = "") -> list[str]:
    """The mnemonics of ``shares`` shares of ``seed``, any ``threshold`` of which restore it."""
    if type(seed) is not bytes or len(seed) != SEED_SIZE:
        raise UsageError(f"a master seed is {SEED_SIZE} bytes")
    if type(shares) is not int or not 1 <= shares <= MAX_SHARES:
        raise UsageError(f"--shares must be from 1 to {MAX_SHARES}")
    if type(threshold) is not int or not 1 <= threshold <= shares:
        raise UsageError(f"--threshold must be from 1 to the number of shares ({shares})")
    if threshold == 1 and shares > 1:
        raise UsageError("a threshold of 1 would make every share a full copy of the seed: "
                         "use --shares 1, or a threshold of at least 2")
    [group] = shamir_mnemonic.generate_mnemonics(1, [(threshold, shares)], seed, passphrase.encode())
    return group


def combine_shares(mnemonics: Iterable[str], *, passphrase: str = "") -> bytes:
    """The seed the given shares restore (whitespace and case in the words do not matter)."""
    words = [" ".join(m.lower().split()) for m in mnemonics if m.strip()]
    if not words:
        raise UsageError("no shares given")
    try:
        seed = shamir_mnemonic.combine_mnemonics(words, passphrase.encode())
    except shamir_mnemonic.MnemonicError as exc:
        raise UsageError(f"these shares do not restore a seed: {exc}") from None
    if len(seed) != SEED_SIZE:
        raise UsageError(f"these shares hold a {len(seed)}-byte secret, not a {SEED_SIZE}-byte Amigos seed")
    return seed
