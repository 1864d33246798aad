"""Rewrites a checked service so that every costly operation goes through the meter.

The rewriting is mechanical; what each helper does lives in :mod:`amigos.vm.guards`:

=============================  ===============================================================
service code                   becomes
=============================  ===============================================================
``def f(…): body``             ``def f(…): __am_g__(CALL + n); body``
``lambda …: e``                ``lambda …: __am_g__(CALL + n) or e``
``for``/``while`` body         ``__am_g__(LOOP + n)`` first in every iteration
``[e for x in xs if c]``       ``[e for x in xs if __am_tick__(LOOP + n) if c]``
``a + b`` (any binary op)      ``__am_op_Add__(a, b)``
``a += b``                     ``a = __am_iop_Add__(a, b)`` / ``__am_aug_item__`` / ``__am_aug_attr__``
``a < b`` (not trivially cheap)  ``__am_cmp_Lt__(a, b)``; chains through ``__am_chain__``
``x[k]``, ``x[k] = v``         ``__am_getitem__(x, k)``, ``__am_setitem__(v, x, k)``
``x[a:b]``                     ``__am_getitem__(x, __am_mkslice__(a, b, None))``
``o.name``, ``o.name = v``     ``__am_getattr__(o, "name")``, ``__am_setattr__(v, o, "name")``
``o.m(…)``                     ``__am_callmethod__(o, "m", …)``
``f"a{x:spec}"``               ``__am_fstring__("a", __am_fmt__(x, conversion, spec))``
``{k: v}``, ``{k: v for …}``   ``{__am_key__(k): v}`` (unless ``k`` is a constant)
``*xs`` / ``**d`` unpacking    ``*__am_spread__(xs)`` / ``**__am_spread__(d)``
``except …:``                  ``except … as __am_e__: __am_check_exc__(__am_e__); …``
``finally:``                   ``finally: __am_finally__(); …``
``import``/``from … import``   ``name = __am_import__("target")``
``class C:``                   ``class C(__am_Object__):`` (deterministic repr)
=============================  ===============================================================

``n`` is the :func:`straight_line_size` of what the charge pays for, times ``NODE``: the
statements and expressions that may run before the next charge. Without it a loop whose body
is one long line (``x = [a, a, a, …]``, ``a and a and …``) would run thousands of bytecodes for
one ``LOOP``.

Names that start with ``__am`` cannot appear in service source (the checker rejects double
underscores), so service code cannot reach or shadow the helpers.
"""

from __future__ import annotations

import ast
import copy
from types import CodeType

from . import gas
from .checker import Analysis

SMALL_CONSTANT = 64


def _name(id_: str) -> ast.Name:
    return ast.Name(id=id_, ctx=ast.Load())


def _call(helper: str, *args: ast.expr, keywords: list[ast.keyword] | None = None) -> ast.Call:
    return ast.Call(func=_name(helper), args=list(args), keywords=keywords or [])


def _const(value: object) -> ast.Constant:
    return ast.Constant(value=value)


def _charge(amount: int) -> ast.stmt:
    return ast.Expr(value=_call("__am_g__", _const(amount)))


def _is_cheap_operand(node: ast.expr) -> bool:
    """A constant whose comparison with anything costs O(1)."""
    if not isinstance(node, ast.Constant):
        return False
    value = node.value
    if value is None or isinstance(value, (bool, int)):
        return True
    return isinstance(value, (str, bytes)) and len(value) <= SMALL_CONSTANT


def _runs_on_entry(node: ast.AST) -> list[ast.AST]:
    """The children of ``node`` that run when ``node`` runs, short of a charge point of their own."""
    if isinstance(node, (ast.FunctionDef, ast.Lambda)):
        return [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
    if isinstance(node, ast.ClassDef):
        return [*node.bases, *node.keywords, *node.body]
    if isinstance(node, ast.For):
        return [node.iter, *node.orelse]
    if isinstance(node, ast.While):
        return [node.test, *node.orelse]
    if isinstance(node, (ast.ListComp, ast.DictComp, ast.GeneratorExp)):
        return [node.generators[0].iter]
    return list(ast.iter_child_nodes(node))


def straight_line_size(nodes: list[ast.AST]) -> int:
    """How many statement and expression nodes of ``nodes`` may run before the next charge:
    nested loops, functions and comprehensions pay for their own bodies, and every branch is
    counted as taken. Measured on the source before it is rewritten (helpers charge for
    themselves)."""
    count = 0
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.stmt, ast.expr)):
            count += 1
        stack.extend(_runs_on_entry(node))
    return count


def _element_parts(node: ast.ListComp | ast.DictComp | ast.GeneratorExp) -> list[ast.AST]:
    """What a comprehension runs per element: its element, every ``if`` and target, and the
    iterables of its inner ``for`` clauses."""
    parts: list[ast.AST] = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
    for i, generator in enumerate(node.generators):
        parts += [generator.target, *generator.ifs]
        if i:
            parts.append(generator.iter)
    return parts


class Instrumenter(ast.NodeTransformer):
    def __init__(self, std_names: frozenset[str] = frozenset()) -> None:
        self._temps = 0
        self.std_names = std_names
        """Local names bound to the std module by ``import std``."""

    def _temp(self) -> str:
        self._temps += 1
        return f"__am_t{self._temps}__"

    # ------------------------------------------------------------ functions and loops

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        size = straight_line_size(node.body)
        self.generic_visit(node)
        _strip_annotations(node.args)
        node.returns = None
        has_doc = (
            node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
            and isinstance(node.body[0].value.value, str)
        )
        at = 1 if has_doc else 0
        node.body.insert(at, _charge(gas.CALL + gas.NODE * size))
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.Lambda:
        cost = gas.CALL + gas.NODE * straight_line_size([node.body])
        self.generic_visit(node)
        node.body = ast.BoolOp(op=ast.Or(), values=[_call("__am_g__", _const(cost)), node.body])
        return node

    def visit_For(self, node: ast.For) -> ast.For:
        cost = gas.LOOP + gas.NODE * straight_line_size([node.target, *node.body])
        self.generic_visit(node)
        if _has_starred(node.target):
            node.iter = _call("__am_spread__", node.iter)
        node.body.insert(0, _charge(cost))
        return node

    def visit_While(self, node: ast.While) -> ast.While:
        cost = gas.LOOP + gas.NODE * straight_line_size([node.test, *node.body])
        self.generic_visit(node)
        node.body.insert(0, _charge(cost))
        return node

    def _tick_per_element(self, node: ast.ListComp | ast.DictComp | ast.GeneratorExp) -> None:
        cost = gas.LOOP + gas.NODE * straight_line_size(_element_parts(node))
        self.generic_visit(node)
        for generator in node.generators:
            generator.ifs.insert(0, _call("__am_tick__", _const(cost)))

    def visit_ListComp(self, node: ast.ListComp) -> ast.expr:
        self._tick_per_element(node)
        return node

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> ast.expr:
        self._tick_per_element(node)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        self.generic_visit(node)
        if not node.bases:
            node.bases = [_name("__am_Object__")]
        return node

    # ------------------------------------------------------------ operators

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        self.generic_visit(node)
        return ast.copy_location(_call(f"__am_op_{type(node.op).__name__}__", node.left, node.right), node)

    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        self.generic_visit(node)
        operands = [node.left, *node.comparators]
        if all(self._compare_is_cheap(op, a, b) for op, a, b in zip(node.ops, operands, operands[1:])):
            return node
        if len(node.ops) == 1:
            helper = f"__am_cmp_{type(node.ops[0]).__name__}__"
            return ast.copy_location(_call(helper, node.left, node.comparators[0]), node)
        args: list[ast.expr] = [node.left]
        for op, right in zip(node.ops, node.comparators):
            args.append(_const(type(op).__name__))
            args.append(ast.Lambda(args=_no_args(), body=right))
        return ast.copy_location(_call("__am_chain__", *args), node)

    @staticmethod
    def _compare_is_cheap(op: ast.cmpop, left: ast.expr, right: ast.expr) -> bool:
        if isinstance(op, (ast.Is, ast.IsNot)):
            return True
        if isinstance(op, (ast.In, ast.NotIn)):
            return isinstance(right, (ast.Tuple, ast.List)) and all(_is_cheap_operand(e) for e in right.elts)
        return _is_cheap_operand(left) or _is_cheap_operand(right)

    # ------------------------------------------------------------ subscripts and attributes

    def _index(self, node: ast.expr) -> ast.expr:
        if isinstance(node, ast.Slice):
            parts = [self.visit(p) if p is not None else _const(None) for p in (node.lower, node.upper, node.step)]
            return ast.copy_location(_call("__am_mkslice__", *parts), node)
        return self.visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> ast.expr:
        # Only loads reach here: stores and deletes are rewritten by their statements.
        value = self.visit(node.value)
        return ast.copy_location(_call("__am_getitem__", value, self._index(node.slice)), node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.expr:
        value = self.visit(node.value)
        if node.attr == "__init__":  # super().__init__ — allowed by the checker only on super()
            node.value = value
            return node
        return ast.copy_location(_call("__am_getattr__", value, _const(node.attr)), node)

    def visit_Call(self, node: ast.Call) -> ast.expr:
        func = node.func
        args = [self._spread(self.visit(a)) for a in node.args]
        keywords = [self._spread_keyword(self.visit(k)) for k in node.keywords]
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in self.std_names:
            # `std` can never be rebound, so std.f(…) calls the bound method directly.
            node.func = ast.copy_location(_name(f"__am_std_{func.attr}__"), func)
            node.args = args
            node.keywords = keywords
            return node
        if isinstance(func, ast.Attribute) and func.attr != "__init__":
            target = self.visit(func.value)
            call = _call("__am_callmethod__", target, _const(func.attr), *args, keywords=keywords)
            return ast.copy_location(call, node)
        node.func = self.visit(func)
        node.args = args
        node.keywords = keywords
        return node

    @staticmethod
    def _spread(arg: ast.expr) -> ast.expr:
        if isinstance(arg, ast.Starred):
            arg.value = _call("__am_spread__", arg.value)
        return arg

    @staticmethod
    def _spread_keyword(kw: ast.keyword) -> ast.keyword:
        if kw.arg is None:
            kw.value = _call("__am_spread__", kw.value)
        return kw

    def visit_List(self, node: ast.List) -> ast.expr:
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load):
            node.elts = [self._spread(e) for e in node.elts]
        return node

    visit_Tuple = visit_List

    def visit_Dict(self, node: ast.Dict) -> ast.expr:
        self.generic_visit(node)
        node.values = [_call("__am_spread__", v) if k is None else v for k, v in zip(node.keys, node.values)]
        node.keys = [_checked_key(k) for k in node.keys]
        return node

    def visit_DictComp(self, node: ast.DictComp) -> ast.expr:
        self._tick_per_element(node)
        node.key = _checked_key(node.key)
        return node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.expr:
        parts = [self.visit(v) for v in node.values]
        return ast.copy_location(_call("__am_fstring__", *parts), node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.expr:
        value = self.visit(node.value)
        spec: ast.expr = self.visit(node.format_spec) if node.format_spec is not None else _const("")
        return ast.copy_location(_call("__am_fmt__", value, _const(node.conversion), spec), node)

    # ------------------------------------------------------------ statements with targets

    def visit_Assign(self, node: ast.Assign) -> list[ast.stmt] | ast.stmt:
        value = self.visit(node.value)
        if any(_has_starred(t) for t in node.targets):
            value = _call("__am_spread__", value)
        if len(node.targets) == 1 and _is_plain_target(node.targets[0]):
            node.value = value
            return node
        if len(node.targets) == 1 and isinstance(node.targets[0], (ast.Subscript, ast.Attribute)):
            return ast.copy_location(self._store(node.targets[0], value), node)
        temp = self._temp()
        out: list[ast.stmt] = [ast.copy_location(ast.Assign(targets=[ast.Name(temp, ast.Store())], value=value), node)]
        for target in node.targets:
            out.extend(self._assign_from(target, _name(temp), node))
        return out

    def _assign_from(self, target: ast.expr, source: ast.expr, at: ast.AST) -> list[ast.stmt]:
        if _is_plain_target(target):
            return [ast.copy_location(ast.Assign(targets=[target], value=source), at)]
        if isinstance(target, (ast.Subscript, ast.Attribute)):
            return [ast.copy_location(self._store(target, source), at)]
        # A tuple/list target mixing names with subscripts or attributes: unpack into temporaries.
        assert isinstance(target, (ast.Tuple, ast.List))
        later: list[ast.stmt] = []
        elts: list[ast.expr] = []
        for elt in target.elts:
            inner = elt.value if isinstance(elt, ast.Starred) else elt
            if _is_plain_target(inner):
                elts.append(elt)
                continue
            temp = self._temp()
            stored: ast.expr = ast.Name(temp, ast.Store())
            elts.append(ast.Starred(value=stored, ctx=ast.Store()) if isinstance(elt, ast.Starred) else stored)
            later.extend(self._assign_from(inner, _name(temp), at))
        unpack = ast.Assign(targets=[ast.Tuple(elts=elts, ctx=ast.Store())], value=source)
        return [ast.copy_location(unpack, at), *later]

    def _store(self, target: ast.Subscript | ast.Attribute, value: ast.expr) -> ast.stmt:
        obj = self.visit(target.value)
        if isinstance(target, ast.Subscript):
            call = _call("__am_setitem__", value, obj, self._index(target.slice))
        else:
            call = _call("__am_setattr__", value, obj, _const(target.attr))
        return ast.Expr(value=call)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> list[ast.stmt] | ast.stmt:
        if node.value is None:
            return ast.copy_location(ast.Pass(), node)
        return self.visit_Assign(ast.copy_location(_plain_assign(node), node))

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.stmt:
        op = type(node.op).__name__
        value = self.visit(node.value)
        target = node.target
        if isinstance(target, ast.Name):
            load = ast.Name(id=target.id, ctx=ast.Load())
            new = ast.Assign(targets=[target], value=_call(f"__am_iop_{op}__", load, value))
        elif isinstance(target, ast.Subscript):
            call = _call("__am_aug_item__", self.visit(target.value), self._index(target.slice), _const(op), value)
            new = ast.Expr(value=call)
        else:
            assert isinstance(target, ast.Attribute)
            call = _call("__am_aug_attr__", self.visit(target.value), _const(target.attr), _const(op), value)
            new = ast.Expr(value=call)
        return ast.copy_location(new, node)

    def visit_Delete(self, node: ast.Delete) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for target in node.targets:
            if isinstance(target, ast.Subscript):
                call = _call("__am_delitem__", self.visit(target.value), self._index(target.slice))
                out.append(ast.copy_location(ast.Expr(value=call), node))
            else:
                out.append(ast.copy_location(ast.Delete(targets=[target]), node))
        return out

    def visit_Try(self, node: ast.Try) -> ast.Try:
        self.generic_visit(node)
        if node.finalbody:
            node.finalbody.insert(0, ast.Expr(value=_call("__am_finally__")))
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.ExceptHandler:
        self.generic_visit(node)
        if node.type is None:
            node.type = _name("__am_BaseException__")
        if node.name is None:
            node.name = "__am_e__"
        node.body.insert(0, ast.Expr(value=_call("__am_check_exc__", _name(node.name))))
        return node

    # ------------------------------------------------------------ imports

    def visit_Import(self, node: ast.Import) -> list[ast.stmt]:
        return [
            ast.copy_location(
                ast.Assign(targets=[ast.Name(alias.asname or alias.name, ast.Store())], value=_call("__am_import__", _const("std"))),
                node,
            )
            for alias in node.names
        ]

    def __call__(self, tree: ast.Module, analysis: Analysis) -> ast.Module:
        body: list[ast.stmt] = []
        for stmt in tree.body:
            if isinstance(stmt, ast.ImportFrom):
                for alias in stmt.names:
                    local = alias.asname or alias.name
                    value = _call("__am_import__", _const(analysis.imports[local]))
                    body.append(ast.copy_location(ast.Assign(targets=[ast.Name(local, ast.Store())], value=value), stmt))
                continue
            result = self.visit(stmt)
            body.extend(result if isinstance(result, list) else [result])
        tree.body = body
        return ast.fix_missing_locations(tree)


def _checked_key(key: ast.expr | None) -> ast.expr | None:
    # Every key is an insertion the helper charges for (constant ones too: a display of
    # thousands of constant keys is work), and a tuple key is hashed recursively in C: the
    # helper refuses one nested too deeply.
    if key is None:
        return key
    return _call("__am_key__", key)


def _no_args() -> ast.arguments:
    return ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])


def _strip_annotations(args: ast.arguments) -> None:
    # Annotations are documentation here: evaluating them would run code at definition time.
    for arg in args.posonlyargs + args.args + args.kwonlyargs:
        arg.annotation = None
    if args.vararg:
        args.vararg.annotation = None
    if args.kwarg:
        args.kwarg.annotation = None


def _plain_assign(node: ast.AnnAssign) -> ast.Assign:
    assert node.value is not None
    return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)


def _is_plain_target(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return True
    if isinstance(node, ast.Starred):
        return _is_plain_target(node.value)
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(_is_plain_target(e) for e in node.elts)
    return False


def _has_starred(node: ast.expr) -> bool:
    return isinstance(node, (ast.Tuple, ast.List)) and any(isinstance(e, ast.Starred) for e in node.elts)


def std_names(analysis: Analysis) -> frozenset[str]:
    return frozenset(local for local, target in analysis.imports.items() if target == "std")


DEFINITIONS = (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


def instrument(analysis: Analysis, path: str) -> tuple[CodeType, CodeType]:
    """Compile the checked module twice: ``init`` runs the whole file once at deploy; ``load``
    runs only its definitions (imports, functions, classes) to rebuild it from stored state."""
    full = copy.deepcopy(analysis.tree)
    definitions = copy.deepcopy(analysis.tree)
    definitions.body = [s for s in definitions.body if isinstance(s, DEFINITIONS)]
    init_tree = Instrumenter(std_names(analysis))(full, analysis)
    load_tree = Instrumenter(std_names(analysis))(definitions, analysis)
    return compile(init_tree, path, "exec"), compile(load_tree, path, "exec")
