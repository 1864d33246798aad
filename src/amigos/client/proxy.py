"""Service proxies: a deployed service as a Python object.

``client.service(path)`` describes the service once and returns a proxy with one attribute per
exported function. Calling one sends a signed call and returns its result, or raises the
call's typed :class:`~amigos.errors.ExecutionError` (``ServiceError``, ``OutOfGas``…) with the
receipt as its ``receipt`` attribute; ``proxy.fn.receipt(...)`` returns the receipt instead,
failed or not, and ``proxy.fn.with_coins(amount)(...)`` sends ``amount`` AMI with the call
(the service's ``std.received()``). ``proxy.query.fn(...)`` reads without a transaction. Each
function carries the service's docstring and signature, so ``help()`` and ``inspect.signature``
show them, and arguments that do not fit the signature raise TypeError before anything is sent.

The signatures come from the node as text; they are parsed, never evaluated: annotations and
non-literal defaults stay source text.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol

from ..errors import NodeError
from .accounts import checked_coins
from .receipt import Receipt, failure


class _SyncClient(Protocol):
    def call(self, path: str, function: str, *args: Any, gas: int | None = None,
             kwargs: dict[str, Any] | None = None, coins: int = 0) -> Receipt: ...

    def query(self, path: str, function: str, *args: Any, kwargs: dict[str, Any] | None = None,
              gas: int | None = None) -> Any: ...


class _AsyncClient(Protocol):
    def call(self, path: str, function: str, *args: Any, gas: int | None = None,
             kwargs: dict[str, Any] | None = None, coins: int = 0) -> Awaitable[Receipt]: ...

    def query(self, path: str, function: str, *args: Any, kwargs: dict[str, Any] | None = None,
              gas: int | None = None) -> Awaitable[Any]: ...


@dataclass(frozen=True)
class FunctionSpec:
    """An exported function as a service description lists it."""

    name: str
    signature: inspect.Signature
    doc: str | None


class _SourceText:
    """An annotation or default shown as the source text it was written as."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def parse_signature(text: str) -> inspect.Signature:
    """The :class:`inspect.Signature` that a signature like ``(by: int = 1) -> int`` spells.
    Raises ValueError for text that is not exactly one parameter list."""
    try:
        tree = ast.parse(f"def f{text}:\n    pass\n")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ValueError(f"not a signature: {text[:80]!r}") from exc
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef) or tree.body[0].decorator_list:
        raise ValueError(f"not a signature: {text[:80]!r}")
    fn = tree.body[0]
    if len(fn.body) != 1 or not isinstance(fn.body[0], ast.Pass) or fn.type_comment:
        raise ValueError(f"not a signature: {text[:80]!r}")
    a = fn.args
    positional = a.posonlyargs + a.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    parameters = [_parameter(arg, inspect.Parameter.POSITIONAL_ONLY if i < len(a.posonlyargs)
                             else inspect.Parameter.POSITIONAL_OR_KEYWORD, default)
                  for i, (arg, default) in enumerate(zip(positional, defaults, strict=True))]
    if a.vararg is not None:
        parameters.append(_parameter(a.vararg, inspect.Parameter.VAR_POSITIONAL, None))
    parameters += [_parameter(arg, inspect.Parameter.KEYWORD_ONLY, default) for arg, default in zip(a.kwonlyargs, a.kw_defaults, strict=True)]
    if a.kwarg is not None:
        parameters.append(_parameter(a.kwarg, inspect.Parameter.VAR_KEYWORD, None))
    returns = inspect.Signature.empty if fn.returns is None else _SourceText(ast.unparse(fn.returns))
    return inspect.Signature(parameters, return_annotation=returns)


def _parameter(arg: ast.arg, kind: inspect._ParameterKind, default: ast.expr | None) -> inspect.Parameter:
    annotation = inspect.Parameter.empty if arg.annotation is None else _SourceText(ast.unparse(arg.annotation))
    return inspect.Parameter(arg.arg, kind, default=_default(default), annotation=annotation)


def _default(node: ast.expr | None) -> Any:
    if node is None:
        return inspect.Parameter.empty
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _SourceText(ast.unparse(node))


def function_specs(description: dict[str, Any]) -> list[FunctionSpec]:
    """The exported functions a service description (``describe(path)``) lists."""
    functions = description.get("functions")
    if type(functions) is not list:
        raise NodeError(200, "bad-response", "the service description lists no functions")
    specs = []
    for entry in functions:
        try:
            name, signature, doc = entry["name"], entry["signature"], entry.get("doc")
            if not (type(name) is str and name.isidentifier() and not name.startswith("_")
                    and type(signature) is str and (doc is None or type(doc) is str)):
                raise TypeError
            specs.append(FunctionSpec(name, parse_signature(signature), doc))
        except (KeyError, TypeError, AttributeError, ValueError):
            raise NodeError(200, "bad-response", f"the service description has a malformed function: {entry!r:.120}") from None
    return specs


def _dress(function: Callable[..., Any], path: str, spec: FunctionSpec) -> None:
    """Give ``function`` the service function's name, docstring and signature."""
    function.__name__ = function.__qualname__ = spec.name
    function.__module__ = path
    function.__doc__ = spec.doc
    function.__signature__ = spec.signature  # type: ignore[attr-defined]


class Functions:
    """Functions by attribute; a name that is not one raises AttributeError listing them."""

    def __init__(self, path: str, functions: dict[str, Callable[..., Any]]) -> None:
        self._path = path
        self._functions = functions

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):  # also keeps copy/pickle probes away from the lookup below
            raise AttributeError(name)
        try:
            return self._functions[name]
        except KeyError:
            raise AttributeError(f"{self._path} has no function {name!r}; it has: "
                                 f"{', '.join(sorted(self._functions)) or 'none'}") from None

    def __dir__(self) -> list[str]:
        return sorted(self._functions)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._path}: {', '.join(sorted(self._functions))}>"


class ServiceProxy(Functions):
    """A service as a Python object (see the module docstring); made by ``client.service(path)``.
    A service function named ``query`` is hidden by ``proxy.query``: call it with
    ``client.call(path, "query", …)``."""

    def __init__(self, client: _SyncClient, path: str, description: dict[str, Any], gas: int | None = None) -> None:
        specs = function_specs(description)
        super().__init__(path, {spec.name: _calling(client, path, spec, gas) for spec in specs})
        self.query = Functions(path, {spec.name: _querying(client, path, spec) for spec in specs})
        """The functions again, called read-only: ``proxy.query.get()``."""

    def __dir__(self) -> list[str]:
        return sorted({*self._functions, "query"})


class AsyncServiceProxy(Functions):
    """:class:`ServiceProxy` for an async client: each function is a coroutine function."""

    def __init__(self, client: _AsyncClient, path: str, description: dict[str, Any], gas: int | None = None) -> None:
        specs = function_specs(description)
        super().__init__(path, {spec.name: _acalling(client, path, spec, gas) for spec in specs})
        self.query = Functions(path, {spec.name: _aquerying(client, path, spec) for spec in specs})
        """The functions again, called read-only: ``await proxy.query.get()``."""

    def __dir__(self) -> list[str]:
        return sorted({*self._functions, "query"})


def _calling(client: _SyncClient, path: str, spec: FunctionSpec, gas: int | None, coins: int = 0) -> Callable[..., Any]:
    def receipt(*args: Any, **kwargs: Any) -> Receipt:
        spec.signature.bind(*args, **kwargs)  # a TypeError here costs no transaction
        return client.call(path, spec.name, *args, gas=gas, kwargs=kwargs, coins=coins)

    def function(*args: Any, **kwargs: Any) -> Any:
        done = receipt(*args, **kwargs)
        if not done.ok:
            raise failure(done)
        return done.result

    return _dressed(function, receipt, path, spec, lambda amount: _calling(client, path, spec, gas, amount))


def _querying(client: _SyncClient, path: str, spec: FunctionSpec) -> Callable[..., Any]:
    def function(*args: Any, **kwargs: Any) -> Any:
        spec.signature.bind(*args, **kwargs)
        return client.query(path, spec.name, *args, kwargs=kwargs)

    _dress(function, path, spec)
    return function


def _acalling(client: _AsyncClient, path: str, spec: FunctionSpec, gas: int | None, coins: int = 0) -> Callable[..., Any]:
    async def receipt(*args: Any, **kwargs: Any) -> Receipt:
        spec.signature.bind(*args, **kwargs)
        return await client.call(path, spec.name, *args, gas=gas, kwargs=kwargs, coins=coins)

    async def function(*args: Any, **kwargs: Any) -> Any:
        done = await receipt(*args, **kwargs)
        if not done.ok:
            raise failure(done)
        return done.result

    return _dressed(function, receipt, path, spec, lambda amount: _acalling(client, path, spec, gas, amount))


def _dressed(function: Callable[..., Any], receipt: Callable[..., Any], path: str, spec: FunctionSpec,
             paying: Callable[[int], Callable[..., Any]]) -> Callable[..., Any]:
    """``function`` with the service function's looks, ``.receipt`` (the call's receipt rather
    than its result) and ``.with_coins(amount)`` (the same function, each call sending
    ``amount`` AMI with it)."""
    def with_coins(amount: int) -> Callable[..., Any]:
        return paying(checked_coins(amount))

    _dress(function, path, spec)
    _dress(receipt, path, spec)
    function.receipt = receipt  # type: ignore[attr-defined]
    function.with_coins = with_coins  # type: ignore[attr-defined]
    return function


def _aquerying(client: _AsyncClient, path: str, spec: FunctionSpec) -> Callable[..., Any]:
    async def function(*args: Any, **kwargs: Any) -> Any:
        spec.signature.bind(*args, **kwargs)
        return await client.query(path, spec.name, *args, kwargs=kwargs)

    _dress(function, path, spec)
    return function
