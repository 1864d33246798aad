"""Accounts: who may sign for an account, the native token, and getting an account back.

* :mod:`.token` — AMI balances, transfers, staking and unbonding.
* :mod:`.sessions` — device sessions: permissions, spending limits, revocation.
* :mod:`.recovery` — guardians (social recovery) and the time-locked recovery key.
* :mod:`.actions` — the ``AccountMessage`` actions, who may sign each, and the signing rules
  the ledger applies before a transaction runs.

All of it is state in the node's store (:mod:`.state` has the layout), changed only by signed
transactions, so every rule is in the log and replays identically.
"""

from .actions import ACTION_GAS, ACTIONS, Signer, apply_action, check_may_sign, identify_signer, outgoing_coins
from .sessions import PERMISSIONS, Session
from .sessions import record_use as record_session_use
from .state import service_address
from .token import MAX_AMOUNT, SYMBOL, UNBONDING_PERIOD, balance, release_unbonded, staked

__all__ = [
    "ACTION_GAS",
    "ACTIONS",
    "MAX_AMOUNT",
    "PERMISSIONS",
    "SYMBOL",
    "Session",
    "Signer",
    "UNBONDING_PERIOD",
    "apply_action",
    "balance",
    "check_may_sign",
    "identify_signer",
    "outgoing_coins",
    "record_session_use",
    "release_unbonded",
    "service_address",
    "staked",
]
