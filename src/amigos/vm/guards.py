"""Metered operations and builtins: what the names the instrumenter writes are bound to.

``make_builtins(meter, importer)`` returns the ``__builtins__`` dict of a service module. Every
function in it charges ``meter`` *before* doing work whose cost depends on the size of its
inputs, and refuses results that would break a limit, so no single operation can run for long
or allocate much without paying for it first.

Three rules hold throughout:

* a value's size is known before it is built (``"a" * n``, ``[0] * n``, ``2 ** n``, ``x << n``,
  ``s.ljust(n)``, ``s.replace(a, b)``, ``str.join``, ``bytes(n)``…) and checked against
  :data:`~amigos.vm.gas.MAX_SEQUENCE` and :data:`~amigos.vm.gas.MAX_INT_BITS`;
* work proportional to an input (walking, comparing, hashing, copying, sorting) is charged per
  element, and unsized iterators are walked through a charging wrapper;
* nothing returns a set (hash-seed order), a float, or text containing a memory address.
"""

from __future__ import annotations

import decimal
import math
import re
import sys
from decimal import Decimal
from itertools import islice, repeat
from typing import Any, Callable

from ..errors import CodecError
from . import gas
from .decimal_context import DECIMAL_DIGITS, fit_decimal
from .gas import Halt, Meter

INT_LIMIT = 1 << gas.MAX_INT_BITS
INT_DIGITS = len(str(INT_LIMIT))
"""Decimal digits of the largest int a service may hold."""
CHEAP_TYPES = frozenset({int, bool, type(None), Decimal})
INT_KINDS = frozenset({int, bool})
NUMBER_KINDS = frozenset({int, bool, Decimal})
STR_KIND = frozenset({str})
KEYS_VIEW, VALUES_VIEW, ITEMS_VIEW = type({}.keys()), type({}.values()), type({}.items())
VIEW_TYPES = (KEYS_VIEW, VALUES_VIEW, ITEMS_VIEW)
CHUNK = 4096
"""Elements pulled from an unsized iterator at a time (C speed, paid for in between)."""
TEXT_ENCODINGS = frozenset({"utf-8", "utf8", "ascii", "latin-1", "latin1"})
TEXT_ERRORS = frozenset({"strict", "replace", "ignore"})
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_FORMAT_NUMBER = re.compile(r"\d+")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(\*|\d+)?(?:\.(\*|\d+))?[a-zA-Z%]")


class ServiceObject:
    """Base of every class a service defines without a base: a deterministic ``repr``."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class BoundMethod:
    """``s.upper`` without calling it: calling it later goes through the meter too."""

    __slots__ = ("_call", "_obj", "_name")

    def __init__(self, call: Callable[..., Any], obj: Any, name: str) -> None:
        self._call = call
        self._obj = obj
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(self._obj, self._name, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<method {type(self._obj).__name__}.{self._name}>"


def scrub(text: str) -> str:
    """Remove memory addresses from text (``<function f at 0x7f…>`` → ``<function f>``)."""
    if " at 0x" in text:
        return _ADDRESS.sub("", text)
    return text


def bounded_repr(value: Any, limit: int = gas.MAX_MESSAGE) -> str:
    """A repr of ``value`` cut at about ``limit`` characters, built without ever producing the
    whole text: for error messages, which are made outside the meter. Safe on self-referencing
    and shared structures, and never shows a host object's insides."""
    out: list[str] = []
    room = limit

    def put(text: str) -> None:
        nonlocal room
        out.append(text[: max(room, 0)])
        room -= len(text)

    def walk(v: Any, depth: int) -> None:
        if room <= 0:
            return
        t = type(v)
        if t is str or t is bytes:
            put(repr(v[: room + 1]))
        elif t is int or t is bool or v is None or t is Decimal:
            put(repr(v))
        elif depth >= 8:
            put("...")
        elif t is list or t is tuple or t is dict:
            items = list(v.items()) if t is dict else v
            put("[" if t is list else "(" if t is tuple else "{")
            for i, item in enumerate(items):
                if room <= 0:
                    break
                if i:
                    put(", ")
                if t is dict:
                    walk(item[0], depth + 1)
                    put(": ")
                    walk(item[1], depth + 1)
                else:
                    walk(item, depth + 1)
            put("]" if t is list else ",)" if t is tuple and len(v) == 1 else ")" if t is tuple else "}")
        elif isinstance(v, BaseException):
            put(f"{t.__name__}(")
            walk(v.args[0] if len(v.args) == 1 else v.args, depth + 1)
            put(")")
        elif is_service_class(t):
            put(f"{t.__name__}(")
            for i, (name, item) in enumerate(vars(v).items()):
                if room <= 0:
                    break
                put(f"{', ' if i else ''}{name}=")
                walk(item, depth + 1)
            put(")")
        elif t.__module__.startswith("amigos.") or t is range:
            put(scrub(repr(v)))  # std objects, proxies, Maps: short fixed reprs
        else:
            put(f"<{t.__name__}>")

    walk(value, 0)
    text = "".join(out)
    return text if room >= 0 else text + "…"


def is_service_class(cls: type) -> bool:
    return str(getattr(cls, "__module__", "")).startswith("hub.amigos.dev/")


def make_builtins(meter: Meter, importer: Callable[[str], Any]) -> dict[str, Any]:  # noqa: C901
    """The ``__builtins__`` of a service module, charging ``meter``."""
    charge = meter.charge

    def limit(message: str) -> Halt:
        return meter.limit_exceeded(message)

    def charge_len(n: int) -> None:
        if n > gas.MAX_SEQUENCE:
            raise limit(f"value of {n} elements exceeds the limit of {gas.MAX_SEQUENCE}")
        charge(gas.OP + n * gas.ELEMENT)

    def charge_text(n: int) -> None:
        if n > gas.MAX_SEQUENCE:
            raise limit(f"text of {n} characters exceeds the limit of {gas.MAX_SEQUENCE}")
        charge(gas.OP + n // gas.BYTE_DIVISOR)

    def charge_size(kind: type, n: int) -> None:
        if kind is str or kind is bytes:
            charge_text(n)
        else:
            charge_len(n)

    def check_int(r: int) -> int:
        if -INT_LIMIT < r < INT_LIMIT:
            return r
        raise limit(f"integer larger than {gas.MAX_INT_BITS} bits")

    def check_result(r: Any) -> Any:
        t = type(r)
        if t is int:
            return check_int(r)
        if t is set or t is frozenset:
            raise TypeError("set results are not supported (sets iterate in hash-seed order)")
        if t is float or t is complex:
            raise TypeError("float results are not supported (use Decimal)")
        return r

    # -------------------------------------------------------------- walking values

    def measure(value: Any, max_depth: int = 0) -> int:
        """Charge for walking ``value`` and return an estimate of its repr length.

        The walk sees the value as ``repr``, ``==``, hashing and copying do: as a tree, so a
        structure shared ``n`` times is paid ``n`` times (a self-referencing one runs into the
        limits). Flat runs of ints or strs are sized at C speed (WALK_ELEMENT each); every
        container or object costs WALK_NODE. With ``max_depth``, nesting deeper than that is refused.
        """
        size = 0
        elements = 0
        walked = 0
        stack: list[tuple[Any, int]] = [(value, 1)]
        while stack:
            v, depth = stack.pop()
            t = type(v)
            if t is str:
                size += len(v) + 2
            elif t is int or t is bool:
                size += v.bit_length() // 3 + 2
            elif t is bytes:
                size += 4 * len(v) + 3
            elif v is None or t is Decimal:
                size += 16
            else:
                if t is list or t is tuple:
                    parts: tuple[Any, ...] = (v,)
                elif t is dict:
                    parts = (v.keys(), v.values())
                elif is_service_class(t) and not isinstance(v, BaseException):
                    attrs = v.__dict__
                    size += len(t.__name__) + 3 * len(attrs) + sum(map(len, attrs))
                    parts = (attrs.values(),)
                else:
                    size += 64
                    elements += 1
                    continue
                walked += 1
                if max_depth and depth > max_depth:
                    raise limit(f"value nested deeper than {max_depth} levels")
                for part in parts:
                    n = len(part)
                    if not n:
                        size += 2
                        continue
                    size += 2 + 2 * n
                    kinds = set(map(type, part))
                    if kinds <= INT_KINDS:
                        size += sum(map(int.bit_length, part)) // 3 + n
                        elements += n
                    elif kinds == STR_KIND:
                        size += sum(map(len, part))
                        elements += n
                    else:
                        stack.extend(zip(part, repeat(depth + 1)))
                if walked & 255 == 0:
                    charge(256 * gas.WALK_NODE)
                if elements + walked > gas.MAX_SEQUENCE:
                    raise limit("value too large to walk (shared or self-referencing structure?)")
                if size > 4 * gas.MAX_SEQUENCE:
                    raise limit("text representation too large")
            elements += 1
        if size > 4 * gas.MAX_SEQUENCE:
            raise limit("text representation too large")
        charge(gas.OP + elements * gas.WALK_ELEMENT + (walked & 255) * gas.WALK_NODE + size // gas.BYTE_DIVISOR)
        return size

    def compare_cost(item: Any) -> int:
        """Gas per comparison against ``item`` (comparing walks it at worst)."""
        if type(item) in CHEAP_TYPES:
            return gas.ELEMENT
        if type(item) is str or type(item) is bytes:
            return gas.ELEMENT + len(item) // gas.BYTE_DIVISOR
        return gas.ELEMENT + measure(item) // gas.BYTE_DIVISOR

    def cost_of_compare(a: Any, b: Any) -> None:
        ta, tb = type(a), type(b)
        if ta in CHEAP_TYPES or tb in CHEAP_TYPES:
            charge(gas.DECIMAL_OP if ta is Decimal or tb is Decimal else gas.OP)
        elif (ta is str or ta is bytes) and (tb is str or tb is bytes):
            charge(gas.OP + min(len(a), len(b)) // gas.BYTE_DIVISOR)
        elif ta is tb and ta in (list, tuple, dict):
            measure(a if len(a) <= len(b) else b)
        elif ta in VIEW_TYPES or tb in VIEW_TYPES:
            charge_len((len(a) if ta in VIEW_TYPES else 0) + (len(b) if tb in VIEW_TYPES else 0))
        else:
            charge(gas.OP)

    def check_key(key: Any) -> None:
        """Before ``key`` is hashed: tuples are hashed recursively in C, every time."""
        if type(key) is tuple:
            measure(key, gas.MAX_HASH_DEPTH)

    def dict_key(key: Any) -> Any:
        """A key of a dict display or comprehension: an insertion, paid like ``d[k] = v``, and
        checked before it is hashed."""
        charge(gas.OP)
        if type(key) is tuple:
            measure(key, gas.MAX_HASH_DEPTH)
        return key

    def size_of(obj: Any) -> int:
        try:
            return len(obj)
        except OverflowError:
            raise limit(f"more than {gas.MAX_SEQUENCE} elements") from None

    def materialize(iterable: Any) -> list[Any] | tuple[Any, ...]:
        """``iterable`` as a list or tuple, paid per element before (sized) or as (unsized) it
        is built; more than MAX_SEQUENCE elements are refused."""
        t = type(iterable)
        if t is list or t is tuple:
            charge_len(len(iterable))
            return iterable
        if t is dict or t is KEYS_VIEW or t is VALUES_VIEW or t is bytes:
            charge_len(len(iterable))
            return list(iterable)
        per = gas.ELEMENT + gas.NEW_OBJECT
        if t is range or t is str or t is ITEMS_VIEW:
            n = size_of(iterable)
            charge_len(n)
            charge(n * gas.NEW_OBJECT)
            return list(iterable)
        # Unsized: pull at C speed in chunks no larger than the gas left can pay for, so an
        # endless C iterator stops within one chunk of running out.
        it = iter(iterable)
        out: list[Any] = []
        while True:
            want = min(CHUNK, gas.MAX_SEQUENCE + 1 - len(out), meter.remaining // per + 1)
            chunk = list(islice(it, want))
            charge(len(chunk) * per)
            out += chunk
            if len(out) > gas.MAX_SEQUENCE:
                raise limit(f"more than {gas.MAX_SEQUENCE} elements")
            if len(chunk) < want:
                return out

    def spread(value: Any) -> Any:
        t = type(value)
        if t is dict:
            charge_len(len(value))
            return value
        if callable(getattr(value, "keys", None)):  # a mapping (std.Map charges per access)
            return value
        return materialize(value)

    # -------------------------------------------------------------- numbers

    def int_product_cost(a_bits: int, b_bits: int) -> int:
        # Schoolbook/Karatsuba multiplication and long division of big ints, calibrated on
        # CPython: 4096 x 4096 bits is about 7 us.
        return gas.OP + ((a_bits * b_bits) >> 12) + ((a_bits + b_bits) >> 4)

    def int_text_cost(n: int) -> int:
        # int <-> decimal text is quadratic in CPython (4096 bits: about 19 us), and the
        # text is scrubbed after: two steps.
        bits = n.bit_length()
        return 2 * gas.OP + (bits >> 4) + ((bits * bits) >> 13)

    def int_from_decimal(d: Decimal) -> None:
        """Before converting a Decimal to an int: refuse huge results, pay for the digits."""
        if d.is_finite() and not d.is_zero():
            digits = d.adjusted() + 1
            if digits > INT_DIGITS:
                raise limit(f"integer larger than {gas.MAX_INT_BITS} bits")
            charge(gas.OP + gas.DECIMAL_OP + max(digits, 0) ** 2 // 256)

    def numeric_cost(a: Any, b: Any) -> int:
        return gas.DECIMAL_OP if type(a) is Decimal or type(b) is Decimal else gas.OP

    def refuse_views(a: Any, b: Any) -> None:
        if type(a) in VIEW_TYPES or type(b) in VIEW_TYPES:
            raise TypeError("set operations on dict views are not supported (sets iterate in hash-seed order)")

    # -------------------------------------------------------------- binary operators

    def op_Add(a: Any, b: Any) -> Any:
        if type(a) is int and type(b) is int:
            charge(gas.OP)
            r = a + b
            if -INT_LIMIT < r < INT_LIMIT:
                return r
            raise limit(f"integer larger than {gas.MAX_INT_BITS} bits")
        ta = type(a)
        if ta in (str, bytes, list, tuple) and type(b) is ta:
            charge_size(ta, len(a) + len(b))
        else:
            charge(numeric_cost(a, b))
        return check_result(a + b)

    def op_Sub(a: Any, b: Any) -> Any:
        if type(a) is int and type(b) is int:
            charge(gas.OP)
            r = a - b
            if -INT_LIMIT < r < INT_LIMIT:
                return r
            raise limit(f"integer larger than {gas.MAX_INT_BITS} bits")
        refuse_views(a, b)
        charge(numeric_cost(a, b))
        return check_result(a - b)

    def repeat_size(seq: Any, n: Any) -> None:
        if type(n) not in (int, bool):
            return
        total = len(seq) * max(int(n), 0)
        charge(gas.OP)  # sizing the result before it is made
        charge_size(type(seq), total)

    def op_Mult(a: Any, b: Any) -> Any:
        ta, tb = type(a), type(b)
        if ta is int and tb is int:
            if a.bit_length() + b.bit_length() > gas.MAX_INT_BITS + 1:
                raise limit(f"integer larger than {gas.MAX_INT_BITS} bits")
            charge(int_product_cost(a.bit_length(), b.bit_length()))
            return check_int(a * b)
        if ta in (str, bytes, list, tuple):
            repeat_size(a, b)
        elif tb in (str, bytes, list, tuple):
            repeat_size(b, a)
        else:
            charge(numeric_cost(a, b))
        return check_result(a * b)

    def division_cost(a: Any, b: Any) -> int:
        if type(a) is int and type(b) is int:
            return int_product_cost(a.bit_length(), b.bit_length())
        if type(a) is Decimal or type(b) is Decimal:
            return gas.DECIMAL_DIV
        return gas.OP

    def op_Div(a: Any, b: Any) -> Any:
        charge(gas.DECIMAL_DIV)
        if type(a) in (int, bool) and type(b) in (int, bool):
            return Decimal(a) / Decimal(b)
        return check_result(a / b)

    def op_FloorDiv(a: Any, b: Any) -> Any:
        charge(division_cost(a, b))
        return check_result(a // b)

    def check_percent_format(fmt: str | bytes, args: Any) -> None:
        text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
        charge_text(len(text))
        for match in _PERCENT_SPEC.finditer(text):
            for part in match.groups():
                if part == "*":
                    raise TypeError("* widths are not supported in % formatting")
                if part is not None and int(part) > gas.MAX_FORMAT_WIDTH:
                    raise limit(f"format width above {gas.MAX_FORMAT_WIDTH}")
        values = args if type(args) is tuple else args.values() if type(args) is dict else (args,)
        for value in values:
            if type(value) is Decimal:  # %d converts it to an int
                int_from_decimal(value)
            elif type(value) is int:
                charge(int_text_cost(value))
        measure(args)

    def op_Mod(a: Any, b: Any) -> Any:
        ta = type(a)
        if ta is str or ta is bytes:
            check_percent_format(a, b)
            return scrub(a % b) if ta is str else a % b
        charge(division_cost(a, b))
        return check_result(a % b)

    def op_Pow(a: Any, b: Any) -> Any:
        ta, tb = type(a), type(b)
        if ta in (int, bool) and tb in (int, bool):
            if b < 0:
                charge(gas.DECIMAL_ROOT)
                return Decimal(a) ** b
            bits = max(abs(a).bit_length() - 1, 1) * b if abs(a) > 1 else 1
            if bits > gas.MAX_INT_BITS:
                raise limit(f"integer larger than {gas.MAX_INT_BITS} bits")
            cost_bits = min(abs(a).bit_length() * b, 2 * gas.MAX_INT_BITS)
            # OP more than a product: sizing the result up front is itself work.
            charge(gas.OP + int_product_cost(cost_bits, cost_bits))
            return check_int(a**b)
        if ta is Decimal or tb is Decimal:
            integral = tb in (int, bool) or (tb is Decimal and b.is_finite() and b == b.to_integral_value())
            charge(gas.DECIMAL_ROOT if integral else gas.DECIMAL_TRANSCENDENTAL)
        else:
            charge(gas.OP)
        return check_result(a**b)

    def op_LShift(a: Any, b: Any) -> Any:
        if type(a) in (int, bool) and type(b) in (int, bool) and a and b > 0:
            if a.bit_length() + b > gas.MAX_INT_BITS:
                raise limit(f"integer larger than {gas.MAX_INT_BITS} bits")
            charge(gas.OP + ((a.bit_length() + b) >> 4))
        else:
            charge(gas.OP)
        return check_result(a << b)

    def op_RShift(a: Any, b: Any) -> Any:
        charge(gas.OP + (a.bit_length() >> 4 if type(a) is int else 0))
        return check_result(a >> b)

    def op_dictlike(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def apply(a: Any, b: Any) -> Any:
            if type(a) is int and type(b) is int:  # never wider than the wider operand
                charge(gas.OP + (max(a.bit_length(), b.bit_length()) >> 4))
                return op(a, b)
            refuse_views(a, b)
            if type(a) is dict and type(b) is dict:
                charge_len(len(a) + len(b))
            else:
                charge(gas.OP)
            return check_result(op(a, b))

        return apply

    op_BitOr = op_dictlike(lambda a, b: a | b)
    op_BitAnd = op_dictlike(lambda a, b: a & b)
    op_BitXor = op_dictlike(lambda a, b: a ^ b)

    binary = {
        "Add": op_Add,
        "Sub": op_Sub,
        "Mult": op_Mult,
        "Div": op_Div,
        "FloorDiv": op_FloorDiv,
        "Mod": op_Mod,
        "Pow": op_Pow,
        "LShift": op_LShift,
        "RShift": op_RShift,
        "BitOr": op_BitOr,
        "BitAnd": op_BitAnd,
        "BitXor": op_BitXor,
    }

    def inplace(op_name: str) -> Callable[[Any, Any], Any]:
        plain = binary[op_name]
        if op_name == "Add":

            def iadd(a: Any, b: Any) -> Any:
                if type(a) is list:  # keeps list aliasing semantics: a += b extends in place
                    m_extend(a, "extend", (b,), {})
                    return a
                return plain(a, b)

            return iadd
        if op_name == "BitOr":

            def ior(a: Any, b: Any) -> Any:
                if type(a) is dict:
                    m_update(a, "update", (b,), {})
                    return a
                return plain(a, b)

            return ior
        return plain

    inplace_ops = {name: inplace(name) for name in binary}

    # -------------------------------------------------------------- comparisons

    def cmp_Eq(a: Any, b: Any) -> bool:
        cost_of_compare(a, b)
        return a == b

    def cmp_NotEq(a: Any, b: Any) -> bool:
        cost_of_compare(a, b)
        return a != b

    def cmp_Lt(a: Any, b: Any) -> bool:
        cost_of_compare(a, b)
        return a < b

    def cmp_LtE(a: Any, b: Any) -> bool:
        cost_of_compare(a, b)
        return a <= b

    def cmp_Gt(a: Any, b: Any) -> bool:
        cost_of_compare(a, b)
        return a > b

    def cmp_GtE(a: Any, b: Any) -> bool:
        cost_of_compare(a, b)
        return a >= b

    def contains(container: Any, item: Any) -> bool:
        t = type(container)
        if t is dict or t is KEYS_VIEW or t is ITEMS_VIEW:
            check_key(item)
            charge(gas.OP)
        elif t is str or t is bytes:
            n = len(container) + (len(item) if type(item) in (str, bytes) else 0)
            charge(gas.OP + n // gas.BYTE_DIVISOR)
        elif t is list or t is tuple or t is VALUES_VIEW:
            charge(gas.OP + len(container) * compare_cost(item))
        elif t is range:
            if type(item) is not int and type(item) is not bool:  # CPython walks the range
                charge(gas.OP + size_of(container) * compare_cost(item))
            charge(gas.OP)
        elif hasattr(t, "__contains__"):  # std.Map (charges per read)
            charge(gas.OP)
        else:  # an iterator: scan it here, paying per element, as Python would
            for element in container:
                charge(gas.LOOP)
                if element is item or cmp_Eq(element, item):
                    return True
            return False
        return item in container

    def cmp_In(a: Any, b: Any) -> bool:
        return contains(b, a)

    def cmp_NotIn(a: Any, b: Any) -> bool:
        return not contains(b, a)

    def cmp_Is(a: Any, b: Any) -> bool:
        return a is b

    def cmp_IsNot(a: Any, b: Any) -> bool:
        return a is not b

    compare = {
        "Eq": cmp_Eq,
        "NotEq": cmp_NotEq,
        "Lt": cmp_Lt,
        "LtE": cmp_LtE,
        "Gt": cmp_Gt,
        "GtE": cmp_GtE,
        "In": cmp_In,
        "NotIn": cmp_NotIn,
        "Is": cmp_Is,
        "IsNot": cmp_IsNot,
    }

    def chain(left: Any, *pairs: Any) -> bool:
        charge(gas.OP)  # the chain calls back for each right operand
        for i in range(0, len(pairs), 2):
            right = pairs[i + 1]()
            if not compare[pairs[i]](left, right):
                return False
            left = right
        return True

    # -------------------------------------------------------------- subscripts

    def mkslice(lower: Any, upper: Any, step: Any) -> slice:
        charge(gas.OP)
        return slice(lower, upper, step)

    def slice_length(obj: Any, key: slice) -> int:
        try:
            return len(range(*key.indices(len(obj))))
        except (TypeError, ValueError):
            return 0

    def getitem(obj: Any, key: Any) -> Any:
        t = type(obj)
        if type(key) is slice:
            if t in (list, tuple, str, bytes):
                charge_size(t, slice_length(obj, key))
            else:
                charge(gas.OP)
            return obj[key]
        if t is dict:
            check_key(key)
            charge(gas.OP)
            return obj[key]
        charge(gas.OP)
        return obj[key]

    def setitem(value: Any, obj: Any, key: Any) -> None:
        t = type(obj)
        if type(key) is slice:
            if t is list:
                incoming = materialize(value)
                if len(obj) + len(incoming) > gas.MAX_SEQUENCE:
                    raise limit(f"list longer than {gas.MAX_SEQUENCE}")
                charge_len(len(obj) + len(incoming))
                obj[key] = incoming
                return
            charge(gas.OP)
            obj[key] = value
            return
        if t is dict:
            check_key(key)
            if len(obj) >= gas.MAX_SEQUENCE and key not in obj:
                raise limit(f"dict larger than {gas.MAX_SEQUENCE}")
        charge(gas.OP)
        obj[key] = value

    def delitem(obj: Any, key: Any) -> None:
        t = type(obj)
        if t is list:
            charge_len(len(obj))
        elif t is dict:
            check_key(key)
            charge(gas.OP)
        else:
            charge(gas.OP)
        del obj[key]

    def aug_item(obj: Any, key: Any, op_name: str, value: Any) -> None:
        current = getitem(obj, key)
        setitem(inplace_ops[op_name](current, value), obj, key)

    # -------------------------------------------------------------- attributes and methods

    def getattr_(obj: Any, name: str) -> Any:
        table = METHOD_COSTS.get(type(obj))
        charge(gas.OP)
        if table is not None:
            if name in table:
                return BoundMethod(callmethod, obj, name)
            if name in PLAIN_ATTRIBUTES.get(type(obj), ()):
                return getattr(obj, name)
            raise AttributeError(f"'{type(obj).__name__}' object has no attribute '{name}'")
        return getattr(obj, name)

    def setattr_(value: Any, obj: Any, name: str) -> None:
        charge(gas.OP)
        if isinstance(obj, type) or not is_service_class(type(obj)):
            raise AttributeError(f"cannot set attribute '{name}' of {type(obj).__name__} (only of objects of this service's classes)")
        setattr(obj, name, value)

    def aug_attr(obj: Any, name: str, op_name: str, value: Any) -> None:
        setattr_(inplace_ops[op_name](getattr_(obj, name), value), obj, name)

    def callmethod(obj: Any, name: str, /, *args: Any, **kwargs: Any) -> Any:
        t = type(obj)
        table = METHOD_COSTS.get(t)
        if table is None:
            meter.remaining -= gas.OP
            if meter.remaining < 0:
                meter.out_of_gas()
            return getattr(obj, name)(*args, **kwargs)
        cost = table.get(name)
        if cost is None:
            raise AttributeError(f"'{t.__name__}' object has no attribute '{name}'")
        # The dispatch is a guarded operation of its own, before the method's cost function.
        charge(gas.OP)
        return cost(obj, name, args, kwargs)

    # ---- method cost functions: (obj, name, args, kwargs) -> result

    def m_const(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        charge(gas.OP)
        return getattr(obj, name)(*args, **kwargs)

    def m_linear(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        charge_size(type(obj), len(obj))
        for arg in args:
            if type(arg) in (str, bytes):
                charge_text(len(arg))
        return check_result(getattr(obj, name)(*args, **kwargs))

    def m_pad(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        width = args[0] if args else kwargs.get("width", 0)
        if type(width) in (int, bool):
            charge_size(type(obj), max(len(obj), width))
        return getattr(obj, name)(*args, **kwargs)

    def m_expandtabs(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        size = args[0] if args else kwargs.get("tabsize", 8)
        if type(size) in (int, bool):
            charge_size(type(obj), len(obj) + obj.count("\t" if type(obj) is str else b"\t") * max(size, 0))
        return getattr(obj, name)(*args, **kwargs)

    def m_replace(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        charge_size(type(obj), len(obj))
        if len(args) >= 2 and type(args[0]) is type(obj) and type(args[1]) is type(obj):
            old, new = args[0], args[1]
            count = args[2] if len(args) > 2 else kwargs.get("count", -1)
            hits = len(obj) + 1 if not old else obj.count(old)
            if type(count) is int and count >= 0:
                hits = min(hits, count)
            charge_size(type(obj), len(obj) + hits * max(len(new) - len(old), 0))
        return getattr(obj, name)(*args, **kwargs)

    def m_join(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if len(args) != 1 or kwargs:
            raise TypeError("join() takes exactly one argument")
        parts = materialize(args[0])
        total = len(obj) * max(len(parts) - 1, 0)
        for part in parts:
            if type(part) is type(obj):
                total += len(part)
        charge_size(type(obj), total)
        return obj.join(parts)

    def m_encode(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        encoding = args[0] if args else kwargs.get("encoding", "utf-8")
        errors = args[1] if len(args) > 1 else kwargs.get("errors", "strict")
        if str(encoding).lower() not in TEXT_ENCODINGS or errors not in TEXT_ERRORS:
            raise ValueError("only utf-8, ascii and latin-1 with strict/replace/ignore errors are supported")
        charge_text(4 * len(obj))
        return getattr(obj, name)(encoding, errors)

    def m_extend(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        items = materialize(args[0]) if args else ()
        if len(obj) + len(items) > gas.MAX_SEQUENCE:
            raise limit(f"list longer than {gas.MAX_SEQUENCE}")
        obj.extend(items)

    def m_update(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if args:
            source = args[0]
            if type(source) is dict:
                charge_len(len(source))
            elif not callable(getattr(source, "keys", None)):  # std.Map charges per read
                source = materialize(source)
                for pair in source:
                    if type(pair) in (tuple, list) and len(pair) == 2:
                        check_key(pair[0])
            obj.update(source)
        charge_len(len(kwargs))
        obj.update(kwargs)
        if len(obj) > gas.MAX_SEQUENCE:
            raise limit(f"dict larger than {gas.MAX_SEQUENCE}")

    def m_append(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        charge(gas.OP)
        if len(obj) >= gas.MAX_SEQUENCE:
            raise limit(f"list longer than {gas.MAX_SEQUENCE}")
        return getattr(obj, name)(*args, **kwargs)

    def m_sort(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        charge_sort(obj)
        obj.sort(*args, **kwargs)

    def m_search(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        # list/tuple count, index, remove: one comparison per element, each walking the item.
        charge(gas.OP + len(obj) * compare_cost(args[0] if args else None))
        return getattr(obj, name)(*args, **kwargs)

    def m_split(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = m_linear(obj, name, args, kwargs)
        charge(len(result) * gas.NEW_OBJECT)  # one new str per part: bounded work, paid after
        return result

    def m_keyed(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if args:
            check_key(args[0])
        charge(gas.OP)
        return getattr(obj, name)(*args, **kwargs)

    def m_isdisjoint(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        other = materialize(args[0]) if len(args) == 1 and not kwargs else ()
        for item in other:
            check_key(item)
        charge_len(len(obj) + len(other))
        return obj.isdisjoint(*((other,) if args else ()), **kwargs)

    def m_range_search(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if args and type(args[0]) not in (int, bool):  # CPython walks the range for these
            charge(size_of(obj) * compare_cost(args[0]))
        charge(gas.OP)
        return getattr(obj, name)(*args, **kwargs)

    def m_decimal(cost: int) -> Callable[..., Any]:
        def run(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if "context" in kwargs or any(isinstance(a, decimal.Context) for a in args):
                raise TypeError(f"{name}() does not take a context")
            charge(cost)
            return check_result(getattr(obj, name)(*args, **kwargs))

        return run

    def m_integer_ratio(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if type(obj) is Decimal and obj.is_finite():
            exponent = obj.as_tuple().exponent
            if abs(exponent) + len(obj.as_tuple().digits) > INT_DIGITS:  # type: ignore[arg-type]
                raise limit(f"integer larger than {gas.MAX_INT_BITS} bits")
            int_from_decimal(obj)
        charge(gas.OP)
        return obj.as_integer_ratio()

    def m_to_bytes(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        length = args[0] if args else kwargs.get("length", 1)
        if type(length) is int:
            charge_text(length)
        return obj.to_bytes(*args, **kwargs)

    def m_from_bytes(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        data = args[0] if args else kwargs.get("bytes", b"")
        if type(data) is not bytes:
            raise TypeError("from_bytes() expects bytes")
        if len(data) * 8 > gas.MAX_INT_BITS + 8:
            raise limit(f"integer larger than {gas.MAX_INT_BITS} bits")
        charge_text(len(data))
        return check_int(int.from_bytes(*args, **kwargs))

    def m_decode(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        encoding = args[0] if args else kwargs.get("encoding", "utf-8")
        errors = args[1] if len(args) > 1 else kwargs.get("errors", "strict")
        if str(encoding).lower() not in TEXT_ENCODINGS or errors not in TEXT_ERRORS:
            raise ValueError("only utf-8, ascii and latin-1 with strict/replace/ignore errors are supported")
        charge_text(len(obj))
        return obj.decode(encoding, errors)

    def m_fromhex(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        text = args[0] if args else ""
        if type(text) is not str:
            raise TypeError("fromhex() expects str")
        charge_text(len(text))
        return bytes.fromhex(text)

    str_linear = """capitalize casefold count endswith find index isalnum isalpha isascii isdecimal
        isdigit isidentifier islower isnumeric isprintable isspace istitle isupper lower lstrip
        partition removeprefix removesuffix rfind rindex rpartition rstrip
        startswith strip swapcase title upper""".split()
    bytes_linear = """capitalize count endswith find hex index isalnum isalpha isascii isdigit
        islower isspace istitle isupper lower lstrip partition removeprefix removesuffix rfind
        rindex rpartition rstrip startswith strip swapcase title upper""".split()
    splitters = {"split": m_split, "rsplit": m_split, "splitlines": m_split}
    str_methods: dict[str, Callable[..., Any]] = {n: m_linear for n in str_linear}
    str_methods.update(splitters)
    str_methods.update(center=m_pad, ljust=m_pad, rjust=m_pad, zfill=m_pad, expandtabs=m_expandtabs,
                       replace=m_replace, join=m_join, encode=m_encode)
    bytes_methods: dict[str, Callable[..., Any]] = {n: m_linear for n in bytes_linear}
    bytes_methods.update(splitters)
    bytes_methods.update(center=m_pad, ljust=m_pad, rjust=m_pad, zfill=m_pad, expandtabs=m_expandtabs,
                         replace=m_replace, join=m_join, decode=m_decode, fromhex=m_fromhex)
    list_methods: dict[str, Callable[..., Any]] = {
        "append": m_append, "clear": m_const, "copy": m_linear, "count": m_search, "extend": m_extend,
        "index": m_search, "insert": m_linear, "pop": m_linear, "remove": m_search, "reverse": m_linear,
        "sort": m_sort,
    }
    dict_methods: dict[str, Callable[..., Any]] = {
        "clear": m_const, "copy": m_linear, "get": m_keyed, "items": m_const, "keys": m_const,
        "values": m_const, "pop": m_keyed, "popitem": m_const, "setdefault": m_keyed, "update": m_update,
    }
    tuple_methods: dict[str, Callable[..., Any]] = {"count": m_search, "index": m_search}
    int_methods: dict[str, Callable[..., Any]] = {
        "bit_length": m_const, "bit_count": m_const, "conjugate": m_const, "as_integer_ratio": m_const,
        "to_bytes": m_to_bytes, "from_bytes": m_from_bytes,
    }
    decimal_methods: dict[str, Callable[..., Any]] = {
        n: m_decimal(gas.DECIMAL_OP)
        for n in """adjusted as_tuple compare copy_abs copy_negate copy_sign is_finite is_infinite
            is_nan is_signed is_zero max min normalize quantize to_eng_string to_integral
            to_integral_value""".split()
    }
    decimal_methods.update(sqrt=m_decimal(gas.DECIMAL_ROOT), exp=m_decimal(gas.DECIMAL_TRANSCENDENTAL),
                           ln=m_decimal(gas.DECIMAL_TRANSCENDENTAL), log10=m_decimal(gas.DECIMAL_TRANSCENDENTAL),
                           as_integer_ratio=m_integer_ratio)
    view_methods: dict[str, Callable[..., Any]] = {"isdisjoint": m_isdisjoint}
    range_methods: dict[str, Callable[..., Any]] = {"count": m_range_search, "index": m_range_search}

    METHOD_COSTS: dict[type, dict[str, Callable[..., Any]]] = {
        str: str_methods,
        bytes: bytes_methods,
        list: list_methods,
        dict: dict_methods,
        tuple: tuple_methods,
        int: int_methods,
        bool: int_methods,
        Decimal: decimal_methods,
        type({}.keys()): view_methods,
        type({}.items()): view_methods,
        type({}.values()): {},
        range: range_methods,
    }
    PLAIN_ATTRIBUTES: dict[type, tuple[str, ...]] = {
        int: ("real", "imag", "numerator", "denominator"),
        bool: ("real", "imag", "numerator", "denominator"),
        range: ("start", "stop", "step"),
    }

    # -------------------------------------------------------------- formatting

    def to_text(value: Any, use_repr: bool) -> str:
        t = type(value)
        if t is str and not use_repr:
            return value
        if t is int or t is bool:
            charge(int_text_cost(value))
        elif value is None or t is Decimal:
            charge(gas.OP)
        else:
            charge(gas.OP)  # measuring is one step, writing the text another
            measure(value)
        return scrub(repr(value) if use_repr else str(value))

    def fmt(value: Any, conversion: int, spec: str) -> str:
        charge(gas.OP)
        if conversion in (ord("r"), ord("a")):
            value = to_text(value, use_repr=True)
        elif conversion == ord("s"):
            value = to_text(value, use_repr=False)
        if spec:
            charge_text(len(spec))
            for number in _FORMAT_NUMBER.findall(spec):
                if int(number) > gas.MAX_FORMAT_WIDTH:
                    raise limit(f"format width above {gas.MAX_FORMAT_WIDTH}")
            t = type(value)
            if t is str:
                charge_text(len(value))
            elif t is int or t is bool:
                charge(int_text_cost(value))
            elif t is Decimal:
                if value.is_finite():  # fixed-point notation writes every digit of the exponent
                    charge_text(abs(value.as_tuple().exponent) + len(value.as_tuple().digits))  # type: ignore[arg-type]
            else:
                raise TypeError(f"format spec not supported for {t.__name__}")
            return format(value, spec)
        if type(value) is str:
            return value
        return to_text(value, use_repr=False)

    def fstring(*parts: str) -> str:
        charge_text(sum(map(len, parts)))
        return "".join(parts)

    # -------------------------------------------------------------- builtins

    def charge_sort(items: list[Any]) -> None:
        n = len(items)
        charge_len(n)
        if n > 1:
            # Each comparison may walk a whole element: price them at the average size.
            per = gas.ELEMENT if CHEAP_TYPES.issuperset(map(type, items)) else gas.ELEMENT + measure(items) // (n * gas.BYTE_DIVISOR)
            charge(n * math.ceil(math.log2(n)) * gas.SORT_FACTOR * per)

    def b_list(iterable: Any = ()) -> list[Any]:
        return list(materialize(iterable))

    def b_tuple(iterable: Any = ()) -> tuple[Any, ...]:
        return tuple(materialize(iterable))

    def b_dict(*args: Any, **kwargs: Any) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        m_update(out, "update", args, kwargs)
        return out

    def b_str(*args: Any, **kwargs: Any) -> str:
        if not args and not kwargs:
            return ""
        if len(args) == 1 and not kwargs:
            return to_text(args[0], use_repr=False)
        obj = args[0] if args else kwargs.get("object", b"")
        if type(obj) is not bytes:
            raise TypeError("str(x, encoding) expects bytes")
        return m_decode(obj, "decode", args[1:], {k: v for k, v in kwargs.items() if k != "object"})

    def b_repr(value: Any) -> str:
        return to_text(value, use_repr=True)

    def b_bytes(source: Any = b"", encoding: Any = None, errors: Any = None) -> bytes:
        t = type(source)
        if t is int or t is bool:
            charge_text(source)
            return bytes(source)
        if t is str:
            return m_encode(source, "encode", (encoding or "utf-8", errors or "strict"), {})
        if t is bytes:
            charge_text(len(source))
            return source
        return bytes(materialize(source))

    def b_int(value: Any = 0, *args: Any, **kwargs: Any) -> int:
        t = type(value)
        if t is int and not args and not kwargs:  # int(0), int(n): nothing to convert
            charge(gas.OP)
            return value
        if t is str or t is bytes:
            n = len(value)
            # Parsing is a second step after the checks, and quadratic in the digits.
            charge(2 * gas.OP + n // gas.BYTE_DIVISOR + n * n // 256)
        elif t is Decimal:
            charge(gas.OP)
            int_from_decimal(value)
        else:
            charge(gas.OP)
        if t not in (int, bool, str, bytes, Decimal):
            raise TypeError(f"int() argument must be a string, bytes or a number, not '{t.__name__}'")
        if args or kwargs:  # a base: int("ff", 16)
            return check_int(int(value, *args, **kwargs))
        return check_int(int(value))

    def b_bool(value: Any = False) -> bool:
        charge(gas.OP)
        return bool(value)

    def b_decimal(value: Any = "0") -> Decimal:
        t = type(value)
        if t is str:
            if len(value) > 200:
                raise limit("Decimal text longer than 200 characters")
        elif t not in (int, bool, Decimal, tuple):
            raise TypeError(f"Decimal() argument must be str, int or Decimal, not '{t.__name__}'")
        elif t is tuple and (len(value) != 3 or type(value[1]) is not tuple or len(value[1]) > 2 * DECIMAL_DIGITS):
            raise ValueError(f"Decimal((sign, digits, exponent)) takes at most {2 * DECIMAL_DIGITS} digits")
        charge(gas.OP + gas.DECIMAL_OP)  # the conversion, then fitting it to the context
        try:
            return fit_decimal(Decimal(value))
        except decimal.Overflow as exc:
            raise limit(str(exc)) from None

    def b_sum(iterable: Any, /, start: Any = 0) -> Any:
        items = materialize(iterable)
        charge(2 * gas.OP)  # the scan of the items' types and sizes below
        kinds = set(map(type, items))
        if type(start) is int and kinds <= INT_KINDS:
            charge(sum(map(int.bit_length, items)) >> 4)
            return check_result(sum(items, start))
        if type(start) in (int, Decimal) and kinds <= NUMBER_KINDS:
            charge(len(items) * gas.DECIMAL_OP)
            return check_result(sum(items, start))
        total = start
        for item in items:
            total = op_Add(total, item)
        return total

    def b_sorted(iterable: Any, /, *, key: Any = None, reverse: bool = False) -> list[Any]:
        items = list(materialize(iterable))
        charge_sort(items)
        items.sort(key=key, reverse=reverse)
        return items

    def extreme(pick: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            items = materialize(args[0]) if len(args) == 1 else args
            charge(gas.OP)  # the scan of the items' types below
            charge_len(len(items))
            if not CHEAP_TYPES.issuperset(map(type, items)):
                measure(items)  # each comparison may walk a whole element
            return pick(items, **kwargs)

        return run

    def b_any(iterable: Any) -> bool:
        for item in iterable:
            charge(gas.LOOP)
            if item:
                return True
        return False

    def b_all(iterable: Any) -> bool:
        for item in iterable:
            charge(gas.LOOP)
            if not item:
                return False
        return True

    def b_round(number: Any, ndigits: Any = None) -> Any:
        charge(gas.DECIMAL_OP)
        if ndigits is None:
            if type(number) is Decimal:
                int_from_decimal(number)
            return round(number)
        if type(ndigits) is not int or abs(ndigits) > 1000:
            raise ValueError("round() ndigits must be an int between -1000 and 1000")
        return check_result(round(number, ndigits))

    def b_pow(base: Any, exp: Any, mod: Any = None) -> Any:
        if mod is None:
            return op_Pow(base, exp)
        if type(base) not in (int, bool) or type(exp) not in (int, bool) or type(mod) not in (int, bool):
            raise TypeError("pow() with a modulus takes ints")
        m_bits = max(abs(mod).bit_length(), abs(base).bit_length())
        if exp < 0:  # a modular inverse: an extended Euclid
            charge(gas.OP + m_bits * m_bits // 64)
        else:  # one modular multiplication per bit of the exponent
            charge(gas.OP + (exp.bit_length() * m_bits * m_bits >> 12))
        return check_result(pow(base, exp, mod))

    def b_divmod(a: Any, b: Any) -> Any:
        charge(division_cost(a, b))
        return divmod(a, b)

    def b_len(obj: Any) -> int:
        charge(gas.OP)
        return len(obj)

    def int_text(convert: Callable[[Any], str]) -> Callable[[Any], str]:
        def run(number: Any) -> str:
            charge(gas.OP + (number.bit_length() >> 4 if type(number) is int else 0))
            return convert(number)

        return run

    metered_types: dict[Callable[..., Any], type] = {
        b_list: list, b_tuple: tuple, b_dict: dict, b_str: str, b_bytes: bytes, b_int: int,
        b_bool: bool, b_decimal: Decimal,
    }

    def as_type(cls: Any) -> Any:
        if type(cls) is tuple:
            return tuple(as_type(c) for c in cls)
        return metered_types.get(cls, cls)

    def b_isinstance(obj: Any, classinfo: Any) -> bool:
        charge(gas.OP)
        return isinstance(obj, as_type(classinfo))

    def b_issubclass(cls: Any, classinfo: Any) -> bool:
        charge(gas.OP)
        return issubclass(as_type(cls), as_type(classinfo))

    def simple(function: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            charge(gas.OP)
            return function(*args, **kwargs)

        return run

    def check_exc(exc: BaseException) -> None:
        """First thing in every ``except`` block: halts go on, and what service code may see
        of the exception is cleaned."""
        if isinstance(exc, Halt):
            raise exc
        charge(gas.HANDLER)
        if isinstance(exc, RecursionError):
            raise limit(f"call depth limit exceeded ({gas.MAX_CALL_DEPTH} frames)") from None
        if isinstance(exc, MemoryError):
            raise limit("memory limit exceeded") from None
        # CPython walks the whole __context__ chain on every raise inside a handler: cut it,
        # or a recursion through handlers turns quadratic.
        exc.__context__ = None
        if isinstance(exc, AttributeError):
            exc.obj = None  # the object whose attribute was missing: possibly a host object
        if isinstance(exc, CodecError):
            return
        exc.args = tuple(scrub(a) if type(a) is str else a for a in exc.args)

    def enter_finally() -> None:
        """First thing in every ``finally`` block: when a halt is unwinding the call, the block
        is skipped (nothing it does can survive), else the handled exception's chain is cut."""
        exc = sys.exc_info()[1]
        if exc is None:
            return
        if isinstance(exc, Halt):
            raise exc
        charge(gas.HANDLER)
        exc.__context__ = None

    def tick(amount: int) -> bool:
        charge(amount)
        return True

    names: dict[str, Any] = {
        "abs": simple(abs),
        "all": b_all,
        "any": b_any,
        "bin": int_text(bin),
        "bool": b_bool,
        "bytes": b_bytes,
        "callable": simple(callable),
        "chr": simple(chr),
        "dict": b_dict,
        "divmod": b_divmod,
        "enumerate": simple(enumerate),
        "filter": simple(filter),
        "hex": int_text(hex),
        "int": b_int,
        "isinstance": b_isinstance,
        "issubclass": b_issubclass,
        "iter": simple(iter),
        "len": b_len,
        "list": b_list,
        "map": simple(map),
        "max": extreme(max),
        "min": extreme(min),
        "next": simple(next),
        "oct": int_text(oct),
        "ord": simple(ord),
        "pow": b_pow,
        "range": simple(range),
        "repr": b_repr,
        "reversed": simple(reversed),
        "round": b_round,
        "sorted": b_sorted,
        "str": b_str,
        "sum": b_sum,
        "super": super,
        "tuple": b_tuple,
        "zip": simple(zip),
        "Decimal": b_decimal,
    }
    for fn_name, fn in names.items():
        if hasattr(fn, "__qualname__") and fn is not super:
            fn.__name__ = fn.__qualname__ = fn_name
    for exc_name in (
        "Exception ArithmeticError AssertionError AttributeError IndexError KeyError LookupError "
        "NotImplementedError OverflowError RuntimeError StopIteration TypeError ValueError "
        "ZeroDivisionError"
    ).split():
        names[exc_name] = __builtins__[exc_name] if isinstance(__builtins__, dict) else getattr(__builtins__, exc_name)  # type: ignore[index]
    names["__build_class__"] = __build_class__  # type: ignore[name-defined]  # noqa: F821
    names["__am_g__"] = charge
    names["__am_tick__"] = tick
    names["__am_check_exc__"] = check_exc
    names["__am_finally__"] = enter_finally
    names["__am_fstring__"] = fstring
    names["__am_key__"] = dict_key
    names["__am_BaseException__"] = BaseException
    names["__am_Object__"] = ServiceObject
    names["__am_import__"] = importer
    names["__am_chain__"] = chain
    names["__am_mkslice__"] = mkslice
    names["__am_getitem__"] = getitem
    names["__am_setitem__"] = setitem
    names["__am_delitem__"] = delitem
    names["__am_aug_item__"] = aug_item
    names["__am_getattr__"] = getattr_
    names["__am_setattr__"] = setattr_
    names["__am_aug_attr__"] = aug_attr
    names["__am_callmethod__"] = callmethod
    names["__am_fmt__"] = fmt
    names["__am_spread__"] = spread
    for op_name, fn in binary.items():
        names[f"__am_op_{op_name}__"] = fn
        names[f"__am_iop_{op_name}__"] = inplace_ops[op_name]
    for op_name, fn in compare.items():
        names[f"__am_cmp_{op_name}__"] = fn
    return names
