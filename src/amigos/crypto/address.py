"""Account addresses: ``amigo1…``, the bech32m text of 20 bytes (see :mod:`.keys` for why).

Pure Python, without libsodium, so that confined worker processes can name accounts and
services too.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from . import bech32
from ..errors import Bech32Error, InvalidAddress, UsageError

ADDRESS_PREFIX = "amigo"
"""The human-readable part of every account address."""
ADDRESS_SIZE = 20
"""Bytes of an address: the first 20 bytes of SHA-256 of the master public key."""
PUBLIC_KEY_SIZE = 32


def check_public_key_size(public_key: object) -> None:
    if type(public_key) is not bytes or len(public_key) != PUBLIC_KEY_SIZE:
        raise UsageError(f"an Ed25519 public key is {PUBLIC_KEY_SIZE} bytes")


def address_bytes(public_key: bytes) -> bytes:
    """The 20 bytes that name the account whose master key is ``public_key``."""
    check_public_key_size(public_key)
    return hashlib.sha256(public_key).digest()[:ADDRESS_SIZE]


def address_of(public_key: bytes) -> str:
    """The ``amigo1…`` address of the account whose master key is ``public_key``."""
    return format_address(address_bytes(public_key))


def format_address(raw: bytes) -> str:
    """The ``amigo1…`` text of 20 address bytes."""
    if type(raw) is not bytes or len(raw) != ADDRESS_SIZE:
        raise InvalidAddress("length", f"an address is {ADDRESS_SIZE} bytes")
    return _format_address(raw)


# Nodes check the same few addresses over and over; the checksum is pure Python, so both
# directions remember their recent answers (errors are not remembered).
@lru_cache(maxsize=4096)
def _format_address(raw: bytes) -> str:
    return bech32.encode_bytes(ADDRESS_PREFIX, raw)


def parse_address(text: str) -> bytes:
    """The 20 bytes of an ``amigo1…`` address; :class:`~amigos.errors.InvalidAddress` otherwise.

    All-upper-case addresses are accepted (bech32 allows them, for QR codes); mixed case is not.
    """
    if type(text) is not str:
        raise InvalidAddress("type", "an address is a str")
    return _parse_address(text)


@lru_cache(maxsize=4096)
def _parse_address(text: str) -> bytes:
    try:
        prefix, raw = bech32.decode_bytes(text)
    except Bech32Error as exc:
        raise InvalidAddress(exc.reason, f"not an Amigos address: {exc.message}") from None
    if prefix != ADDRESS_PREFIX:
        raise InvalidAddress("prefix", f"an account address starts with {ADDRESS_PREFIX}1, not {prefix}1")
    if len(raw) != ADDRESS_SIZE:
        raise InvalidAddress("length", f"an account address holds {ADDRESS_SIZE} bytes, not {len(raw)}")
    return raw


def is_canonical_address(text: object) -> bool:
    """Whether ``text`` is an address in the one form Amigos writes (lower case)."""
    if type(text) is not str:
        return False
    try:
        return format_address(parse_address(text)) == text
    except InvalidAddress:
        return False
