"""The language wall: which Python a service may be written in.

``check_service`` parses a source file and either returns what the rest of the VM needs to know
about it (:class:`Analysis`) or raises :class:`~amigos.errors.DeployError` naming the line and the
rule. The rules, each named by the ``rule`` string it reports:

* ``syntax``              the file must parse as Python 3.11.
* ``size``                at most ``MAX_SOURCE_BYTES``.
* ``forbidden-syntax``    no ``with``, ``async``, ``await``, ``yield``, ``match``, ``try/except*``,
                          decorators, set literals and comprehensions, ``@``, nested classes.
* ``float``               no float or complex literals (use ``int`` or ``Decimal``).
* ``double-underscore``   no name or attribute containing ``__`` (only ``def __init__`` in a class
                          body and ``super().__init__(…)`` are allowed).
* ``private-attribute``   no attribute starting with ``_``: host objects keep their internals there.
* ``forbidden-attribute`` no frame, code, generator or traceback internals, no ``mro``, no
                          ``format``/``format_map`` (they reach attributes through format strings).
* ``forbidden-name``      builtins that break the sandbox or determinism (``getattr``, ``type``,
                          ``eval``, ``open``, ``id``, ``hash``, ``set``, ``float``…).
* ``undefined-name``      every name must be defined in the service or be an allowed builtin.
* ``rebind-builtin``      the allowed builtins cannot be reassigned (the meter relies on them).
* ``rebind-code-name``    a name defined by ``def``/``class``/``import`` is not state: no assigning it.
* ``forbidden-import``    only ``import std``, ``from std import …`` and ``from hub.<ns> import <name>``.
* ``import-position``     imports only at the top level of the module.
* ``default-value``       default argument values must be constants.
* ``class-body``          a class body holds a docstring, methods and constant attributes.
* ``class-base``          base classes are classes of this service or built-in exceptions.
* ``finally-exit``        no ``return``/``break``/``continue`` leaving a ``finally`` block.
* ``loop-target``         ``for`` and comprehension targets are plain names (or tuples of names).
* ``delete-attribute``    ``del obj.attr`` is not supported.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Iterator

from ..errors import DeployError
from . import gas
from .paths import import_to_path

# Builtins a service may use (by name). The VM binds metered versions of them.
ALLOWED_BUILTINS = frozenset(
    """
    abs all any bin bool bytes callable chr dict divmod enumerate filter hex int isinstance
    issubclass iter len list map max min next oct ord pow range repr reversed round sorted str
    sum super tuple zip Decimal
    Exception ArithmeticError AssertionError AttributeError IndexError KeyError LookupError
    NotImplementedError OverflowError RuntimeError StopIteration TypeError ValueError
    ZeroDivisionError
    """.split()
)
ALLOWED_EXCEPTION_BASES = frozenset(
    name for name in ALLOWED_BUILTINS if name.endswith("Error") or name in ("Exception", "StopIteration")
)

FORBIDDEN_NAMES = {
    "getattr": "reaches any attribute by a computed name",
    "setattr": "writes any attribute by a computed name",
    "delattr": "deletes any attribute by a computed name",
    "hasattr": "probes attributes by a computed name",
    "type": "reaches classes and metaclasses",
    "object": "reaches the root of every class",
    "eval": "runs unchecked code",
    "exec": "runs unchecked code",
    "compile": "builds code objects",
    "open": "touches the file system",
    "input": "reads the terminal",
    "print": "writes to the terminal (use std.emit)",
    "globals": "exposes the module namespace",
    "locals": "exposes frames",
    "vars": "exposes namespaces",
    "dir": "lists host internals",
    "breakpoint": "starts a debugger",
    "help": "is interactive",
    "exit": "stops the process",
    "quit": "stops the process",
    "id": "depends on memory addresses",
    "hash": "depends on the hash seed",
    "set": "iterates in hash-seed order (use dict keys)",
    "frozenset": "iterates in hash-seed order (use tuple)",
    "float": "is not deterministic (use int or Decimal)",
    "complex": "is not deterministic",
    "memoryview": "exposes raw memory",
    "bytearray": "is a mutable buffer (use bytes)",
    "property": "changes attribute access",
    "staticmethod": "is a decorator",
    "classmethod": "is a decorator",
    "format": "reaches attributes through format strings (use f-strings)",
    "ascii": "is not supported",
    "slice": "is not supported",
    "BaseException": "would catch the gas meter's halts",
    "GeneratorExit": "is an interpreter signal",
    "KeyboardInterrupt": "is an interpreter signal",
    "SystemExit": "is an interpreter signal",
    "aiter": "is async",
    "anext": "is async",
}

FORBIDDEN_ATTRIBUTES = frozenset(
    """
    gi_frame gi_code gi_yieldfrom gi_running gi_suspended cr_frame cr_code cr_await cr_origin
    ag_frame ag_code ag_await f_globals f_locals f_builtins f_back f_code f_lasti f_trace
    f_lineno tb_frame tb_next tb_lasti tb_lineno co_code co_consts co_names co_varnames
    co_filename co_lines co_positions mro format format_map with_traceback func_globals
    func_code im_func im_self
    """.split()
)

FORBIDDEN_NODES: dict[type, str] = {
    ast.With: "with statements",
    ast.AsyncWith: "async with",
    ast.AsyncFor: "async for",
    ast.AsyncFunctionDef: "async functions",
    ast.Await: "await",
    ast.Yield: "generators (yield)",
    ast.YieldFrom: "generators (yield from)",
    ast.TryStar: "except*",
    ast.Match: "match statements",
    ast.Set: "set literals (sets iterate in hash-seed order)",
    ast.SetComp: "set comprehensions (sets iterate in hash-seed order)",
    ast.MatMult: "the @ operator",
}


@dataclass
class Export:
    """An exported function: its name, parameters as written, docstring and line."""

    name: str
    signature: str
    doc: str | None
    line: int
    params: list[str]


@dataclass
class Analysis:
    tree: ast.Module
    doc: str | None
    imports: dict[str, str] = field(default_factory=dict)
    """local name → service path (``"std"`` for the std module and ``std.X`` for its names)."""
    code_names: set[str] = field(default_factory=set)
    classes: list[str] = field(default_factory=list)
    exports: dict[str, Export] = field(default_factory=dict)
    state_names: list[str] = field(default_factory=list)
    """Every name that can ever hold state: assigned at the top level or declared ``global``."""

    @property
    def dependencies(self) -> list[str]:
        return sorted({p for p in self.imports.values() if not p.startswith("std")})


def fail(node: ast.AST | None, rule: str, message: str) -> DeployError:
    return DeployError(message, line=getattr(node, "lineno", None), rule=rule)


def check_service(source: str, std_names: frozenset[str]) -> Analysis:
    """Parse and check ``source``; raise :class:`DeployError` on the first broken rule."""
    if not isinstance(source, str):
        raise fail(None, "syntax", "service source must be text")
    if len(source.encode("utf-8", "surrogatepass")) > gas.MAX_SOURCE_BYTES:
        raise fail(None, "size", f"service source is larger than {gas.MAX_SOURCE_BYTES} bytes")
    try:
        tree = ast.parse(source, mode="exec", type_comments=False)
    except SyntaxError as exc:
        raise DeployError(f"syntax error: {exc.msg}", line=exc.lineno, rule="syntax") from None
    except (ValueError, MemoryError, RecursionError) as exc:
        raise fail(None, "syntax", f"source cannot be parsed: {str(exc) or 'it nests too deeply'}") from None
    _check_nesting(tree)
    analysis = Analysis(tree=tree, doc=ast.get_docstring(tree))
    _check_top_level(tree, analysis, std_names)
    _check_nodes(tree)
    _check_names(tree, analysis)
    _check_imports_not_shadowed(tree, analysis, std_names)
    analysis.state_names = _state_names(tree, analysis)
    return analysis


def _check_imports_not_shadowed(tree: ast.Module, analysis: Analysis, std_names: frozenset[str]) -> None:
    # An imported name means the same thing everywhere in the file: the instrumenter compiles
    # std.f(…) into a direct call, and a reader should never wonder which `std` this is.
    for name, node in _bound_names(tree):
        if name in analysis.imports and not isinstance(node, ast.alias):
            raise fail(node, "rebind-code-name", f"{name!r} is imported and cannot be reassigned or shadowed")
    std_locals = {local for local, target in analysis.imports.items() if target == "std"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in std_locals:
            if node.attr not in std_names:
                raise fail(node, "undefined-name", f"std has no name {node.attr!r}")


def _state_names(tree: ast.Module, analysis: Analysis) -> list[str]:
    names: dict[str, None] = {}
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
            continue
        for node in _walk_same_function(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names[node.id] = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            names.update(dict.fromkeys(node.names))
    return [n for n in names if n not in analysis.code_names]


# ---------------------------------------------------------------- module structure


def _check_top_level(tree: ast.Module, analysis: Analysis, std_names: frozenset[str]) -> None:
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            _check_import(stmt, analysis)
        elif isinstance(stmt, ast.ImportFrom):
            _check_import_from(stmt, analysis, std_names)
        elif isinstance(stmt, ast.FunctionDef):
            _define(stmt, stmt.name, analysis)
            if not stmt.name.startswith("_"):
                analysis.exports[stmt.name] = _export(stmt)
        elif isinstance(stmt, ast.ClassDef):
            _check_class(stmt, analysis)
            _define(stmt, stmt.name, analysis)
            analysis.classes.append(stmt.name)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and node not in tree.body:
            raise fail(node, "import-position", "imports are only allowed at the top level of the service")
        if isinstance(node, ast.ClassDef) and node not in tree.body:
            raise fail(node, "forbidden-syntax", "classes must be defined at the top level of the service")


def _define(node: ast.AST, name: str, analysis: Analysis) -> None:
    if name in analysis.code_names:
        raise fail(node, "rebind-code-name", f"{name!r} is defined twice")
    analysis.code_names.add(name)


def _check_import(stmt: ast.Import, analysis: Analysis) -> None:
    for alias in stmt.names:
        if alias.name != "std":
            hint = ""
            if alias.name.startswith("hub."):
                module, _, name = alias.name.rpartition(".")
                hint = f" (write: from {module} import {name})"
            raise fail(stmt, "forbidden-import", f"cannot import {alias.name!r}{hint}")
        local = alias.asname or "std"
        _define(stmt, local, analysis)
        analysis.imports[local] = "std"


def _check_import_from(stmt: ast.ImportFrom, analysis: Analysis, std_names: frozenset[str]) -> None:
    module = stmt.module or ""
    if stmt.level:
        raise fail(stmt, "forbidden-import", "relative imports are not supported")
    for alias in stmt.names:
        if alias.name == "*":
            raise fail(stmt, "forbidden-import", "import * is not supported")
        local = alias.asname or alias.name
        if module == "std":
            if alias.name not in std_names:
                raise fail(stmt, "forbidden-import", f"std has no name {alias.name!r}")
            target = f"std.{alias.name}"
        else:
            path = import_to_path(module, alias.name)
            if path is None:
                raise fail(
                    stmt,
                    "forbidden-import",
                    f"cannot import from {module!r}: only std and hub services (from hub.<namespace> import <name>)",
                )
            target = path
        _define(stmt, local, analysis)
        analysis.imports[local] = target


def _check_class(stmt: ast.ClassDef, analysis: Analysis) -> None:
    if stmt.decorator_list:
        raise fail(stmt, "forbidden-syntax", "decorators are not supported")
    if stmt.keywords:
        raise fail(stmt, "class-base", "class keywords (metaclass=…) are not supported")
    for base in stmt.bases:
        if not isinstance(base, ast.Name) or not (
            base.id in analysis.classes or base.id in ALLOWED_EXCEPTION_BASES
        ):
            raise fail(
                base,
                "class-base",
                "a base class must be a class defined earlier in this service or a built-in exception",
            )
    for item in stmt.body:
        if isinstance(item, ast.FunctionDef):
            continue
        if isinstance(item, ast.Pass):
            continue
        if isinstance(item, ast.Expr) and isinstance(item.value, ast.Constant) and isinstance(item.value.value, str):
            continue
        if isinstance(item, (ast.Assign, ast.AnnAssign)) and item.value is not None and _is_constant(item.value):
            targets = item.targets if isinstance(item, ast.Assign) else [item.target]
            if all(isinstance(t, ast.Name) for t in targets):
                continue
        raise fail(item, "class-body", "a class body may only hold a docstring, methods and constant attributes")


def _export(fn: ast.FunctionDef) -> Export:
    args = fn.args
    params = [a.arg for a in args.posonlyargs + args.args]
    params += [a.arg for a in args.kwonlyargs]
    signature = ast.unparse(args)
    if fn.returns is not None:
        signature = f"({signature}) -> {ast.unparse(fn.returns)}"
    else:
        signature = f"({signature})"
    return Export(fn.name, signature, ast.get_docstring(fn), fn.lineno, params)


def _is_constant(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _is_constant(node.operand)
    if isinstance(node, ast.Tuple):
        return all(_is_constant(e) for e in node.elts)
    return False


# ---------------------------------------------------------------- node-by-node rules


def _check_nesting(tree: ast.Module) -> None:
    """Refuse trees deeper than MAX_NESTING before anything walks them recursively."""
    stack: list[tuple[ast.AST, int, int | None]] = [(tree, 1, None)]
    while stack:
        node, depth, line = stack.pop()
        line = getattr(node, "lineno", line)
        if depth > gas.MAX_NESTING:
            message = f"code nests more than {gas.MAX_NESTING} levels deep"
            raise DeployError(message, line=line, rule="too-deep")
        stack.extend((child, depth + 1, line) for child in ast.iter_child_nodes(node))


def _check_nodes(tree: ast.Module) -> None:
    for node in ast.walk(tree):
        kind = type(node)
        if kind in FORBIDDEN_NODES:
            raise fail(node, "forbidden-syntax", f"{FORBIDDEN_NODES[kind]} are not supported")
        if isinstance(node, ast.Constant) and type(node.value) in (float, complex):
            raise fail(node, "float", "float literals are not allowed (use int or Decimal(\"…\"))")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            raise fail(node, "forbidden-syntax", "the @ operator is not supported")
        if isinstance(node, ast.Attribute):
            _check_attribute(node)
        elif isinstance(node, (ast.FunctionDef, ast.Lambda)):
            _check_function(node)
        elif isinstance(node, ast.Try):
            for stmt in node.finalbody:
                _check_finally(stmt, in_loop=False)
        elif isinstance(node, ast.For):
            _check_target(node.target)
        elif isinstance(node, ast.comprehension):
            _check_target(node.target)
            if node.is_async:
                raise fail(node.target, "forbidden-syntax", "async comprehensions are not supported")
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                if isinstance(target, ast.Attribute):
                    raise fail(target, "delete-attribute", "del obj.attr is not supported")


def _check_attribute(node: ast.Attribute) -> None:
    attr = node.attr
    if attr == "__init__" and _is_super_call(node.value):
        return
    if "__" in attr:
        raise fail(node, "double-underscore", f"attribute {attr!r}: names with double underscores are not allowed")
    if attr.startswith("_"):
        raise fail(node, "private-attribute", f"attribute {attr!r}: attributes starting with _ are not allowed")
    if attr in FORBIDDEN_ATTRIBUTES:
        raise fail(node, "forbidden-attribute", f"attribute {attr!r} is not allowed")


def _is_super_call(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "super"
        and not node.args
        and not node.keywords
    )


def _check_function(node: ast.FunctionDef | ast.Lambda) -> None:
    if isinstance(node, ast.FunctionDef) and node.decorator_list:
        raise fail(node, "forbidden-syntax", "decorators are not supported")
    for default in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
        if not _is_constant(default):
            raise fail(default, "default-value", "default argument values must be constants")


def _check_finally(stmt: ast.stmt, in_loop: bool) -> None:
    for node in _walk_same_function(stmt):
        if isinstance(node, ast.Return):
            raise fail(node, "finally-exit", "return inside finally would swallow errors")
        if isinstance(node, (ast.Break, ast.Continue)) and not _inside_loop(stmt, node, in_loop):
            raise fail(node, "finally-exit", "break/continue leaving a finally block would swallow errors")


def _walk_same_function(node: ast.AST) -> Iterator[ast.AST]:
    yield node
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        yield from _walk_same_function(child)


def _inside_loop(root: ast.AST, target: ast.AST, in_loop: bool) -> bool:
    """Whether ``target`` sits inside a loop that is itself inside ``root``."""

    def search(node: ast.AST, looped: bool) -> bool | None:
        if node is target:
            return looped
        for child in ast.iter_child_nodes(node):
            inner = looped or (isinstance(node, (ast.For, ast.While)) and child in node.body)
            found = search(child, inner)
            if found is not None:
                return found
        return None

    return bool(search(root, in_loop))


def _check_target(target: ast.expr) -> None:
    if isinstance(target, ast.Name):
        return
    if isinstance(target, (ast.Tuple, ast.List)):
        for elt in target.elts:
            _check_target(elt.value if isinstance(elt, ast.Starred) else elt)
        return
    raise fail(target, "loop-target", "loop targets must be names or tuples of names")


# ---------------------------------------------------------------- names


def _bound_names(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            yield node.id, node
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            yield node.name, node
        elif isinstance(node, ast.arg):
            yield node.arg, node
        elif isinstance(node, ast.alias):
            yield (node.asname or node.name).split(".")[0], node
        elif isinstance(node, ast.ExceptHandler) and node.name:
            yield node.name, node
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in node.names:
                yield name, node


def _check_identifier(name: str, node: ast.AST) -> None:
    if "__" in name:
        raise fail(node, "double-underscore", f"name {name!r}: names with double underscores are not allowed")


def _check_names(tree: ast.Module, analysis: Analysis) -> None:
    # Methods and class constants live in the class namespace: they may reuse builtin names.
    class_members = {
        id(node)
        for cls in tree.body
        if isinstance(cls, ast.ClassDef)
        for item in cls.body
        for node in ([item] if isinstance(item, ast.FunctionDef) else _assigned_names(item))
    }
    bound: set[str] = set()
    for name, node in _bound_names(tree):
        if id(node) in class_members:
            if name != "__init__" or not isinstance(node, ast.FunctionDef):
                _check_identifier(name, node)
            continue
        _check_identifier(name, node)
        if name in ALLOWED_BUILTINS:
            raise fail(node, "rebind-builtin", f"{name!r} is a builtin and cannot be redefined")
        bound.add(name)
    _check_code_names_not_rebound(tree, analysis)
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg is not None:
            _check_identifier(node.arg, node)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            name = node.id
            _check_identifier(name, node)
            if name in bound or name in ALLOWED_BUILTINS:
                continue
            if name in FORBIDDEN_NAMES:
                raise fail(node, "forbidden-name", f"{name!r} is not available in services: it {FORBIDDEN_NAMES[name]}")
            raise fail(node, "undefined-name", f"name {name!r} is not defined")


def _assigned_names(stmt: ast.stmt) -> list[ast.Name]:
    if isinstance(stmt, ast.Assign):
        return [t for t in stmt.targets if isinstance(t, ast.Name)]
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return [stmt.target]
    return []


def _check_code_names_not_rebound(tree: ast.Module, analysis: Analysis) -> None:
    code_nodes = {id(s) for s in tree.body if isinstance(s, (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom))}
    for stmt in tree.body:
        if id(stmt) in code_nodes:
            continue
        for node in _walk_same_function(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)) and node.id in analysis.code_names:
                raise fail(node, "rebind-code-name", f"{node.id!r} is defined by def/class/import and cannot be reassigned")
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            for name in node.names:
                if name in analysis.code_names:
                    raise fail(node, "rebind-code-name", f"{name!r} is defined by def/class/import and cannot be reassigned")
