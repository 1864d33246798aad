"""``LocalRuntime``: the embedded runtime — deploy, call, query and render services in-process.

State lives in SQLite under ``home`` (in memory when ``home`` is None), or in the store that
``db`` names (a ``postgresql://`` URL, an SQLite path or ``sqlite:///`` URL). Each ``call`` or
``deploy`` is one block: it gets the next height and the clock's time, and its writes are
committed durably before it returns. Inside ``with rt.batch():`` all calls share one block and
commit together, which is how a node (and a benchmark) reaches high throughput.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time as _time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from operator import attrgetter
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Sequence

from . import codec
from .codec import Extensions
from .errors import DeployError, ExecutionError, InvalidArgument, StoreError, UsageError
from .jsonvalue import to_json
from .store import Store, open_store
from .vm import bank, keys
from .vm.keys import MAX_AMOUNT
from .vm.gas import DEFAULT_GAS, DEPLOY_GAS, MAX_GAS, QUERY_GAS
from .vm.machine import Context, Event, Machine, Outcome
from .vm.pool import Job, WorkerPool, call_job, call_jobs
from .vm.paths import namespace_of, path_to_import, validate_path
from .vm.service import CompiledService, compile_service

ISOLATIONS = ("none", "process")
"""Where service code runs: in this process (tests, tools), or in confined worker processes."""
_UNSET: Any = object()
_ACCOUNT = re.compile(r"[A-Za-z0-9_.:@/+-]{1,128}")
STATE_FILE = "state.sqlite"


@dataclass
class Receipt:
    """The outcome of a call. ``error`` is None or an :class:`~amigos.errors.ExecutionError`
    (with ``.type`` and ``.message``)."""

    ok: bool
    result: Any
    error: ExecutionError | None
    gas_used: int
    events: list[Event] = field(default_factory=list)
    height: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "result": to_json(self.result),
            "error": None if self.error is None else self.error.to_dict(),
            "gas_used": self.gas_used,
            "events": [{**e.to_dict(), "attrs": to_json(e.attrs)} for e in self.events],
            "height": self.height,
        }


class Call(NamedTuple):
    """One call for :meth:`LocalRuntime.call_many`."""

    path: str
    function: str
    args: Sequence[Any] = ()
    kwargs: dict[str, Any] | None = None
    signer: str = ""
    gas: int | None = None


@dataclass(frozen=True)
class FunctionInfo:
    name: str
    signature: str
    doc: str | None
    line: int


@dataclass(frozen=True)
class ServiceInfo:
    path: str
    owner: str
    version: int
    code_hash: str
    doc: str | None
    functions: list[FunctionInfo]
    dependencies: list[str]
    versions: list[dict[str, Any]]
    height: int

    @property
    def import_line(self) -> str:
        return path_to_import(self.path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "owner": self.owner,
            "version": self.version,
            "code_hash": self.code_hash,
            "doc": self.doc,
            "functions": [f.__dict__ for f in self.functions],
            "dependencies": self.dependencies,
            "versions": self.versions,
            "height": self.height,
            "import": self.import_line,
        }


class StateView:
    """The store seen through the current block's uncommitted writes, with a read cache.

    The cache holds committed values (and absences) of keys read or written lately, so that a
    hot Map entry costs a dict lookup instead of a query. It is bounded in bytes: an entry
    larger than CACHE_ITEM_BYTES is never kept (a service can read a missing key of any length
    for the price of one read), and past CACHE_BYTES the oldest entries are dropped.
    """

    CACHE_BYTES = 64 * 1024 * 1024
    """Most memory the cache may hold: keys, values and ENTRY_OVERHEAD for each entry."""
    CACHE_ITEM_BYTES = 8 * 1024
    """Largest entry (key, value and overhead) worth keeping."""
    ENTRY_OVERHEAD = 128
    """Bytes Python spends on one entry besides its data: dict slot and two bytes objects."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.watchers: list[Callable[[list[bytes] | None], None]] = []
        """Told of every change: the keys written, or None when pending writes are dropped."""
        self.pending: dict[bytes, bytes | None] = {}
        self.journal: dict[bytes, Any] | None = None
        self.cache: dict[bytes, bytes | None] = {}
        self.cache_bytes = 0

    def get(self, key: bytes) -> bytes | None:
        if key in self.pending:
            return self.pending[key]
        try:
            return self.cache[key]
        except KeyError:
            value = self.store.get(key)
            self._remember(key, value)
            return value

    def _entry_size(self, key: bytes, value: bytes | None) -> int:
        return self.ENTRY_OVERHEAD + len(key) + (0 if value is None else len(value))

    def _remember(self, key: bytes, value: bytes | None) -> None:
        """Cache ``key`` (which must not be cached yet) if it is small enough."""
        size = self._entry_size(key, value)
        if size > self.CACHE_ITEM_BYTES:
            return
        self.cache[key] = value
        self.cache_bytes += size
        if self.cache_bytes > self.CACHE_BYTES:
            self._evict(self.CACHE_BYTES * 3 // 4)

    def _evict(self, target: int) -> None:
        """Drop the oldest entries until the cache holds at most ``target`` bytes. Dropping a
        quarter at once keeps eviction rare, so its cost per read stays negligible."""
        cache = self.cache
        while cache and self.cache_bytes > target:
            key = next(iter(cache))
            self.cache_bytes -= self._entry_size(key, cache.pop(key))
        if not cache:
            self.cache_bytes = 0

    def scan(self, prefix: bytes, start: bytes | None = None, limit: int | None = None) -> list[tuple[bytes, bytes]]:
        low = prefix if start is None or start < prefix else start
        own = {k: v for k, v in self.pending.items() if k.startswith(prefix) and k >= low}
        rows = self.store.scan(prefix, low, None if limit is None else limit + len(own))
        merged = dict(rows)
        for k, v in own.items():
            if v is None:
                merged.pop(k, None)
            else:
                merged[k] = v
        out = sorted(merged.items())
        return out if limit is None else out[:limit]

    def watch(self, watcher: Callable[[list[bytes] | None], None]) -> None:
        self.watchers.append(watcher)

    def apply(self, writes: dict[bytes, bytes | None]) -> None:
        journal = self.journal
        if journal is not None:
            pending = self.pending
            for key in writes:
                if key not in journal:
                    journal[key] = pending.get(key, _UNSET)
        self.pending.update(writes)
        for watcher in self.watchers:
            watcher(list(writes))

    # A savepoint lets a group of applies (a transaction's messages) be undone or kept as one.
    # Only one is open at a time: the journal holds each key's pending value before the first
    # write since the savepoint (or _UNSET when the key had no pending write).

    def savepoint(self) -> None:
        if self.journal is not None:
            raise RuntimeError("a savepoint is already open")
        self.journal = {}

    def changes_since_savepoint(self) -> dict[bytes, bytes | None]:
        """What the applies since :meth:`savepoint` changed, as writes."""
        assert self.journal is not None
        return {key: self.pending[key] for key in self.journal}

    def release_savepoint(self) -> None:
        self.journal = None

    def rollback_to_savepoint(self) -> None:
        journal = self.journal
        assert journal is not None
        self.journal = None
        for key, before in journal.items():
            if before is _UNSET:
                del self.pending[key]
            else:
                self.pending[key] = before
        for watcher in self.watchers:
            watcher(list(journal))

    def commit(self) -> None:
        if not self.pending:
            return
        self.store.apply(self.pending)
        # What was just written is what is read next: cache it, as the newest entries.
        cache = self.cache
        for key, value in self.pending.items():
            if key in cache:
                self.cache_bytes -= self._entry_size(key, cache.pop(key))
            self._remember(key, value)
        self.pending = {}

    def discard(self) -> None:
        self.pending = {}
        self.journal = None
        self.clear_cache()
        for watcher in self.watchers:
            watcher(None)

    def clear_cache(self) -> None:
        self.cache = {}
        self.cache_bytes = 0


def validate_account(signer: object) -> str:
    if type(signer) is not str or not _ACCOUNT.fullmatch(signer):
        raise UsageError(
            "a signer must be an account name of 1-128 characters (letters, digits and _.:@/+-)"
        )
    return signer


def _check_once(value: object, valid: set[str], validate: Callable[[Any], object]) -> None:
    """``validate(value)`` unless ``value`` passed before: paths and signers repeat on every call,
    and a set lookup is much cheaper than their regular expressions."""
    if type(value) is not str or value not in valid:
        validate(value)
        if len(valid) > 10_000:
            valid.clear()
        valid.add(value)  # type: ignore[arg-type]


def check_gas(value: object, default: int) -> int:
    if value is None:
        return default
    if type(value) is not int or not 0 < value <= MAX_GAS:
        raise UsageError(f"gas must be an int between 1 and {MAX_GAS}")
    return value


class LocalRuntime:
    """The embedded runtime.

    >>> rt = LocalRuntime()
    >>> rt.deploy("hub.amigos.dev/alice/counter", "count = 0\\ndef get():\\n    return count\\n", signer="alice").version
    1
    >>> rt.query("hub.amigos.dev/alice/counter", "get")
    0
    """

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        isolation: str = "none",
        clock: Callable[[], int] | None = None,
        db: str | None = None,
    ) -> None:
        """``db``, when given, names the state store instead of ``home``'s SQLite file (see
        :func:`amigos.store.open_store`); ``home`` is still created if given."""
        if isolation not in ISOLATIONS:
            raise UsageError(f"unknown isolation {isolation!r} (supported: {', '.join(map(repr, ISOLATIONS))})")
        self.home = None if home is None else Path(home)
        if self.home is not None:
            self.home.mkdir(parents=True, exist_ok=True)
        self.store: Store = open_store(db if db is not None or self.home is None else self.home / STATE_FILE)
        self.view = StateView(self.store)
        try:
            self.pool = WorkerPool(self.view) if isolation == "process" else None
        except BaseException:
            self.store.close()  # a PostgreSQL store holds connections and a pool thread
            raise
        self.machine: Machine | WorkerPool = self.pool or Machine(self.view)
        self.clock: Callable[[], int] = clock or (lambda: int(_time.time()))
        self._lock = threading.RLock()
        self._block: Context | None = None
        self._valid_paths: set[str] = set()
        self._valid_signers: set[str] = set()
        self.height = self._stored_int(keys.HEIGHT)
        self.time = self._stored_int(keys.TIME)

    def _check_path(self, path: str) -> None:
        _check_once(path, self._valid_paths, validate_path)

    def _check_signer(self, signer: str) -> None:
        _check_once(signer, self._valid_signers, validate_account)

    # ------------------------------------------------------------ blocks

    def _stored_int(self, key: bytes) -> int:
        raw = self.view.get(key)
        return 0 if raw is None else int(codec.decode(raw))

    @contextmanager
    def batch(self, time: int | None = None) -> Iterator[Context]:
        """Run many calls as one block, committed once at the end (all or nothing on crash).
        ``time`` sets the block's time (a replay gives the logged one); by default the clock's.
        Yields the block's context (its height and time)."""
        if time is not None and (type(time) is not int or time < self.time):
            raise UsageError(f"a block time must be an int no earlier than the last block's ({self.time})")
        with self._lock, self._in_block(origin="", time=time) as block:
            yield block

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the runtime's lock while reading from another thread: a block in progress holds
        it until it commits, so what is read inside is committed state, never half a block."""
        with self._lock:
            yield

    @contextmanager
    def _in_block(self, origin: str, time: int | None = None) -> Iterator[Context]:
        if self._block is not None:
            yield Context(origin, self._block.height, self._block.time)
            return
        height = self.height + 1
        now = time if time is not None else max(int(self.clock()), self.time)
        self._block = Context(origin, height, now)
        try:
            yield self._block
            self.view.apply({keys.HEIGHT: codec.encode(height), keys.TIME: codec.encode(now)})
            self._commit()
            self.height, self.time = height, now
        except BaseException:
            self.view.discard()
            self.machine.forget()
            raise
        finally:
            self._block = None

    def _commit(self) -> None:
        try:
            self.view.commit()
        except Exception as exc:
            self.view.discard()
            self.machine.forget()
            raise StoreError(f"could not commit state: {exc}") from exc

    # ------------------------------------------------------------ deploy

    def deploy(self, path: str, source: str, *, signer: str, gas: int | None = None) -> ServiceInfo:
        """Deploy (or, by its owner, upgrade) the service at ``path``.

        Raises :class:`~amigos.errors.DeployError` if the source breaks a language rule, imports
        a service that does not exist, or its initialisation fails.
        """
        return self.deploy_metered(path, source, signer=signer, gas=gas)[0]

    def deploy_metered(self, path: str, source: str, *, signer: str, gas: int | None = None) -> tuple[ServiceInfo, int]:
        """:meth:`deploy`, also returning the gas its initialisation used (a ledger charges it).
        A :class:`~amigos.errors.DeployError` carries it as ``gas_used``."""
        validate_path(path)
        validate_account(signer)
        gas_limit = check_gas(gas, DEPLOY_GAS)
        compiled = compile_service(path, source)
        with self._lock:
            owner = self._namespace_owner(path)
            if owner is not None and owner != signer:
                raise DeployError(f"namespace {namespace_of(path)!r} belongs to {owner}", rule="namespace-owner")
            self._check_dependencies(compiled)
            record = self._record(path)
            with self._in_block(signer) as block:
                outcome = self.machine.deploy(compiled, context=block, gas_limit=gas_limit, upgrade=record is not None)
                if not outcome.ok:
                    assert outcome.error is not None
                    raise DeployError(
                        f"initialisation failed: {outcome.error.type}: {outcome.error.message}",
                        line=outcome.error.line,
                        rule="init",
                        gas_used=outcome.gas_used,
                    )
                record = self._next_record(compiled, signer, record, block.height)
                writes = dict(outcome.writes)
                writes[keys.code(path)] = source.encode("utf-8", "surrogatepass")
                writes[keys.record(path)] = codec.encode(record)
                writes[keys.namespace_owner(namespace_of(path))] = signer.encode()
                self.view.apply(writes)
        return self._info(path, record, compiled), outcome.gas_used

    def _namespace_owner(self, path: str) -> str | None:
        raw = self.view.get(keys.namespace_owner(namespace_of(path)))
        return None if raw is None else raw.decode()

    def _check_dependencies(self, compiled: CompiledService) -> None:
        for local, target in compiled.analysis.imports.items():
            if target.startswith("std"):
                continue
            if target == compiled.path:
                raise DeployError("a service cannot import itself", line=_import_line(compiled, local), rule="missing-import")
            if self.view.get(keys.code(target)) is None:
                raise DeployError(f"imported service {target} does not exist", line=_import_line(compiled, local), rule="missing-import")

    def _record(self, path: str) -> dict[str, Any] | None:
        raw = self.view.get(keys.record(path))
        return None if raw is None else codec.decode(raw)

    @staticmethod
    def _next_record(compiled: CompiledService, signer: str, old: dict[str, Any] | None, height: int) -> dict[str, Any]:
        versions = [] if old is None else list(old["versions"])
        versions.append({"version": len(versions) + 1, "code_hash": compiled.code_hash, "height": height})
        return {
            "owner": signer if old is None else old["owner"],
            "version": len(versions),
            "code_hash": compiled.code_hash,
            "dependencies": compiled.dependencies,
            "versions": versions,
            "height": height if old is None else old["height"],
        }

    # ------------------------------------------------------------ calls and queries

    def call(
        self,
        path: str,
        function: str,
        *args: Any,
        signer: str,
        gas: int | None = None,
        kwargs: dict[str, Any] | None = None,
        coins: int = 0,
    ) -> Receipt:
        """Call an exported function as ``signer``, sending it ``coins`` AMI from the signer's
        balance (the service sees them as ``std.received()``; a failed call keeps none).
        Failures come back in the receipt."""
        self._check_signer(signer)
        self._check_path(path)
        gas_limit = check_gas(gas, DEFAULT_GAS)
        if type(coins) is not int or not 0 <= coins <= MAX_AMOUNT:
            raise UsageError(f"coins must be an int from 0 to {MAX_AMOUNT}")
        with self._lock:
            if self._block is not None:  # inside a batch: no block of its own
                return self._execute(path, function, args, kwargs, signer, gas_limit, self._block, coins)
            with self._in_block(signer) as block:
                return self._execute(path, function, args, kwargs, signer, gas_limit, block, coins)

    def call_many(self, calls: Sequence[Call]) -> list[Receipt]:
        """Run ``calls`` in order in one block and return their receipts. Under process
        isolation the whole list goes to a worker in one round trip. Each call stands alone: one
        failing does not undo the others (use one service function for all-or-nothing)."""
        gas_limits = [check_gas(c.gas, DEFAULT_GAS) for c in calls]
        for c in calls:
            self._check_signer(c.signer)
            self._check_path(c.path)
        with self._lock, self._in_block(origin="") as block:
            if self.pool is None:
                return [self._execute(c.path, c.function, tuple(c.args), c.kwargs, c.signer, gas, block)
                        for c, gas in zip(calls, gas_limits)]
            return self.pool.run(self._call_jobs(calls, gas_limits, block), self.view.apply,
                                 partial(Receipt, height=block.height))

    def run_in_block(self, calls: Sequence[Call]) -> list[Outcome]:
        """Inside :meth:`batch`: run ``calls`` in order in the block, each successful one's
        writes applied before the next runs, and return their outcomes, each holding its own
        writes (what a ledger hashes into a receipt). Under process isolation the whole list
        goes to a worker in one round trip. The caller checked paths and signers (a ledger's
        transactions were)."""
        return self.start_in_block(calls)()

    def start_in_block(self, calls: Sequence[Call]) -> Callable[[], list[Outcome]]:
        """:meth:`run_in_block` in two steps: start ``calls`` now, and get their outcomes (their
        writes applied) from the function returned. Under process isolation a worker runs them
        in between, while the caller goes on with work that changes no service code or state
        (:meth:`amigos.vm.pool.WorkerPool.start`); in-process they have run already."""
        block = self._block
        if block is None:
            raise UsageError("run_in_block runs inside a batch")
        gas_limits = [check_gas(c.gas, DEFAULT_GAS) for c in calls]
        if self.pool is not None:
            return self.pool.start(self._call_jobs(calls, gas_limits, block), self.view.apply, keep_writes=True).outcomes
        outcomes = [self._run_here(c.path, c.function, c.args, c.kwargs, Context(c.signer, block.height, block.time), gas)
                    for c, gas in zip(calls, gas_limits)]
        return lambda: outcomes

    @staticmethod
    def _call_jobs(calls: Sequence[Call], gas_limits: list[int], block: Context) -> list[Job]:
        """The pool's jobs for ``calls`` in ``block`` (their fields taken in C: a batch's prep
        is time its worker waits)."""
        fields = [map(attrgetter(name), calls) for name in ("path", "function", "args", "kwargs", "signer")]
        return call_jobs(*fields, gas_limits, height=block.height, time=block.time)

    def _execute(self, path: str, function: str, args: tuple[Any, ...], kwargs: dict[str, Any] | None,
                 signer: str, gas_limit: int, block: Context, coins: int = 0) -> Receipt:
        context = Context(signer, block.height, block.time, coins)
        paid_in = self._pay_in(signer, path, coins) if coins else {}
        if isinstance(paid_in, ExecutionError):
            return Receipt(False, None, paid_in, 0, [], block.height)
        if self.pool is not None:  # applied as they arrive, known as the worker's own: its caches stay warm
            outcome = self.pool.run([call_job(path, function, args, kwargs, context, gas_limit, False)], self.view.apply)[0]
        else:
            outcome = self._run_here(path, function, args, kwargs, context, gas_limit)
        if not outcome.ok and paid_in:
            self.view.apply(paid_in)  # the coins go back
        return Receipt(outcome.ok, outcome.result, outcome.error, outcome.gas_used, outcome.events, block.height)

    def _run_here(self, path: str, function: str, args: Sequence[Any], kwargs: dict[str, Any] | None,
                  context: Context, gas_limit: int) -> Outcome:
        """Run one call in this process; a successful one's writes are applied before the next
        call runs."""
        outcome = self.machine.execute(path, function, tuple(args), kwargs or {}, context=context, gas_limit=gas_limit)
        if outcome.ok:
            self.view.apply(outcome.writes)
        return outcome

    def _pay_in(self, signer: str, path: str, coins: int) -> dict[bytes, bytes | None] | ExecutionError:
        """Move the coins a call carries to the service before it runs; return what the two
        balances were (to put back if the call fails), or why the coins cannot move."""
        service = keys.service_address(path)
        before = {keys.balance(h): self.view.get(keys.balance(h)) for h in (signer, service)}
        try:
            bank.transfer(self.view, signer, service, coins)
        except ExecutionError as exc:
            return exc
        return before

    def query(self, path: str, function: str, *args: Any, kwargs: dict[str, Any] | None = None,
              gas: int | None = None, signer: str | None = None) -> Any:
        """Call a function read-only and return its result; raises the call's
        :class:`~amigos.errors.ExecutionError` if it fails or tries to change anything."""
        origin = "" if signer is None else validate_account(signer)
        self._check_path(path)
        gas_limit = check_gas(gas, QUERY_GAS)
        with self._lock:
            context = Context(origin, self.height, self.time)
            outcome = self.machine.execute(path, function, args, kwargs or {}, context=context, gas_limit=gas_limit, readonly=True)
        if not outcome.ok:
            assert outcome.error is not None
            raise outcome.error
        return outcome.result

    def render(self, path: str, subpath: str = "") -> str:
        """The markdown the service's ``render(path)`` returns for ``subpath``."""
        if not isinstance(subpath, str):
            raise UsageError("a render path must be a string")
        result = self.query(path, "render", subpath)
        if not isinstance(result, str):
            raise InvalidArgument(f"render() of {path} returned {type(result).__name__}, not str")
        return result

    # ------------------------------------------------------------ introspection

    def service(self, path: str) -> ServiceInfo:
        validate_path(path)
        with self._lock:
            record = self._record(path)
            source = self.view.get(keys.code(path))
        if record is None or source is None:
            raise UsageError(f"no service at {path}")
        return self._info(path, record, compile_service(path, source.decode("utf-8", "surrogatepass")))

    def services(self) -> list[ServiceInfo]:
        with self._lock:
            rows = self.view.scan(keys.SERVICES_PREFIX)
        return [self.service(k[len(keys.SERVICES_PREFIX):].decode()) for k, _ in rows]

    def source(self, path: str) -> str:
        validate_path(path)
        raw = self.view.get(keys.code(path))
        if raw is None:
            raise UsageError(f"no service at {path}")
        return raw.decode("utf-8", "surrogatepass")

    @staticmethod
    def _info(path: str, record: dict[str, Any], compiled: CompiledService) -> ServiceInfo:
        functions = [FunctionInfo(e.name, e.signature, e.doc, e.line) for e in compiled.exports.values()]
        return ServiceInfo(
            path=path,
            owner=record["owner"],
            version=record["version"],
            code_hash=record["code_hash"],
            doc=compiled.analysis.doc,
            functions=functions,
            dependencies=list(record["dependencies"]),
            versions=list(record["versions"]),
            height=record["height"],
        )

    def state(self, path: str, map_entries: int = 20) -> dict[str, Any]:
        """The service's persistent state as plain data: its globals, and for every ``std.Map``
        its size and first ``map_entries`` entries. Objects show as ``{"$class": name, …}``."""
        validate_path(path)
        with self._lock:
            if self.view.get(keys.code(path)) is None:
                raise UsageError(f"no service at {path}")
            prefix = keys.globals_prefix(path)
            globals_ = {k[len(prefix):].decode(): codec.decode(v, _DUMP) for k, v in self.view.scan(prefix)}
            seq = self.view.get(keys.map_sequence(path))
            maps: dict[str, Any] = {}
            for map_id in range(0 if seq is None else codec.decode(seq)):
                count = self.view.get(keys.map_count(path, map_id))
                entries_prefix = keys.map_entries(path, map_id)
                rows = self.view.scan(entries_prefix, limit=map_entries)
                maps[f"#{map_id}"] = {
                    "size": 0 if count is None else codec.decode(count),
                    "entries": [[codec.decode_key(k[len(entries_prefix):]), codec.decode(v, _DUMP)] for k, v in rows],
                }
        return {"globals": globals_, "maps": maps}

    def state_items(self) -> list[tuple[bytes, bytes]]:
        """Every committed and pending key-value pair, in key order."""
        with self._lock:
            return self.view.scan(b"")

    def state_root(self) -> str:
        """SHA-256 over all state (length-prefixed keys and values in key order), hex."""
        digest = hashlib.sha256()
        for key, value in self.state_items():
            digest.update(codec.encode_varint(len(key)) + key + codec.encode_varint(len(value)) + value)
        return digest.hexdigest()

    def close(self) -> None:
        with self._lock:
            if self.pool is not None:
                self.pool.close()
            self.store.close()

    def __enter__(self) -> LocalRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _import_line(compiled: CompiledService, local: str) -> int | None:
    import ast

    for node in compiled.analysis.tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any((a.asname or a.name) == local for a in node.names):
            return node.lineno
    return None


_DUMP = Extensions(
    map_id=lambda obj: None,
    object_state=lambda obj: None,
    make_map=lambda map_id: {"$map": f"#{map_id}"},
    make_object=lambda name, attrs: {"$class": name, **attrs},
)
