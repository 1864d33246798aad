"""PostgreSQL backend: the node's production store.

State is one table, ``state(key bytea PRIMARY KEY, value bytea NOT NULL)``. ``bytea`` compares
bytewise (unsigned, shorter prefix first, no collation), which is exactly the byte order the
``Store`` protocol promises, and its B-tree index serves every ``get`` and ``scan``.

Connections come from a ``psycopg_pool.ConnectionPool`` and run in autocommit mode, each with
``synchronous_commit = on`` so that a commit is flushed to the server's WAL before it returns.

``apply`` is ONE statement, so one round trip and one implicit transaction (a statement is
atomic: all its writes or none)::

    WITH gone AS (DELETE FROM state WHERE key = ANY($1))
    INSERT INTO state SELECT * FROM unnest($2, $3) ON CONFLICT (key) DO UPDATE ...

with the keys and values sent as binary ``bytea[]`` parameters. Measured on loopback with
batches of 1000 writes (``benchmarks/store.py --compare-apply``): 7.6–8 ms, against 11–18 ms
for ``executemany`` (which psycopg pipelines, but the server still runs one INSERT per row)
and 9–11 ms for binary COPY into a temporary table followed by INSERT … SELECT (three
statements, and a temporary table per connection). A write set is a mapping, so
a key is either upserted or deleted, never both: the two parts of the statement never touch the
same row.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Sequence

from ..errors import StoreError
from .base import Writes, check_key, check_writes, scan_range
from .urls import redact, redact_in, secrets_in

try:
    import psycopg
    from psycopg import conninfo as _conninfo
    from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout, TooManyRequests
except ImportError as exc:  # pragma: no cover - both are dependencies of amigos
    raise ImportError("the PostgreSQL store needs psycopg 3 and psycopg_pool: pip install 'psycopg[binary]' psycopg-pool") from exc

SCHEMES = ("postgresql", "postgres")

SCHEMA = "CREATE TABLE IF NOT EXISTS state (key bytea PRIMARY KEY, value bytea NOT NULL)"
GET = "SELECT value FROM state WHERE key = %b"
APPLY = (
    "WITH gone AS (DELETE FROM state WHERE key = ANY(%b::bytea[])) "
    "INSERT INTO state (key, value) SELECT * FROM unnest(%b::bytea[], %b::bytea[]) "
    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
)
_SCANS = {
    (bounded, limited): "SELECT key, value FROM state WHERE key >= %b"
    + (" AND key < %b" if bounded else "")
    + " ORDER BY key"
    + (" LIMIT %b" if limited else "")
    for bounded in (False, True)
    for limited in (False, True)
}

class PostgresStore:
    """State in a PostgreSQL database, given by a ``postgresql://`` URL (a libpq URL: user,
    password, host, port, database and query parameters such as ``sslmode``)."""

    CONNECT_TIMEOUT = 10
    """Seconds to wait for the server when neither the URL's ``connect_timeout`` nor
    ``$PGCONNECT_TIMEOUT`` sets it."""

    def __init__(self, url: str, *, max_connections: int = 8) -> None:
        if not isinstance(url, str):
            raise TypeError(f"a PostgreSQL URL must be a str, not {type(url).__name__}")
        self.url = redact(url)
        """The URL without its password: safe to print."""
        self._secrets = secrets_in(url)
        if url.split("://", 1)[0].lower() not in SCHEMES or "://" not in url:
            raise StoreError(f"not a PostgreSQL URL (postgresql://user:password@host:port/database): {self.url}")
        try:
            params = _conninfo.conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise self._failure("invalid PostgreSQL URL", exc) from None
        timeout = self._connect_timeout(params.get("connect_timeout", os.environ.get("PGCONNECT_TIMEOUT")))
        kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": timeout}
        try:  # one connection first: its error says why (a pool would only time out)
            with psycopg.connect(url, **kwargs) as conn:
                conn.execute(SCHEMA)
        except psycopg.errors.ConnectionTimeout:
            raise StoreError(f"cannot open the PostgreSQL store ({self.url}): the server did not answer within "
                             f"{max(timeout, LIBPQ_MIN_TIMEOUT)} s (connect_timeout)") from None
        except psycopg.Error as exc:
            raise self._failure("cannot open the PostgreSQL store", exc) from None
        pool_wait = float(max(timeout, self.CONNECT_TIMEOUT))  # time for a busy pool, then a connection
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            kwargs=kwargs,
            min_size=1,
            max_size=max(1, max_connections),
            open=False,
            configure=_configure,
            name="amigos-state",
            timeout=pool_wait,
        )
        try:
            self._pool.open(wait=True, timeout=pool_wait)
        except psycopg.Error as exc:
            self._pool.close()
            raise self._failure("cannot open the PostgreSQL store", exc) from None
        self._closed = False
        self._close_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PostgresStore({self.url!r})"

    # ------------------------------------------------------------ reads

    def get(self, key: bytes) -> bytes | None:
        check_key(key)
        rows = self._read(GET, (key,))
        return rows[0][0] if rows else None

    def scan(
        self, prefix: bytes, start: bytes | None = None, limit: int | None = None
    ) -> list[tuple[bytes, bytes]]:
        low, high, limit = scan_range(prefix, start, limit)
        if limit == 0:
            return []
        params: list[object] = [low]
        if high is not None:
            params.append(high)
        if limit is not None:
            params.append(limit)
        return self._read(_SCANS[high is not None, limit is not None], params)

    def _read(self, sql: str, params: Sequence[object]) -> list[Any]:
        """Run a query and return its rows (binary results: bytea arrives as bytes, not hex).
        A read is retried once on a broken connection, such as one the server closed when it
        restarted: the pool replaces it."""
        for attempt in (1, 2):
            try:
                with self._pool.connection() as conn:
                    return conn.execute(sql, params, binary=True).fetchall()
            except psycopg.OperationalError as exc:
                if attempt == 2 or self._closed or isinstance(exc, _POOL_ERRORS):
                    raise self._failure("cannot read state", exc) from exc
            except psycopg.Error as exc:
                raise self._failure("cannot read state", exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------ writes

    def apply(self, writes: Writes) -> None:
        check_writes(writes)
        if not writes:
            return
        rows = sorted(writes.items())  # in key order: neighbouring keys share index pages
        deleted = [k for k, v in rows if v is None]
        keys = [k for k, v in rows if v is not None]
        values = [v for _, v in rows if v is not None]
        try:
            with self._pool.connection() as conn:
                conn.execute(APPLY, (deleted, keys, values))
        except psycopg.Error as exc:
            # Not retried: when the connection broke during the statement, it may or may not
            # have committed; the caller has to find out (the node replays its log).
            raise self._failure("could not apply writes", exc) from exc

    def close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._pool.close()

    # ------------------------------------------------------------ errors

    def _connect_timeout(self, given: object) -> int:
        """The seconds a connection may take: ``given`` (the URL's or the environment's
        ``connect_timeout``), else CONNECT_TIMEOUT. libpq reads 0 or less as "wait forever"
        (psycopg as 130 s), so a node pointed at a server that never answers would hang:
        those are refused."""
        if given is None:
            return self.CONNECT_TIMEOUT
        try:
            timeout = int(str(given).strip())
        except ValueError:
            timeout = 0
        if timeout <= 0:
            raise StoreError(f"connect_timeout must be a whole number of seconds, at least 1 (0 would wait "
                             f"forever), not {given!r} ({self.url})")
        return timeout

    def _failure(self, what: str, exc: BaseException) -> StoreError:
        """A StoreError naming the server by its redacted URL, with any password scrubbed from
        the driver's message (libpq may echo parts of a malformed URL)."""
        message = redact_in(" ".join(str(exc).split()) or type(exc).__name__, self._secrets)
        return StoreError(f"{what} ({self.url}): {message}")


LIBPQ_MIN_TIMEOUT = 2
"""libpq (and psycopg) wait at least this long, whatever a smaller connect_timeout says."""

_POOL_ERRORS = (PoolClosed, PoolTimeout, TooManyRequests)
"""The pool's own failures: retrying the read on another connection would not help."""


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Every pooled connection: commits wait for the WAL flush, whatever the server's default."""
    conn.execute("SET synchronous_commit = on")
