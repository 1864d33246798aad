"""bech32m against the test vectors of BIP-173 and BIP-350 (copied from the BIPs' text)."""

from __future__ import annotations

import pytest

from amigos.crypto import bech32
from amigos.crypto.bech32 import Variant
from amigos.errors import Bech32Error

# BIP-350, "Test vectors for Bech32m": valid strings.
VALID_BECH32M = [
    "A1LQFN3A",
    "a1lqfn3a",
    "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
    "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
    "11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr8",
    "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
    "?1v759aa",
]

# BIP-350: invalid bech32m strings, with the reason the BIP gives and the rule we name.
INVALID_BECH32M = [
    ("\x20" + "1xj0phk", "HRP character out of range", "prefix"),
    ("\x7f" + "1g6xzxy", "HRP character out of range", "prefix"),
    ("\x80" + "1vctc34", "HRP character out of range", "prefix"),
    (
        "an84characterslonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11d6pts4",
        "overall max length exceeded",
        "length",
    ),
    ("qyrz8wqd2c9m", "No separator character", "separator"),
    ("1qyrz8wqd2c9m", "Empty HRP", "prefix"),
    ("y1b0jsk6g", "Invalid data character", "character"),
    ("lt1igcx5c0", "Invalid data character", "character"),
    ("in1muywd", "Too short checksum", "checksum"),
    ("mm1crxm3i", "Invalid character in checksum", "character"),
    ("au1s5cgom", "Invalid character in checksum", "character"),
    ("M1VUXWEZ", "checksum calculated with uppercase form of HRP", "checksum"),
    ("16plkw9", "empty HRP", "prefix"),
    ("1p2gdwpf", "empty HRP", "prefix"),
]

# BIP-173, "Test vectors": valid bech32 strings. BIP-350: no string is valid as both, so these
# are invalid bech32m strings too.
VALID_BECH32 = [
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
]

# BIP-173: invalid bech32 strings. None of them is valid bech32m either.
INVALID_BECH32 = [
    ("\x20" + "1nwldj5", "HRP character out of range", "prefix"),
    ("\x7f" + "1axkwrx", "HRP character out of range", "prefix"),
    ("\x80" + "1eym55h", "HRP character out of range", "prefix"),
    (
        "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",
        "overall max length exceeded",
        "length",
    ),
    ("pzry9x0s0muk", "No separator character", "separator"),
    ("1pzry9x0s0muk", "Empty HRP", "prefix"),
    ("x1b4n0q5v", "Invalid data character", "character"),
    ("li1dgmt3", "Too short checksum", "checksum"),
    ("de1lg7wt" + "\xff", "Invalid character in checksum", "character"),
    ("A1G7SGD8", "checksum calculated with uppercase form of HRP", "checksum"),
    ("10a06t8", "empty HRP", "prefix"),
    ("1qzzfhee", "empty HRP", "prefix"),
]

# BIP-350, "Test vectors for v0-v16 native segregated witness addresses": the bech32m ones
# (witness version 1 and up), as (address, witness version, witness program hex). They check the
# 5-bit to 8-bit regrouping on real data.
VALID_SEGWIT_BECH32M = [
    (
        "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
        1,
        "751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6",
    ),
    ("BC1SW50QGDZ25J", 16, "751e"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", 2, "751e76e8199196d454941c45d1b3a323"),
    (
        "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
        1,
        "000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    ),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        1,
        "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
    ),
]

# BIP-350 invalid segwit addresses whose fault lies in the bech32m layer (the others break
# segwit-only rules: witness versions and program lengths).
INVALID_SEGWIT_BECH32M = [
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", "Bech32 instead of Bech32m", "checksum"),
    ("tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf", "Bech32 instead of Bech32m", "checksum"),
    ("BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL", "Bech32 instead of Bech32m", "checksum"),
    ("bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4", "Invalid character in checksum", "character"),
    ("tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq", "Mixed case", "mixed-case"),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf", "zero padding of more than 4 bits", "padding"),
    ("tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j", "Non-zero padding in 8-to-5 conversion", "padding"),
]


def witness_program(address: str) -> tuple[str, int, bytes]:
    hrp, data = bech32.decode(address)
    return hrp, data[0], bytes(bech32.convert_bits(data[1:], 5, 8, pad=False))


@pytest.mark.parametrize("text", VALID_BECH32M)
def test_valid_bech32m_decodes_and_reencodes(text: str) -> None:
    hrp, data = bech32.decode(text)
    assert bech32.encode(hrp, data) == text.lower()


@pytest.mark.parametrize("text", VALID_BECH32)
def test_valid_bech32_is_valid_only_as_bech32(text: str) -> None:
    hrp, data = bech32.decode(text, Variant.BECH32)
    assert bech32.encode(hrp, data, Variant.BECH32) == text.lower()
    with pytest.raises(Bech32Error) as refused:
        bech32.decode(text)
    assert refused.value.reason == "checksum"


@pytest.mark.parametrize("text", VALID_BECH32M)
def test_valid_bech32m_is_not_bech32(text: str) -> None:
    with pytest.raises(Bech32Error, match="checksum"):
        bech32.decode(text, Variant.BECH32)


@pytest.mark.parametrize(("text", "why", "reason"), INVALID_BECH32M, ids=[v[1] for v in INVALID_BECH32M])
def test_invalid_bech32m_is_refused_for_its_reason(text: str, why: str, reason: str) -> None:
    with pytest.raises(Bech32Error) as refused:
        bech32.decode(text)
    assert refused.value.reason == reason


@pytest.mark.parametrize(("text", "why", "reason"), INVALID_BECH32, ids=[v[1] for v in INVALID_BECH32])
def test_invalid_bech32_is_refused_in_both_variants(text: str, why: str, reason: str) -> None:
    for variant in Variant:
        with pytest.raises(Bech32Error) as refused:
            bech32.decode(text, variant)
        assert refused.value.reason == reason


@pytest.mark.parametrize(("address", "version", "program"), VALID_SEGWIT_BECH32M)
def test_segwit_vectors_regroup_to_their_programs(address: str, version: int, program: str) -> None:
    hrp, got_version, got_program = witness_program(address)
    assert (hrp, got_version, got_program.hex()) == (address[:2].lower(), version, program)
    data = [version, *bech32.convert_bits(bytes.fromhex(program), 8, 5, pad=True)]
    assert bech32.encode(hrp, data) == address.lower()


@pytest.mark.parametrize(("address", "why", "reason"), INVALID_SEGWIT_BECH32M, ids=[v[1] for v in INVALID_SEGWIT_BECH32M])
def test_invalid_segwit_vectors_fail_in_the_bech32m_layer(address: str, why: str, reason: str) -> None:
    with pytest.raises(Bech32Error) as refused:
        witness_program(address)
    assert refused.value.reason == reason


def test_every_single_character_substitution_is_detected() -> None:
    text = bech32.encode_bytes("amigo", bytes(range(20)))
    for position in range(len("amigo1"), len(text)):
        for char in bech32.CHARSET:
            if char != text[position]:
                with pytest.raises(Bech32Error, match="checksum"):
                    bech32.decode(text[:position] + char + text[position + 1 :])


def test_bytes_round_trip_for_every_length() -> None:
    for size in range(49):  # 48 bytes is the most that fits in 90 characters after "amigo1"
        payload = bytes((i * 37 + size) % 256 for i in range(size))
        text = bech32.encode_bytes("amigo", payload)
        assert bech32.decode_bytes(text) == ("amigo", payload)
        assert bech32.decode_bytes(text.upper()) == ("amigo", payload)


def test_encode_refuses_what_it_cannot_write() -> None:
    with pytest.raises(Bech32Error):
        bech32.encode("amigo", [32])
    with pytest.raises(Bech32Error):
        bech32.encode("", [])
    with pytest.raises(Bech32Error, match="at most 90"):
        bech32.encode_bytes("amigo", bytes(60))
    with pytest.raises(Bech32Error) as refused:
        bech32.decode(b"a1lqfn3a")  # type: ignore[arg-type]
    assert refused.value.reason == "type"
