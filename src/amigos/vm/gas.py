"""The gas schedule, the limits, and the meter that enforces them.

Gas is charged for work the *service language* does, never for what the host happens to do:
the same call on the same state costs the same gas on any machine, Python version or hash seed.
One unit buys at most about 25 nanoseconds of CPU (a loop of guarded operations runs at 5-25 ns
per unit, a builtin working in C far faster) or 10 bytes of memory: :data:`MAX_GAS` bounds one
call to about a second of CPU and 500 MB. ``benchmarks/gas_calibration.py`` prints the figure for
each kind of operation; the bomb suite (tests/test_bombs.py) holds every one of them, and every
known way around the meter, to 40 ns per unit.
"""

from __future__ import annotations

# ---------------------------------------------------------------- the schedule (units of gas)

CALL = 20
"""Entering a function or lambda the service defines."""
LOOP = 10
"""One iteration of ``for``/``while``, one element of a comprehension."""
NODE = 1
"""Each statement or expression a function call, loop iteration or comprehension element may
run before the next charge, paid up front (every branch counted as taken): so a body that is
one long line, ``x = [a, a, a, …]``, costs what it runs. Each is at most a few bytecodes."""
OP = 20
"""One guarded operation: arithmetic (integer ``+``/``-`` too), comparison, subscript, attribute,
method call, builtin call. Each runs a helper in Python (200-500 ns), so it costs what
entering a service function costs."""
ELEMENT = 1
"""Each element a builtin walks, compares, copies or creates (``sum``, ``sorted``, ``join``…)."""
BYTE_DIVISOR = 8
"""Strings and bytes are charged one ELEMENT per this many characters/bytes created or walked."""
SORT_FACTOR = 2
"""``sorted``/``sort`` charge ``n * ceil(log2 n) * SORT_FACTOR`` elements."""
NEW_OBJECT = 20
"""Each new object a builtin creates per element (an int of ``range``, a tuple of ``zip``, a
word of ``split``…): about 50 bytes of memory each, and millions of them make the garbage
collector walk them again and again (``list(zip(range(4_000_000)))`` takes about a second)."""
WALK_ELEMENT = 3
"""Each element of a value walked to price it (for a ``repr``, a comparison, a hash, a copy):
sizing reads it twice, then the operation reads it again."""
WALK_NODE = 40
"""Each container or object the host walks in Python (to price a repr, a comparison, a hash)."""
HANDLER = 50
"""Entering an ``except`` or ``finally`` block: unwinding the stack is not free."""

DECIMAL_OP = 24
"""Decimal ``+ - * %`` and comparisons (a guarded operation plus about 70 ns of arithmetic)."""
DECIMAL_DIV = 40
"""Decimal ``/`` and ``//``."""
DECIMAL_ROOT = 300
"""``Decimal.sqrt`` and Decimal powers with an integral exponent (microseconds)."""
DECIMAL_TRANSCENDENTAL = 6000
"""``exp``, ``ln``, ``log10`` and powers with a fractional exponent (tens of microseconds)."""

SERVICE_CALL = 500
"""Calling another service (plus the bytes of arguments and results copied)."""
STATE_READ = 300
"""Reading one stored entry (a ``std.Map`` item), plus STATE_READ_BYTE per byte."""
STATE_READ_BYTE = 1
TUPLE_KEY_BYTE = 4
"""Per encoded byte of a tuple Map key (encoded in Python, element by element)."""
STATE_WRITE = 500
"""Writing or deleting one stored entry, plus STATE_WRITE_BYTE per byte of key and value."""
STATE_WRITE_BYTE = 10
GLOBALS_READ_BYTE = 1
"""Per byte of a service's persisted globals, each time a call enters the service."""
EVENT = 100
"""Emitting an event, plus EVENT_BYTE per byte of its encoded attributes."""
EVENT_BYTE = 5
COPY_BYTE_DIVISOR = 4
"""Arguments and results are charged one ELEMENT per this many encoded bytes."""

DEFAULT_GAS = 10_000_000
"""Gas given to a call when the caller does not say."""
MAX_GAS = 50_000_000
"""The most gas one call may be given (about a second of CPU at worst)."""
QUERY_GAS = 10_000_000
"""Gas given to read-only queries and ``render``."""
DEPLOY_GAS = 20_000_000
"""Gas given to a deploy's initialisation code when the caller does not say."""

# ---------------------------------------------------------------- hard limits

MAX_INT_BITS = 4096
"""Largest integer a service may create (in bits, sign excluded)."""
MAX_SEQUENCE = 4_000_000
"""Most elements in one list/tuple/dict, or characters/bytes in one str/bytes."""
MAX_CALL_DEPTH = 160
"""Most nested Python frames a call may use (service functions plus guarded builtins)."""
MAX_SOURCE_BYTES = 256 * 1024
"""Largest service source file."""
MAX_NESTING = 100
"""Deepest a service's syntax tree may nest (``- - - x``, ``not not x``…): checking, rewriting
and compiling a tree recurse once per level. Real code stays under 25."""
MAX_EVENTS = 1024
"""Most events one call may emit."""
MAX_FORMAT_WIDTH = 10_000
"""Largest width or precision in a format specification."""
MAX_HASH_DEPTH = 64
"""Deepest tuple that may be hashed (a dict key): CPython hashes tuples recursively in C."""
MAX_MESSAGE = 2_000
"""Longest error message a receipt carries (longer ones are cut)."""


class Halt(BaseException):
    """Stops a call for good. Derives from BaseException so ``except Exception`` never catches
    it, and every handler the instrumenter writes re-raises it, so it cannot be swallowed."""

    error_type = "ExecutionError"

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class OutOfGasHalt(Halt):
    error_type = "OutOfGas"


class LimitHalt(Halt):
    error_type = "LimitExceeded"


class ReentrancyHalt(Halt):
    error_type = "Reentrancy"


class ReadOnlyHalt(Halt):
    error_type = "ReadOnlyViolation"


class NotFoundHalt(Halt):
    error_type = "NotFound"


class InvalidArgumentHalt(Halt):
    error_type = "InvalidArgument"


class InsufficientFundsHalt(Halt):
    error_type = "InsufficientFunds"


class CalleeHalt(Halt):
    """A service this call imported failed; the whole call fails with the callee's error."""

    def __init__(self, error_type: str, message: str, line: int | None = None) -> None:
        super().__init__(message, line)
        self.error_type = error_type


class Meter:
    """Counts gas down; once it is below zero every further charge halts again.

    A halt is also remembered (``halted``) so that the runtime fails the call even if service
    code somehow continued after it.
    """

    __slots__ = ("limit", "remaining", "halted")

    def __init__(self) -> None:
        self.limit = 0
        self.remaining = 0
        self.halted: Halt | None = None

    def reset(self, limit: int) -> None:
        self.limit = limit
        self.remaining = limit
        self.halted = None

    @property
    def used(self) -> int:
        return min(self.limit, self.limit - self.remaining)

    def charge(self, amount: int) -> None:
        self.remaining -= amount
        if self.remaining < 0:
            self.out_of_gas()

    def out_of_gas(self) -> None:
        self.remaining = min(self.remaining, -1)
        raise self.halt(OutOfGasHalt(f"out of gas (limit {self.limit})"))

    def halt(self, exc: Halt) -> Halt:
        if self.halted is None:
            self.halted = exc
        return exc

    def limit_exceeded(self, message: str) -> Halt:
        return self.halt(LimitHalt(message))
