"""Canonical bytes for values.

Two encodings live here, both deterministic: the same value gives the same bytes on every
machine, Python version and hash seed.

``encode`` / ``decode`` — the *value encoding* used for persistent state, for arguments and
results that cross a service boundary, and for hashing. Every value is a tag byte followed by
its payload; lengths and counts are unsigned LEB128 varints::

    00 None      01 False     02 True
    03 int       varint(n) + n bytes, two's complement, big-endian, minimal length
    04 str       varint(n) + n bytes of UTF-8 (lone surrogates kept, "surrogatepass")
    05 bytes     varint(n) + n bytes
    06 list      varint(count) + items
    07 tuple     varint(count) + items
    08 dict      varint(count) + (key, value) pairs in insertion order
    09 Decimal   varint(n) + n bytes of ASCII, ``str(d)`` (finite values only)
    0a map       varint(map id)                       -- a reference to a std.Map
    0b object    str(class name) + dict(attributes)   -- an instance of a service's class

Tags 0a and 0b are only produced and accepted when the caller passes an :class:`Extensions`.

``encode_key`` / ``decode_key`` — the *key encoding* of ``std.Map`` keys. It preserves order, so
a Map iterates its keys in a meaningful order: integers numerically, then bytes, then strings
(by code point), then tuples element-wise. Keys are ints, str, bytes and tuples of those.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable, NamedTuple

from .errors import CodecError

MAX_DEPTH = 64
"""Deepest nesting of containers a value may have (the top-level value is depth 1)."""

NONE, FALSE, TRUE, INT, STR, BYTES, LIST, TUPLE, DICT, DECIMAL, MAP, OBJECT = range(12)


class Extensions(NamedTuple):
    """How the VM plugs its own two value kinds into the codec.

    ``map_id(obj)`` returns the id of a ``std.Map`` (or ``None`` if ``obj`` is not one);
    ``object_state(obj)`` returns ``(class name, attributes)`` for a service-defined object (or
    ``None``). On decoding, ``make_map(id)`` and ``make_object(name, attributes)`` rebuild them.
    """

    map_id: Callable[[Any], int | None]
    object_state: Callable[[Any], tuple[str, dict[str, Any]] | None]
    make_map: Callable[[int], Any]
    make_object: Callable[[str, dict[str, Any]], Any]


# --------------------------------------------------------------------------- varints


def encode_varint(n: int) -> bytes:
    if n < 0:
        raise CodecError("varint must be non-negative")
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise CodecError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if byte == 0 and shift:
                raise CodecError("non-minimal varint")
            return result, pos
        shift += 7
        if shift > 63:
            raise CodecError("varint too long")


# --------------------------------------------------------------------------- values

_INT_TAG = bytes((INT,))
_SMALL_VARINT = [bytes((n,)) for n in range(128)]


def int_bytes(n: int) -> bytes:
    """Minimal two's complement big-endian bytes of ``n``."""
    return n.to_bytes((n.bit_length() + 8) // 8, "big", signed=True)


class NestingTooDeep(CodecError):
    """A value nested deeper than :data:`MAX_DEPTH`."""


class ValueTooLarge(CodecError):
    """An encoding that grew past the ``max_bytes`` it was given."""


def encode(value: Any, ext: Extensions | None = None, max_depth: int = MAX_DEPTH, max_bytes: int | None = None) -> bytes:
    """The canonical bytes of ``value``; raises :class:`CodecError` for anything else.

    ``max_bytes`` stops the encoding early (:class:`ValueTooLarge`): a structure that shares
    sub-values encodes each occurrence, so its encoding can be exponentially larger than it.
    """
    if type(value) is int:
        b = value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True)
        return _INT_TAG + _SMALL_VARINT[len(b)] + b if len(b) < 128 else _INT_TAG + encode_varint(len(b)) + b
    out = bytearray()
    _encode_into(value, out, ext, max_depth, max_bytes if max_bytes is not None else MAX_ENCODED)
    return bytes(out)


MAX_ENCODED = 1 << 30


def _encode_into(v: Any, out: bytearray, ext: Extensions | None, depth: int, room: int) -> None:
    # Lengths under 128 (nearly all) are one varint byte: looked up rather than computed.
    t = type(v)
    if t is str:
        b = v.encode("utf-8", "surrogatepass")
        n = len(b)
        out.append(STR)
        out += _SMALL_VARINT[n] if n < 128 else encode_varint(n)
        out += b
    elif t is int:
        b = v.to_bytes((v.bit_length() + 8) // 8, "big", signed=True)
        n = len(b)
        out.append(INT)
        out += _SMALL_VARINT[n] if n < 128 else encode_varint(n)
        out += b
    elif v is None:
        out.append(NONE)
    elif t is bool:
        out.append(TRUE if v else FALSE)
    elif t is bytes:
        n = len(v)
        out.append(BYTES)
        out += _SMALL_VARINT[n] if n < 128 else encode_varint(n)
        out += v
    elif t is list or t is tuple:
        _check_room(out, depth, room)
        out.append(LIST if t is list else TUPLE)
        out += encode_varint(len(v))
        for item in v:
            _encode_into(item, out, ext, depth - 1, room)
            if len(out) > room:  # a long flat list stops here, not after all of it
                raise ValueTooLarge(f"value larger than {room} bytes when encoded")
    elif t is dict:
        _check_room(out, depth, room)
        out.append(DICT)
        out += encode_varint(len(v))
        for key, item in v.items():
            _encode_into(key, out, ext, depth - 1, room)
            _encode_into(item, out, ext, depth - 1, room)
            if len(out) > room:
                raise ValueTooLarge(f"value larger than {room} bytes when encoded")
    elif t is Decimal:
        if not v.is_finite():
            raise CodecError("only finite Decimals can be stored")
        b = str(v).encode("ascii")
        out.append(DECIMAL)
        out += encode_varint(len(b))
        out += b
    else:
        _encode_extension(v, out, ext, depth, room)


def _check_room(out: bytearray, depth: int, room: int) -> None:
    # Checked on entering each container, which bounds the work as well as the output.
    if depth <= 1:
        raise NestingTooDeep("value nested too deeply")
    if len(out) > room:
        raise ValueTooLarge(f"value larger than {room} bytes when encoded")


def _encode_extension(v: Any, out: bytearray, ext: Extensions | None, depth: int, room: int) -> None:
    if ext is not None:
        map_id = ext.map_id(v)
        if map_id is not None:
            out.append(MAP)
            out += encode_varint(map_id)
            return
        state = ext.object_state(v)
        if state is not None:
            _check_room(out, depth, room)
            name, attrs = state
            out.append(OBJECT)
            _encode_into(name, out, None, depth - 1, room)
            _encode_into(attrs, out, ext, depth - 1, room)
            return
    raise CodecError(f"a value of type {describe_type(v)} cannot be stored or passed")


def describe_type(v: Any) -> str:
    """A short, host-independent description of a value's type for error messages."""
    if callable(v) and not isinstance(v, type):
        return "function"
    return type(v).__name__


def decode(data: bytes, ext: Extensions | None = None, max_depth: int = MAX_DEPTH) -> Any:
    """The value whose canonical bytes are ``data``; raises :class:`CodecError` otherwise."""
    if type(data) is bytes:
        # Fast paths for the commonest stored values, an int, str or bytes with a one-byte
        # length: read as _decode_items reads them, without setting up its loop. (An int that
        # is not canonical goes on to _decode_items, to be refused there.)
        size = len(data) - 2
        if 0 <= size < 0x80 and data[1] == size:
            tag = data[0]
            if tag == INT:
                value = int.from_bytes(data[2:], "big", signed=True)
                if (value.bit_length() + 8) // 8 == size:
                    return value
            elif tag == STR:
                try:
                    return data[2:].decode("utf-8", "surrogatepass")
                except UnicodeDecodeError as exc:
                    raise CodecError("invalid UTF-8 in str") from exc
            elif tag == BYTES:
                return data[2:]
    elif not isinstance(data, (bytes, bytearray, memoryview)):
        raise CodecError("decode expects bytes")
    else:
        data = bytes(data)
    (value,), pos = _decode_items(data, 0, 1, ext, max_depth)
    if pos != len(data):
        raise CodecError("trailing bytes after value")
    return value


def decode_sequence(data: bytes, count: int, max_depth: int = MAX_DEPTH) -> list[Any]:
    """The ``count`` values whose canonical bytes, one after the other, are ``data`` (each read
    as :func:`decode` reads one, with ``max_depth``); raises :class:`CodecError` otherwise."""
    items, pos = _decode_items(data, 0, count, None, max_depth)
    if pos != len(data):
        raise CodecError("trailing bytes after value")
    return items


_SIZED = frozenset((INT, STR, BYTES, DECIMAL))
"""Tags of a varint length and that many bytes."""
_CONSTANTS = (None, False, True)
"""The values of tags 00, 01 and 02."""


def _decode_items(data: bytes, pos: int, count: int, ext: Extensions | None, depth: int) -> tuple[list[Any], int]:
    """The ``count`` values from ``pos`` on (a container's items, at nesting ``depth``), and
    where they end. Scalars are read here, in the loop, not by a call each: most values are
    scalars inside a container, and a call costs more than reading one."""
    items: list[Any] = []
    append = items.append
    end = len(data)
    for _ in range(count):
        if pos >= end:
            raise CodecError("truncated value")
        tag = data[pos]
        if tag in _SIZED:
            if pos + 1 < end and data[pos + 1] < 0x80:  # a one-byte length: the common case
                start = pos + 2
                n = data[pos + 1]
            else:
                n, start = _read_varint(data, pos + 1)
            pos = start + n
            if pos > end:
                raise CodecError("truncated value")
            raw = data[start:pos]
            if tag == BYTES:
                append(raw)
            elif tag == STR:
                try:
                    append(raw.decode("utf-8", "surrogatepass"))
                except UnicodeDecodeError as exc:
                    raise CodecError("invalid UTF-8 in str") from exc
            elif tag == INT:
                value = int.from_bytes(raw, "big", signed=True)
                # One value has one two's complement per length: the payload is canonical when
                # it has the length int_bytes() gives. (One byte is not always enough: -128 is
                # ff 80, as int_bytes() writes it, and the lone byte 80 is refused.)
                if (value.bit_length() + 8) // 8 != n:
                    raise CodecError("non-canonical int")
                append(value)
            else:
                append(_decimal(raw))
        elif tag <= TRUE:
            append(_CONSTANTS[tag])
            pos += 1
        elif tag == LIST or tag == TUPLE or tag == DICT:
            if depth <= 1:
                raise NestingTooDeep("value nested too deeply")
            pos += 1
            if pos < end and data[pos] < 0x80:
                size = data[pos]
                pos += 1
            else:
                size, pos = _read_varint(data, pos)
            if size > end - pos:
                raise CodecError("container count exceeds data")
            if tag == DICT:
                result, pos = _decode_dict(data, pos, size, ext, depth - 1)
                append(result)
            else:
                inner, pos = _decode_items(data, pos, size, ext, depth - 1)
                append(inner if tag == LIST else tuple(inner))
        elif ext is not None and tag == MAP:
            map_id, pos = _read_varint(data, pos + 1)
            append(ext.make_map(map_id))
        elif ext is not None and tag == OBJECT:
            if depth <= 1:
                raise NestingTooDeep("value nested too deeply")
            (name,), pos = _decode_items(data, pos + 1, 1, None, depth - 1)
            (attrs,), pos = _decode_items(data, pos, 1, ext, depth - 1)
            if type(name) is not str or type(attrs) is not dict:
                raise CodecError("malformed object")
            append(ext.make_object(name, attrs))
        else:
            raise CodecError(f"unknown tag 0x{tag:02x}")
    return items, pos


def _decode_dict(data: bytes, pos: int, count: int, ext: Extensions | None, depth: int) -> tuple[dict[Any, Any], int]:
    """``count`` key-value pairs from ``pos`` on, each pair checked as soon as it is read."""
    result: dict[Any, Any] = {}
    for _ in range(count):
        (key, item), pos = _decode_items(data, pos, 2, ext, depth)
        try:
            if key in result:
                raise CodecError("duplicate dict key")
            result[key] = item
        except TypeError as exc:
            raise CodecError("unhashable dict key") from exc
    return result, pos


def _decimal(raw: bytes) -> Decimal:
    try:
        d = Decimal(raw.decode("ascii"))
    except Exception as exc:
        raise CodecError("invalid Decimal") from exc
    if not d.is_finite() or str(d).encode("ascii") != raw:
        raise CodecError("non-canonical Decimal")
    return d


# --------------------------------------------------------------------------- Map keys

_K_END, _K_INT, _K_BYTES, _K_STR, _K_TUPLE = 0x00, 0x01, 0x02, 0x03, 0x04
MAX_KEY_INT_BYTES = 120
MAX_KEY_BYTES = 4096
"""Longest encoded Map key: keys are read and hashed on every access, so they stay small."""
MAX_KEY_PARTS = 32
"""Most elements in one tuple key (at any nesting level)."""
KEY_STR_TAG = b"\x03"
KEY_STR_END = b"\x00\x01"
"""A str key without NUL encodes as KEY_STR_TAG + its UTF-8 + KEY_STR_END."""
FAST_STR_KEY = MAX_KEY_BYTES // 4 - 2
"""A str key this short is within MAX_KEY_BYTES whatever its characters (4 UTF-8 bytes each)."""


class KeyTooLarge(CodecError):
    """A Map key over :data:`MAX_KEY_BYTES` or :data:`MAX_KEY_PARTS`."""


def encode_key(key: Any) -> bytes:
    """Order-preserving bytes of a Map key (int, str, bytes, or a tuple of those)."""
    if type(key) is str and len(key) <= FAST_STR_KEY and "\x00" not in key:
        # UTF-8 has a zero byte only for U+0000, so such a key needs no escaping. (Testing the
        # str is also several times faster than testing the encoded bytes.)
        return KEY_STR_TAG + key.encode("utf-8", "surrogatepass") + KEY_STR_END
    out = bytearray()
    _encode_key_into(key, out, 0)
    if len(out) > MAX_KEY_BYTES:
        raise KeyTooLarge(f"a Map key is limited to {MAX_KEY_BYTES} bytes")
    return bytes(out)


def _escape(raw: bytes, out: bytearray) -> None:
    # 0x00 inside a string becomes 00 ff so that 00 01 can terminate it and sort first.
    out += raw.replace(b"\x00", b"\x00\xff")
    out += b"\x00\x01"


def _encode_key_into(key: Any, out: bytearray, depth: int) -> None:
    # Every element adds at least one byte, so checking here bounds the work too.
    if len(out) > MAX_KEY_BYTES:
        raise KeyTooLarge(f"a Map key is limited to {MAX_KEY_BYTES} bytes")
    t = type(key)
    if t is int:
        magnitude = -key if key < 0 else key
        size = (magnitude.bit_length() + 7) // 8
        if size > MAX_KEY_INT_BYTES:
            raise CodecError("Map key integer too large")
        out.append(_K_INT)
        if key >= 0:
            out.append(0x80 + size)
            out += magnitude.to_bytes(size, "big")
        else:
            out.append(0x7F - size)
            out += ((1 << (8 * size)) - 1 - magnitude).to_bytes(size, "big")
    elif t is str or t is bytes:
        if len(key) > MAX_KEY_BYTES:
            raise KeyTooLarge(f"a Map key is limited to {MAX_KEY_BYTES} bytes")
        out.append(_K_STR if t is str else _K_BYTES)
        _escape(key.encode("utf-8", "surrogatepass") if t is str else key, out)
    elif t is tuple:
        if depth >= 8:
            raise CodecError("Map key tuple nested too deeply")
        if len(key) > MAX_KEY_PARTS:
            raise KeyTooLarge(f"a Map key tuple is limited to {MAX_KEY_PARTS} elements")
        out.append(_K_TUPLE)
        for item in key:
            _encode_key_into(item, out, depth + 1)
        out.append(_K_END)
    else:
        raise CodecError(f"a Map key must be int, str, bytes or a tuple of those, not {describe_type(key)}")


def decode_key(data: bytes) -> Any:
    key, pos = _decode_key_from(data, 0)
    if pos != len(data):
        raise CodecError("trailing bytes after Map key")
    return key


def _unescape(data: bytes, pos: int) -> tuple[bytes, int]:
    out = bytearray()
    while True:
        end = data.find(b"\x00", pos)
        if end < 0 or end + 1 >= len(data):
            raise CodecError("unterminated Map key string")
        out += data[pos:end]
        marker = data[end + 1]
        if marker == 0x01:
            return bytes(out), end + 2
        if marker != 0xFF:
            raise CodecError("bad escape in Map key")
        out.append(0)
        pos = end + 2


def _decode_key_from(data: bytes, pos: int) -> tuple[Any, int]:
    if pos >= len(data):
        raise CodecError("truncated Map key")
    tag = data[pos]
    pos += 1
    if tag == _K_INT:
        if pos >= len(data):
            raise CodecError("truncated Map key")
        head = data[pos]
        pos += 1
        size = head - 0x80 if head >= 0x80 else 0x7F - head
        raw = data[pos : pos + size]
        if len(raw) != size:
            raise CodecError("truncated Map key")
        n = int.from_bytes(raw, "big")
        value = n if head >= 0x80 else -((1 << (8 * size)) - 1 - n)
        return value, pos + size
    if tag in (_K_STR, _K_BYTES):
        raw, pos = _unescape(data, pos)
        if tag == _K_BYTES:
            return raw, pos
        try:
            return raw.decode("utf-8", "surrogatepass"), pos
        except UnicodeDecodeError as exc:
            raise CodecError("invalid UTF-8 in Map key") from exc
    if tag == _K_TUPLE:
        items = []
        while True:
            if pos >= len(data):
                raise CodecError("unterminated Map key tuple")
            if data[pos] == _K_END:
                return tuple(items), pos + 1
            item, pos = _decode_key_from(data, pos)
            items.append(item)
    raise CodecError(f"unknown Map key tag 0x{tag:02x}")
