"""Wallet tools: SLIP-39 backups of a master seed, payment request URIs and their QR codes."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from amigos.crypto.keys import Account
from amigos.errors import UsageError
from amigos.wallet import PaymentRequest, combine_shares, parse_payment_uri, qr_svg, qr_terminal, save_qr, split_seed

SEED = bytes(range(32))
ALICE = Account.from_seed(SEED).address


# --------------------------------------------------------------------------- SLIP-39


def test_any_threshold_of_shares_restores_the_seed() -> None:
    shares = split_seed(SEED, shares=5, threshold=3)
    assert len(shares) == 5 and all(len(s.split()) == 33 for s in shares)
    for chosen in itertools.combinations(shares, 3):
        assert combine_shares(chosen) == SEED
    assert combine_shares([s.upper() + "  \n" for s in shares[1:4]]) == SEED  # case and spacing


def test_fewer_shares_restore_nothing() -> None:
    shares = split_seed(SEED, shares=5, threshold=3)
    with pytest.raises(UsageError, match="do not restore"):
        combine_shares(shares[:2])


def test_a_passphrase_is_needed_to_get_the_same_seed_back() -> None:
    shares = split_seed(SEED, shares=3, threshold=2, passphrase="correct horse")
    assert combine_shares(shares[:2], passphrase="correct horse") == SEED
    # SLIP-39 by design gives *a* seed for any passphrase (no oracle for guessing): another one.
    assert combine_shares(shares[:2], passphrase="wrong") != SEED


def test_shares_from_different_backups_do_not_mix() -> None:
    a = split_seed(SEED, shares=3, threshold=2)
    b = split_seed(SEED, shares=3, threshold=2)
    with pytest.raises(UsageError, match="do not restore"):
        combine_shares([a[0], b[1]])


@pytest.mark.parametrize("shares", [
    [],
    ["   "],
    ["not a share at all"],
    ["academic " * 33],
])
def test_garbage_shares_are_refused(shares: list[str]) -> None:
    with pytest.raises(UsageError):
        combine_shares(shares)


def test_a_share_with_one_word_changed_is_caught_by_its_checksum() -> None:
    shares = split_seed(SEED, shares=3, threshold=2)
    words = shares[0].split()
    words[10] = "academic" if words[10] != "academic" else "acid"
    with pytest.raises(UsageError, match="do not restore"):
        combine_shares([" ".join(words), shares[1]])


@pytest.mark.parametrize("kwargs, message", [
    ({"shares": 0, "threshold": 1}, "--shares"),
    ({"shares": 17, "threshold": 2}, "--shares"),
    ({"shares": 3, "threshold": 4}, "--threshold"),
    ({"shares": 3, "threshold": 1}, "full copy"),
])
def test_split_rules(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        split_seed(SEED, **kwargs)


def test_only_a_32_byte_seed_is_split() -> None:
    with pytest.raises(UsageError):
        split_seed(b"short", shares=3, threshold=2)


# --------------------------------------------------------------------------- payment requests


def test_a_request_round_trips_through_its_uri() -> None:
    request = PaymentRequest(ALICE, 2500, memo="Lunch on Friday — 🌮 & co?", expires_at=1_767_225_600, chain_id="amigos-main")
    uri = request.uri()
    assert uri.startswith(f"amigos:{ALICE}?amount=2500&memo=Lunch%20on%20Friday")
    assert parse_payment_uri(uri) == request
    assert parse_payment_uri(f"amigos:{ALICE}?amount=1") == PaymentRequest(ALICE, 1)


def test_an_upper_case_address_reads_as_the_canonical_one() -> None:
    assert parse_payment_uri(f"AMIGOS:{ALICE.upper()}?amount=7").recipient == ALICE


def test_expiry() -> None:
    request = PaymentRequest(ALICE, 1, expires_at=100)
    assert not request.is_expired(100) and request.is_expired(101)


@pytest.mark.parametrize("uri, message", [
    ("bitcoin:abc?amount=1", "starts with"),
    (f"amigos:{ALICE}", "no amount"),
    (f"amigos:{ALICE}?amount=0", "from 1"),
    (f"amigos:{ALICE}?amount=-1", "whole number"),
    (f"amigos:{ALICE}?amount=1.5", "whole number"),
    (f"amigos:{ALICE}?amount=007", "whole number"),
    (f"amigos:{ALICE}?amount=١٢", "whole number"),
    (f"amigos:{ALICE}?amount={2**64}", "from 1"),
    (f"amigos:{ALICE}?amount=1&amount=2", "twice"),
    (f"amigos:{ALICE}?amount=1&label=x", "unknown parameter"),
    (f"amigos:{ALICE}?amount=1&memo=%FF", "UTF-8"),
    (f"amigos:{ALICE}?amount=1&memo=a%0Ab", "printable"),
    (f"amigos:{ALICE}?amount=1&chain=Not_A_Chain", "chain id"),
    (f"amigos:{ALICE}?amount", "name=value"),
    (f"amigos:{ALICE[:-1]}x?amount=1", "not an address"),
    ("amigos:?amount=1", "not an address"),
    (f"amigos:{ALICE}?amount=1&memo=" + "x" * 300, "memo"),
    ("amigos:" + "x" * 5000, "at most"),
])
def test_garbage_requests_are_refused(uri: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_payment_uri(uri)


def test_qr_codes(tmp_path: Path) -> None:
    uri = PaymentRequest(ALICE, 2500, memo="lunch").uri()
    drawing = qr_terminal(uri)
    assert len(drawing.splitlines()) > 10 and set(drawing) & {"█", "▀", "▄"}
    ET.fromstring(qr_svg(uri))  # well-formed SVG
    save_qr(uri, tmp_path / "pay.png")
    assert (tmp_path / "pay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    save_qr(uri, tmp_path / "pay.svg")
    assert (tmp_path / "pay.svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(UsageError, match=".png or .svg"):
        save_qr(uri, tmp_path / "pay.gif")
