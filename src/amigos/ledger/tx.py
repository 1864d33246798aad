"""Transactions: what an account asks the ledger to do, signed over one canonical encoding.

A :class:`Transaction` names the chain, the account, the key that signs (the account's master key
or a session key listed for it), that key's next nonce, a gas limit, an optional expiry and its
messages. :func:`sign` turns it into a :class:`SignedTransaction`, whose bytes are what a node
receives, logs and hashes. ``docs/protocol.md`` writes the byte layout down, with test vectors.

Every value is encoded with :func:`amigos.codec.encode`, as lists of fields in a fixed order::

    signing bytes       = DOMAIN + encode(transaction)
    transaction         = [chain_id, account (20 bytes), public_key (32 bytes), nonce, gas_limit,
                           expires_at (int or None), [message, …]]
    message             = ["deploy", path, source]
                        | ["call", path, function, [arg, …], {name: value, …}]
                        | ["account", action, {name: value, …}]
    signed transaction  = encode([transaction, signature (64 bytes)])
    transaction hash    = SHA-256(signed transaction)

The structure rules (:func:`check_transaction_form`) are the same for a transaction built in
Python, one about to be signed and one decoded from bytes: whatever breaks them raises
:class:`~amigos.errors.TransactionError` (refusal code ``malformed``). Decoding is strict: one
transaction has exactly one encoding, so trailing bytes, a wrong type or size anywhere, or an
encoding over :data:`MAX_TRANSACTION_BYTES` are refused before anything else is looked at.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

from .. import codec
from ..crypto.keys import (
    ADDRESS_SIZE,
    PUBLIC_KEY_SIZE,
    SIGNATURE_SIZE,
    Account,
    format_address,
    is_canonical_address,
    parse_address,
)
from ..errors import CodecError, TransactionError, UsageError
from ..vm.gas import MAX_SOURCE_BYTES
from ..vm.paths import validate_path

DOMAIN = b"amigos/tx/v1\x00"
"""Prefix of the signing bytes: a signature over a transaction can never be taken for a
signature over anything else Amigos keys sign, nor over another version of this format."""
SIGNED_HEADER = bytes((codec.LIST, 2))
"""A signed transaction is a list of two values: the transaction and its signature."""
MAX_TRANSACTION_BYTES = 1 << 20
"""Largest signed transaction, encoded (room for a few sources of MAX_SOURCE_BYTES)."""
MAX_MESSAGES = 64
"""Most messages in one transaction."""
MAX_UINT64 = 2**64 - 1
"""Nonces, gas limits and expiry times are unsigned 64-bit integers (a JavaScript BigInt)."""
MAX_NAME_LENGTH = 128
"""Longest function, keyword-argument or parameter name."""

CHAIN_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
"""A chain id: 1 to 64 characters of lower-case ASCII letters, digits and ``.``, ``_``, ``-``."""
ACCOUNT_ACTION = re.compile(r"[a-z][a-z0-9_]{0,63}")


# --------------------------------------------------------------------------- the messages


@dataclass(frozen=True)
class Deploy:
    """Deploy ``source`` at ``path`` (or upgrade the service there)."""

    path: str
    source: str

    TYPE: ClassVar[str] = "deploy"


@dataclass(frozen=True)
class Call:
    """Call the exported ``function`` of the service at ``path``, sending it ``coins`` AMI from
    the account (the service sees them as ``std.received()``)."""

    path: str
    function: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    coins: int = 0

    TYPE: ClassVar[str] = "call"

    def __post_init__(self) -> None:
        if type(self.args) is list:  # type: ignore[comparison-overlap]  # a convenience
            object.__setattr__(self, "args", tuple(self.args))


@dataclass(frozen=True)
class AccountMessage:
    """An operation on the signing account itself (sessions, key rotation, recovery…).

    A placeholder: the type tag and its shape (an action name and its parameters) are fixed
    now so that encodings stay stable; the ledger defines the actions.
    """

    action: str
    params: dict[str, Any] = field(default_factory=dict)

    TYPE: ClassVar[str] = "account"


Message = Union[Deploy, Call, AccountMessage]
MESSAGE_TYPES: dict[str, type[Deploy] | type[Call] | type[AccountMessage]] = {
    cls.TYPE: cls for cls in (Deploy, Call, AccountMessage)
}


# --------------------------------------------------------------------------- transactions


@dataclass(frozen=True, kw_only=True)
class Transaction:
    """What ``account`` asks for, to be signed by the key ``public_key``.

    ``nonce`` counts the transactions of this key for this account: the first is 1, each next
    one exactly one more. ``expires_at`` (optional) is the last block time, in Unix seconds,
    at which the transaction may still be included.
    """

    chain_id: str
    account: str
    public_key: bytes
    nonce: int
    gas_limit: int
    messages: tuple[Message, ...]
    expires_at: int | None = None

    def __post_init__(self) -> None:
        if type(self.messages) is list:  # type: ignore[comparison-overlap]  # a convenience
            object.__setattr__(self, "messages", tuple(self.messages))

    def signing_bytes(self) -> bytes:
        """The exact bytes the key signs: :data:`DOMAIN` + the encoded transaction."""
        return DOMAIN + self.encoding()

    def encoding(self) -> bytes:
        """The canonical bytes of the transaction (field 0 of a signed transaction). Checked
        and computed once: a transaction is immutable."""
        encoded = self.__dict__.get("_encoding")
        if encoded is None:
            check_transaction_form(self)
            encoded = self.__dict__["_encoding"] = encode_value(transaction_value(self))
        return encoded


@dataclass(frozen=True)
class SignedTransaction:
    """A transaction and its Ed25519 signature: the unit a node receives and logs."""

    tx: Transaction
    signature: bytes

    def encode(self) -> bytes:
        """The canonical bytes of this signed transaction: ``encode([transaction, signature])``,
        whose field 0 is the very bytes that were signed."""
        encoded = self.__dict__.get("_encoded")
        if encoded is None:
            check_signed_form(self)
            encoded = SIGNED_HEADER + self.tx.encoding() + codec.encode(self.signature)
            if len(encoded) > MAX_TRANSACTION_BYTES:
                raise TransactionError(f"the signed transaction is larger than {MAX_TRANSACTION_BYTES} bytes")
            self.__dict__["_encoded"] = encoded
        return encoded

    @classmethod
    def decode(cls, data: bytes) -> SignedTransaction:
        """The signed transaction whose canonical bytes are ``data``; strict."""
        return decode_signed(data)

    @property
    def tx_hash(self) -> bytes:
        """SHA-256 of :meth:`encode`: the name of this transaction in receipts and the log.
        Computed once (kept like the encoding: functools.cached_property takes a lock)."""
        hashed = self.__dict__.get("_hash")
        if hashed is None:
            hashed = self.__dict__["_hash"] = hashlib.sha256(self.encode()).digest()
        return hashed

    def signing_bytes(self) -> bytes:
        return self.tx.signing_bytes()


def sign(tx: Transaction, key: Account) -> SignedTransaction:
    """``tx`` signed by ``key``, which must be the key the transaction names."""
    check_transaction_form(tx)
    if key.public_key != tx.public_key:
        raise UsageError("this key is not the signing key the transaction names (public_key)")
    return SignedTransaction(tx, key.sign(tx.signing_bytes()))


# --------------------------------------------------------------------------- structure rules


def check_transaction_form(tx: object) -> None:
    """Raise :class:`TransactionError` unless ``tx`` is a structurally valid transaction."""
    if type(tx) is not Transaction:
        raise TransactionError("not a Transaction")
    check_chain_id_form(tx.chain_id)
    check_account_form(tx.account)
    check_bytes_field("public_key", tx.public_key, PUBLIC_KEY_SIZE)
    check_uint64("nonce", tx.nonce)
    check_uint64("gas_limit", tx.gas_limit)
    if tx.expires_at is not None:
        check_uint64("expires_at", tx.expires_at)
    check_messages_form(tx.messages)


def check_signed_form(stx: object) -> None:
    """Raise :class:`TransactionError` unless ``stx`` is structurally valid (its size is checked
    when it is encoded)."""
    if type(stx) is not SignedTransaction:
        raise TransactionError("not a SignedTransaction")
    check_transaction_form(stx.tx)
    check_bytes_field("signature", stx.signature, SIGNATURE_SIZE)


def check_chain_id_form(chain_id: object) -> None:
    if type(chain_id) is not str or not CHAIN_ID.fullmatch(chain_id):
        raise TransactionError("chain_id must be 1-64 characters: lower-case letters, digits, '.', '_', '-'")


def check_account_form(account: object) -> None:
    if not is_canonical_address(account):
        raise TransactionError("account must be an address in its canonical form (amigo1…, lower case)")


def check_bytes_field(name: str, value: object, size: int) -> None:
    if type(value) is not bytes or len(value) != size:
        raise TransactionError(f"{name} must be {size} bytes")


def check_uint64(name: str, value: object) -> None:
    if type(value) is not int or not 0 <= value <= MAX_UINT64:
        raise TransactionError(f"{name} must be an int from 0 to 2**64 - 1")


def check_messages_form(messages: object) -> None:
    if type(messages) is not tuple:
        raise TransactionError("messages must be a tuple (or list) of messages")
    if not 1 <= len(messages) <= MAX_MESSAGES:
        raise TransactionError(f"a transaction carries 1 to {MAX_MESSAGES} messages")
    for index, message in enumerate(messages):
        try:
            check_message_form(message)
        except TransactionError as exc:
            raise TransactionError(f"message {index}: {exc.message}") from None


def check_message_form(message: object) -> None:
    if type(message) is Deploy:
        check_path_form(message.path)
        check_source_form(message.source)
    elif type(message) is Call:
        check_path_form(message.path)
        check_name_form("function", message.function)
        if type(message.args) is not tuple:
            raise TransactionError("args must be a tuple (or list)")
        check_named_values("kwargs", message.kwargs)
        check_uint64("coins", message.coins)
    elif type(message) is AccountMessage:
        if type(message.action) is not str or not ACCOUNT_ACTION.fullmatch(message.action):
            raise TransactionError("an account action is a lower-case identifier of 1-64 characters")
        check_named_values("params", message.params)
    else:
        raise TransactionError(f"unknown message type {type(message).__name__}")


def check_path_form(path: object) -> None:
    if type(path) is str and path in _GOOD_PATHS:  # the same few paths come again and again
        return
    try:
        validate_path(path)
    except UsageError as exc:
        raise TransactionError(str(exc)) from None
    if len(_GOOD_PATHS) >= MAX_GOOD_PATHS:
        _GOOD_PATHS.clear()
    _GOOD_PATHS.add(path)  # type: ignore[arg-type]  # validate_path took only a str


_GOOD_PATHS: set[str] = set()
MAX_GOOD_PATHS = 10_000
"""Service paths remembered as well formed (their regular expressions cost more than a lookup)."""


def check_source_form(source: object) -> None:
    if type(source) is not str:
        raise TransactionError("source must be a str")
    try:
        size = len(source.encode("utf-8"))  # strict: no lone surrogates in source code
    except UnicodeEncodeError:
        raise TransactionError("source must be valid Unicode text (no lone surrogates)") from None
    if size > MAX_SOURCE_BYTES:
        raise TransactionError(f"source is larger than {MAX_SOURCE_BYTES} bytes")


def check_name_form(what: str, name: object) -> None:
    if type(name) is not str or not name.isidentifier() or name.startswith("_") or len(name) > MAX_NAME_LENGTH:
        raise TransactionError(f"{what} must be an identifier not starting with '_' (at most {MAX_NAME_LENGTH} characters)")


def check_named_values(what: str, values: object) -> None:
    if type(values) is not dict:
        raise TransactionError(f"{what} must be a dict")
    for name in values:
        check_name_form(f"a name in {what}", name)


# --------------------------------------------------------------------------- to and from values


def message_value(message: Message) -> list[Any]:
    if type(message) is Deploy:
        return [Deploy.TYPE, message.path, message.source]
    if type(message) is Call:
        value = [Call.TYPE, message.path, message.function, list(message.args), message.kwargs]
        return value + [message.coins] if message.coins else value  # no coins: the v1 shape
    if type(message) is AccountMessage:
        return [AccountMessage.TYPE, message.action, message.params]
    raise TransactionError(f"unknown message type {type(message).__name__}")


def transaction_value(tx: Transaction) -> list[Any]:
    return [
        tx.chain_id,
        parse_address(tx.account),
        tx.public_key,
        tx.nonce,
        tx.gas_limit,
        tx.expires_at,
        [message_value(m) for m in tx.messages],
    ]


def signed_value(stx: SignedTransaction) -> list[Any]:
    return [transaction_value(stx.tx), stx.signature]


def encode_value(value: Any) -> bytes:
    try:
        return codec.encode(value, max_bytes=MAX_TRANSACTION_BYTES)
    except CodecError as exc:
        raise TransactionError(f"cannot be encoded: {exc}") from None


def fields_of(value: Any, what: str, count: int) -> list[Any]:
    if type(value) is not list or len(value) != count:
        raise TransactionError(f"{what} must be a list of {count} fields")
    return value


def message_from_value(value: Any) -> Message:
    if type(value) is not list or not value or type(value[0]) is not str:
        raise TransactionError("a message is a list that starts with its type")
    kind = value[0]
    if kind == Deploy.TYPE:
        _, path, source = fields_of(value, "a deploy message", 3)
        return Deploy(path, source)
    if kind == Call.TYPE:
        if len(value) == 6:  # with coins; zero coins are left out, so one call has one encoding
            *fields, coins = value
            if type(coins) is not int or coins == 0:
                raise TransactionError("coins, when present, must be a positive int")
        else:
            fields, coins = value, 0
        _, path, function, args, kwargs = fields_of(fields, "a call message", 5)
        if type(args) is not list:
            raise TransactionError("args must be a list")
        return Call(path, function, tuple(args), kwargs, coins)
    if kind == AccountMessage.TYPE:
        _, action, params = fields_of(value, "an account message", 3)
        return AccountMessage(action, params)
    raise TransactionError(f"unknown message type {kind!r}")


def transaction_from_value(value: Any) -> Transaction:
    chain_id, account, public_key, nonce, gas_limit, expires_at, messages = fields_of(value, "a transaction", 7)
    check_bytes_field("account", account, ADDRESS_SIZE)
    if type(messages) is not list:
        raise TransactionError("messages must be a list")
    return Transaction(
        chain_id=chain_id,
        account=format_address(account),
        public_key=public_key,
        nonce=nonce,
        gas_limit=gas_limit,
        expires_at=expires_at,
        messages=tuple(message_from_value(m) for m in messages),
    )


def decode_signed(data: object) -> SignedTransaction:
    """Strictly decode a signed transaction; :class:`TransactionError` for anything else."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TransactionError("a transaction arrives as bytes")
    data = bytes(data)
    if len(data) > MAX_TRANSACTION_BYTES:
        raise TransactionError(f"a transaction is at most {MAX_TRANSACTION_BYTES} bytes, not {len(data)}")
    if not data:
        raise TransactionError("no bytes")
    try:
        stx = read_usual_call(data)
    except (Unusual, IndexError):
        stx = read_signed(data)
    check_signed_form(stx)
    # ``data`` is the canonical encoding of ``stx`` without encoding it again: codec.decode
    # takes only canonical bytes (minimal varints and ints, no duplicate keys, no trailing
    # bytes), every list here was checked to be a list (a tuple encodes differently), and the
    # one field that changes form, the account, maps its 20 bytes one to one. So the
    # transaction's bytes are ``data`` between the two-item header and the signature (whose
    # 64 bytes encode as 66). tests/test_tx.py re-encodes fuzzed inputs to check this holds.
    stx.tx.__dict__["_encoding"] = data[len(SIGNED_HEADER):-(SIGNATURE_SIZE + 2)]
    stx.__dict__["_encoded"] = data
    return stx


def read_signed(data: bytes) -> SignedTransaction:
    """The signed transaction whose encoding ``data`` is, read the general way: decoded into
    lists first, then each checked to be the field it stands for (its form is checked next)."""
    try:
        value = codec.decode(data)
    except CodecError as exc:
        raise TransactionError(f"not a transaction encoding: {exc}") from None
    body, signature = fields_of(value, "a signed transaction", 2)
    return SignedTransaction(transaction_from_value(body), signature)


class Unusual(Exception):
    """Bytes that :func:`read_usual_call` leaves to :func:`read_signed`."""


_USUAL_START = bytes((codec.LIST, 2, codec.LIST, 7))
_ONE_CALL = bytes((codec.LIST, 1, codec.LIST, 5, codec.STR, len(Call.TYPE))) + Call.TYPE.encode()
_SIGNATURE_FIELD = bytes((codec.BYTES, SIGNATURE_SIZE))
_ARGS_DEPTH = codec.MAX_DEPTH - 4
"""Where a call's args and kwargs sit: in the call, the messages, the transaction, the signed one."""


def read_usual_call(data: bytes) -> SignedTransaction:
    """What :func:`read_signed` reads from ``data``, when it is the usual transaction: one call
    without coins, a short chain id and names, ints with one-byte lengths. Its fields are read
    where they must be, without the generic lists; only the call's args and kwargs are decoded
    as values. Raises :class:`Unusual` (or IndexError) for any other bytes, which the general
    way then reads or refuses. tests/test_tx.py compares both ways on mutated transactions."""
    end = len(data) - len(_SIGNATURE_FIELD) - SIGNATURE_SIZE
    if not data.startswith(_USUAL_START) or data[end:end + 2] != _SIGNATURE_FIELD:
        raise Unusual
    chain_id, pos = _short_str(data, len(_USUAL_START))
    account, pos = _sized_bytes(data, pos, ADDRESS_SIZE)
    public_key, pos = _sized_bytes(data, pos, PUBLIC_KEY_SIZE)
    nonce, pos = _short_int(data, pos)
    gas_limit, pos = _short_int(data, pos)
    expires_at, pos = (None, pos + 1) if data[pos] == codec.NONE else _short_int(data, pos)
    if not data.startswith(_ONE_CALL, pos):
        raise Unusual
    path, pos = _short_str(data, pos + len(_ONE_CALL))
    function, pos = _short_str(data, pos)
    try:
        args, kwargs = codec.decode_sequence(data[pos:end], 2, _ARGS_DEPTH)
    except CodecError:
        raise Unusual from None
    if type(args) is not list:
        raise Unusual
    tx = Transaction(chain_id=chain_id, account=format_address(account), public_key=public_key, nonce=nonce,
                     gas_limit=gas_limit, expires_at=expires_at, messages=(Call(path, function, tuple(args), kwargs),))
    return SignedTransaction(tx, data[end + 2:])


def _short_str(data: bytes, pos: int) -> tuple[str, int]:
    """A str with a one-byte length at ``pos``, and where it ends."""
    if data[pos] != codec.STR or data[pos + 1] >= 0x80:
        raise Unusual
    end = pos + 2 + data[pos + 1]
    try:
        return data[pos + 2:end].decode("utf-8", "surrogatepass"), end
    except UnicodeDecodeError:
        raise Unusual from None


def _sized_bytes(data: bytes, pos: int, size: int) -> tuple[bytes, int]:
    """Bytes of ``size`` (under 128) at ``pos``, and where they end."""
    if data[pos] != codec.BYTES or data[pos + 1] != size:
        raise Unusual
    return data[pos + 2:pos + 2 + size], pos + 2 + size


def _short_int(data: bytes, pos: int) -> tuple[int, int]:
    """A canonical int with a one-byte length at ``pos``, and where it ends."""
    n = data[pos + 1]
    if data[pos] != codec.INT or not 0 < n < 0x80:
        raise Unusual
    value = int.from_bytes(data[pos + 2:pos + 2 + n], "big", signed=True)
    if (value.bit_length() + 8) // 8 != n:
        raise Unusual
    return value, pos + 2 + n
