"""Bech32m strings (BIP-350), the checksummed text form of Amigos addresses.

A bech32m string is a *human-readable part* (HRP), the separator ``1``, a data part of 5-bit
values written with the 32-character alphabet :data:`CHARSET`, and a 6-character checksum over
both. The checksum detects any error of up to 4 substituted characters and, unlike the original
bech32 of BIP-173, is not fooled by inserting or deleting ``q`` before a final ``p``.

The rules, each checked by a function named after it:

* the whole string is at most :data:`MAX_LENGTH` (90) characters;
* it is all lower case or all upper case, never mixed (it is read case-insensitively);
* the *last* ``1`` separates the HRP from the data part;
* the HRP is 1 to 83 characters, each US-ASCII 33..126;
* the data part is at least the 6 checksum characters, each from :data:`CHARSET`;
* the checksum verifies with the bech32m constant (0x2bc830a3).

Encoders always write lower case. :class:`Variant` also offers the original bech32 checksum
(constant 1): Amigos never writes it, but it lets the tests check the BIP-173 vectors too.

Bytes travel as 5-bit groups (:func:`convert_bits`): big-endian bit order, the last group
padded with zero bits; a decoder refuses padding of 5 bits or more and non-zero padding.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Iterable, Sequence

from ..errors import Bech32Error

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
"""The 32 data characters; a character's position is the 5-bit value it stands for."""
SEPARATOR = "1"
MAX_LENGTH = 90
"""Longest bech32 string (BIP-173): the checksum's guarantees hold up to this length."""
MAX_HRP_LENGTH = 83
CHECKSUM_LENGTH = 6
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_VALUE_OF = {char: value for value, char in enumerate(CHARSET)}


class Variant(IntEnum):
    """Which checksum: the constant the checksum polynomial must leave."""

    BECH32 = 1
    """BIP-173 (for the tests only: Amigos writes and accepts bech32m)."""
    BECH32M = 0x2BC830A3
    """BIP-350."""


# --------------------------------------------------------------------------- the checksum


def polymod(values: Iterable[int]) -> int:
    """The BCH checksum polynomial of BIP-173, evaluated over 5-bit ``values``."""
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_GENERATOR):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum


def expand_hrp(hrp: str) -> list[int]:
    """The HRP as the checksum sees it: the high bits of each character, 0, the low bits."""
    return [ord(char) >> 5 for char in hrp] + [0] + [ord(char) & 31 for char in hrp]


def create_checksum(hrp: str, data: Sequence[int], variant: Variant = Variant.BECH32M) -> list[int]:
    """The 6 checksum values that make ``hrp`` + ``data`` verify."""
    remainder = polymod(expand_hrp(hrp) + list(data) + [0] * CHECKSUM_LENGTH) ^ variant
    return [(remainder >> 5 * (CHECKSUM_LENGTH - 1 - i)) & 31 for i in range(CHECKSUM_LENGTH)]


def verify_checksum(hrp: str, data_with_checksum: Sequence[int], variant: Variant = Variant.BECH32M) -> None:
    if polymod(expand_hrp(hrp) + list(data_with_checksum)) != variant:
        raise Bech32Error("checksum", "the checksum does not match (a character is wrong or missing)")


# --------------------------------------------------------------------------- the string rules


def check_length(text: str) -> None:
    if len(text) > MAX_LENGTH:
        raise Bech32Error("length", f"a bech32 string is at most {MAX_LENGTH} characters, not {len(text)}")


def check_single_case(text: str) -> None:
    if text.lower() != text and text.upper() != text:
        raise Bech32Error("mixed-case", "a bech32 string is all lower case or all upper case, never mixed")


def split_at_separator(text: str) -> tuple[str, str]:
    """``(hrp, data part)``, split at the last ``1`` (the HRP itself may contain ``1``)."""
    position = text.rfind(SEPARATOR)
    if position < 0:
        raise Bech32Error("separator", "no separator character '1'")
    return text[:position], text[position + 1 :]


def check_hrp(hrp: str) -> None:
    if not hrp:
        raise Bech32Error("prefix", "the human-readable part before '1' is empty")
    if len(hrp) > MAX_HRP_LENGTH:
        raise Bech32Error("prefix", f"the human-readable part is longer than {MAX_HRP_LENGTH} characters")
    for char in hrp:
        if not 33 <= ord(char) <= 126:
            raise Bech32Error("prefix", f"character {char!r} is not allowed in the human-readable part")


def parse_data_part(data_part: str) -> list[int]:
    """The 5-bit values of the data part (checksum included)."""
    if len(data_part) < CHECKSUM_LENGTH:
        raise Bech32Error("checksum", f"the checksum is {CHECKSUM_LENGTH} characters; the data part is shorter")
    values = []
    for char in data_part:
        value = _VALUE_OF.get(char)
        if value is None:
            raise Bech32Error("character", f"character {char!r} is not a bech32 data character")
        values.append(value)
    return values


# --------------------------------------------------------------------------- encode / decode


def encode(hrp: str, data: Sequence[int], variant: Variant = Variant.BECH32M) -> str:
    """The lower-case bech32m string of ``hrp`` and 5-bit ``data`` values."""
    hrp = hrp.lower()
    check_hrp(hrp)
    if any(type(value) is not int or not 0 <= value < 32 for value in data):
        raise Bech32Error("character", "data values must be ints from 0 to 31")
    text = hrp + SEPARATOR + "".join(CHARSET[v] for v in [*data, *create_checksum(hrp, data, variant)])
    check_length(text)
    return text


def decode(text: str, variant: Variant = Variant.BECH32M) -> tuple[str, list[int]]:
    """``(hrp, data)`` of a bech32m string: the HRP in lower case, the 5-bit values without the
    checksum. Raises :class:`~amigos.errors.Bech32Error` naming the rule that was broken."""
    if type(text) is not str:
        raise Bech32Error("type", "a bech32 string must be a str")
    check_length(text)
    check_single_case(text)
    hrp, data_part = split_at_separator(text.lower())
    check_hrp(hrp)
    values = parse_data_part(data_part)
    verify_checksum(hrp, values, variant)
    return hrp, values[:-CHECKSUM_LENGTH]


# --------------------------------------------------------------------------- bytes <-> 5-bit groups


def convert_bits(data: Iterable[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    """Regroup ``data`` from ``from_bits``-bit to ``to_bits``-bit values, most significant first.

    With ``pad`` the last group is filled with zero bits (encoding). Without it (decoding) the
    leftover bits must be fewer than ``from_bits`` and all zero, so that every byte string has
    exactly one 5-bit form.
    """
    accumulator = 0
    bits = 0
    out: list[int] = []
    mask = (1 << to_bits) - 1
    for value in data:
        if value < 0 or value >> from_bits:
            raise Bech32Error("character", f"value {value} does not fit in {from_bits} bits")
        accumulator = (accumulator << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((accumulator >> bits) & mask)
        accumulator &= (1 << bits) - 1  # keep only the bits not yet written
    if pad:
        if bits:
            out.append((accumulator << (to_bits - bits)) & mask)
    elif bits >= from_bits:
        raise Bech32Error("padding", "more padding bits than a partial group can have")
    elif (accumulator << (to_bits - bits)) & mask:
        raise Bech32Error("padding", "the padding bits are not zero")
    return out


def encode_bytes(hrp: str, payload: bytes) -> str:
    """The bech32m string of ``payload`` bytes under ``hrp``."""
    return encode(hrp, convert_bits(payload, 8, 5, pad=True))


def decode_bytes(text: str) -> tuple[str, bytes]:
    """``(hrp, payload)`` of a string written by :func:`encode_bytes`."""
    hrp, data = decode(text)
    return hrp, bytes(convert_bits(data, 5, 8, pad=False))
