"""Ante checks: the rules a signed transaction must pass before any of its messages runs.

Each rule is a small function that returns nothing or raises
:class:`~amigos.errors.TransactionRefused` with a stable ``code``. They are pure: they read the
ledger through an :class:`AnteState` and change nothing, so a refused transaction leaves no
trace. After a transaction is included, the ledger (not this module) records its nonce as the
last nonce of its key.

:func:`ante_check` applies them in this order — stateless and cheap first, then cryptography,
then what needs the ledger's state (so nothing about an account is revealed to someone who
cannot sign for it):

===========================  =====================  =============================================
rule                         code                   refuses
===========================  =====================  =============================================
check_well_formed            ``malformed``          bytes or fields that are not a transaction
check_chain_id               ``wrong-chain``        a transaction for another chain
check_expiry                 ``expired``            a block time past ``expires_at``
check_gas                    ``gas-out-of-bounds``  a gas limit below the intrinsic gas or too high
check_signature              ``bad-signature``      a signature that is not the key's, over these bytes
check_signer                 ``unknown-key``        a key that may not sign for the account
                             ``session-expired``    a session key past its expiry
                             ``session-revoked``    a revoked session key
                             ``not-permitted``      a message the key's role or session does not allow
                             ``over-limit``         AMI out of the account beyond a session's limits
                             ``frozen``             a session spending while a recovery is pending
check_nonce                  ``bad-nonce``          a nonce that is not the key's last nonce + 1
===========================  =====================  =============================================

``check_signer`` is :func:`amigos.accounts.check_may_sign`: the master key, a device session
within its permissions and limits, or the recovery key for a takeover (docs/accounts.md).
"""

from __future__ import annotations

from typing import Callable, Protocol, cast

from ..crypto.keys import verify_signature
from ..errors import (  # noqa: F401 - the codes of the rules below, named here too
    BAD_NONCE,
    BAD_SIGNATURE,
    EXPIRED,
    GAS_OUT_OF_BOUNDS,
    MALFORMED,
    UNKNOWN_KEY,
    WRONG_CHAIN,
    TransactionRefused,
)
from .tx import SignedTransaction, Transaction, check_signed_form, decode_signed
from ..vm.gas import MAX_GAS, STATE_WRITE_BYTE


MAX_TX_GAS = MAX_GAS
"""Most gas one transaction may ask for: all its messages together get what one call may."""
TX_BASE_GAS = 5_000
"""Gas every transaction costs before its messages run: a signature check (about 60 µs at the
schedule's 30 ns per unit is 2,000) plus reading and writing its key's nonce."""
TX_BYTE_GAS = STATE_WRITE_BYTE
"""Gas per byte of the signed transaction: it is kept in the log for ever, like written state."""


class AnteState(Protocol):
    """What the ante checks read from the ledger."""

    def last_nonce(self, account: str, public_key: bytes) -> int:
        """The nonce of the last included transaction ``public_key`` signed for ``account``;
        0 if there is none."""
        ...

    def check_signer(self, tx: Transaction, block_time: int) -> None:
        """Raise :class:`TransactionRefused` unless ``tx.public_key`` may sign ``tx`` for
        ``tx.account`` at ``block_time``: its role (master, session, recovery key), and a
        session's permissions and limits."""
        ...


def intrinsic_gas(stx: SignedTransaction) -> int:
    """Gas a transaction costs before its messages run; its gas limit must cover it."""
    return TX_BASE_GAS + TX_BYTE_GAS * len(stx.encode())


# --------------------------------------------------------------------------- the rules


def check_well_formed(stx: object) -> None:
    """Every field has its type and size, the messages their shape, the encoding fits."""
    check_signed_form(stx)
    cast(SignedTransaction, stx).encode()  # refuses an encoding larger than MAX_TRANSACTION_BYTES, or args it cannot encode


def check_chain_id(tx: Transaction, chain_id: str) -> None:
    """The transaction is for this chain (so it cannot be replayed on another)."""
    if tx.chain_id != chain_id:
        raise TransactionRefused(WRONG_CHAIN, f"this transaction is for chain {tx.chain_id!r}, not {chain_id!r}")


def check_expiry(tx: Transaction, block_time: int) -> None:
    """A transaction with ``expires_at`` is valid in blocks whose time is at most that."""
    if tx.expires_at is not None and block_time > tx.expires_at:
        raise TransactionRefused(EXPIRED, f"this transaction expired at {tx.expires_at} (block time is {block_time})")


def check_gas(stx: SignedTransaction, max_gas: int = MAX_TX_GAS) -> None:
    """The gas limit covers the intrinsic gas and is at most ``max_gas``."""
    gas_limit = stx.tx.gas_limit
    floor = intrinsic_gas(stx)
    if gas_limit < floor:
        raise TransactionRefused(
            GAS_OUT_OF_BOUNDS, f"gas limit {gas_limit} is below the {floor} gas this transaction costs to include"
        )
    if gas_limit > max_gas:
        raise TransactionRefused(GAS_OUT_OF_BOUNDS, f"gas limit {gas_limit} is above the maximum of {max_gas}")


def check_signature(stx: SignedTransaction, verdict: bool | None = None) -> None:
    """The signature is the Ed25519 signature of the signing bytes by the named public key.
    ``verdict`` is that check made beforehand (by :mod:`amigos.node.verifier`), if it was."""
    if verdict is None:
        verdict = verify_signature(stx.tx.public_key, stx.tx.signing_bytes(), stx.signature)
    if not verdict:
        raise TransactionRefused(BAD_SIGNATURE, "the signature does not match the transaction and its public key")


def check_signer(tx: Transaction, state: AnteState, block_time: int) -> None:
    """The signing key may sign this transaction for the account: its master key (at first the
    key the address derives from: this is how an anonymous account's first transaction
    registers it), a live session whose permissions and limits cover every message, or its
    recovery key announcing or finalising a takeover."""
    state.check_signer(tx, block_time)


def check_nonce(tx: Transaction, state: AnteState) -> None:
    """The nonce is exactly one more than the last nonce of this key for this account (the
    first is 1): no replay, no gap, no reordering."""
    expected = state.last_nonce(tx.account, tx.public_key) + 1
    if tx.nonce < expected:
        raise TransactionRefused(BAD_NONCE, f"nonce {tx.nonce} was already used by this key (next is {expected})")
    if tx.nonce > expected:
        raise TransactionRefused(BAD_NONCE, f"nonce {tx.nonce} is ahead of this key's next nonce {expected}")


# --------------------------------------------------------------------------- all of them


def ante_check(
    stx: SignedTransaction | bytes,
    *,
    chain_id: str,
    block_time: int,
    state: AnteState,
    max_gas: int = MAX_TX_GAS,
    admitted: bool = False,
    signature_verdict: Callable[[], bool] | None = None,
) -> SignedTransaction:
    """Apply every rule in order to ``stx`` (or to the bytes of one, decoded strictly) for a
    block of ``chain_id`` at ``block_time``; return the transaction or raise the first refusal.
    ``admitted`` skips the first rule, which admission (:func:`amigos.node.sequencer.admit_statelessly`)
    applied already to a transaction this process decoded from its bytes.
    ``signature_verdict`` gives the result of a signature check started beforehand, when the
    rules reach it."""
    if not isinstance(stx, SignedTransaction):
        stx = decode_signed(stx)  # decoding strictly is the first rule
    elif not admitted:
        check_well_formed(stx)
    tx = stx.tx
    check_chain_id(tx, chain_id)
    check_expiry(tx, block_time)
    check_gas(stx, max_gas)
    check_signature(stx, None if signature_verdict is None else signature_verdict())
    check_signer(tx, state, block_time)
    check_nonce(tx, state)
    return stx
