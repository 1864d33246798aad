"""The state machine: signed transactions (:mod:`.tx`) and the checks they pass before anything
runs (:mod:`.ante`). See docs/protocol.md for the bytes."""

from .ante import AnteState, ante_check, intrinsic_gas
from .tx import AccountMessage, Call, Deploy, SignedTransaction, Transaction, sign

__all__ = [
    "AccountMessage",
    "AnteState",
    "Call",
    "Deploy",
    "SignedTransaction",
    "Transaction",
    "ante_check",
    "intrinsic_gas",
    "sign",
]
