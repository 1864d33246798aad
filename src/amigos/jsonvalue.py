"""Service values as JSON, and back.

JSON has no bytes, Decimal or tuple, so those are tagged::

    b"\\x01\\x02"        {"$bytes": "0102"}
    Decimal("1.50")   {"$decimal": "1.50"}
    (1, 2)            [1, 2]               (tuples become lists)

Dict keys that are not strings are written as their JSON text (``{1: "a"}`` → ``{"1": "a"}``).
``from_json`` accepts the tagged forms, so a value printed by ``amigos call --json`` can be fed
back as an argument.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import UsageError


def to_json(value: Any) -> Any:
    t = type(value)
    if value is None or t in (bool, int, str):
        return value
    if t is bytes:
        return {"$bytes": value.hex()}
    if t is Decimal:
        return {"$decimal": str(value)}
    if t in (list, tuple):
        return [to_json(v) for v in value]
    if t is dict:
        return {k if type(k) is str else json.dumps(to_json(k)): to_json(v) for k, v in value.items()}
    return {"$repr": repr(value)}


def from_json(value: Any) -> Any:
    t = type(value)
    if value is None or t in (bool, int, str):
        return value
    if t is float:
        raise UsageError(f"{value!r}: floats are not supported (use an int or {{\"$decimal\": \"…\"}})")
    if t is list:
        return [from_json(v) for v in value]
    if t is dict:
        if len(value) == 1 and "$bytes" in value:
            try:
                return bytes.fromhex(value["$bytes"])
            except (TypeError, ValueError) as exc:
                raise UsageError(f"bad $bytes value: {exc}") from None
        if len(value) == 1 and "$decimal" in value:
            try:
                d = Decimal(str(value["$decimal"]))
            except InvalidOperation:
                raise UsageError(f"bad $decimal value: {value['$decimal']!r}") from None
            if not d.is_finite():
                raise UsageError("only finite decimals are supported")
            return d
        return {k: from_json(v) for k, v in value.items()}
    raise UsageError(f"unsupported JSON value {value!r}")


def parse_argument(text: str) -> Any:
    """A command-line argument: JSON when it parses as JSON, else the string itself."""
    try:
        parsed = json.loads(text, parse_float=_reject_float)
    except _FloatSeen:
        raise UsageError(f"{text!r}: floats are not supported (use an int or {{\"$decimal\": \"{text}\"}})") from None
    except ValueError:
        return text
    return from_json(parsed)


class _FloatSeen(Exception):
    pass


def _reject_float(text: str) -> Any:
    raise _FloatSeen(text)
