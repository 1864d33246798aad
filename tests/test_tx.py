"""Transactions and the ante checks: every refusal has its code, and a refusal changes nothing."""

from __future__ import annotations

import copy
import hashlib
import random
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from amigos import codec
from amigos.ledger import ante
from amigos.crypto.keys import Account, address_of
from amigos.ledger.ante import ante_check, intrinsic_gas
from amigos.errors import REFUSAL_CODES, TransactionError, TransactionRefused, UsageError
from amigos.ledger.tx import (
    DOMAIN,
    MAX_MESSAGES,
    MAX_TRANSACTION_BYTES,
    AccountMessage,
    Call,
    Deploy,
    SignedTransaction,
    Transaction,
    Unusual,
    read_signed,
    read_usual_call,
    sign,
    signed_value,
)
from amigos.vm.gas import MAX_GAS, MAX_SOURCE_BYTES

CHAIN = "amigos-test"
NOW = 1_700_000_000
ALICE = Account.from_seed(bytes([1]) * 32)
ALICE_PHONE = Account.from_seed(bytes([2]) * 32)  # a session key listed for alice
MALLORY = Account.from_seed(bytes([3]) * 32)
COUNTER = "hub.amigos.dev/alice/counter"


class Ledger:
    """The state the ante checks read, as a ledger would keep it."""

    def __init__(self) -> None:
        self.nonces: dict[tuple[str, bytes], int] = {}
        self.listed: set[tuple[str, bytes]] = {(ALICE.address, ALICE_PHONE.public_key)}

    def last_nonce(self, account: str, public_key: bytes) -> int:
        return self.nonces.get((account, public_key), 0)

    def check_signer(self, tx: Transaction, block_time: int) -> None:
        """The master key, or a key listed for the account (the real rules, sessions and
        recovery, are amigos.accounts': tests/test_accounts.py)."""
        if address_of(tx.public_key) != tx.account and (tx.account, tx.public_key) not in self.listed:
            raise TransactionRefused("unknown-key", f"key {tx.public_key.hex()} may not sign for {tx.account}")

    def include(self, stx: SignedTransaction) -> None:
        """What the ledger does once a transaction is in a block: its nonce is used."""
        self.nonces[(stx.tx.account, stx.tx.public_key)] = stx.tx.nonce

    def snapshot(self) -> tuple[dict[tuple[str, bytes], int], set[tuple[str, bytes]]]:
        return copy.deepcopy((self.nonces, self.listed))


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


def make_tx(key: Account = ALICE, **fields: Any) -> Transaction:
    values: dict[str, Any] = {
        "chain_id": CHAIN,
        "account": ALICE.address,
        "public_key": key.public_key,
        "nonce": 1,
        "gas_limit": 1_000_000,
        "messages": (Call(COUNTER, "increment", (2,), {"note": "hi"}),),
    }
    values.update(fields)
    return Transaction(**values)


def signed(key: Account = ALICE, **fields: Any) -> SignedTransaction:
    return sign(make_tx(key, **fields), key)


def check(stx: SignedTransaction | bytes, ledger: Ledger, block_time: int = NOW) -> SignedTransaction:
    return ante_check(stx, chain_id=CHAIN, block_time=block_time, state=ledger)


def refusal(stx: object, ledger: Ledger, block_time: int = NOW) -> str:
    """The code ``stx`` is refused with; the ledger must be as it was."""
    before = ledger.snapshot()
    with pytest.raises(TransactionRefused) as refused:
        check(stx, ledger, block_time)  # type: ignore[arg-type]
    assert ledger.snapshot() == before
    assert refused.value.code in REFUSAL_CODES
    assert refused.value.message and refused.value.code in str(refused.value)
    return refused.value.code


def with_value(stx: SignedTransaction, path: tuple[int, ...], value: Any) -> bytes:
    """The encoding of ``stx`` with the field at ``path`` (indices into its value) replaced."""
    tree = signed_value(stx)
    node = tree
    for index in path[:-1]:
        node = node[index]
    node[path[-1]] = value
    return codec.encode(tree)


# --------------------------------------------------------------------------- signing and encoding


def test_sign_encode_decode_round_trip(ledger: Ledger) -> None:
    messages = (
        Deploy(COUNTER, "count = 0\n"),
        Call(COUNTER, "increment", (1, "x", b"\x00", [1, (2, 3)], {"k": None}, Decimal("1.50")), {"by": True}),
        AccountMessage("add_session", {"key": ALICE_PHONE.public_key}),
    )
    stx = signed(messages=messages, expires_at=NOW + 60, nonce=7, gas_limit=MAX_GAS)
    data = stx.encode()
    again = SignedTransaction.decode(data)
    assert again == stx and again.encode() == data
    assert again.tx.messages == messages
    assert stx.tx_hash == again.tx_hash == hashlib.sha256(data).digest()
    assert stx.signing_bytes().startswith(DOMAIN)
    assert stx.signing_bytes() == DOMAIN + codec.encode(codec.decode(data)[0])
    assert ALICE.sign(stx.signing_bytes()) == stx.signature  # Ed25519 is deterministic


def test_decoding_accepts_only_the_canonical_bytes_of_what_it_decodes() -> None:
    """decode_signed keeps the bytes it was given as the transaction's encoding (it does not
    encode again to compare): any input it accepts, mutated at random or with a tuple where a
    list belongs, must be exactly what a fresh encoding of the decoded transaction gives."""
    messages = (
        Deploy(COUNTER, "count = 0\n"),
        Call(COUNTER, "increment", (-300, 2**70, "é\ud800", b"\x00", [1, (2, 3)], {"k": None}, Decimal("1.50")), {"by": True}),
        Call(COUNTER, "pay", coins=129),
        AccountMessage("add_session", {"key": ALICE_PHONE.public_key}),
    )
    data = signed(messages=messages, expires_at=NOW + 60, nonce=7, gas_limit=MAX_GAS).encode()
    rng = random.Random(4)
    accepted = 0
    for _ in range(4000):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            position = rng.randrange(len(mutated))
            kind = rng.randrange(3)
            if kind == 0:
                mutated[position] = rng.randrange(256)
            elif kind == 1:
                mutated.insert(position, rng.randrange(256))
            else:
                del mutated[position]
        try:
            stx = SignedTransaction.decode(bytes(mutated))
        except TransactionError:
            continue
        accepted += 1
        fresh = SignedTransaction(replace(stx.tx), stx.signature)  # no remembered encoding
        assert fresh.encode() == bytes(mutated)
        assert stx.tx.encoding() == fresh.tx.encoding()
    assert accepted > 100  # the mutations reach values, not only broken framing
    body, signature = codec.decode(data)
    body[-1][1][3] = tuple(body[-1][1][3])  # the call's args as a tuple: encodes differently
    with pytest.raises(TransactionError, match="args must be a list"):
        SignedTransaction.decode(codec.encode([body, signature]))


USUAL_ARGS = [(), (2,), (-128, 2**63, True, None), ("é\ud800", b"\x00" * 200, Decimal("1.50")),
              ([1, (2, [3])], {"k": {1: None}}), ("x" * 130,)]


def usual_calls() -> list[bytes]:
    """Transactions of one call without coins (what read_usual_call reads), of every sort."""
    out = []
    for i, args in enumerate(USUAL_ARGS):
        for chain in (CHAIN, "c" * 64):
            tx = make_tx(chain_id=chain, nonce=[1, 127, 128, 2**64 - 1][i % 4], gas_limit=[MAX_GAS, 5_000][i % 2],
                         expires_at=[None, 0, NOW, 2**63][i % 4],
                         messages=[Call(COUNTER if i % 2 else "hub.amigos.dev/" + "a" * 60 + "/b_c", "increment", args,
                                        [{}, {"by": 1, "note": "é"}][i % 2])])
            out.append(sign(tx, ALICE).encode())
    return out


def same_reading(data: bytes) -> bool:
    """read_usual_call reads what read_signed reads, or leaves the bytes to it (False)."""
    try:
        fast = read_usual_call(data)
    except (Unusual, IndexError):
        return False
    general = read_signed(data)  # it must not refuse what the fast way read
    assert fast == general
    assert codec.encode(signed_value(fast)) == codec.encode(signed_value(general))  # types too: 1 is not True
    return True


def test_the_usual_call_is_read_as_the_general_way_reads_it() -> None:
    transactions = usual_calls()
    for data in transactions:
        assert same_reading(data)  # each is the usual form
    others = [signed(messages=[Call(COUNTER, "pay", coins=5)]), signed(messages=[Deploy(COUNTER, "x = 1\n")]),
              signed(messages=[Call(COUNTER, "a"), Call(COUNTER, "b")]), signed(chain_id="c" * 64, nonce=2**64 - 1)]
    for stx in others[:3]:
        with pytest.raises(Unusual):
            read_usual_call(stx.encode())
    rng = random.Random(5)
    read = 0
    for _ in range(6000):
        mutated = bytearray(rng.choice(transactions))
        for _ in range(rng.randint(1, 3)):
            position = rng.randrange(len(mutated))
            kind = rng.randrange(4)
            if kind == 0:
                mutated[position] = rng.randrange(256)
            elif kind == 1:
                mutated.insert(position, rng.choice([0, 1, 3, 4, 5, 6, 0x7F, 0x80, rng.randrange(256)]))
            elif kind == 2:
                del mutated[position]
            else:
                mutated[position] ^= 1 << rng.randrange(8)
        read += same_reading(bytes(mutated))
    assert read > 1000  # the mutations reach the fields, not only the framing


def test_lists_are_accepted_where_tuples_are_kept() -> None:
    tx = make_tx(messages=[Call(COUNTER, "increment", [1, 2])])
    assert tx.messages == (Call(COUNTER, "increment", (1, 2)),)


def test_valid_transactions_pass_and_return_themselves(ledger: Ledger) -> None:
    stx = signed()
    assert check(stx, ledger) is stx
    assert check(stx.encode(), ledger) == stx
    assert check(bytearray(stx.encode()), ledger) == stx


def test_sign_refuses_another_key() -> None:
    with pytest.raises(UsageError, match="not the signing key"):
        sign(make_tx(ALICE), MALLORY)


def test_refusal_codes_are_stable() -> None:
    from amigos.accounts import sessions

    assert REFUSAL_CODES == (
        ante.MALFORMED, ante.WRONG_CHAIN, ante.EXPIRED, ante.GAS_OUT_OF_BOUNDS,
        ante.BAD_SIGNATURE, ante.UNKNOWN_KEY, sessions.SESSION_EXPIRED, sessions.SESSION_REVOKED,
        sessions.NOT_PERMITTED, sessions.OVER_LIMIT, sessions.FROZEN, ante.BAD_NONCE,
    )
    assert TransactionError("x").code == "malformed"


# --------------------------------------------------------------------------- nonces


def test_replayed_transaction_is_refused(ledger: Ledger) -> None:
    stx = signed()
    ledger.include(check(stx, ledger))
    assert refusal(stx, ledger) == "bad-nonce"
    assert refusal(stx.encode(), ledger) == "bad-nonce"


def test_nonces_are_strictly_sequential_from_one(ledger: Ledger) -> None:
    assert refusal(signed(nonce=0), ledger) == "bad-nonce"
    assert refusal(signed(nonce=2), ledger) == "bad-nonce"  # out of order: 1 comes first
    for nonce in (1, 2, 3):
        ledger.include(check(signed(nonce=nonce), ledger))
    assert refusal(signed(nonce=2), ledger) == "bad-nonce"
    assert refusal(signed(nonce=5), ledger) == "bad-nonce"
    check(signed(nonce=4), ledger)


def test_each_signing_key_counts_its_own_nonces(ledger: Ledger) -> None:
    ledger.include(check(signed(ALICE, nonce=1), ledger))
    ledger.include(check(signed(ALICE, nonce=2), ledger))
    ledger.include(check(signed(ALICE_PHONE, nonce=1), ledger))  # an offline device never collides
    assert refusal(signed(ALICE_PHONE, nonce=1), ledger) == "bad-nonce"
    check(signed(ALICE_PHONE, nonce=2), ledger)
    check(signed(ALICE, nonce=3), ledger)


def test_bad_nonce_messages_say_what_is_next(ledger: Ledger) -> None:
    ledger.include(check(signed(nonce=1), ledger))
    with pytest.raises(TransactionRefused, match="already used.*next is 2"):
        check(signed(nonce=1), ledger)
    with pytest.raises(TransactionRefused, match="ahead.*next nonce 2"):
        check(signed(nonce=3), ledger)


# --------------------------------------------------------------------------- keys and signatures


def test_anonymous_account_needs_no_registration(ledger: Ledger) -> None:
    newcomer = Account.generate()
    stx = signed(newcomer, account=newcomer.address)
    check(stx, ledger)


def test_listed_session_key_signs_for_the_account(ledger: Ledger) -> None:
    check(signed(ALICE_PHONE), ledger)


def test_unlisted_key_is_refused(ledger: Ledger) -> None:
    # Mallory signs correctly with her own key, for alice's account.
    assert refusal(signed(MALLORY), ledger) == "unknown-key"
    ledger.listed.clear()
    assert refusal(signed(ALICE_PHONE), ledger) == "unknown-key"


def test_forged_payload_is_refused(ledger: Ledger) -> None:
    stx = signed()
    for forged in (
        replace(stx, tx=replace(stx.tx, gas_limit=stx.tx.gas_limit + 1)),
        replace(stx, tx=replace(stx.tx, messages=(Call(COUNTER, "increment", (3,), {"note": "hi"}),))),
        replace(stx, tx=replace(stx.tx, account=MALLORY.address)),
        replace(stx, tx=replace(stx.tx, expires_at=NOW)),
    ):
        assert refusal(forged, ledger) == "bad-signature"
        assert refusal(forged.encode(), ledger) == "bad-signature"


def test_swapped_public_key_is_refused(ledger: Ledger) -> None:
    stx = signed()
    assert refusal(replace(stx, tx=replace(stx.tx, public_key=MALLORY.public_key)), ledger) == "bad-signature"
    phone = signed(ALICE_PHONE)
    assert refusal(replace(phone, tx=replace(phone.tx, public_key=ALICE.public_key)), ledger) == "bad-signature"


def test_tampered_signature_is_refused(ledger: Ledger) -> None:
    stx = signed()
    for position in range(64):
        flipped = bytearray(stx.signature)
        flipped[position] ^= 0x01
        assert refusal(replace(stx, signature=bytes(flipped)), ledger) == "bad-signature"
    other = signed(nonce=2)
    assert refusal(replace(stx, signature=other.signature), ledger) == "bad-signature"
    assert refusal(replace(stx, signature=bytes(64)), ledger) == "bad-signature"


def test_every_bit_flip_of_the_encoding_is_refused(ledger: Ledger) -> None:
    data = signed().encode()
    signature_start = len(data) - 64
    for position in range(len(data)):
        for bit in (0x01, 0x80):
            flipped = bytearray(data)
            flipped[position] ^= bit
            code = refusal(bytes(flipped), ledger)
            if position >= signature_start:
                assert code == "bad-signature"


# --------------------------------------------------------------------------- chain, expiry, gas


def test_cross_chain_transaction_is_refused(ledger: Ledger) -> None:
    assert refusal(signed(chain_id="amigos-main"), ledger) == "wrong-chain"
    with pytest.raises(TransactionRefused, match="for chain 'amigos-main', not 'amigos-test'"):
        check(signed(chain_id="amigos-main"), ledger)


def test_expired_transaction_is_refused(ledger: Ledger) -> None:
    assert refusal(signed(expires_at=NOW - 1), ledger) == "expired"
    assert refusal(signed(expires_at=0), ledger) == "expired"
    check(signed(expires_at=NOW), ledger)  # the last block time it may be included at
    check(signed(expires_at=None), ledger)


def test_gas_limit_must_cover_inclusion_and_stay_under_the_maximum(ledger: Ledger) -> None:
    probe = signed(gas_limit=10_000)  # gas limits from 128 to 32767 all encode in 2 bytes
    floor = intrinsic_gas(probe)
    assert floor == ante.TX_BASE_GAS + ante.TX_BYTE_GAS * len(probe.encode()) and 128 < floor < 32767
    assert refusal(signed(gas_limit=floor - 1), ledger) == "gas-out-of-bounds"
    assert refusal(signed(gas_limit=0), ledger) == "gas-out-of-bounds"
    assert refusal(signed(gas_limit=MAX_GAS + 1), ledger) == "gas-out-of-bounds"
    check(signed(gas_limit=floor), ledger)
    check(signed(gas_limit=MAX_GAS), ledger)
    with pytest.raises(TransactionRefused, match="above the maximum of 100000"):
        ante_check(signed(), chain_id=CHAIN, block_time=NOW, state=ledger, max_gas=100_000)


def test_rules_apply_in_their_documented_order(ledger: Ledger) -> None:
    stx = signed(chain_id="other", expires_at=0, gas_limit=1, nonce=9)
    assert refusal(stx, ledger) == "wrong-chain"
    stx = signed(expires_at=0, gas_limit=1, nonce=9)
    assert refusal(stx, ledger) == "expired"
    stx = signed(gas_limit=1, nonce=9)
    assert refusal(stx, ledger) == "gas-out-of-bounds"
    stx = signed(MALLORY, nonce=9)
    assert refusal(replace(stx, signature=bytes(64)), ledger) == "bad-signature"
    assert refusal(stx, ledger) == "unknown-key"


# --------------------------------------------------------------------------- malformed bytes


def test_truncated_at_every_offset_is_malformed(ledger: Ledger) -> None:
    data = signed(expires_at=NOW, messages=(Deploy(COUNTER, "x = 1\n"), Call(COUNTER, "get"))).encode()
    for end in range(len(data)):
        assert refusal(data[:end], ledger) == "malformed", end
        with pytest.raises(TransactionError):
            SignedTransaction.decode(data[:end])


def test_trailing_bytes_are_malformed(ledger: Ledger) -> None:
    data = signed().encode()
    for extra in (b"\x00", b"\x06\x00", data):
        assert refusal(data + extra, ledger) == "malformed"


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x00",
        b"\x06",
        b"\x06\x02",
        b"\x06\xff\xff\xff\xff\x0f",  # a list of 2**32 - 1 items
        b"\x06\x02\x06\xff\xff\xff\xff\xff\xff\xff\xff\x7f",
        b"\x05\xff\xff\xff\xff\xff\xff\xff\xff\x7f" + bytes(10),  # bytes of 2**63 - 1
        b"\x04\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",  # a varint that never ends
        b"\x06\x02" * 40 + b"\x00",  # nested past the codec's depth limit
        b"\x0a\x00",  # a std.Map reference: no such thing in a transaction
        b"\xff" * 300,
    ],
)
def test_garbage_is_malformed(garbage: bytes, ledger: Ledger) -> None:
    assert refusal(garbage, ledger) == "malformed"


def test_random_bytes_are_malformed(ledger: Ledger) -> None:
    rng = random.Random(1234)
    data = signed().encode()
    for _ in range(300):
        size = rng.randrange(0, 400)
        assert refusal(bytes(rng.getrandbits(8) for _ in range(size)), ledger) == "malformed"
    for _ in range(300):  # a valid prefix, then noise
        cut = rng.randrange(0, len(data))
        noise = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 40)))
        with pytest.raises(TransactionRefused):
            check(data[:cut] + noise, ledger)


def test_oversized_bytes_are_refused_before_decoding(ledger: Ledger) -> None:
    assert refusal(b"\x05" + bytes(MAX_TRANSACTION_BYTES), ledger) == "malformed"
    big = "# padding\n" * (MAX_SOURCE_BYTES // 10)
    messages = tuple(Deploy(f"hub.amigos.dev/alice/s{i}", big) for i in range(5))
    stx = replace(signed(), tx=replace(make_tx(), messages=messages))
    assert refusal(stx, ledger) == "malformed"
    with pytest.raises(TransactionError, match="larger than"):
        stx.encode()


def test_non_bytes_are_malformed(ledger: Ledger) -> None:
    for thing in (None, "06", 6, [6], signed().tx):
        assert refusal(thing, ledger) == "malformed"


# --------------------------------------------------------------------------- wrong types and shapes

WRONG_FIELDS: list[tuple[str, Any]] = [
    ("chain_id", 5),
    ("chain_id", ""),
    ("chain_id", "Amigos-Test"),
    ("chain_id", "a" * 65),
    ("account", ALICE.address.upper()),
    ("account", "alice"),
    ("account", bytes(20)),
    ("account", address_of(ALICE.public_key)[:-1] + "x"),
    ("public_key", ALICE.public_key[:31]),
    ("public_key", ALICE.public_key.hex()),
    ("public_key", bytearray(ALICE.public_key)),
    ("nonce", True),
    ("nonce", -1),
    ("nonce", 2**64),
    ("nonce", 1.0),
    ("gas_limit", "1000000"),
    ("gas_limit", None),
    ("expires_at", -5),
    ("expires_at", Decimal(5)),
    ("messages", ()),
    ("messages", (Call(COUNTER, "increment"),) * (MAX_MESSAGES + 1)),
    ("messages", "call"),
    ("messages", ({"type": "call"},)),
    ("messages", (Call("counter", "increment"),)),
    ("messages", (Call(COUNTER, "_private"),)),
    ("messages", (Call(COUNTER, "not an identifier"),)),
    ("messages", (Call(COUNTER, "f", "abc"),)),
    ("messages", (Call(COUNTER, "f", (), {1: 2}),)),
    ("messages", (Call(COUNTER, "f", (), {"x": object()}),)),
    ("messages", (Call(COUNTER, "f", ({1, 2},)),)),
    ("messages", (Deploy(COUNTER, b"x = 1"),)),
    ("messages", (Deploy(COUNTER, "x = '\ud800'"),)),
    ("messages", (Deploy(COUNTER, "#" * (MAX_SOURCE_BYTES + 1)),)),
    ("messages", (AccountMessage("Add-Session"),)),
    ("messages", (AccountMessage("add_session", ["key"]),)),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("name", "value"), WRONG_FIELDS, ids=[f"{n}={v!r:.30}" for n, v in WRONG_FIELDS])
def test_wrong_fields_are_malformed(name: str, value: Any, ledger: Ledger) -> None:
    tx = replace(make_tx(), **{name: value})
    stx = SignedTransaction(tx, bytes(64))
    assert refusal(stx, ledger) == "malformed"
    with pytest.raises(TransactionError):
        sign(tx, ALICE)
    with pytest.raises(TransactionError):
        stx.encode()


def test_wrong_signature_field_is_malformed(ledger: Ledger) -> None:
    stx = signed()
    for signature in (stx.signature[:63], stx.signature + b"\x00", stx.signature.hex(), None):
        assert refusal(replace(stx, signature=signature), ledger) == "malformed"


# Encodings a careless or hostile client could send: (path into the signed value, new value).
WRONG_ENCODINGS: list[tuple[tuple[int, ...], Any]] = [
    ((1,), b"\x00" * 65),  # signature
    ((1,), None),
    ((0, 0), b"amigos-test"),  # chain_id as bytes
    ((0, 1), ALICE.address),  # account as text, not its 20 bytes
    ((0, 1), bytes(21)),
    ((0, 2), bytes(33)),  # public key
    ((0, 3), Decimal(1)),  # nonce
    ((0, 3), True),
    ((0, 4), -1),  # gas limit
    ((0, 5), "never"),  # expires_at
    ((0, 6), ()),  # messages as a tuple
    ((0, 6), []),
    ((0, 6, 0), ("call", COUNTER, "increment", [2], {})),
    ((0, 6, 0), ["transfer", COUNTER]),
    ((0, 6, 0), []),
    ((0, 6, 0), [b"call", COUNTER, "increment", [2], {}]),
    ((0, 6, 0), ["call", COUNTER, "increment", [2]]),
    ((0, 6, 0), ["call", COUNTER, "increment", (2,), {}]),  # args as a tuple
    ((0, 6, 0), ["call", COUNTER, "increment", [2], {}, None]),
    ((0, 6, 0), ["deploy", COUNTER]),
    ((0, 6, 0), ["account", "rotate"]),
]


@pytest.mark.parametrize(("path", "value"), WRONG_ENCODINGS, ids=[f"{p}={v!r:.30}" for p, v in WRONG_ENCODINGS])
def test_wrong_encodings_are_malformed(path: tuple[int, ...], value: Any, ledger: Ledger) -> None:
    data = with_value(signed(), path, value)
    with pytest.raises(TransactionError):
        SignedTransaction.decode(data)
    assert refusal(data, ledger) == "malformed"


def test_outer_shape_must_be_exact(ledger: Ledger) -> None:
    body, signature = signed_value(signed())
    for value in ((body, signature), [body], [body, signature, None], {"tx": body}, [tuple(body), signature],
                  [body[:-1], signature], [body + [None], signature]):
        assert refusal(codec.encode(value), ledger) == "malformed"
