"""Accounts: Ed25519 keys and the addresses derived from them.

An account is named by its **address**, derived from the account's first (master) public key::

    address = bech32m("amigo", SHA-256(master public key)[:20])     # "amigo1" + 38 characters

* *Short and typed*: 44 characters; the ``amigo`` prefix says what the string is, and a string
  with another prefix is refused rather than misread.
* *Checksummed*: bech32m (:mod:`amigos.crypto.bech32`) catches any 4 mistyped characters.
* *Anonymous accounts need no registration step*: a client makes a key, and its address exists
  at once; the first transaction the key signs shows the public key, whose hash is the address.
* *The address stays when keys change*: it names the master key the account was created with.
  Session keys (and, later, a rotated master key) are listed for the account in the ledger and
  sign for the same address.
* 20 bytes is the size of CometBFT's Ed25519 addresses, computed the same way (truncated
  SHA-256 of the key), so the account bytes carry over unchanged to Phase 3's chain. A
  second-preimage attack on 160 bits is out of reach.

Signatures are plain Ed25519 (RFC 8032) over the bytes given, made and checked with PyNaCl
(libsodium), which also refuses non-canonical signatures and small-order keys.
"""

from __future__ import annotations

import nacl.exceptions
import nacl.signing

from ..errors import UsageError
from .address import (  # noqa: F401 - the address functions are part of this module's API
    ADDRESS_PREFIX,
    ADDRESS_SIZE,
    PUBLIC_KEY_SIZE,
    address_bytes,
    address_of,
    check_public_key_size,
    format_address,
    is_canonical_address,
    parse_address,
)

SEED_SIZE = 32
SIGNATURE_SIZE = 64


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is ``public_key``'s Ed25519 signature of ``message``."""
    if type(signature) is not bytes or len(signature) != SIGNATURE_SIZE:
        return False
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
        return False
    return True


class Account:
    """An Ed25519 key pair: the secret that signs for an account.

    >>> alice = Account.from_seed(bytes(32))
    >>> alice.address.startswith("amigo1"), len(alice.public_key), len(alice.sign(b"hi"))
    (True, 32, 64)
    """

    __slots__ = ("_key",)

    def __init__(self, signing_key: nacl.signing.SigningKey) -> None:
        self._key = signing_key

    @classmethod
    def generate(cls) -> Account:
        """A new account from 32 random bytes of the operating system."""
        return cls(nacl.signing.SigningKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Account:
        """The account whose Ed25519 secret seed is ``seed`` (32 bytes, RFC 8032's private key)."""
        if type(seed) is not bytes or len(seed) != SEED_SIZE:
            raise UsageError(f"an account seed is {SEED_SIZE} bytes")
        return cls(nacl.signing.SigningKey(seed))

    @property
    def seed(self) -> bytes:
        """The 32-byte secret: whoever holds it can sign for this key. Keep it in a keystore."""
        return bytes(self._key)

    @property
    def public_key(self) -> bytes:
        return bytes(self._key.verify_key)

    @property
    def address(self) -> str:
        """The address of the account this key is the master key of."""
        return address_of(self.public_key)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        if not isinstance(message, bytes):
            raise UsageError("only bytes can be signed")
        return self._key.sign(message).signature

    def __repr__(self) -> str:  # never show the seed
        return f"Account({self.address})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Account) and self.public_key == other.public_key

    def __hash__(self) -> int:
        return hash(self.public_key)
