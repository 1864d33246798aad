from decimal import Decimal

import pytest

from amigos import codec
from amigos.errors import CodecError

VALUES = [
    None, True, False, 0, 1, -1, 127, 128, -129, 2**64, -(2**200), "", "héllo", "\ud800", b"", b"\x00\xff",
    [], [1, [2, [3]]], (), (1, "a"), {}, {"a": 1, 2: [3], (1, 2): None}, Decimal("1.50"), Decimal("-0"),
    Decimal("1E+10"),
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_roundtrip_is_exact(value):
    data = codec.encode(value)
    back = codec.decode(data)
    assert back == value and type(back) is type(value)
    assert codec.encode(back) == data


def test_encoding_is_canonical_and_order_preserving_for_dicts():
    assert codec.encode({"a": 1, "b": 2}) != codec.encode({"b": 2, "a": 1})
    assert codec.encode(1) == bytes([codec.INT, 1, 1])
    assert codec.encode(True) != codec.encode(1)


@pytest.mark.parametrize("value", [1.5, {1, 2}, object(), len, Decimal("NaN"), Decimal("Infinity")], ids=repr)
def test_unencodable_values_are_refused(value):
    with pytest.raises(CodecError):
        codec.encode(value)


def test_depth_limit():
    nested: list = []
    for _ in range(codec.MAX_DEPTH + 1):
        nested = [nested]
    with pytest.raises(CodecError):
        codec.encode(nested)


GARBAGE = [b"", b"\xff", b"\x03", b"\x03\x05\x01", b"\x04\x02\xff\xfe", b"\x06\x05", b"\x00\x00",
           b"\x03\x02\x00\x01", b"\x08\x02\x04\x01a\x00\x04\x01a\x00", b"\x09\x03abc", b"\x0a\x00", b"\x03\x80\x00"]


@pytest.mark.parametrize("data", GARBAGE, ids=repr)
def test_garbage_bytes_raise_codec_error(data):
    with pytest.raises(CodecError):
        codec.decode(data)


def test_random_garbage_never_raises_anything_else():
    import random

    rng = random.Random(7)
    for _ in range(3000):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(12)))
        try:
            codec.decode(data)
        except CodecError:
            pass


KEYS = [-(2**100), -256, -255, -1, 0, 1, 255, 256, 2**100, b"", b"\x00", b"a", "", "\x00", "a", "ab", "b", (), (1,), (1, "a"), (2,)]


def test_map_key_encoding_preserves_order():
    encoded = [codec.encode_key(k) for k in KEYS]
    assert encoded == sorted(encoded)
    assert [codec.decode_key(e) for e in encoded] == KEYS


@pytest.mark.parametrize("key", [1.5, None, [1], {"a": 1}, True], ids=repr)
def test_bad_map_keys(key):
    if key is True:  # bool is not an int key
        with pytest.raises(CodecError):
            codec.encode_key(key)
        return
    with pytest.raises(CodecError):
        codec.encode_key(key)


def _general_decode(data: bytes) -> object:
    """The decoder without decode()'s fast paths for small ints, strs and bytes."""
    (value,), pos = codec._decode_items(data, 0, 1, None, codec.MAX_DEPTH)
    if pos != len(data):
        raise CodecError("trailing bytes after value")
    return value


def _outcome(decoder, data: bytes) -> tuple[str, object]:
    try:
        value = decoder(data)
    except CodecError:
        return ("error", None)
    return (type(value).__name__, value)


def test_small_str_and_bytes_fast_paths_agree_with_the_general_decoder():
    import random

    rng = random.Random(12)
    payloads = [b"", b"a", "é".encode(), "\ud800".encode("utf-8", "surrogatepass"), b"\xff", b"\xc3", b"\xed\xa0\x80"]
    payloads += [bytes(rng.choice([0, 0x41, 0x80, 0xC3, 0xED, 0xFF, rng.randrange(256)]) for _ in range(rng.randrange(130)))
                 for _ in range(3000)]
    for payload in payloads:
        for tag in (codec.STR, codec.BYTES):
            for length in {len(payload), len(payload) - 1, len(payload) + 1, 0x80}:
                data = bytes([tag, length % 256]) + payload
                assert _outcome(codec.decode, data) == _outcome(_general_decode, data), data


class _MapRef:
    def __init__(self, ident: int) -> None:
        self.ident = ident

    def __eq__(self, other: object) -> bool:
        return type(other) is _MapRef and other.ident == self.ident

    def __hash__(self) -> int:
        return self.ident


class _Object:
    def __init__(self, name: str, attrs: dict) -> None:
        self.name, self.attrs = name, attrs

    def __eq__(self, other: object) -> bool:
        return type(other) is _Object and (other.name, other.attrs) == (self.name, self.attrs)

    __hash__ = None  # type: ignore[assignment]


EXT = codec.Extensions(lambda v: v.ident if type(v) is _MapRef else None,
                       lambda v: (v.name, v.attrs) if type(v) is _Object else None, _MapRef, _Object)


def _random_value(rng, depth: int = 0):
    atoms = [None, True, False, 0, -1, 128, -129, 2**70, "", "é", "\ud800", b"", b"\x00" * 130, Decimal("1.5"),
             _MapRef(7)]
    if depth < 4 and rng.random() < 0.4:
        items = [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
        kind = rng.randrange(4)
        if kind == 0:
            return tuple(items)
        if kind == 1:
            return {rng.choice(["a", 1, b"k", (1, 2), None]) if rng.random() < 0.5 else i: v for i, v in enumerate(items)}
        if kind == 2:
            return _Object(rng.choice(["A", "é"]), {"x": v for v in items[:1]})
        return items
    return rng.choice(atoms)


def test_mutated_encodings_decode_to_what_they_encode_or_are_refused():
    """decode is the inverse of encode and takes nothing else: whatever it accepts, the value
    it gives encodes to exactly those bytes; every value's encoding is accepted. That is all a
    canonical decoder may do, so a faster one that passes this reads what the plain one reads."""
    import random

    rng = random.Random(13)
    for _ in range(4000):
        ext = EXT if rng.random() < 0.5 else None
        value = _random_value(rng)
        try:
            data = codec.encode(value, ext)
        except CodecError:  # a map or object, without the extensions
            assert ext is None
            continue
        assert codec.decode(data, ext) == value
        mutated = bytearray(data)
        for _ in range(rng.randrange(1, 4)):
            where = rng.randrange(len(mutated) + 1)
            change = rng.randrange(3)
            if change == 0 and where < len(mutated):
                mutated[where] = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 0x7F, 0x80, 0xFF, rng.randrange(256)])
            elif change == 1:
                mutated.insert(where, rng.randrange(256))
            else:
                del mutated[where:where + rng.randrange(1, 3)]
        depth = rng.choice([codec.MAX_DEPTH, 3, 2])
        try:
            back = codec.decode(bytes(mutated), ext, depth)
        except CodecError:
            continue
        assert codec.encode(back, ext) == bytes(mutated)


def test_every_int_has_one_encoding():
    """-128 fits one byte of two's complement (80), but the encoder writes it ff 80 (the length
    int_bytes gives, as for -32768: ff 80 00): the lone byte is refused, or the one value would
    have two encodings, and a transaction holding it two hashes."""
    assert codec.encode(-128) == bytes.fromhex("0302ff80") and codec.decode(bytes.fromhex("0302ff80")) == -128
    for data in ("030180", "03028000", "0300", "060203018003017f"):
        with pytest.raises(CodecError):
            codec.decode(bytes.fromhex(data))
    for n in range(-70000, 70000):
        assert codec.decode(codec.encode(n)) == n


def test_small_int_fast_path_agrees_with_the_general_decoder():
    import random

    rng = random.Random(11)
    payloads = [bytes([a]) for a in range(256)] + [bytes([a, b]) for a in range(256) for b in (0, 1, 0x7F, 0x80, 0xFF)]
    payloads += [bytes(rng.randrange(256) for _ in range(rng.randrange(3, 20))) for _ in range(3000)]
    payloads += [b"\x00" * n for n in range(1, 130)] + [b"\xff" * n for n in range(1, 130)]
    for payload in payloads:
        for length in {len(payload), len(payload) - 1, len(payload) + 1, 0x80}:
            data = bytes([codec.INT, length % 256]) + payload
            assert _outcome(codec.decode, data) == _outcome(_general_decode, data), data
    for n in [0, 1, -1, 127, 128, -128, -129, 255, 256, 2**63, -(2**63), 2**1000, -(2**1000)]:
        assert codec.decode(codec.encode(n)) == n
