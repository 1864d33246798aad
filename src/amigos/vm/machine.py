"""The machine: runs one call of one service against a view of state, all or nothing.

A call's life, in order:

1. ``begin``       reset the meter, the call stack, the call's writes and events;
2. ``enter``       load the service (code from the store, globals decoded) and charge for its state;
3. run             the exported function, with arguments copied in as plain data;
4. ``flush``       encode every changed global and ``std.Map`` entry into writes, charging for them;
5. ``finish``      on success hand back the writes and normalise the loaded globals; on any
                   failure restore every loaded service to its state before the call.

The machine never writes to the store itself: it returns writes, and the runtime decides when
they become durable. Everything it reads goes through a :class:`StateReader`, which lets the
same machine run inside a confined worker process that asks its parent for state.
"""

from __future__ import annotations

import decimal
import gc
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from types import TracebackType
from typing import Any, Callable, NamedTuple, Protocol

from .. import codec
from ..codec import CodecError, Extensions
from ..crypto.address import is_canonical_address
from ..errors import ExecutionError, execution_error
from . import gas, keys
from .keys import MAX_AMOUNT
from .decimal_context import activate_decimal_context, fit_decimal
from .gas import (
    CalleeHalt,
    Halt,
    InsufficientFundsHalt,
    InvalidArgumentHalt,
    LimitHalt,
    Meter,
    NotFoundHalt,
    OutOfGasHalt,
    ReadOnlyHalt,
    ReentrancyHalt,
)
from .guards import bounded_repr, is_service_class, make_builtins, scrub
from .service import CompiledService, compile_service
from .std import _MISSING, STD_EXPORTS, Map, RequirementFailed, ServiceProxy, Std

IMMUTABLE = frozenset({int, str, bytes, bool, type(None), Decimal})
UNCHANGED_IF_SAME = IMMUTABLE | {Map}
"""Globals that need no re-encoding while they are the very object loaded (a Map's entries
are flushed on their own)."""
PLAIN_SCALARS = frozenset({int, str, bytes, bool, type(None), Decimal})
STACK_MARGIN = 40


class StateReader(Protocol):
    def get(self, key: bytes) -> bytes | None: ...

    def scan(self, prefix: bytes, start: bytes | None = None, limit: int | None = None) -> list[tuple[bytes, bytes]]: ...


class Context(NamedTuple):
    origin: str
    height: int
    time: int
    received: int = 0
    """AMI the transaction sent with the call (already credited to the called service)."""


class Event(NamedTuple):
    service: str
    name: str
    attrs: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "name": self.name, "attrs": self.attrs}


@dataclass
class Outcome:
    ok: bool
    result: Any
    error: ExecutionError | None
    gas_used: int
    events: list[Event] = field(default_factory=list)
    writes: dict[bytes, bytes | None] = field(default_factory=dict)


class Frame:
    __slots__ = ("path", "caller")

    def __init__(self, path: str, caller: str) -> None:
        self.path = path
        self.caller = caller


class LoadedService:
    """A service's live module: its namespace plus the bytes its globals were loaded from."""

    __slots__ = ("path", "compiled", "ns", "snapshot", "objects", "pending", "ext", "state_size")

    def __init__(self, path: str, compiled: CompiledService, ns: dict[str, Any], ext: Extensions) -> None:
        self.path = path
        self.compiled = compiled
        self.ns = ns
        self.snapshot: dict[str, bytes] = {}
        self.objects: dict[str, Any] = {}
        """The objects the snapshot's immutable globals were decoded to: unchanged if still there."""
        self.pending: dict[str, bytes | None] = {}
        self.ext = ext
        self.state_size = 0
        """Bytes of persisted globals: charged each time a call enters the service."""

    def resize(self) -> None:
        self.state_size = sum(len(v) for v in self.snapshot.values())

    def state_names(self) -> list[str]:
        ns = self.ns
        return [n for n in self.compiled.analysis.state_names if n in ns]


class Machine:
    def __init__(self, reader: StateReader) -> None:
        self.reader = reader
        self.meter = Meter()
        self.std = Std(self)
        self.builtins = make_builtins(self.meter, self._import)
        for name in STD_EXPORTS:
            self.builtins[f"__am_std_{name}__"] = getattr(self.std, name)
        self.modules: dict[str, LoadedService] = {}
        self.context = Context("", 0, 0)
        self._depth_hint = 1
        self._reset(0, self.context, readonly=True)

    # ------------------------------------------------------------ public entry points

    def execute(
        self,
        path: str,
        function: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any],
        *,
        context: Context,
        gas_limit: int,
        readonly: bool = False,
    ) -> Outcome:
        """Run ``path.function(*args, **kwargs)``; never raises for what the service did."""
        self._begin(gas_limit, context, readonly)
        saved_limit = self._raise_stack_limit()
        try:
            # Arguments first: whether they are plain data does not depend on state, so a
            # caller outside this machine (the worker pool) can tell the same way.
            args = self._copy_in(tuple(args), "argument")
            kwargs = self._copy_in(dict(kwargs), "argument")
            module = self._enter(path, NotFoundHalt)
            fn = self._exported(module, function, NotFoundHalt)
            self.frames.append(Frame(path, context.origin))
            try:
                result = fn(*args, **kwargs)
            except TypeError as exc:
                halt = _binding_halt(exc, fn, function)
                if halt is None:
                    raise
                raise halt from None
            self.frames.pop()
            result = self._copy_in(result, "return value")
            writes = self._flush()
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a receipt error
            return self._fail(exc, saved_limit)
        return self._succeed(result, writes, saved_limit)

    def deploy(
        self,
        compiled: CompiledService,
        *,
        context: Context,
        gas_limit: int,
        upgrade: bool,
    ) -> Outcome:
        """Run a service's initialisation (or an upgrade's new initialisers) and return the
        writes of its initial state."""
        path = compiled.path
        self._begin(gas_limit, context, readonly=False)
        saved_limit = self._raise_stack_limit()
        try:
            module = self._new_module(compiled)
            if upgrade:
                old = self._load(path, NotFoundHalt)
                self._exec_definitions(module)  # upgrade_code holds no definitions
                self._restore(module, old.snapshot)
                code = compiled.upgrade_code(frozenset(old.snapshot))
            else:
                code = compiled.init_code
            self.entered[path] = module
            self.frames.append(Frame(path, context.origin))
            exec(code, module.ns)  # noqa: S102 - checked, instrumented service code
            self.frames.pop()
            writes = self._flush()
        except BaseException as exc:  # noqa: BLE001
            return self._fail(exc, saved_limit)
        self.modules[path] = module
        return self._succeed(None, writes, saved_limit)

    def forget(self, path: str | None = None) -> None:
        """Drop cached modules (all when ``path`` is None) after state changed underneath."""
        if path is None:
            self.modules.clear()
        else:
            self.modules.pop(path, None)

    # ------------------------------------------------------------ the call's life

    def _reset(self, gas_limit: int, context: Context, readonly: bool) -> None:
        self.meter.reset(gas_limit)
        self.context = context
        self.readonly = readonly
        self.frames: list[Frame] = []
        self.writes: dict[bytes, bytes | None] = {}
        self.entries: dict[bytes, list[Any]] = {}
        self.counts: dict[bytes, int] = {}
        self.events: list[Event] = []
        self.entered: dict[str, LoadedService] = {}

    def _begin(self, gas_limit: int, context: Context, readonly: bool) -> None:
        self._reset(gas_limit, context, readonly)
        self._host_decimal = decimal.getcontext()
        activate_decimal_context()
        # The collector walks every live object: in a call that builds millions of them it
        # would cost the host time the meter never sees. Garbage is collected between calls.
        self._host_gc = gc.isenabled()
        gc.disable()

    def _end(self) -> None:
        # Give the host back its decimal context and collector, and drop what the call touched
        # so that nothing of it lingers between calls.
        decimal.setcontext(self._host_decimal)
        if self._host_gc:
            gc.enable()
        self._reset(0, self.context, readonly=True)

    def _raise_stack_limit(self) -> int:
        # Recursion is limited relative to where the call starts, so the limit service code
        # sees is the same however deep the host is when it calls us.
        depth = _stack_depth(self._depth_hint)
        self._depth_hint = depth
        saved = sys.getrecursionlimit()
        wanted = depth + gas.MAX_CALL_DEPTH + STACK_MARGIN
        if wanted != saved:
            sys.setrecursionlimit(wanted)
        return saved

    def _succeed(self, result: Any, writes: dict[bytes, bytes | None], saved_limit: int) -> Outcome:
        if sys.getrecursionlimit() != saved_limit:
            sys.setrecursionlimit(saved_limit)
        halted = self.meter.halted
        if halted is not None:  # a halt that service code managed to get past
            return self._fail(halted, saved_limit)
        for module in self.entered.values():
            if module.pending:
                self._commit_module(module)
        events = self.events
        used = self.meter.used
        self._end()
        return Outcome(True, result, None, used, events, writes)

    def _fail(self, exc: BaseException, saved_limit: int) -> Outcome:
        sys.setrecursionlimit(saved_limit)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise exc
        error = self._error_from(exc)
        for module in self.entered.values():
            module.pending.clear()
            self._restore(module, module.snapshot)
        used = self.meter.used
        self._end()
        return Outcome(False, None, error, used)

    def _error_from(self, exc: BaseException) -> ExecutionError:
        halted = self.meter.halted
        if self.meter.remaining < 0:
            return execution_error("OutOfGas", f"out of gas (limit {self.meter.limit})")
        if halted is not None:
            exc = halted
        if isinstance(exc, Halt):
            return execution_error(exc.error_type, scrub(exc.message), exc.line)
        if isinstance(exc, RecursionError):
            return execution_error("LimitExceeded", f"call depth limit exceeded ({gas.MAX_CALL_DEPTH} frames)")
        if isinstance(exc, MemoryError):
            return execution_error("LimitExceeded", "memory limit exceeded")
        return execution_error("ServiceError", describe_exception(exc), service_line(exc.__traceback__))

    # ------------------------------------------------------------ modules

    def _new_module(self, compiled: CompiledService) -> LoadedService:
        path = compiled.path
        ns: dict[str, Any] = {"__builtins__": self.builtins, "__name__": path}
        return LoadedService(path, compiled, ns, self._extensions(path, ns))

    def _load(self, path: str, missing: type[Halt]) -> LoadedService:
        module = self.modules.get(path)
        if module is not None:
            return module
        source = self._read(keys.code(path))
        if source is None:
            raise self.meter.halt(missing(f"no service at {path}"))
        compiled = compile_service(path, source.decode("utf-8", "surrogatepass"))
        module = self._new_module(compiled)
        self._exec_definitions(module)
        prefix = keys.globals_prefix(path)
        stored = {k[len(prefix) :].decode(): v for k, v in self.reader.scan(prefix)}
        self._restore(module, stored)
        self.modules[path] = module
        return module

    def _exec_definitions(self, module: LoadedService) -> None:
        # Definitions cost nothing: no loops run and no function is called while they execute.
        remaining = self.meter.remaining
        exec(module.compiled.load_code, module.ns)  # noqa: S102
        self.meter.remaining = remaining

    def _enter(self, path: str, missing: type[Halt]) -> LoadedService:
        module = self.entered.get(path)
        if module is None:
            module = self._load(path, missing)
            self.entered[path] = module
            self.meter.charge(module.state_size * gas.GLOBALS_READ_BYTE)
        return module

    @staticmethod
    def _exported(module: LoadedService, name: str, missing: type[Halt]) -> Callable[..., Any]:
        if not isinstance(name, str) or name not in module.compiled.exports:
            raise missing(f"{module.path} has no exported function {name!r}")
        return module.ns[name]  # type: ignore[no-any-return]

    def _restore(self, module: LoadedService, snapshot: dict[str, bytes]) -> None:
        """Make the module's globals exactly what ``snapshot`` holds."""
        for name in module.state_names():
            if name not in snapshot:
                del module.ns[name]
        module.objects = {}
        for name, data in snapshot.items():
            current = module.ns.get(name, _MISSING)
            if not (type(current) in IMMUTABLE and codec.encode(current) == data):
                current = codec.decode(data, module.ext)
                module.ns[name] = current
            module.objects[name] = current
        module.snapshot = dict(snapshot)
        module.resize()

    def _commit_module(self, module: LoadedService) -> None:
        for name, data in module.pending.items():
            if data is None:
                module.snapshot.pop(name, None)
                module.objects.pop(name, None)
            else:
                module.snapshot[name] = data
                value = module.ns.get(name)
                if type(value) not in IMMUTABLE:
                    # Re-read mutable globals from their bytes so that no aliasing between
                    # them outlives the call: a restarted node must behave identically.
                    value = codec.decode(data, module.ext)
                    module.ns[name] = value
                module.objects[name] = value
        module.pending.clear()
        module.resize()

    def _import(self, target: str) -> Any:
        if target == "std":
            return self.std
        if target.startswith("std."):
            return getattr(self.std, target[4:])
        return ServiceProxy(self, target)

    def _extensions(self, path: str, ns: dict[str, Any]) -> Extensions:
        def map_id(obj: Any) -> int | None:
            if type(obj) is not Map:
                return None
            if obj._owner != path:
                raise CodecError("a Map belongs to its service and cannot be stored elsewhere")
            return obj._id

        def object_state(obj: Any) -> tuple[str, dict[str, Any]] | None:
            cls = type(obj)
            if not is_service_class(cls) or isinstance(obj, BaseException):
                return None
            if cls.__module__ != path:
                raise CodecError(f"objects of another service's class {cls.__name__} cannot be stored")
            return cls.__name__, obj.__dict__

        def make_map(map_id_: int) -> Map:
            return Map(self, path, map_id_)

        def make_object(name: str, attrs: dict[str, Any]) -> Any:
            cls = ns.get(name)
            if not isinstance(cls, type) or getattr(cls, "__module__", None) != path:
                raise CodecError(f"stored object of class {name!r}, which the service no longer defines")
            obj = cls.__new__(cls)
            obj.__dict__.update(attrs)
            return obj

        return Extensions(map_id, object_state, make_map, make_object)

    # ------------------------------------------------------------ flushing state

    def _flush(self) -> dict[bytes, bytes | None]:
        writes = dict(self.writes)
        for module in self.entered.values():
            self._flush_globals(module, writes)
        for skey, (value, original, owner, _) in self.entries.items():
            if value is _MISSING:
                if original is not None:
                    self._charge_write(skey, b"")
                    writes[skey] = None
                continue
            data = self._encode(value, self.entered[owner].ext, "a Map value")
            if data != original:
                self._charge_write(skey, data)
                writes[skey] = data
        for ckey, delta in self.counts.items():
            if delta:
                data = codec.encode(self._stored_int(ckey) + delta)
                self._charge_write(ckey, data)
                writes[ckey] = data
        if self.readonly and writes:
            raise self.meter.halt(ReadOnlyHalt("a read-only call cannot change state"))
        return writes

    def _flush_globals(self, module: LoadedService, writes: dict[bytes, bytes | None]) -> None:
        ns = module.ns
        snapshot = module.snapshot
        objects = module.objects
        for name in module.compiled.analysis.state_names:
            value = ns.get(name, _MISSING)
            if value is _MISSING:  # never assigned, or deleted: see the loop over snapshot
                continue
            if value is objects.get(name, _MISSING) and type(value) in UNCHANGED_IF_SAME:
                continue
            data = self._encode(value, module.ext, f"global {name!r}")
            module.pending[name] = data
            old = snapshot.get(name)
            if data != old:
                if self.readonly:
                    raise self.meter.halt(ReadOnlyHalt(f"a read-only call cannot change global {name!r}"))
                key = keys.global_(module.path, name)
                self._charge_write(key, data)
                writes[key] = data
        for name in snapshot:
            if name not in ns:
                if self.readonly:
                    raise self.meter.halt(ReadOnlyHalt(f"a read-only call cannot delete global {name!r}"))
                module.pending[name] = None
                key = keys.global_(module.path, name)
                self._charge_write(key, b"")
                writes[key] = None

    def _encode(self, value: Any, ext: Extensions, what: str) -> bytes:
        # Stop encoding once the bytes could not be paid for anyway (see codec.ValueTooLarge).
        affordable = max(self.meter.remaining, 0) // gas.STATE_WRITE_BYTE + 1
        try:
            return codec.encode(value, ext, max_bytes=affordable)
        except codec.ValueTooLarge:
            self.meter.out_of_gas()
            raise  # unreachable: out_of_gas raises
        except codec.NestingTooDeep:
            raise self.meter.limit_exceeded(f"{what} is nested deeper than {codec.MAX_DEPTH} levels") from None
        except CodecError as exc:
            raise TypeError(f"{what} cannot be stored: {exc}") from None

    def _charge_write(self, key: bytes, data: bytes) -> None:
        self.meter.charge(gas.STATE_WRITE + (len(key) + len(data)) * gas.STATE_WRITE_BYTE)

    # ------------------------------------------------------------ reading state

    def _read(self, key: bytes) -> bytes | None:
        if key in self.writes:
            return self.writes[key]
        return self.reader.get(key)

    def _scan(self, prefix: bytes, start: bytes, limit: int) -> list[bytes]:
        """Keys under ``prefix`` from ``start``, merging the call's own writes."""
        own = {k: v for k, v in self.writes.items() if k.startswith(prefix) and k >= start}
        rows = self.reader.scan(prefix, start, limit + len(own))
        merged = {k: True for k, _ in rows}
        for k, v in own.items():
            merged[k] = v is not None
        return sorted(k for k, present in merged.items() if present)[:limit]

    # ------------------------------------------------------------ std.Map support

    def frame(self) -> Frame:
        if not self.frames:
            raise RuntimeError("no service is running")
        return self.frames[-1]

    @staticmethod
    def map_prefix(owner: str, map_id: int) -> bytes:
        return keys.map_entries(owner, map_id)

    def new_map(self) -> Map:
        owner = self.frame().path
        self._check_writable(owner, "create a Map")
        seq_key = keys.map_sequence(owner)
        raw = self._read(seq_key)
        next_id = 0 if raw is None else codec.decode(raw)
        self.writes[seq_key] = codec.encode(next_id + 1)
        self.meter.charge(gas.STATE_WRITE)
        return Map(self, owner, next_id)

    def _check_writable(self, owner: str, action: str) -> None:
        if self.readonly:
            raise self.meter.halt(ReadOnlyHalt(f"a read-only call cannot {action}"))
        if self.frame().path != owner:
            raise PermissionError(f"only {owner} can change its Maps")

    def _entry(self, owner: str, skey: bytes) -> list[Any]:
        """The call's entry for ``skey``, loading it on first use: ``[value, stored bytes,
        owner, gas one read of it costs]``. The cost is fixed by the stored bytes, so it is
        worked out once here instead of on every read."""
        entry = self.entries.get(skey)
        if entry is None:
            data = self._read(skey)
            if owner not in self.entered:
                raise PermissionError(f"a Map of {owner} is not reachable from here")
            value = _MISSING if data is None else codec.decode(data, self.entered[owner].ext)
            cost = gas.STATE_READ + (len(data) * gas.STATE_READ_BYTE if data else 0)
            entry = [value, data, owner, cost]
            self.entries[skey] = entry
        return entry

    def _charged_entry(self, owner: str, skey: bytes) -> list[Any]:
        """The entry for ``skey``, charging one read of it (every Map access is one read)."""
        entry = self.entries.get(skey) or self._entry(owner, skey)
        meter = self.meter
        meter.remaining -= entry[3]
        if meter.remaining < 0:
            meter.out_of_gas()
        return entry

    def map_get(self, m: Map, skey: bytes) -> Any:
        # The hottest path of std.Map: _charged_entry inlined.
        entry = self.entries.get(skey) or self._entry(m._owner, skey)
        meter = self.meter
        meter.remaining -= entry[3]
        if meter.remaining < 0:
            meter.out_of_gas()
        return entry[0]

    def map_set(self, m: Map, skey: bytes, value: Any) -> None:
        self._check_writable(m._owner, "change a Map")
        entry = self._charged_entry(m._owner, skey)
        if entry[0] is _MISSING:
            self._count_delta(m, +1)
        entry[0] = value

    def map_delete(self, m: Map, skey: bytes) -> bool:
        self._check_writable(m._owner, "change a Map")
        entry = self._charged_entry(m._owner, skey)
        if entry[0] is _MISSING:
            return False
        self._count_delta(m, -1)
        entry[0] = _MISSING
        return True

    def _count_delta(self, m: Map, delta: int) -> None:
        ckey = keys.map_count(m._owner, m._id)
        self.counts[ckey] = self.counts.get(ckey, 0) + delta

    def _stored_int(self, key: bytes) -> int:
        """An int entry (a Map's count, a balance) as the call sees it; 0 where there is none."""
        raw = self._read(key)
        return 0 if raw is None else int(codec.decode(raw))

    def map_len(self, m: Map) -> int:
        self.meter.charge(gas.STATE_READ)
        ckey = keys.map_count(m._owner, m._id)
        return self._stored_int(ckey) + self.counts.get(ckey, 0)

    def map_scan(self, m: Map, prefix: bytes, cursor: bytes | None, size: int, with_values: bool) -> list[tuple[bytes, Any]]:
        start = cursor if cursor is not None else prefix
        touched = {k: e for k, e in self.entries.items() if k.startswith(prefix) and k >= start}
        found = set(self._scan(prefix, start, size + len(touched)))
        for k, entry in touched.items():
            if entry[0] is _MISSING:
                found.discard(k)
            else:
                found.add(k)
        rows: list[tuple[bytes, Any]] = []
        for skey in sorted(found)[:size]:
            if with_values:
                rows.append((skey, self.map_get(m, skey)))
            else:
                self.meter.charge(gas.STATE_READ)
                rows.append((skey, None))
        return rows

    # ------------------------------------------------------------ events and cross-service calls

    def balance(self, holder: str) -> int:
        self.meter.charge(gas.STATE_READ)
        return self._stored_int(keys.balance(holder))

    def send(self, to: Any, amount: Any) -> None:
        """Pay ``amount`` AMI from the running service's balance to the address ``to``."""
        path = self.frame().path
        self._check_writable(path, "send AMI")
        if not is_canonical_address(to):
            raise ValueError("std.send pays an amigo1… address (std.address(path) gives a service's)")
        if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
            raise ValueError(f"std.send needs an amount from 1 to {MAX_AMOUNT}")
        payer = keys.service_address(path)
        have = self.balance(payer)
        if have < amount:
            raise self.meter.halt(InsufficientFundsHalt(f"{path} has {have} AMI, {amount} needed"))
        self._write_balance(payer, have - amount)
        credited = self.balance(to) + amount
        if credited > MAX_AMOUNT:
            raise self.meter.limit_exceeded(f"the balance of {to} would pass {MAX_AMOUNT} AMI")
        self._write_balance(to, credited)

    def _write_balance(self, holder: str, amount: int) -> None:
        self.meter.charge(gas.STATE_WRITE)
        self.writes[keys.balance(holder)] = codec.encode(amount) if amount else None

    def emit(self, name: Any, attrs: dict[str, Any]) -> None:
        path = self.frame().path
        if self.readonly:
            raise self.meter.halt(ReadOnlyHalt("a read-only call cannot emit events"))
        if type(name) is not str or not name or len(name) > 128:
            raise ValueError("an event name must be a non-empty str of at most 128 characters")
        if len(self.events) >= gas.MAX_EVENTS:
            raise self.meter.limit_exceeded(f"more than {gas.MAX_EVENTS} events")
        copied, size = self._copy_sized(attrs, "event attribute")
        self.meter.charge(gas.EVENT + size * gas.EVENT_BYTE)
        self.events.append(Event(path, name, copied))

    def cross_call(self, path: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self.meter.charge(gas.SERVICE_CALL)
        for frame in self.frames:
            if frame.path == path:
                raise self.meter.halt(ReentrancyHalt(f"{path} is already on the call stack"))
        caller = self.frame().path
        module = self._enter(path, NotFoundHalt)
        fn = self._exported(module, name, NotFoundHalt)
        args = self._copy_in(args, "argument")
        kwargs = self._copy_in(kwargs, "argument")
        self.frames.append(Frame(path, caller))
        try:
            result = fn(*args, **kwargs)
        except Halt:
            raise
        except RecursionError:
            raise self.meter.limit_exceeded(f"call depth limit exceeded ({gas.MAX_CALL_DEPTH} frames)") from None
        except Exception as exc:  # noqa: BLE001 - a callee's failure fails the whole call
            halt = _binding_halt(exc, fn, name) if isinstance(exc, TypeError) else None
            if halt is None:
                message = f"{path}.{name}: {describe_exception(exc)}"
                halt = CalleeHalt("ServiceError", scrub(message), service_line(exc.__traceback__))
            raise self.meter.halt(halt) from None
        finally:
            self.frames.pop()
        return self._copy_in(result, "return value")

    # ------------------------------------------------------------ plain data at boundaries

    def _copy_in(self, value: Any, what: str) -> Any:
        """A deep copy of ``value`` as plain data, charged per element and byte; objects of
        a service's classes become dicts of their attributes."""
        return self._copy_sized(value, what)[0]

    def _copy_sized(self, value: Any, what: str) -> tuple[Any, int]:
        t = type(value)
        if t is int or t is bool or value is None or ((t is tuple or t is dict) and not value):
            return value, 4
        # copy_plain's work inline (one Python call less: this runs for every argument and result)
        affordable = max(self.meter.remaining, 0) * gas.COPY_BYTE_DIVISOR
        try:
            copied, size = _plain_copy(value, codec.MAX_DEPTH, min(affordable, MAX_COPY_BYTES))
        except (CodecError, RecursionError) as exc:
            halt = _copy_halt(exc, what, affordable)
            if isinstance(halt, OutOfGasHalt):
                self.meter.out_of_gas()
            raise self.meter.halt(halt) from None
        self.meter.charge(size // gas.COPY_BYTE_DIVISOR)
        return copied, size


MAX_COPY_BYTES = 4 * gas.MAX_SEQUENCE
"""Largest argument, result or event, measured as copied (shared values count each time)."""
CONTAINER_BYTES = 48
"""What copying one list, tuple, dict or object counts for: its Python-level work, not its bytes."""


def copy_plain(value: Any, what: str, gas_left: int) -> tuple[Any, int]:
    """A deep copy of ``value`` as plain data and its size in bytes (what it is charged), or a
    halt saying why it cannot cross a service boundary: not plain data (InvalidArgument), too
    large (LimitExceeded) or more than ``gas_left`` can pay for (OutOfGas)."""
    affordable = max(gas_left, 0) * gas.COPY_BYTE_DIVISOR
    try:
        return _plain_copy(value, codec.MAX_DEPTH, min(affordable, MAX_COPY_BYTES))
    except (CodecError, RecursionError) as exc:
        raise _copy_halt(exc, what, affordable) from None


def _copy_halt(exc: CodecError | RecursionError, what: str, affordable: int) -> Halt:
    """Why a copy with room for ``affordable`` bytes failed, as the halt the call ends with."""
    if isinstance(exc, codec.ValueTooLarge):
        if affordable < MAX_COPY_BYTES:
            return OutOfGasHalt(f"out of gas copying {what}")
        return LimitHalt(f"{what}: {exc}")
    if isinstance(exc, CodecError):
        return InvalidArgumentHalt(f"{what}: {exc}")
    return LimitHalt(f"{what} nested too deeply")


def _binding_halt(exc: TypeError, fn: Callable[..., Any], name: str) -> Halt | None:
    """InvalidArgument if ``exc`` was raised by calling ``fn`` itself (binding the arguments,
    so no frame of ``fn`` is in its traceback), None if something inside ``fn`` raised it."""
    tb = exc.__traceback__
    if tb is not None and tb.tb_next is None:
        return InvalidArgumentHalt(f"{name}(): {exc}".replace(f"{fn.__name__}() ", ""))
    return None


def _plain_copy(value: Any, depth: int, room: int) -> tuple[Any, int]:
    """A copy of ``value`` as plain data and its size; :class:`codec.ValueTooLarge` once the
    size passes ``room`` (each nested value gets only the room its siblings left, so the
    work stops there too, however much of the value is shared)."""
    t = type(value)
    if t in PLAIN_SCALARS:
        if t is str or t is bytes:
            return value, len(value) + 2
        if t is Decimal:
            try:
                return fit_decimal(value), 16
            except decimal.DecimalException as exc:
                raise CodecError(str(exc)) from None
        return value, 4
    if depth <= 1:
        raise CodecError("value nested too deeply")
    if t is list or t is tuple:
        items = []
        size = CONTAINER_BYTES
        for item in value:
            ti = type(item)
            if ti is int or ti is bool or item is None:
                items.append(item)
                size += 4
            elif ti is str:
                items.append(item)
                size += len(item) + 2
            else:
                copied, n = _plain_copy(item, depth - 1, room - size)
                items.append(copied)
                size += n
        if size > room:
            raise codec.ValueTooLarge("value too large to copy")
        return (items if t is list else tuple(items)), size
    if t is dict:
        out = {}
        size = CONTAINER_BYTES
        for key, item in value.items():
            k, n1 = (key, len(key) + 2) if type(key) is str else _plain_copy(key, depth - 1, room - size)
            ti = type(item)
            if ti is int or ti is str or ti is bool or item is None:
                v, n2 = item, (len(item) + 2 if ti is str else 4)
            else:
                v, n2 = _plain_copy(item, depth - 1, room - size - n1)
            out[k] = v
            size += n1 + n2
        if size > room:
            raise codec.ValueTooLarge("value too large to copy")
        return out, size
    if is_service_class(t) and not isinstance(value, BaseException):
        return _plain_copy(dict(value.__dict__), depth, room)
    if t is Map:
        raise CodecError("a Map cannot leave its service (pass its entries instead)")
    raise CodecError(f"a value of type {codec.describe_type(value)} is not plain data")


def _stack_depth(hint: int) -> int:
    """The number of frames on the stack, the caller's included. A host calls from the same
    depth again and again, so ``hint`` (the last answer) is checked first with one lookup done
    in C; the frames are walked one by one only when it is wrong."""
    try:
        bottom = sys._getframe(hint)  # the caller's frame is number 1 here
    except ValueError:  # fewer frames than the hint
        bottom = None
    if bottom is not None and bottom.f_back is None:
        return hint
    depth = 0
    frame = sys._getframe(1)
    while frame is not None:
        depth += 1
        frame = frame.f_back  # type: ignore[assignment]
    return depth


def describe_exception(exc: BaseException) -> str:
    """``Type: message`` for a receipt, bounded in size whatever the exception holds."""
    name = type(exc).__name__
    args = exc.args
    if isinstance(exc, decimal.DivisionByZero):
        return "ZeroDivisionError: division by zero"
    if len(args) == 1 and type(args[0]) is str and not isinstance(exc, KeyError):
        text = args[0][: gas.MAX_MESSAGE] + ("…" if len(args[0]) > gas.MAX_MESSAGE else "")
    elif len(args) == 1:
        text = bounded_repr(args[0])
    elif args:
        text = bounded_repr(args)
    else:
        text = ""
    if isinstance(exc, RequirementFailed):
        return scrub(text)
    return scrub(f"{name}: {text}" if text else name)


def service_line(tb: TracebackType | None) -> int | None:
    """The line of the innermost service frame in a traceback."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith("hub.amigos.dev/"):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
