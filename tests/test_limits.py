"""Limits and their errors, checked in-process: what a service hits and the receipt it gets.

The resource bombs (tests/test_bombs.py) check that work is *paid for*; these check the
semantics around the limits: which error type, which message, what survives.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

import amigos

from conftest import Deploy


def call(rt: amigos.LocalRuntime, path: str, fn: str, *args: object, gas: int = 10_000_000) -> amigos.Receipt:
    return rt.call(path, fn, *args, signer="bob", gas=gas)


def test_wrong_argument_count_is_invalid_argument(rt: amigos.LocalRuntime, deploy: Deploy) -> None:
    path = deploy("args", """
        def add(a, b):
            return a + b
    """)
    for args in [(1,), (1, 2, 3)]:
        r = call(rt, path, "add", *args)
        assert not r.ok and r.error.type == "InvalidArgument", r.error
        assert r.error.message.startswith("add()")
    r = rt.call(path, "add", 1, kwargs={"c": 2}, signer="bob")
    assert r.error.type == "InvalidArgument"


def test_type_error_inside_a_function_stays_a_service_error(rt: amigos.LocalRuntime, deploy: Deploy) -> None:
    path = deploy("inner", """
        def _two(a, b):
            return a
        def f():
            return _two(1)
    """)
    r = call(rt, path, "f")
    assert r.error.type == "ServiceError" and "missing 1 required" in r.error.message


def test_cross_service_wrong_arguments(rt: amigos.LocalRuntime, deploy: Deploy) -> None:
    deploy("callee", "def add(a, b):\n    return a + b\n")
    path = deploy("caller", """
        from hub.alice import callee
        def f():
            return callee.add(1)
    """)
    r = call(rt, path, "f")
    assert r.error.type == "InvalidArgument" and "add()" in r.error.message


@pytest.mark.parametrize(
    "expr, error",
    [
        ('Decimal("1e999999999")', "LimitExceeded"),
        ('Decimal("1e-7000")', "LimitExceeded"),
        ('Decimal("1." + "1" * 40)', "ServiceError"),
        ("Decimal((0, (1,) * 200, 0))", "ServiceError"),
        ('int(Decimal("1e6000"))', "LimitExceeded"),
        ('round(Decimal("1e6000"))', "LimitExceeded"),
        ('Decimal("1e-6000").as_integer_ratio()', "LimitExceeded"),
        ('"%d" % Decimal("1e6000")', "LimitExceeded"),
    ],
)
def test_decimals_stay_within_the_context(rt: amigos.LocalRuntime, deploy: Deploy, expr: str, error: str) -> None:
    path = deploy("dec", f"def f():\n    return {expr}\n")
    r = call(rt, path, "f")
    assert not r.ok and r.error.type == error, r.error


def test_decimal_with_trailing_zeros_is_exact(rt: amigos.LocalRuntime, deploy: Deploy) -> None:
    path = deploy("dec", "def f():\n    return Decimal(10**40) == 10**40\n")
    assert call(rt, path, "f").result is True


@pytest.mark.parametrize("value", [Decimal("1e999999"), Decimal("1." + "3" * 40)])
def test_out_of_context_decimal_arguments_are_refused(rt: amigos.LocalRuntime, deploy: Deploy, value: Decimal) -> None:
    path = deploy("echo", "def echo(x):\n    return x\n")
    r = call(rt, path, "echo", value)
    assert r.error.type == "InvalidArgument", r.error


def test_map_key_size_is_limited(rt: amigos.LocalRuntime, deploy: Deploy) -> None:
    path = deploy("keys", """
        import std
        m = std.Map()
        def put(n):
            m["k" * n] = 1
            return len(m)
        def put_tuple(n):
            m[tuple(range(n))] = 1
    """)
    assert call(rt, path, "put", 4000).ok
    r = call(rt, path, "put", 5000)
    assert r.error.type == "LimitExceeded" and "4096 bytes" in r.error.message
    assert call(rt, path, "put_tuple", 32).ok
    assert call(rt, path, "put_tuple", 33).error.type == "LimitExceeded"


def test_finally_does_not_run_after_a_halt(rt: amigos.LocalRuntime, deploy: Deploy) -> None:
    """Once the call is out of gas nothing it does can survive, so finally blocks are skipped
    (and cannot loop, raise something catchable or return a value instead)."""
    path = deploy("fin", """
        swallowed = 0
        def spin():
            global swallowed
            try:
                while True:
                    pass
            finally:
                swallowed = 1
                while True:
                    pass
        def normal():
            out = []
            try:
                try:
                    raise ValueError("x")
                finally:
                    out.append("finally ran")
            except ValueError:
                out.append("caught")
            return out
        def get_swallowed():
            return swallowed
    """)
    r = call(rt, path, "spin", gas=100_000)
    assert r.error.type == "OutOfGas" and r.result is None and r.gas_used == 100_000
    assert rt.query(path, "get_swallowed") == 0
    assert call(rt, path, "normal").result == ["finally ran", "caught"]


def test_error_messages_are_bounded(rt: amigos.LocalRuntime, deploy: Deploy) -> None:
    path = deploy("msg", """
        import std
        class Node:
            pass
        def big():
            raise ValueError(["x" * 100_000] * 100)
        def cyclic():
            n = Node()
            n.me = n
            raise ValueError(n)
        def require_list():
            std.require(False, ["x" * 100_000] * 100)
        def key():
            return {}[("a", 1)]
    """)
    for fn in ["big", "cyclic", "require_list"]:
        r = call(rt, path, fn)
        assert r.error.type == "ServiceError", r.error
        assert len(r.error.message) < 2100, (fn, len(r.error.message))
    assert call(rt, path, "cyclic").error.message.startswith("ValueError: Node(me=Node(me=")
    assert call(rt, path, "key").error.message == "KeyError: ('a', 1)"


def test_attribute_error_hides_the_object(rt: amigos.LocalRuntime, deploy: Deploy) -> None:
    path = deploy("attr", """
        class Thing:
            pass
        def f():
            try:
                Thing().nothing_here
            except AttributeError as e:
                return e.obj is None
    """)
    assert call(rt, path, "f").result is True


@pytest.mark.parametrize("op", ["&", "|", "^", "-"])
def test_set_operations_on_dict_views_are_refused(rt: amigos.LocalRuntime, deploy: Deploy, op: str) -> None:
    path = deploy("views", f"def f():\n    return {{1: 1}}.keys() {op} [1, 2]\n")
    r = call(rt, path, "f")
    assert r.error.type == "ServiceError" and "dict views" in r.error.message


def test_fstring_result_size_is_limited(rt: amigos.LocalRuntime, deploy: Deploy) -> None:
    path = deploy("fs", """
        def f(n):
            a = "x" * n
            return len(f"{a}-{a}")
    """)
    assert call(rt, path, "f", 10).result == 21
    assert call(rt, path, "f", 3_000_000).error.type == "LimitExceeded"


def test_deep_tuple_keys_are_refused_before_hashing(rt: amigos.LocalRuntime, deploy: Deploy) -> None:
    path = deploy("deep", """
        def f(depth):
            t = ()
            for i in range(depth):
                t = (t,)
            return {t: 1}.get(t, 0) + len({t: 2 for i in range(1)})
    """)
    assert call(rt, path, "f", 60).result == 2
    r = call(rt, path, "f", 100)
    assert r.error.type == "LimitExceeded" and "nested deeper" in r.error.message


def test_membership_in_an_iterator_keeps_python_semantics(rt: amigos.LocalRuntime, deploy: Deploy) -> None:
    path = deploy("it", """
        def f():
            it = iter([1, 2, 3, 4])
            found = 2 in it
            return [found, next(it), 9 in zip([1], [2]), "x" in range(3), 2 in range(3)]
    """)
    assert call(rt, path, "f").result == [True, 3, False, False, True]


def test_iterator_builtins_keep_semantics(rt: amigos.LocalRuntime, deploy: Deploy) -> None:
    path = deploy("mat", """
        def gen(n):
            return map(lambda i: i * i, range(n))
        def f():
            return [list(gen(5)), sorted(zip([3, 1], "ab")), dict(zip("ab", [1, 2])), [*gen(3)],
                    sum(gen(4)), max(gen(4)), any(gen(1)), all(iter([1, 0]))]
    """)
    assert call(rt, path, "f").result == [[0, 1, 4, 9, 16], [(1, "b"), (3, "a")], {"a": 1, "b": 2}, [0, 1, 4], 14, 9, False, False]


def test_shared_structure_is_paid_for_each_occurrence(rt: amigos.LocalRuntime, deploy: Deploy) -> None:
    """repr, ==, hashing and copying all see a DAG as the tree it unfolds to."""
    path = deploy("dag", """
        def make(n):
            a = [0]
            for i in range(n):
                a = [a, a]
            return a
        def show(n):
            return len(str(make(n)))
        def ret(n):
            return make(n)
    """)
    small = call(rt, path, "show", 4)
    assert small.ok and small.result == len(str([[[[[0]] * 2] * 2] * 2] * 2))
    for fn in ["show", "ret"]:
        r = call(rt, path, fn, 40)
        assert r.error.type in ("LimitExceeded", "OutOfGas"), r.error


def test_the_host_keeps_its_collector_and_decimal_context(rt: amigos.LocalRuntime, deploy: Deploy) -> None:
    """Calls switch the garbage collector off and the service decimal context on, and must
    switch both back, from the moment a runtime exists."""
    import decimal
    import gc

    assert gc.isenabled() and decimal.getcontext().prec == 28
    path = deploy("third", "def f():\n    return 1 / 3\n")
    assert call(rt, path, "f").result == Decimal("0.3333333333333333333333333333333333")
    assert gc.isenabled() and decimal.getcontext().prec == 28
