"""State store throughput, SQLite file vs PostgreSQL: applies of 1000 writes, single-write
applies, point reads and short scans.

    python benchmarks/store.py [--db postgresql://…] [--preload N] [--batches B] [--reads R] [--compare-apply]

Without --db it starts a throwaway PostgreSQL server (tests/pgserver.py, fsync on) on loopback;
with --db it works in a schema of its own, dropped at the end.
Each store is first filled with N keys (16 random bytes, values of 100 bytes); then B applies of
1000 writes each (half new keys, half updates of existing ones, in random order), B*10 applies
of one update (one block of one call: the commit latency), R gets of existing keys and R/10
scans of 100 rows. Both stores commit durably (SQLite synchronous=FULL, PostgreSQL
synchronous_commit=on). --compare-apply also times three ways to write a batch to PostgreSQL
(executemany, binary COPY into a temporary table, and the unnest statement PostgresStore uses).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from amigos.store import PostgresStore, SQLiteStore, Store  # noqa: E402

BATCH = 1000


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(name: str, store: Store, args: argparse.Namespace) -> None:
    rng = random.Random(1)
    keys = [rng.randbytes(16) for _ in range(args.preload)]
    for i in range(0, len(keys), 10_000):
        store.apply({k: rng.randbytes(100) for k in keys[i : i + 10_000]})
    batches = []
    for _ in range(args.batches):
        writes = {rng.randbytes(16): rng.randbytes(100) for _ in range(BATCH // 2)}
        writes |= {k: rng.randbytes(100) for k in rng.sample(keys, BATCH // 2)}
        batches.append(writes)
    singles = [{rng.choice(keys): rng.randbytes(100)} for _ in range(args.batches * 10)]
    reads = [rng.choice(keys) for _ in range(args.reads)]
    starts = [rng.choice(keys)[:2] for _ in range(max(1, args.reads // 10))]

    def apply_batches() -> None:
        for writes in batches:
            store.apply(writes)

    def apply_singles() -> None:
        for writes in singles:
            store.apply(writes)

    def get_all() -> None:
        for key in reads:
            store.get(key)

    def scan_all() -> None:
        for start in starts:
            store.scan(b"", start, 100)

    t_batch = timed(apply_batches)
    t_single = timed(apply_singles)
    t_get = timed(get_all)
    t_scan = timed(scan_all)
    print(f"{name:<11} {len(batches) / t_batch:>9,.1f} {len(batches) * BATCH / t_batch:>10,.0f} "
          f"{len(singles) / t_single:>10,.0f} {len(reads) / t_get:>10,.0f} {len(starts) / t_scan:>10,.0f}")


def compare_apply(url: str, args: argparse.Namespace) -> None:
    import psycopg

    from amigos.store.postgres import APPLY

    upsert = "INSERT INTO state (key, value) VALUES (%b, %b) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
    rng = random.Random(2)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TEMPORARY TABLE incoming (key bytea, value bytea) ON COMMIT DELETE ROWS")
        keys = [r[0] for r in conn.execute("SELECT key FROM state LIMIT 50000", binary=True).fetchall()]

        def executemany(rows: list[tuple[bytes, bytes]]) -> None:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(upsert, rows)

        def copy(rows: list[tuple[bytes, bytes]]) -> None:
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy("COPY incoming (key, value) FROM STDIN (FORMAT BINARY)") as cp:
                    cp.set_types(["bytea", "bytea"])
                    for row in rows:
                        cp.write_row(row)
                cur.execute("INSERT INTO state (key, value) SELECT key, value FROM incoming "
                            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")

        def unnest(rows: list[tuple[bytes, bytes]]) -> None:
            conn.execute(APPLY, ([], [k for k, _ in rows], [v for _, v in rows]))

        print(f"\nPostgreSQL, one batch of {BATCH} writes (half new keys, half updates):")
        for name, fn in [("executemany", executemany), ("COPY + INSERT", copy), ("unnest (used)", unnest)] * 2:
            work = []
            for _ in range(args.batches):
                rows = {rng.randbytes(16): rng.randbytes(100) for _ in range(BATCH // 2)}
                rows |= {k: rng.randbytes(100) for k in rng.sample(keys, BATCH // 2)}
                work.append(sorted(rows.items()))
            seconds = timed(lambda: [fn(rows) for rows in work])
            print(f"  {name:<14} {seconds / len(work) * 1000:6.2f} ms/apply")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="a postgresql:// URL (default: start a throwaway server)")
    parser.add_argument("--preload", type=int, default=100_000, help="keys in each store before measuring")
    parser.add_argument("--batches", type=int, default=50, help="applies of 1000 writes")
    parser.add_argument("--reads", type=int, default=20_000, help="point reads")
    parser.add_argument("--compare-apply", action="store_true", help="also time other ways to write a batch")
    args = parser.parse_args()

    with ExitStack() as stack:
        url = args.db
        if url is None:
            from pgserver import pg_server

            url = stack.enter_context(pg_server())
        folder = stack.enter_context(tempfile.TemporaryDirectory())
        print(f"{'store':<11} {'applies/s':>9} {'writes/s':>10} {'1-write/s':>10} {'gets/s':>10} {'scans/s':>10}")
        sqlite = SQLiteStore(os.path.join(folder, "state.sqlite"))
        try:
            run("sqlite", sqlite, args)
            print(f"{'':<11} ({sqlite.merges} merges of the append log)")
        finally:
            sqlite.close()
        url = stack.enter_context(scratch_schema(url))
        pg = PostgresStore(url)
        try:
            run("postgresql", pg, args)
        finally:
            pg.close()
        if args.compare_apply:
            compare_apply(url, args)


@contextmanager
def scratch_schema(url: str) -> Iterator[str]:
    """``url`` with a new schema first on its search path (so that the benchmark's ``state``
    table never touches a real one); the schema is dropped at the end."""
    import psycopg

    schema = f"amigos_bench_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
