"""The state machine: signed transactions (:mod:`.tx`), the checks they pass before anything
runs (:mod:`.ante`), and blocks of them applied to a runtime with every receipt a leaf of the
transparent log (:mod:`.block`). See docs/protocol.md for the bytes.

The path of a transaction: ``Ledger.apply_block`` → ``ante_check`` → ``LocalRuntime.call`` /
``deploy_metered`` (→ ``Machine.execute`` → the store) → a receipt leaf and a signed tree head.
"""

from .ante import AnteState, ante_check, intrinsic_gas
from .block import BlockResult, Ledger, LogMismatch, SignedTreeHead, TreeHead, TxReceipt, replay
from .tx import AccountMessage, Call, Deploy, SignedTransaction, Transaction, sign

__all__ = [
    "AccountMessage",
    "AnteState",
    "BlockResult",
    "Ledger",
    "LogMismatch",
    "SignedTreeHead",
    "TreeHead",
    "TxReceipt",
    "replay",
    "Call",
    "Deploy",
    "SignedTransaction",
    "Transaction",
    "ante_check",
    "intrinsic_gas",
    "sign",
]
