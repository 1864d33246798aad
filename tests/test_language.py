"""The language wall names the line and the rule; allowed Python behaves like Python."""

from decimal import Decimal

import pytest

import amigos

REJECTED = [
    ("import os", "forbidden-import", 1),
    ("import hub.alice.counter", "forbidden-import", 1),
    ("from . import x", "forbidden-import", 1),
    ("def f():\n    import std", "import-position", 2),
    ("x = 1.5", "float", 1),
    ("x = 2j", "float", 1),
    ("x = ().__class__", "double-underscore", 1),
    ("__x = 1", "double-underscore", 1),
    ("def f(a):\n    return a._secret", "private-attribute", 2),
    ("def f(g):\n    return g.gi_frame", "forbidden-attribute", 2),
    ("def f(s):\n    return s.format(1)", "forbidden-attribute", 2),
    ("def f():\n    return getattr(1, 'real')", "forbidden-name", 2),
    ("x = type(1)", "forbidden-name", 1),
    ("x = eval('1')", "forbidden-name", 1),
    ("x = open('/etc/passwd')", "forbidden-name", 1),
    ("x = id(1)", "forbidden-name", 1),
    ("x = hash('a')", "forbidden-name", 1),
    ("x = {1, 2}", "forbidden-syntax", 1),
    ("x = set()", "forbidden-name", 1),
    ("x = undefined_thing", "undefined-name", 1),
    ("len = 3", "rebind-builtin", 1),
    ("def f():\n    pass\nf = 1", "rebind-code-name", 3),
    ("def f(x=[]):\n    pass", "default-value", 1),
    ("def g(f):\n    return f\n@g\ndef h():\n    pass", "forbidden-syntax", 4),
    ("def f():\n    yield 1", "forbidden-syntax", 2),
    ("def f():\n    with x:\n        pass", "forbidden-syntax", 2),
    ("async def f():\n    pass", "forbidden-syntax", 1),
    ("class A(dict):\n    pass", "class-base", 1),
    ("class A:\n    x = len([])", "class-body", 2),
    ("class A:\n    def __getattr__(self, n):\n        return 1", "double-underscore", 2),
    ("def f():\n    try:\n        pass\n    finally:\n        return 1", "finally-exit", 5),
    ("def f(a):\n    for a.x in []:\n        pass", "loop-target", 2),
    ("def f(o):\n    del o.x", "delete-attribute", 2),
    ("def f(\n", "syntax", 1),
    ("x = 1 @ 2", "forbidden-syntax", 1),
    ("match 1:\n    case 1:\n        pass", "forbidden-syntax", 1),
]


@pytest.mark.parametrize("source,rule,line", REJECTED, ids=[r[1] + ":" + r[0][:30] for r in REJECTED])
def test_rejected_with_line_and_rule(rt, source, rule, line):
    with pytest.raises(amigos.DeployError) as caught:
        rt.deploy("hub.amigos.dev/alice/x", source, signer="alice")
    assert caught.value.rule == rule
    assert caught.value.line == line
    assert f"line {line}" in str(caught.value)


def test_source_size_limit(rt):
    with pytest.raises(amigos.DeployError) as caught:
        rt.deploy("hub.amigos.dev/alice/x", "x = 1\n" * 100_000, signer="alice")
    assert caught.value.rule == "size"


@pytest.mark.parametrize("path", ["alice/x", "hub.amigos.dev/Alice/x", "hub.amigos.dev/alice", "hub.amigos.dev/a/b__c", "", 5])
def test_bad_paths_are_usage_errors(rt, path):
    with pytest.raises(amigos.errors.UsageError):
        rt.deploy(path, "x = 1", signer="alice")


@pytest.mark.parametrize("signer", ["", "a b", "x" * 200, None, 3])
def test_bad_signers_are_usage_errors(rt, signer):
    with pytest.raises(amigos.errors.UsageError):
        rt.deploy("hub.amigos.dev/alice/x", "x = 1", signer=signer)


PROGRAM = '''
import std
from std import Map

class Shape:
    """A shape."""
    sides = 0
    def __init__(self, name):
        self.name = name
    def describe(self):
        return f"{self.name}:{self.sides}"

class Square(Shape):
    sides = 4
    def __init__(self, name, side):
        super().__init__(name)
        self.side = side
    def area(self):
        return self.side ** 2

class Oops(ValueError):
    pass

def everything():
    out = {}
    out["div"] = 7 / 2
    out["floordiv"] = 7 // 2
    out["neg_pow"] = 2 ** -2
    out["dec"] = Decimal("0.1") + Decimal("0.2")
    out["comp"] = [x * x for x in range(5) if x % 2 == 0]
    out["dictcomp"] = {k: v for k, v in zip("abc", range(3))}
    out["gen"] = sum(x for x in range(10))
    out["sorted"] = sorted(["b", "a", "c"], key=lambda s: s, reverse=True)
    out["slice"] = list(range(10))[2:8:2]
    out["fstr"] = f"{3:>4}|{'x'!r}|{Decimal('1.5'):.3f}"
    out["percent"] = "%s-%d" % ("a", 3)
    sq = Square("sq", 3)
    out["class"] = [sq.describe(), sq.area(), isinstance(sq, Shape), repr(sq)]
    try:
        raise Oops("bad")
    except ValueError as e:
        out["exc"] = str(e)
    try:
        {}["missing"]
    except KeyError:
        out["keyerror"] = True
    a, *rest = [1, 2, 3]
    out["star"] = [a, rest]
    d = {"n": 1}
    d["n"] += 5
    out["aug"] = d["n"]
    out["chain"] = 1 < 2 < 3 and not (3 < 2 < 1)
    out["walrus"] = [y for x in range(3) if (y := x * 2)]
    out["strs"] = ["a,b".split(","), "-".join(["x", "y"]), "Ab".lower(), "ab".upper()]
    out["minmax"] = [min(3, 1, 2), max([4, 5]), any([0, 1]), all([])]
    out["bytes"] = bytes([1, 2]) + b"\\x03"
    out["map"] = type_of(Map)
    return out

def type_of(thing):
    return callable(thing)
'''


def test_ordinary_python_works(rt):
    rt.deploy("hub.amigos.dev/alice/prog", PROGRAM, signer="alice")
    r = rt.call("hub.amigos.dev/alice/prog", "everything", signer="bob")
    assert r.ok, r.error
    out = r.result
    assert out["div"] == Decimal("3.5") and type(out["div"]) is Decimal
    assert out["neg_pow"] == Decimal("0.25")
    assert out["dec"] == Decimal("0.3")
    assert out["comp"] == [0, 4, 16]
    assert out["dictcomp"] == {"a": 0, "b": 1, "c": 2}
    assert out["gen"] == 45
    assert out["sorted"] == ["c", "b", "a"]
    assert out["slice"] == [2, 4, 6]
    assert out["fstr"] == "   3|'x'|1.500"
    assert out["percent"] == "a-3"
    assert out["class"] == ["sq:4", 9, True, "Square(name='sq', side=3)"]
    assert out["exc"] == "bad" and out["keyerror"] is True
    assert out["star"] == [1, [2, 3]]
    assert out["aug"] == 6 and out["chain"] is True
    assert out["walrus"] == [2, 4]
    assert out["strs"] == [["a", "b"], "x-y", "ab", "AB"]
    assert out["minmax"] == [1, 5, True, True]
    assert out["bytes"] == b"\x01\x02\x03"


def test_error_messages_carry_the_service_line(rt):
    rt.deploy("hub.amigos.dev/alice/e", "def f():\n    x = 1\n    return x + 'a'\n", signer="alice")
    r = rt.call("hub.amigos.dev/alice/e", "f", signer="bob")
    assert r.error.type == "ServiceError" and r.error.line == 3
    assert r.error.message.startswith("TypeError:")


def test_addresses_never_leak_into_values_or_errors(rt):
    rt.deploy("hub.amigos.dev/alice/a", "def _g():\n    pass\ndef f():\n    return [str(_g), repr([_g]), f'{_g}']\n"
              "def h():\n    [1].index(_g)\n", signer="alice")
    r = rt.call("hub.amigos.dev/alice/a", "f", signer="bob")
    assert r.ok and not any("0x" in s for s in r.result)
    r = rt.call("hub.amigos.dev/alice/a", "h", signer="bob")
    assert not r.ok and "0x" not in r.error.message
