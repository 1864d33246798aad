"""One exception hierarchy for all of Amigos.

Two families:

* :class:`DeployError` and other :class:`AmigosError` subclasses are raised to the host
  (the embedding program, the CLI, the node) when a request itself is wrong.
* :class:`ExecutionError` subclasses describe why a call failed. A call returns them inside
  its receipt (``receipt.error``) instead of raising; a read-only query raises them.

Every execution error has a stable ``type`` string (the class name) that receipts, the JSON
output of the CLI and the HTTP API carry unchanged.
"""

from __future__ import annotations


class AmigosError(Exception):
    """Base class of every error Amigos raises on purpose."""


class UsageError(AmigosError):
    """A request to the runtime is malformed: a bad path, an unknown option, bad arguments."""


class StoreError(AmigosError):
    """The state store is unreadable or corrupt."""


class SandboxUnavailable(AmigosError):
    """The process wall cannot be built on this machine (unsupported OS or architecture)."""


class CodecError(AmigosError):
    """Bytes that do not decode to a value, or a value that has no canonical encoding."""


class ProofError(AmigosError):
    """A Merkle proof of the transparent log that does not hold, or input that cannot be one.

    Raised by :mod:`amigos.merkle` for a proof that leads to another root, and equally for
    malformed input: a hash that is not 32 bytes, a leaf index not below the tree size, an old
    tree larger than the new one, a proof of the wrong length. The message names what failed.
    """


class ForkDetected(ProofError):
    """A node showed a history that contradicts one it showed before: a signed tree head that
    does not extend the last one this client saw (a rewritten, forked or rolled-back log).

    ``seen`` and ``shown`` are the two signed tree heads (as the API's JSON objects): together
    they are the evidence, since the node signed both.
    """

    def __init__(self, message: str, seen: object = None, shown: object = None) -> None:
        super().__init__(message)
        self.seen = seen
        self.shown = shown


class NodeError(AmigosError):
    """A node answered with a problem (RFC 9457) other than a refused transaction or a failed
    call: ``status`` (HTTP), ``code`` (the last segment of the problem's ``type``), ``detail``.
    ``status`` is 0 when the node could not be reached or answered something unreadable."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{detail} [{code}]" if status == 0 else f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


class Bech32Error(CodecError):
    """A string that is not valid bech32m (BIP-350).

    ``reason`` names the rule that was broken, one of: ``"type"``, ``"length"``,
    ``"mixed-case"``, ``"separator"``, ``"prefix"``, ``"character"``, ``"checksum"``,
    ``"padding"``.
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        self.message = message
        super().__init__(message)


class InvalidAddress(Bech32Error):
    """A string that is not an Amigos account address (``amigo1…``).

    ``reason`` is a :class:`Bech32Error` reason, or ``"prefix"`` for another human-readable part
    than ``amigo``, or ``"length"`` for a payload that is not 20 bytes.
    """


MALFORMED = "malformed"
WRONG_CHAIN = "wrong-chain"
EXPIRED = "expired"
GAS_OUT_OF_BOUNDS = "gas-out-of-bounds"
BAD_SIGNATURE = "bad-signature"
UNKNOWN_KEY = "unknown-key"
SESSION_EXPIRED = "session-expired"
SESSION_REVOKED = "session-revoked"
NOT_PERMITTED = "not-permitted"
OVER_LIMIT = "over-limit"
FROZEN = "frozen"
BAD_NONCE = "bad-nonce"


class TransactionRefused(AmigosError):
    """A transaction the ante checks refuse; it changed nothing.

    ``code`` is a stable string (one of :data:`REFUSAL_CODES`) that the node's API and receipts
    carry unchanged; ``message`` says what exactly was wrong.
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{message} [{code}]")


class TransactionError(TransactionRefused):
    """Bytes or fields that are not a well-formed transaction (refusal code ``malformed``):
    truncated or trailing bytes, a field of the wrong type or size, an oversized encoding."""

    def __init__(self, message: str) -> None:
        super().__init__(MALFORMED, message)


REFUSAL_CODES = (
    MALFORMED,
    WRONG_CHAIN,
    EXPIRED,
    GAS_OUT_OF_BOUNDS,
    BAD_SIGNATURE,
    UNKNOWN_KEY,
    SESSION_EXPIRED,
    SESSION_REVOKED,
    NOT_PERMITTED,
    OVER_LIMIT,
    FROZEN,
    BAD_NONCE,
)
"""Every ``TransactionRefused.code``, in the order :func:`amigos.ledger.ante.ante_check` checks them."""


class DeployError(AmigosError):
    """Service source that breaks the language rules, or whose initialisation failed.

    ``line`` is the 1-based source line (``None`` when the problem is not tied to one line) and
    ``rule`` a short stable identifier of the rule that was broken, e.g. ``"double-underscore"``.
    """

    def __init__(self, message: str, *, line: int | None = None, rule: str = "invalid", gas_used: int = 0) -> None:
        self.message = message
        self.line = line
        self.rule = rule
        self.gas_used = gas_used
        """Gas the deploy used before it failed (its initialisation code, when that failed)."""
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{message} [{rule}]")


class ExecutionError(AmigosError):
    """Why a call did not complete. Receipts hold these; queries raise them."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        self.message = message
        self.line = line
        super().__init__(message)

    @property
    def type(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"type": self.type, "message": self.message}
        if self.line is not None:
            out["line"] = self.line
        return out

    def __repr__(self) -> str:
        return f"{self.type}({self.message!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ExecutionError)
            and self.type == other.type
            and self.message == other.message
            and self.line == other.line
        )

    __hash__ = None  # type: ignore[assignment]


class OutOfGas(ExecutionError):
    """The call used all the gas it was given."""


class LimitExceeded(ExecutionError):
    """A hard limit was hit: value size, integer size, nesting depth, call depth, memory."""


class ServiceError(ExecutionError):
    """Service code raised an exception (including a failed ``std.require``)."""


class Reentrancy(ExecutionError):
    """A service already on the call stack was called again."""


class NotFound(ExecutionError):
    """No service at that path, or no exported function of that name."""


class InvalidArgument(ExecutionError):
    """Arguments or return values that are not plain data, or that do not fit the function."""


class ReadOnlyViolation(ExecutionError):
    """A query or ``render`` tried to change state or emit an event."""


class Unauthorized(ExecutionError):
    """The signer may not do this (e.g. deploy into a namespace owned by someone else)."""


class WorkerCrashed(ExecutionError):
    """The worker process running the call died (process isolation only)."""


class DeployFailed(ExecutionError):
    """A deploy message of a transaction failed (the DeployError's text is the message)."""


class InsufficientFunds(ExecutionError):
    """An account or service has fewer AMI (or staked AMI) than it was asked to move."""


class AccountRuleBroken(ExecutionError):
    """An account operation that its rules do not allow now (a recovery before its time lock
    ran out, a guardian who is not one, a session that does not exist…)."""


EXECUTION_ERRORS: dict[str, type[ExecutionError]] = {
    cls.__name__: cls
    for cls in (
        OutOfGas,
        LimitExceeded,
        ServiceError,
        Reentrancy,
        NotFound,
        InvalidArgument,
        ReadOnlyViolation,
        Unauthorized,
        WorkerCrashed,
        DeployFailed,
        InsufficientFunds,
        AccountRuleBroken,
    )
}


def execution_error(type_name: str, message: str, line: int | None = None) -> ExecutionError:
    """Rebuild an execution error from its stable ``type`` string (e.g. read from a log)."""
    cls = EXECUTION_ERRORS.get(type_name, ExecutionError)
    return cls(message, line=line)
