"""A corpus of sandbox-escape attempts against the service language.

Each case is service source written by an attacker who wants to read a file, open a socket,
run a process, or get hold of a host object (a module, a frame, a code object, the machine,
another service's state). The techniques come from RestrictedPython's published advisories,
the classic CTF "pyjail" repertoire and Xian contracting's security tests.

Every attempt targets a *canary*: a file holding a random secret, created per test in
``tmp_path``. The source mentions the canary's path through the ``CANARY`` placeholder, so an
attack that works returns (or emits, or fails with) the secret. For each case the test asserts:

* the attack is contained: the deploy raises :class:`DeployError` (never for a syntax error:
  that would be a broken test, not a wall), or the call fails, or it returns plain data that
  holds nothing host-ish;
* the secret appears in no result, error message or event, and the canary file is unchanged;
* no audit event of file, process, socket, ctypes or import activity (and no audited read of a
  frame, code or generator internal) happened while the attacker's code ran.

A victim service holding a secret of its own is deployed next to every attacker, so that
cross-service attempts have something to steal.
"""

from __future__ import annotations

import secrets
import sys
import textwrap
import threading
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest

import amigos
from amigos.errors import DeployError

VICTIM = "hub.amigos.dev/victim/vault"
VICTIM_SECRET = "victim-secret-4f1c9a7e"
VICTIM_SOURCE = f'''
"""A victim service: a secret global, a private helper and a Map."""
import std

secret = "{VICTIM_SECRET}"
vault = std.Map()
vault["key"] = secret


def public() -> str:
    return "public"


def _private() -> str:
    return secret


def leak_map():
    return vault


def peek() -> str:
    return secret[:6]
'''

HOSTISH = (
    "/etc",
    "root:",
    "<module '",
    "frame",
    "<built-in",
    "amigos.",
    "<code object",
    "<cell",
    "mappingproxy",
    "traceback",
    "__builtins__",
    "__globals__",
    "site-packages",
    VICTIM_SECRET,
)
"""Substrings no successful attack result may contain (``<module std>`` is the harmless repr
of the std module; real modules print as ``<module 'os' …>``)."""

PLAIN_TYPES = (type(None), bool, int, str, bytes, Decimal, list, tuple, dict)

SUSPICIOUS_EVENT_PREFIXES = (
    "open",
    "os.",
    "subprocess.",
    "socket.",
    "ctypes.",
    "shutil.",
    "pty.",
    "urllib.",
    "http.",
    "ftplib.",
    "smtplib.",
    "webbrowser.",
    "import",
    "builtins.input",
    "code.__new__",
    "function.__new__",
    "marshal.",
    "pickle.",
    "sys.settrace",
    "sys.setprofile",
    "sys.addaudithook",
    "sys._current_frames",
    "cpython.run_",
    "mmap.",
    "sqlite3.",
)
HOST_AUDITED_READS = frozenset({"tb_frame", "f_code"})
"""The machine itself reads these to find the service line of an exception."""


# ------------------------------------------------------------------------------------------
# Audit hook: records suspicious interpreter events while attacker code runs.


class AuditWatch:
    """A process-wide audit hook that records suspicious events only while watching."""

    def __init__(self) -> None:
        self.active = False
        self.events: list[tuple[str, str]] = []
        self._owner: int | None = None
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active or threading.get_ident() != self._owner:
            return
        if event == "object.__getattr__":
            name = args[1] if len(args) > 1 else ""
            if name not in HOST_AUDITED_READS:
                self.events.append((event, repr(name)))
            return
        if event == "exec" or event == "compile":
            return  # the runtime compiles and runs (checked) service code itself
        if event.startswith(SUSPICIOUS_EVENT_PREFIXES):
            try:
                detail = repr(args)[:200]
            except Exception:  # pragma: no cover - defensive
                detail = "?"
            self.events.append((event, detail))

    def __enter__(self) -> AuditWatch:
        self.events = []
        self._owner = threading.get_ident()
        self.active = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.active = False


_WATCH: AuditWatch | None = None


@pytest.fixture(scope="session")
def audit() -> AuditWatch:
    global _WATCH
    if _WATCH is None:
        _WATCH = AuditWatch()
    return _WATCH


@dataclass
class Canary:
    path: Path
    secret: str

    def unchanged(self) -> bool:
        return self.path.exists() and self.path.read_text() == self.secret


@pytest.fixture
def canary(tmp_path: Path) -> Canary:
    secret = f"canary-{secrets.token_hex(16)}"
    path = tmp_path / "canary.txt"
    path.write_text(secret)
    return Canary(path, secret)


@pytest.fixture(scope="module", params=["none", "process"])
def shared_runtime(request: pytest.FixtureRequest) -> Iterator[amigos.LocalRuntime]:
    """One runtime every attack is deployed into (next to the victim), so that the last test
    can check the whole corpus left it working. The corpus runs in-process and again in
    confined worker processes."""
    rt = amigos.LocalRuntime(isolation=request.param)
    rt.deploy(VICTIM, VICTIM_SOURCE, signer="victim")
    yield rt
    if hasattr(rt, "close"):
        rt.close()


# ------------------------------------------------------------------------------------------
# The corpus.


@dataclass(frozen=True)
class Attack:
    id: str
    idea: str
    source: str


def attack(id: str, idea: str, source: str) -> Any:
    """A case: ``source`` defines ``attack()`` (or attacks at module level while deploying)."""
    return pytest.param(Attack(id, idea, textwrap.dedent(source).strip() + "\n"), id=id)


ATTACKS = [
    # --------------------------------------------------------------- imports
    attack("import_os", "import os and shell out", """
        import os

        def attack():
            return os.popen("cat CANARY").read()
    """),
    attack("import_subprocess", "import subprocess and run cat", """
        import subprocess

        def attack():
            return subprocess.check_output(["cat", "CANARY"]).decode()
    """),
    attack("import_socket", "open a socket to exfiltrate", """
        import socket

        def attack():
            s = socket.socket()
            s.connect(("127.0.0.1", 9))
            return "connected"
    """),
    attack("import_ctypes", "ctypes gives raw memory and libc", """
        import ctypes

        def attack():
            return ctypes.CDLL(None).system(b"cat CANARY")
    """),
    attack("import_sys_modules", "sys.modules holds every loaded module", """
        import sys

        def attack():
            return sys.modules["os"].popen("cat CANARY").read()
    """),
    attack("import_importlib", "importlib.import_module by name", """
        import importlib

        def attack():
            return importlib.import_module("os").popen("cat CANARY").read()
    """),
    attack("import_builtins", "the real builtins module has open", """
        import builtins

        def attack():
            return builtins.open("CANARY").read()
    """),
    attack("from_os_import_popen", "from-import of a host module", """
        from os import popen

        def attack():
            return popen("cat CANARY").read()
    """),
    attack("from_posix_import_system", "the C module behind os", """
        from posix import system

        def attack():
            return system("cat CANARY > /dev/null")
    """),
    attack("import_std_submodule", "dotted import under std", """
        import std.os

        def attack():
            return 1
    """),
    attack("import_std_alias_dotted", "import hub.x as a plain import", """
        import hub.victim.vault

        def attack():
            return 1
    """),
    attack("from_std_import_private", "std's machine reference by name", """
        from std import _m

        def attack():
            return _m.reader.get(b"")
    """),
    attack("from_std_import_star", "star import could bring internals", """
        from std import *

        def attack():
            return 1
    """),
    attack("relative_import", "relative import climbs out of the hub", """
        from . import os

        def attack():
            return 1
    """),
    attack("import_inside_function", "a function-level import escapes the top-level check", """
        def attack():
            import os
            return os.popen("cat CANARY").read()
    """),
    attack("hub_import_host_module", "from hub import os (no namespace)", """
        from hub import os

        def attack():
            return 1
    """),
    attack("hub_import_nonexistent_service", "a hub path that maps onto a host-looking name", """
        from hub.etc import passwd

        def attack():
            return passwd.read()
    """),
    attack("hub_import_dunder_name", "a hub import of a dunder name", """
        from hub.victim import __init__

        def attack():
            return 1
    """),
    attack("dunder_import", "__import__ is the import machinery", """
        def attack():
            return __import__("os").popen("cat CANARY").read()
    """),
    attack("importlib_undefined_name", "use importlib without importing it", """
        def attack():
            return importlib.import_module("os").popen("cat CANARY").read()
    """),
    # --------------------------------------------------------------- code execution and files
    attack("exec_string", "exec runs unchecked code", """
        def attack():
            exec("import os")
            return 1
    """),
    attack("eval_string", "eval runs unchecked code", """
        def attack():
            return eval("open('CANARY').read()")
    """),
    attack("compile_code", "compile builds a code object", """
        def attack():
            return compile("1", "x", "eval")
    """),
    attack("open_canary", "plain open()", """
        def attack():
            return open("CANARY").read()
    """),
    attack("open_at_deploy", "open() in module-level code, run at deploy", """
        data = open("CANARY").read()

        def attack():
            return data
    """),
    attack("open_shadow_local_elsewhere", "bind `open` as a local somewhere so the checker thinks it is defined", """
        def _decoy():
            open = 1
            return open

        def attack():
            return open("CANARY").read()
    """),
    attack("open_global_declared", "declare `open` global in one function, use it in another", """
        def _decoy():
            global open
            open = 1

        def attack():
            return open("CANARY").read()
    """),
    attack("open_walrus_in_comprehension", "walrus leaks a name out of a comprehension", """
        def attack():
            found = [(open := x) for x in [1]]
            return open("CANARY").read()
    """),
    attack("breakpoint_call", "breakpoint() starts pdb", """
        def attack():
            breakpoint()
    """),
    attack("input_call", "input() reads the terminal", """
        def attack():
            return input()
    """),
    attack("print_call", "print writes to the terminal", """
        def attack():
            print("x")
    """),
    attack("exit_call", "exit() stops the process", """
        def attack():
            exit(0)
    """),
    # --------------------------------------------------------------- introspection builtins
    attack("globals_builtins", "globals()['__builtins__'] is the builtins dict", """
        def attack():
            return globals()["__builtins__"]["open"]("CANARY").read()
    """),
    attack("locals_frame", "locals() exposes frame locals", """
        def attack():
            return locals()
    """),
    attack("vars_std", "vars(std) would expose the machine", """
        import std

        def attack():
            return vars(std)
    """),
    attack("dir_std", "dir() lists internals", """
        import std

        def attack():
            return dir(std)
    """),
    attack("getattr_private", "getattr with a computed private name", """
        import std

        def attack():
            return getattr(std, "_" + "m")
    """),
    attack("getattr_alias_in_dict", "an alias of getattr stored in a container", """
        import std
        tools = {"g": getattr}

        def attack():
            return tools["g"](std, "_m")
    """),
    attack("setattr_delattr_hasattr", "the other computed-attribute builtins", """
        import std

        def attack():
            setattr(std, "x", 1)
            return hasattr(std, "_m")
    """),
    attack("type_of_std", "type(obj) reaches the host class", """
        import std

        def attack():
            return type(std).__init__
    """),
    attack("object_subclasses", "object.__subclasses__ lists every class", """
        def attack():
            return [c for c in object.__subclasses__()]
    """),
    attack("id_and_hash", "addresses and hash seeds leak host state", """
        def attack():
            return [id(attack), hash("x")]
    """),
    attack("builtins_name", "__builtins__ by name", """
        def attack():
            return __builtins__["open"]("CANARY").read()
    """),
    attack("instrumenter_helper_names", "call the instrumenter's helpers directly", """
        import std

        def attack():
            return __am_getattr__(std, "_m")
    """),
    # --------------------------------------------------------------- dunder chains
    attack("mro_subclasses", "().__class__.__mro__[-1].__subclasses__()", """
        def attack():
            return ().__class__.__mro__[-1].__subclasses__()
    """),
    attack("base_subclasses", "''.__class__.__base__.__subclasses__()", """
        def attack():
            return "".__class__.__base__.__subclasses__()
    """),
    attack("func_globals", "a function's __globals__ holds __builtins__", """
        def attack():
            return attack.__globals__["__builtins__"]
    """),
    attack("func_code_consts", "__code__ leads to code objects", """
        def attack():
            return attack.__code__.co_consts
    """),
    attack("func_closure_cell", "__closure__ cells hold the guards' state", """
        def attack():
            return len.__closure__[0].cell_contents
    """),
    attack("cell_contents_plain_attribute", "cell_contents has no underscore: probe it at run time", """
        def attack():
            f = lambda: 1
            return f.cell_contents
    """),
    attack("bound_method_self", "std.caller.__self__ is the std object, then _m", """
        import std

        def attack():
            return std.caller.__self__._m
    """),
    attack("bound_method_func_globals", "__func__.__globals__ of a host method is the host module", """
        import std

        def attack():
            return std.caller.__func__.__globals__["Machine"]
    """),
    attack("std_private_machine", "std._m is the machine", """
        import std

        def attack():
            return std._m.reader.get(b"")
    """),
    attack("map_private_machine", "Map._m is the machine too", """
        import std
        m = std.Map()

        def attack():
            return m._m
    """),
    attack("proxy_private_fields", "an imported service's _path/_m", """
        from hub.victim import vault

        def attack():
            return [vault._path, vault._m]
    """),
    attack("dunder_dict", "__dict__ of a host object", """
        import std

        def attack():
            return std.__dict__
    """),
    attack("reduce_ex", "__reduce_ex__ returns copyreg internals", """
        def attack():
            return (1).__reduce_ex__(2)
    """),
    attack("name_mangling_attribute", "self.__x is mangled to _C__x", """
        class C:
            def __init__(self):
                self.__x = 1

            def get(self):
                return self.__x

        def attack():
            return C().get()
    """),
    attack("name_mangling_explicit", "read the mangled name directly", """
        class C:
            pass

        def attack():
            return C()._C__x
    """),
    attack("private_method_name", "a private method name in a class", """
        class C:
            def __secret(self):
                return 1

        def attack():
            return 1
    """),
    attack("victim_private_function", "call a victim's private helper through its proxy", """
        from hub.victim import vault

        def attack():
            return vault._private()
    """),
    attack("victim_global_through_proxy", "read a victim's global through its proxy", """
        from hub.victim import vault

        def attack():
            return vault.secret()
    """),
    attack("victim_map_through_proxy", "ask the victim to hand over its Map", """
        from hub.victim import vault

        def attack():
            m = vault.leak_map()
            return m["key"]
    """),
    # --------------------------------------------------------------- format strings
    attack("str_format_attribute", "'{0.__class__}'.format walks attributes", """
        def attack():
            return "{0.__class__.__init__.__globals__}".format(attack)
    """),
    attack("str_format_map", "format_map with a mapping", """
        def attack():
            return "{x.__class__}".format_map({"x": 1})
    """),
    attack("str_format_method_reference", "keep a reference to str.format", """
        def attack():
            f = "{0.__globals__}".format
            return f(attack)
    """),
    attack("format_builtin", "the format() builtin", """
        def attack():
            return format(attack, "")
    """),
    attack("string_formatter", "string.Formatter().get_field", """
        def attack():
            return string.Formatter().get_field("0.__globals__", [attack], {})
    """),
    attack("fstring_dunder", "an f-string expression reaching __class__", """
        def attack():
            return f"{attack.__globals__}"
    """),
    attack("fstring_repr_conversion", "!r and !a of functions and classes", """
        def attack():
            return f"{attack!r} {ValueError!a} {len!r}"
    """),
    attack("fstring_nested_spec", "a format spec that is itself a format string", """
        def attack():
            spec = "{0.__class__}"
            return f"{1:{spec}}"
    """),
    attack("percent_mapping_keys", "% formatting with mapping keys", """
        def attack():
            return "%(__class__)s %(x)r" % {"__class__": attack, "x": ValueError}
    """),
    attack("percent_host_repr", "%r of a host bound method", """
        import std

        def attack():
            return "%r %s" % (std.caller, std.Map)
    """),
    # --------------------------------------------------------------- generators, frames, tracebacks
    attack("genexp_gi_frame", "a generator expression's frame and its f_back", """
        def attack():
            g = (x for x in [1])
            return g.gi_frame.f_back.f_globals
    """),
    attack("genexp_gi_code", "a generator expression's code", """
        def attack():
            g = (x for x in [1])
            return g.gi_code.co_consts
    """),
    attack("yield_generator", "a real generator function", """
        def _g():
            yield 1

        def attack():
            return list(_g())
    """),
    attack("map_iterator_throw", "throw into a host generator (Map iteration)", """
        import std
        m = std.Map()

        def attack():
            m[1] = 1
            g = iter(m)
            try:
                g.throw(ValueError("in"))
            except ValueError as e:
                return str(e)
            return "no"
    """),
    attack("traceback_tb_frame", "e.__traceback__.tb_frame.f_back.f_globals", """
        def attack():
            try:
                1 // 0
            except ZeroDivisionError as e:
                return e.__traceback__.tb_frame.f_back.f_globals
    """),
    attack("exception_with_traceback", "with_traceback attaches frames", """
        def attack():
            e = ValueError("x")
            return e.with_traceback(None)
    """),
    attack("exception_context_cause", "__context__/__cause__ chain back to host exceptions", """
        def attack():
            try:
                try:
                    1 // 0
                except ZeroDivisionError:
                    raise ValueError("x")
            except ValueError as e:
                return [e.__context__, e.__cause__]
    """),
    attack("exception_args_of_host_error", "host exceptions carry host classes in args", """
        def attack():
            try:
                Decimal(1) / 0
            except ArithmeticError as e:
                cls = e.args[0][0]
                return repr(cls("made from a host class"))
    """),
    attack("attribute_error_obj_host_function", "AttributeError.obj hands out the underlying host function", """
        import std

        class Fake:
            _m = 0

        def attack():
            try:
                std.caller.nothing
            except AttributeError as e:
                host_fn = e.obj
            return host_fn(Fake())
    """),
    attack("attribute_error_obj_forged_map", "call Map.get (from AttributeError.obj) on a forged Map", """
        import std
        m = std.Map()

        class Forged:
            _m = 0
            _owner = "hub.amigos.dev/victim/vault"
            _id = 0

        def attack():
            try:
                m.get.nothing
            except AttributeError as e:
                get = e.obj
            return get(Forged(), "key")
    """),
    attack("attribute_error_obj_returned", "return the leaked host function itself", """
        import std

        def attack():
            try:
                std.emit.nothing
            except AttributeError as e:
                return e.obj
    """),
    attack("stop_iteration_value", "StopIteration.value of a host iterator", """
        def attack():
            it = iter([])
            try:
                next(it)
            except StopIteration as e:
                return e.value
    """),
    attack("except_base_exception", "catch BaseException to see the VM's halts", """
        def attack():
            try:
                1 // 0
            except BaseException as e:
                return e
    """),
    # --------------------------------------------------------------- classes
    attack("define_getattribute", "__getattribute__ runs on every attribute access", """
        class C:
            def __getattribute__(self, name):
                return 1
    """),
    attack("define_getattr", "__getattr__ hook", """
        class C:
            def __getattr__(self, name):
                return 1
    """),
    attack("define_init_subclass", "__init_subclass__ runs at class creation", """
        class C:
            def __init_subclass__(cls):
                open("CANARY")
    """),
    attack("define_set_name", "__set_name__ runs at class creation", """
        class C:
            def __set_name__(self, owner, name):
                open("CANARY")
    """),
    attack("define_class_getitem", "__class_getitem__ runs on C[x]", """
        class C:
            def __class_getitem__(cls, item):
                return open("CANARY")
    """),
    attack("define_del", "__del__ runs whenever the host collects the object", """
        class C:
            def __del__(self):
                open("CANARY")
    """),
    attack("define_eq_hash", "__eq__/__hash__ run inside host dict lookups", """
        class C:
            def __eq__(self, other):
                return True

            def __hash__(self):
                return 1
    """),
    attack("define_repr", "__repr__ runs inside host error formatting", """
        class C:
            def __repr__(self):
                return open("CANARY").read()
    """),
    attack("class_slots", "__slots__ in a class body", """
        class C:
            __slots__ = ()
    """),
    attack("metaclass_keyword", "metaclass= runs arbitrary code at class creation", """
        class C(metaclass=ValueError):
            pass
    """),
    attack("class_keyword_other", "any class keyword reaches __init_subclass__", """
        class C(Exception, flag=1):
            pass
    """),
    attack("class_decorator", "a decorator runs on the class object", """
        def _d(c):
            return c

        @_d
        class C:
            pass
    """),
    attack("function_decorator", "a decorator runs on the function object", """
        def _d(f):
            return f

        @_d
        def attack():
            return 1
    """),
    attack("inherit_dict", "a dict subclass with host behaviour", """
        class D(dict):
            pass

        def attack():
            return D(a=1)
    """),
    attack("inherit_type", "a metaclass by inheritance", """
        class M(type):
            pass
    """),
    attack("inherit_object", "object as an explicit base", """
        class C(object):
            pass
    """),
    attack("inherit_str", "a str subclass", """
        class S(str):
            pass
    """),
    attack("inherit_from_expression", "a base class computed by an expression", """
        class C((ValueError, KeyError)[0]):
            pass
    """),
    attack("class_body_expression", "code in a class body runs at definition", """
        class C:
            data = open("CANARY").read()
    """),
    attack("nested_class", "a class inside a function", """
        def attack():
            class Inner:
                pass
            return 1
    """),
    attack("super_two_arg_init", "super(C, self).__init__ is not the allowed form", """
        class C(Exception):
            def __init__(self):
                super(C, self).__init__()
    """),
    attack("super_thisclass", "super() internals", """
        class C:
            def get(self):
                return super().__thisclass__
    """),
    attack("super_mro", "super(C, C).mro()", """
        class C:
            pass

        def attack():
            return super(C, C).mro()
    """),
    attack("super_on_host_exception", "super() over a built-in exception reaches its methods", """
        def attack():
            e = KeyError("k")
            s = super(KeyError, e)
            s.add_note("note")
            return [repr(s.args), str(e)]
    """),
    attack("super_outside_method", "zero-argument super() outside a class", """
        def attack():
            return super().args
    """),
    attack("setattr_on_own_class", "patch a method of the service's own class at run time", """
        class C:
            def get(self):
                return 1

        def attack():
            C.get = attack
            return C().get()
    """),
    attack("setattr_on_std", "patch std for every other service", """
        import std

        def attack():
            std.caller = attack
            return std.caller()
    """),
    attack("setattr_on_function", "attributes on functions", """
        def attack():
            attack.flag = 1
            return attack.flag
    """),
    attack("setattr_on_builtin_exception", "patch a class shared by every service", """
        def attack():
            ValueError.args = 1
            return 1
    """),
    attack("isinstance_tuple_probe", "isinstance with tuples of builtins and host objects", """
        import std

        def attack():
            return [isinstance(std, (str, int, dict)), isinstance("x", (str, Decimal)), isinstance(1, ((int,), bool))]
    """),
    attack("issubclass_probe", "issubclass over the allowed names", """
        def attack():
            return [issubclass(KeyError, LookupError), issubclass(bool, int), issubclass(str, (dict, list))]
    """),
    attack("keys_method_spread", "an object with keys() is spread unmetered into **", """
        class K:
            def keys(self):
                return ["a"]

        def _f(**kw):
            return kw

        def attack():
            return _f(**K())
    """),
    # --------------------------------------------------------------- descriptors and Decimal
    attack("property_descriptor", "property() changes attribute access", """
        class C:
            pass

        def attack():
            return property(lambda s: 1)
    """),
    attack("staticmethod_classmethod", "decorator builtins by call", """
        def attack():
            return [staticmethod(attack), classmethod(attack)]
    """),
    attack("decimal_new", "Decimal.__new__", """
        def attack():
            return Decimal.__new__(Decimal, "1")
    """),
    attack("decimal_getcontext", "getcontext() and the shared decimal context", """
        def attack():
            getcontext().prec = 1
            return 1
    """),
    attack("decimal_context_kwarg", "pass a context= to Decimal methods", """
        def attack():
            out = []
            try:
                out.append(str(Decimal(2).exp(context=None)))
            except TypeError as e:
                out.append("exp refused")
            try:
                Decimal(2).quantize(Decimal(1), context=None)
            except TypeError as e:
                out.append("quantize refused")
            return out
    """),
    attack("decimal_private_fields", "Decimal internals", """
        def attack():
            return Decimal(1)._exp
    """),
    attack("decimal_unlisted_method", "a Decimal method outside the table", """
        def attack():
            return Decimal(1).from_float(1)
    """),
    # --------------------------------------------------------------- iterators and host objects
    attack("next_iter_std", "iterate the std module", """
        import std

        def attack():
            return next(iter(std))
    """),
    attack("map_filter_host", "map/filter over host objects", """
        import std

        def attack():
            return list(map(repr, [std.caller, std.Map])) + list(filter(None, [1, 0]))
    """),
    attack("return_map_object", "return a host map iterator", """
        def attack():
            return map(abs, [1])
    """),
    attack("return_std", "return the std object", """
        import std

        def attack():
            return std
    """),
    attack("return_own_map", "return a std.Map", """
        import std
        m = std.Map()

        def attack():
            return m
    """),
    attack("return_function", "return a function object", """
        def attack():
            return attack
    """),
    attack("emit_host_object", "smuggle a host object out in an event", """
        import std

        def attack():
            std.emit("leak", s=std)
    """),
    attack("dict_view_mapping", "dict_keys.mapping is a mappingproxy of the dict", """
        def attack():
            return {"a": 1}.keys().mapping
    """),
    attack("str_unlisted_methods", "str methods outside the metered table", """
        def attack():
            return "abc".maketrans("a", "b")
    """),
    attack("range_and_int_attributes", "plain attributes of ranges and ints", """
        def attack():
            r = range(1, 10, 2)
            return [r.start, r.stop, r.step, (5).real, (5).denominator]
    """),
    attack("iter_callable_sentinel", "iter(callable, sentinel) over a metered builtin", """
        def attack():
            return next(iter(len, 1))
    """),
    # --------------------------------------------------------------- unicode identifiers
    attack("fullwidth_getattr", "fullwidth letters NFKC-normalise to getattr", """
        import std

        def attack():
            return ｇｅｔａｔｔｒ(std, "_m")
    """),
    attack("math_italic_open", "mathematical italic letters normalise to open", """
        def attack():
            return 𝘰𝘱𝘦𝘯("CANARY").read()
    """),
    attack("math_bold_eval", "mathematical bold letters normalise to eval", """
        def attack():
            return 𝐞𝐯𝐚𝐥("1")
    """),
    attack("fullwidth_dunder_class", "'_' + fullwidth low lines NFKC-normalise to __class__", """
        def attack():
            return ()._＿class＿＿
    """),
    attack("fullwidth_private_attribute", "_ + fullwidth m normalises to _m", """
        import std

        def attack():
            return std._ｍ
    """),
    attack("unicode_builtins_name", "a normalised __builtins__ (small/fullwidth low lines)", """
        def attack():
            return _﹏builtins︳＿["open"]("CANARY").read()
    """),
    # --------------------------------------------------------------- walrus, lambdas, misc syntax
    attack("walrus_rebind_builtin", "rebind a metered builtin with :=", """
        def attack():
            (len := lambda x: 0)
            return len([1])
    """),
    attack("lambda_default_forbidden", "a lambda default capturing a forbidden builtin", """
        def attack():
            f = lambda o=open: o
            return f()("CANARY").read()
    """),
    attack("lambda_default_std", "a default capturing a host object", """
        import std

        def attack(s=std):
            return s
    """),
    attack("annotation_evaluation", "module-level annotations are evaluated", """
        x: open("CANARY") = 1

        def attack():
            return x
    """),
    attack("keyword_dunder", "a keyword argument with a dunder name", """
        import std

        def attack():
            std.emit("e", __class__=1)
    """),
    attack("kwargs_spread_dunder_keys", "dunder keys smuggled through **", """
        import std

        def attack():
            std.emit("e", **{"__class__": 1, "__dict__": 2})
            return "emitted"
    """),
    attack("float_literal", "floats are not deterministic (Xian)", """
        def attack():
            return 1.5
    """),
    attack("complex_literal", "complex literals", """
        def attack():
            return 2j
    """),
    attack("float_builtin", "float() by name", """
        def attack():
            return float("1.5")
    """),
    attack("set_literal", "sets iterate in hash-seed order", """
        def attack():
            return sorted({3, 1, 2})
    """),
    attack("with_statement", "with open(...)", """
        def attack():
            with open("CANARY") as f:
                return f.read()
    """),
    attack("async_function", "async functions and await", """
        async def attack():
            return 1
    """),
    attack("match_statement", "match statements with class patterns", """
        def attack():
            match 1:
                case int(real=r):
                    return r
    """),
    attack("delete_host_attribute", "del std.caller", """
        import std

        def attack():
            del std.caller
    """),
    attack("rebind_builtin_def", "def len replaces the metered builtin", """
        def len(x):
            return 0

        def attack():
            return len([1])
    """),
    attack("rebind_code_name", "rebind a function name as data", """
        def attack():
            return 1

        attack = 2
    """),
    attack("memoryview_bytearray", "raw buffers", """
        def attack():
            return memoryview(bytearray(b"x"))
    """),
    attack("slice_builtin", "slice objects by name", """
        def attack():
            return slice(1, 2)
    """),
    attack("matmul_operator", "the @ operator dispatches to __matmul__", """
        def attack():
            return [1] @ [2]
    """),
    attack("except_star", "except* and exception groups", """
        def attack():
            try:
                pass
            except* ValueError:
                pass
    """),
    attack("return_in_finally", "return in finally swallows the VM's halts", """
        def attack():
            try:
                while True:
                    pass
            finally:
                return "swallowed"
    """),
]


# ------------------------------------------------------------------------------------------
# Checks.


def substitute(source: str, canary: Canary) -> str:
    return source.replace("CANARY", str(canary.path))


def slug(case_id: str) -> str:
    return "a_" + case_id.lower()[:60]


def assert_harmless(value: Any, path: str = "result", depth: int = 0) -> None:
    """``value`` is plain data holding no host-ish text."""
    assert depth < 80, f"{path}: nested suspiciously deep"
    assert type(value) in PLAIN_TYPES, f"{path}: a {type(value).__name__} came back: {value!r:.200}"
    if type(value) in (str, bytes):
        text = value if type(value) is str else value.decode("latin-1")
        for marker in HOSTISH:
            assert marker not in text, f"{path}: host-ish text {marker!r} in {text[:200]!r}"
    elif type(value) in (list, tuple):
        for i, item in enumerate(value):
            assert_harmless(item, f"{path}[{i}]", depth + 1)
    elif type(value) is dict:
        for k, v in value.items():
            assert_harmless(k, f"{path} key", depth + 1)
            assert_harmless(v, f"{path}[{k!r}]", depth + 1)


def assert_no_secret(text: str, canary: Canary, where: str) -> None:
    assert canary.secret not in text, f"the canary's secret leaked through {where}: {text[:300]!r}"
    assert VICTIM_SECRET not in text, f"the victim's secret leaked through {where}: {text[:300]!r}"


@pytest.mark.parametrize("case", ATTACKS)
def test_escape_attempt_is_contained(
    case: Attack, canary: Canary, audit: AuditWatch, shared_runtime: amigos.LocalRuntime
) -> None:
    rt = shared_runtime
    path = f"hub.amigos.dev/mallory/{slug(case.id)}"
    source = substitute(case.source, canary)
    where = f"[{case.id}: {case.idea}] "

    with audit as deploy_watch:
        try:
            rt.deploy(path, source, signer="mallory")
        except DeployError as exc:
            deploy_error: DeployError | None = exc
        else:
            deploy_error = None
    assert not deploy_watch.events, where + f"suspicious activity while deploying: {deploy_watch.events}"

    if deploy_error is not None:
        # Contained by the wall (or by a failed initialisation). A syntax error would mean the
        # case itself is broken, not that the sandbox stopped it.
        assert deploy_error.rule != "syntax", where + f"the attack does not parse: {deploy_error}"
        assert_no_secret(str(deploy_error), canary, where + "the deploy error")
        assert canary.unchanged(), where + "the canary file changed"
        return

    results = []
    with audit as call_watch:
        for _ in range(2):  # twice: state left behind by the first call must not help the second
            results.append(rt.call(path, "attack", signer="mallory", gas=10_000_000))
    assert not call_watch.events, where + f"suspicious activity while calling: {call_watch.events}"
    assert canary.unchanged(), where + "the canary file changed"
    for r in results:
        if r.error is not None:
            assert_no_secret(r.error.message, canary, where + "the error message")
        assert_no_secret(repr(r.result), canary, where + "the result")
        for event in r.events:
            assert_no_secret(repr(event.to_dict()), canary, where + "an event")
            assert_harmless(event.attrs, "event attrs")
        if r.ok:
            assert_harmless(r.result)
        else:
            assert r.result is None, where + "a failed call returned a result"

    # Whatever the attacker did, the victim is untouched.
    assert rt.query(VICTIM, "peek") == VICTIM_SECRET[:6]


def test_corpus_is_large_and_distinct() -> None:
    ids = [p.values[0].id for p in ATTACKS]
    sources = [p.values[0].source for p in ATTACKS]
    assert len(ids) >= 70
    assert len(set(ids)) == len(ids)
    assert len(set(sources)) == len(sources)


def test_runtime_still_works_after_the_corpus(shared_runtime: amigos.LocalRuntime, tmp_path: Path) -> None:
    """After every attack ran in it, the shared runtime (and a fresh one) still deploy and run
    ordinary services, and the victim's state is intact."""
    source = textwrap.dedent(
        '''
        import std
        from hub.victim import vault

        total = 0
        ledger = std.Map()


        def add(n: int) -> int:
            global total
            total += n
            ledger[std.caller()] = ledger.get(std.caller(), 0) + n
            std.emit("added", n=n)
            return total


        def ask_victim() -> str:
            return vault.public()


        def get_total() -> int:
            return total
        '''
    )
    fresh = amigos.LocalRuntime(tmp_path / "home")
    for rt in (shared_runtime, fresh):
        if rt is not shared_runtime:
            rt.deploy(VICTIM, VICTIM_SOURCE, signer="victim")
        rt.deploy("hub.amigos.dev/carol/after", source, signer="carol")
        r1 = rt.call("hub.amigos.dev/carol/after", "add", 2, signer="carol")
        r2 = rt.call("hub.amigos.dev/carol/after", "add", 3, signer="dave")
        assert r1.ok and r1.result == 2, r1.error
        assert r2.ok and r2.result == 5, r2.error
        assert [e.name for e in r2.events] == ["added"]
        assert rt.call("hub.amigos.dev/carol/after", "ask_victim", signer="carol").result == "public"
        assert rt.query(VICTIM, "peek") == VICTIM_SECRET[:6]
        assert rt.query("hub.amigos.dev/carol/after", "get_total") == 5
    if hasattr(fresh, "close"):
        fresh.close()
