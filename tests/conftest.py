from __future__ import annotations

import itertools
import os
import textwrap
from pathlib import Path
from typing import Callable, Iterator

import pytest

import amigos
from pgserver import find_bin_dir, pg_server

HUB = Path(__file__).resolve().parent.parent / "hub"


@pytest.fixture(params=["none", "process"])
def isolation(request: pytest.FixtureRequest) -> str:
    """Tests that take a runtime run twice: in-process, and in confined worker processes."""
    return request.param


@pytest.fixture
def rt(isolation: str) -> amigos.LocalRuntime:
    runtime = amigos.LocalRuntime(isolation=isolation)
    yield runtime
    runtime.close()


Deploy = Callable[..., str]


@pytest.fixture
def deploy(rt: amigos.LocalRuntime) -> Deploy:
    """deploy("name", source) → path; the source is dedented; namespace "alice" unless given."""

    def _deploy(name: str, source: str, signer: str = "alice", ns: str | None = None) -> str:
        path = f"hub.amigos.dev/{ns or signer}/{name}"
        rt.deploy(path, textwrap.dedent(source), signer=signer)
        return path

    return _deploy


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """The URL of a throwaway PostgreSQL server (tests/pgserver.py) for the whole session.
    Without PostgreSQL binaries the tests that need it are skipped, or fail under CI=true."""
    if find_bin_dir() is None:
        message = (
            "no PostgreSQL server binaries (initdb, pg_ctl) on PATH, in /usr/local/bin or in "
            "/usr/lib/postgresql/*/bin: scripts/test installs them (Debian: apt-get install postgresql)"
        )
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with pg_server() as url:
        yield url


_databases = itertools.count()


@pytest.fixture
def pg_db(pg_url: str) -> str:
    """The URL of a new, empty database on the test server (one per test: no shared state)."""
    import psycopg
    from psycopg import sql

    name = f"test_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return pg_url.rsplit("/", 1)[0] + "/" + name
