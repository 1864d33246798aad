"""The one decimal context every service computes in.

34 significant digits and exponents within ±6143 (IEEE 754 decimal128), banker's rounding, and
traps on invalid operations, division by zero and overflow: an exact, machine-independent
fixed-point arithmetic (libmpdec implements the General Decimal Arithmetic spec exactly).
"""

from __future__ import annotations

import decimal

DECIMAL_DIGITS = 34
SERVICE_CONTEXT = decimal.Context(
    prec=DECIMAL_DIGITS,
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


def fit_decimal(value: decimal.Decimal) -> decimal.Decimal:
    """``value`` as a service may hold it: finite, at most 34 significant digits, exponent in
    range. Arithmetic keeps Decimals there; this guards the ways in (``Decimal(...)``, arguments,
    stored state). It refuses rather than rounds: an amount must never change silently."""
    if not value.is_finite():
        raise decimal.InvalidOperation("only finite Decimals are supported")
    if not value.is_zero() and not SERVICE_CONTEXT.Etiny() <= value.adjusted() <= SERVICE_CONTEXT.Emax:
        raise decimal.Overflow(f"Decimal exponent outside {SERVICE_CONTEXT.Etiny()}..{SERVICE_CONTEXT.Emax}")
    try:
        return _EXACT.plus(value)
    except decimal.Inexact:
        raise decimal.InvalidOperation(f"a Decimal holds at most {DECIMAL_DIGITS} significant digits") from None


_EXACT = SERVICE_CONTEXT.copy()
_EXACT.traps[decimal.Inexact] = True
