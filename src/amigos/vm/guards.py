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

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable, Iterator

from ..errors import CodecError
from . import gas
from .gas import Halt, Meter

INT_LIMIT = 1 << gas.MAX_INT_BITS
CHEAP_TYPES = frozenset({int, bool, type(None), Decimal})
SIZED_TYPES = (list, tuple, str, bytes, dict, range)
VIEW_TYPES = (type({}.keys()), type({}.values()), type({}.items()))
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

    def walk_cost(value: Any) -> int:
        """Charge for walking ``value`` deeply; return an estimate of its repr length."""
        size = 0
        nodes = 0
        stack = [value]
        seen: set[int] = set()
        while stack:
            v = stack.pop()
            nodes += 1
            t = type(v)
            if t is str:
                size += len(v) + 2
            elif t is bytes:
                size += 4 * len(v) + 3
            elif t is int:
                size += v.bit_length() // 3 + 2
            elif v is None or t is bool or t is Decimal:
                size += 8
            elif t is list or t is tuple or t is dict or isinstance(v, ServiceObject) or is_service_class(t):
                if id(v) in seen:
                    size += 5
                    continue
                seen.add(id(v))
                items: Iterable[Any]
                if t is dict:
                    items = [x for kv in v.items() for x in kv]
                elif t is list or t is tuple:
                    items = v
                else:
                    attrs = getattr(v, "__dict__", {})
                    items = list(attrs.values())
                    size += len(t.__name__) + sum(len(k) + 1 for k in attrs)
                count = len(items)  # type: ignore[arg-type]
                if nodes + count > gas.MAX_SEQUENCE:
                    raise limit("value too large to walk")
                size += 2 + 2 * count
                stack.extend(items)
            else:
                size += 64
            if nodes & 1023 == 0:
                charge(1024 * gas.ELEMENT)
            if size > gas.MAX_SEQUENCE * 4:
                raise limit("text representation too large")
        charge(gas.OP + (nodes & 1023) * gas.ELEMENT + size // gas.BYTE_DIVISOR)
        return size

    def cost_of_compare(a: Any, b: Any) -> None:
        ta, tb = type(a), type(b)
        if ta in CHEAP_TYPES or tb in CHEAP_TYPES:
            charge(gas.OP)
        elif (ta is str or ta is bytes) and (tb is str or tb is bytes):
            charge(gas.OP + min(len(a), len(b)) // gas.BYTE_DIVISOR)
        elif ta is tb and ta in (list, tuple, dict):
            walk_cost(a if len(a) <= len(b) else b)
        else:
            charge(gas.OP)

    def cost_of_key(key: Any) -> None:
        # Hashing a tuple walks it every time (tuples do not cache their hash).
        if type(key) is tuple:
            walk_cost(key)

    def metered(iterable: Any) -> Iterator[Any]:
        for item in iterable:
            charge(gas.ELEMENT)
            yield item

    def materialize(iterable: Any) -> list[Any] | tuple[Any, ...]:
        t = type(iterable)
        if t is list or t is tuple:
            charge_len(len(iterable))
            return iterable
        if t in SIZED_TYPES or t in VIEW_TYPES:
            charge_len(len(iterable))
            return list(iterable)
        out = []
        for item in iterable:
            charge(gas.ELEMENT)
            out.append(item)
            if len(out) > gas.MAX_SEQUENCE:
                raise limit(f"more than {gas.MAX_SEQUENCE} elements")
        return out

    def spread(value: Any) -> Any:
        t = type(value)
        if t in SIZED_TYPES or t in VIEW_TYPES:
            charge_len(len(value))
            return value
        if callable(getattr(value, "keys", None)):  # a mapping (std.Map charges per access)
            return value
        return metered(value)

    # -------------------------------------------------------------- binary operators

    def op_Add(a: Any, b: Any) -> Any:
        if type(a) is int and type(b) is int:
            r = a + b
            if -INT_LIMIT < r < INT_LIMIT:
                return r
            raise limit(f"integer larger than {gas.MAX_INT_BITS} bits")
        ta = type(a)
        if ta in (str, bytes, list, tuple) and type(b) is ta:
            charge_size(ta, len(a) + len(b))
        else:
            charge(gas.OP)
        return check_result(a + b)

    def op_Sub(a: Any, b: Any) -> Any:
        if type(a) is int and type(b) is int:
            r = a - b
            if -INT_LIMIT < r < INT_LIMIT:
                return r
            raise limit(f"integer larger than {gas.MAX_INT_BITS} bits")
        charge(gas.OP)
        return check_result(a - b)

    def repeat_size(seq: Any, n: Any) -> None:
        if type(n) not in (int, bool):
            return
        total = len(seq) * max(int(n), 0)
        charge_size(type(seq), total)

    def op_Mult(a: Any, b: Any) -> Any:
        ta, tb = type(a), type(b)
        if ta is int and tb is int:
            if a.bit_length() + b.bit_length() > gas.MAX_INT_BITS + 1:
                raise limit(f"integer larger than {gas.MAX_INT_BITS} bits")
            charge(gas.OP + (a.bit_length() * b.bit_length()) // 4096)
            return check_int(a * b)
        if ta in (str, bytes, list, tuple):
            repeat_size(a, b)
        elif tb in (str, bytes, list, tuple):
            repeat_size(b, a)
        else:
            charge(gas.OP)
        return check_result(a * b)

    def op_Div(a: Any, b: Any) -> Any:
        charge(gas.OP)
        if type(a) in (int, bool) and type(b) in (int, bool):
            return Decimal(a) / Decimal(b)
        return check_result(a / b)

    def op_FloorDiv(a: Any, b: Any) -> Any:
        charge(gas.OP)
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
        walk_cost(args)

    def op_Mod(a: Any, b: Any) -> Any:
        ta = type(a)
        if ta is str or ta is bytes:
            check_percent_format(a, b)
            return scrub(a % b) if ta is str else a % b
        charge(gas.OP)
        return check_result(a % b)

    def op_Pow(a: Any, b: Any) -> Any:
        ta, tb = type(a), type(b)
        if ta in (int, bool) and tb in (int, bool):
            if b < 0:
                charge(gas.OP)
                return Decimal(a) ** b
            if abs(a) > 1 and (abs(a).bit_length() - 1) * b > gas.MAX_INT_BITS:
                raise limit(f"integer larger than {gas.MAX_INT_BITS} bits")
            charge(gas.OP + abs(a).bit_length() * min(b, gas.MAX_INT_BITS) // 64)
            return check_int(a**b)
        charge(gas.OP)
        return check_result(a**b)

    def op_LShift(a: Any, b: Any) -> Any:
        if type(a) in (int, bool) and type(b) in (int, bool) and a and b > 0:
            if a.bit_length() + b > gas.MAX_INT_BITS:
                raise limit(f"integer larger than {gas.MAX_INT_BITS} bits")
        charge(gas.OP)
        return check_result(a << b)

    def op_RShift(a: Any, b: Any) -> Any:
        charge(gas.OP)
        return check_result(a >> b)

    def op_dictlike(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def apply(a: Any, b: Any) -> Any:
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
                    a.extend(materialize(b))
                    if len(a) > gas.MAX_SEQUENCE:
                        raise limit(f"list longer than {gas.MAX_SEQUENCE}")
                    return a
                return plain(a, b)

            return iadd
        if op_name == "BitOr":

            def ior(a: Any, b: Any) -> Any:
                if type(a) is dict:
                    charge_len(len(b) if hasattr(b, "__len__") else 0)
                    a |= b
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
        if t is dict:
            cost_of_key(item)
            charge(gas.OP)
        elif t is str or t is bytes:
            n = len(container) + (len(item) if type(item) in (str, bytes) else 0)
            charge(gas.OP + n // gas.BYTE_DIVISOR)
        elif t is list or t is tuple:
            per_item = 1
            if type(item) not in CHEAP_TYPES:
                per_item += walk_cost(item) // 8
            charge(gas.OP + len(container) * per_item * gas.ELEMENT)
        else:
            charge(gas.OP)
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
        for i in range(0, len(pairs), 2):
            right = pairs[i + 1]()
            if not compare[pairs[i]](left, right):
                return False
            left = right
        return True

    # -------------------------------------------------------------- subscripts

    def mkslice(lower: Any, upper: Any, step: Any) -> slice:
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
            if type(key) is tuple:
                walk_cost(key)
            else:
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
            cost_of_key(key)
            if len(obj) >= gas.MAX_SEQUENCE and key not in obj:
                raise limit(f"dict larger than {gas.MAX_SEQUENCE}")
        charge(gas.OP)
        obj[key] = value

    def delitem(obj: Any, key: Any) -> None:
        t = type(obj)
        if t is list:
            charge_len(len(obj))
        elif t is dict:
            cost_of_key(key)
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
            else:
                source = materialize(source)
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
        charge_sort(len(obj))
        obj.sort(*args, **kwargs)

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

    def m_quantize(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        charge(gas.OP)
        if kwargs.get("context") is not None or len(args) > 2:
            raise TypeError("quantize() does not take a context")
        return obj.quantize(*args, **{k: v for k, v in kwargs.items() if k == "rounding"})

    str_linear = """capitalize casefold count endswith find index isalnum isalpha isascii isdecimal
        isdigit isidentifier islower isnumeric isprintable isspace istitle isupper lower lstrip
        partition removeprefix removesuffix rfind rindex rpartition rsplit rstrip split splitlines
        startswith strip swapcase title upper""".split()
    bytes_linear = """capitalize count endswith find hex index isalnum isalpha isascii isdigit
        islower isspace istitle isupper lower lstrip partition removeprefix removesuffix rfind
        rindex rpartition rsplit rstrip split splitlines startswith strip swapcase title upper""".split()
    str_methods: dict[str, Callable[..., Any]] = {n: m_linear for n in str_linear}
    str_methods.update(center=m_pad, ljust=m_pad, rjust=m_pad, zfill=m_pad, expandtabs=m_expandtabs,
                       replace=m_replace, join=m_join, encode=m_encode)
    bytes_methods: dict[str, Callable[..., Any]] = {n: m_linear for n in bytes_linear}
    bytes_methods.update(center=m_pad, ljust=m_pad, rjust=m_pad, zfill=m_pad, expandtabs=m_expandtabs,
                         replace=m_replace, join=m_join, decode=m_decode, fromhex=m_fromhex)
    list_methods: dict[str, Callable[..., Any]] = {
        "append": m_append, "clear": m_const, "copy": m_linear, "count": m_linear, "extend": m_extend,
        "index": m_linear, "insert": m_linear, "pop": m_linear, "remove": m_linear, "reverse": m_linear,
        "sort": m_sort,
    }
    dict_methods: dict[str, Callable[..., Any]] = {
        "clear": m_const, "copy": m_linear, "get": m_const, "items": m_const, "keys": m_const,
        "values": m_const, "pop": m_const, "popitem": m_const, "setdefault": m_const, "update": m_update,
    }
    tuple_methods: dict[str, Callable[..., Any]] = {"count": m_linear, "index": m_linear}
    int_methods: dict[str, Callable[..., Any]] = {
        "bit_length": m_const, "bit_count": m_const, "conjugate": m_const, "as_integer_ratio": m_const,
        "to_bytes": m_to_bytes, "from_bytes": m_from_bytes,
    }
    decimal_methods: dict[str, Callable[..., Any]] = {
        n: m_const
        for n in """adjusted as_integer_ratio as_tuple compare copy_abs copy_negate copy_sign exp
            is_finite is_infinite is_nan is_signed is_zero ln log10 max min normalize sqrt
            to_eng_string to_integral to_integral_value""".split()
    }
    decimal_methods["quantize"] = m_quantize
    view_methods: dict[str, Callable[..., Any]] = {"isdisjoint": m_linear}
    range_methods: dict[str, Callable[..., Any]] = {"count": m_const, "index": m_const}

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
        if t in (int, bool) or value is None or t is Decimal:
            charge(gas.OP)
        else:
            walk_cost(value)
        return scrub(repr(value) if use_repr else str(value))

    def fmt(value: Any, conversion: int, spec: str) -> str:
        if conversion in (ord("r"), ord("a")):
            value = to_text(value, use_repr=True)
        elif conversion == ord("s"):
            value = to_text(value, use_repr=False)
        if spec:
            charge_text(len(spec))
            for number in _FORMAT_NUMBER.findall(spec):
                if int(number) > gas.MAX_FORMAT_WIDTH:
                    raise limit(f"format width above {gas.MAX_FORMAT_WIDTH}")
            if type(value) not in (str, int, bool, Decimal):
                raise TypeError(f"format spec not supported for {type(value).__name__}")
            charge_text(len(value) if type(value) is str else 0)
            return format(value, spec)
        if type(value) is str:
            return value
        return to_text(value, use_repr=False)

    # -------------------------------------------------------------- builtins

    def charge_sort(n: int) -> None:
        charge_len(n)
        if n > 1:
            charge(n * math.ceil(math.log2(n)) * gas.SORT_FACTOR * gas.ELEMENT)

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
        if t is str or t is bytes:
            charge_text(len(value))
        else:
            charge(gas.OP)
        if t not in (int, bool, str, bytes, Decimal):
            raise TypeError(f"int() argument must be a string, bytes or a number, not '{t.__name__}'")
        return check_int(int(value, *args, **kwargs))

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
        charge(gas.OP)
        result = Decimal(value)
        if not result.is_finite():
            raise InvalidOperation("only finite Decimals are supported")
        return result

    def b_sum(iterable: Any, /, start: Any = 0) -> Any:
        items = materialize(iterable)
        if type(start) in (int, Decimal) and all(type(x) in (int, bool, Decimal) for x in items):
            return check_result(sum(items, start))
        total = start
        for item in items:
            total = op_Add(total, item)
        return total

    def b_sorted(iterable: Any, /, *, key: Any = None, reverse: bool = False) -> list[Any]:
        items = list(materialize(iterable))
        charge_sort(len(items))
        items.sort(key=key, reverse=reverse)
        return items

    def extreme(pick: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            items = materialize(args[0]) if len(args) == 1 else args
            charge_len(len(items))
            return pick(items, **kwargs)

        return run

    def b_any(iterable: Any) -> bool:
        for item in iterable:
            charge(gas.ELEMENT)
            if item:
                return True
        return False

    def b_all(iterable: Any) -> bool:
        for item in iterable:
            charge(gas.ELEMENT)
            if not item:
                return False
        return True

    def b_round(number: Any, ndigits: Any = None) -> Any:
        charge(gas.OP)
        if ndigits is None:
            return round(number)
        if type(ndigits) is not int or abs(ndigits) > 1000:
            raise ValueError("round() ndigits must be an int between -1000 and 1000")
        return check_result(round(number, ndigits))

    def b_pow(base: Any, exp: Any, mod: Any = None) -> Any:
        if mod is None:
            return op_Pow(base, exp)
        charge(gas.OP + gas.MAX_INT_BITS // 8)
        return check_result(pow(base, exp, mod))

    def b_divmod(a: Any, b: Any) -> Any:
        charge(gas.OP)
        return divmod(a, b)

    def b_len(obj: Any) -> int:
        charge(gas.OP)
        return len(obj)

    def int_text(convert: Callable[[Any], str]) -> Callable[[Any], str]:
        def run(number: Any) -> str:
            charge(gas.OP + gas.MAX_INT_BITS // 64)
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
        if isinstance(exc, Halt):
            raise exc
        if isinstance(exc, RecursionError):
            raise limit(f"call depth limit exceeded ({gas.MAX_CALL_DEPTH} frames)") from None
        if isinstance(exc, MemoryError):
            raise limit("memory limit exceeded") from None
        if isinstance(exc, CodecError):
            return
        exc.args = tuple(scrub(a) if type(a) is str else a for a in exc.args)

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
