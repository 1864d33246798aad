"""The one decimal context every service computes in.

34 significant digits and exponents within ±6143 (IEEE 754 decimal128), banker's rounding, and
traps on invalid operations, division by zero and overflow: an exact, machine-independent
fixed-point arithmetic (libmpdec implements the General Decimal Arithmetic spec exactly).
"""

from __future__ import annotations

import decimal

SERVICE_CONTEXT = decimal.Context(
    prec=34,
    rounding=decimal.ROUND_HALF_EVEN,
    Emin=-6143,
    Emax=6144,
    capitals=1,
    clamp=1,
    flags=[],
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


def activate_decimal_context() -> None:
    SERVICE_CONTEXT.clear_flags()
    decimal.setcontext(SERVICE_CONTEXT)
