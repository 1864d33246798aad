from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Callable

import pytest

import amigos

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
