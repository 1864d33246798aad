"""Accounts: Ed25519 keys (checked against RFC 8032), addresses and their parsing."""

from __future__ import annotations

import hashlib

import pytest

import amigos
from amigos.crypto import bech32
from amigos.crypto.keys import (
    ADDRESS_SIZE,
    Account,
    address_bytes,
    address_of,
    format_address,
    is_canonical_address,
    parse_address,
    verify_signature,
)
from amigos.errors import InvalidAddress, UsageError

# RFC 8032, section 7.1, TEST 2 and TEST 3: (secret key = seed, public key, message, signature).
RFC8032 = [
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493


@pytest.mark.parametrize(("seed", "public_key", "message", "signature"), RFC8032)
def test_keys_and_signatures_match_rfc8032(seed: str, public_key: str, message: str, signature: str) -> None:
    account = Account.from_seed(bytes.fromhex(seed))
    assert account.public_key.hex() == public_key
    assert account.sign(bytes.fromhex(message)).hex() == signature
    assert verify_signature(account.public_key, bytes.fromhex(message), bytes.fromhex(signature))


def test_the_sdk_names_of_the_issue() -> None:
    account = amigos.Account.generate()
    again = amigos.Account.from_seed(account.seed)
    assert again == account and again.address == account.address
    assert amigos.Account.generate() != account
    assert account.seed.hex() not in repr(account) and account.address in repr(account)


def test_signatures_verify_only_for_their_key_and_message() -> None:
    alice, bob = Account.from_seed(bytes([1]) * 32), Account.from_seed(bytes([2]) * 32)
    signature = alice.sign(b"pay bob 5")
    assert verify_signature(alice.public_key, b"pay bob 5", signature)
    assert not verify_signature(alice.public_key, b"pay bob 6", signature)
    assert not verify_signature(bob.public_key, b"pay bob 5", signature)
    assert not verify_signature(alice.public_key, b"pay bob 5", signature[:-1])
    assert not verify_signature(alice.public_key[:-1], b"pay bob 5", signature)
    assert not verify_signature(alice.public_key, b"pay bob 5", "ab" * 64)  # type: ignore[arg-type]


def test_malleated_signatures_and_weak_keys_are_refused() -> None:
    alice = Account.from_seed(bytes([1]) * 32)
    signature = alice.sign(b"m")
    s = int.from_bytes(signature[32:], "little")
    assert not verify_signature(alice.public_key, b"m", signature[:32] + (s + GROUP_ORDER).to_bytes(32, "little"))
    # The neutral point as the key, with R = neutral and S = 0, "verifies" any message under a
    # careless check; libsodium refuses small-order keys.
    neutral = bytes([1]) + bytes(31)
    assert not verify_signature(neutral, b"anything", neutral + bytes(32))


def test_address_is_bech32m_of_truncated_sha256() -> None:
    account = Account.from_seed(bytes([1]) * 32)
    raw = hashlib.sha256(account.public_key).digest()[:20]
    assert address_bytes(account.public_key) == raw
    assert account.address == address_of(account.public_key) == bech32.encode_bytes("amigo", raw)
    assert len(account.address) == 44 and account.address.startswith("amigo1")
    assert parse_address(account.address) == raw
    assert parse_address(account.address.upper()) == raw
    assert is_canonical_address(account.address) and not is_canonical_address(account.address.upper())


def refusal(text: object) -> str:
    with pytest.raises(InvalidAddress) as refused:
        parse_address(text)  # type: ignore[arg-type]
    return refused.value.reason


def test_parse_address_says_what_is_wrong() -> None:
    address = Account.from_seed(bytes([1]) * 32).address
    flipped = address[:-1] + ("q" if address[-1] != "q" else "p")
    assert refusal(flipped) == "checksum"
    assert refusal(address[:10] + address[10].upper() + address[11:]) == "mixed-case"
    assert refusal(bech32.encode_bytes("cosmos", bytes(20))) == "prefix"
    assert refusal(bech32.encode_bytes("amigo", bytes(19))) == "length"
    assert refusal(bech32.encode_bytes("amigo", bytes(32))) == "length"
    assert refusal(address.replace("amigo1", "amigo")) in ("separator", "checksum")
    assert refusal(address[:-3]) == "checksum"
    assert refusal(address + "b") == "character"
    assert refusal("") == "separator"
    assert refusal(None) == "type"
    bech32_classic = bech32.encode("amigo", bech32.convert_bits(bytes(20), 8, 5, True), bech32.Variant.BECH32)
    assert refusal(bech32_classic) == "checksum"
    with pytest.raises(InvalidAddress) as refused:
        parse_address(flipped)
    assert "not an Amigos address" in str(refused.value)


def test_format_address_wants_exactly_20_bytes() -> None:
    assert parse_address(format_address(bytes(ADDRESS_SIZE))) == bytes(ADDRESS_SIZE)
    for wrong in (bytes(19), bytes(21), "00" * 20, bytearray(20)):
        with pytest.raises(InvalidAddress):
            format_address(wrong)  # type: ignore[arg-type]


def test_bad_seeds_and_keys_are_usage_errors() -> None:
    for seed in (bytes(31), bytes(33), "00" * 32, None):
        with pytest.raises(UsageError):
            Account.from_seed(seed)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        address_of(bytes(31))
    with pytest.raises(UsageError):
        Account.generate().sign("text")  # type: ignore[arg-type]


def test_worker_processes_do_not_load_libsodium() -> None:
    import subprocess
    import sys

    probe = "import sys, amigos, amigos.vm.worker; print('nacl' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout == "False\n"
