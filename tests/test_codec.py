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
    """The decoder without decode()'s fast path for small ints."""
    value, pos = codec._decode_from(data, 0, None, codec.MAX_DEPTH)
    if pos != len(data):
        raise CodecError("trailing bytes after value")
    return value


def _outcome(decoder, data: bytes) -> tuple[str, object]:
    try:
        value = decoder(data)
    except CodecError:
        return ("error", None)
    return (type(value).__name__, value)


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
