"""Test services with pytest: fixtures for an in-memory runtime, accounts and a clock.

Installed with Amigos as the pytest plugin ``amigos`` (``amigos test`` loads it too), so a test
file only asks for fixtures by name::

    from amigos.testing import assert_event, assert_ok

    def test_increment(deploy_file, runtime, accounts):
        counter = deploy_file("hub.amigos.dev/alice/counter", "counter.py")
        receipt = runtime.call(counter, "increment", 2, signer=accounts.bob)
        assert assert_ok(receipt) == 2
        assert_event(receipt, "incremented", by=2, caller=accounts.bob)

Fixtures:

``clock``
    A :class:`Clock` that gives the time of every new block; it starts at :data:`START_TIME`
    and moves only when the test moves it, so results never depend on the wall clock.
``runtime``
    A fresh in-memory :class:`~amigos.LocalRuntime` driven by ``clock``.
``accounts``
    :class:`Accounts`: ``accounts.alice`` is the signer ``"alice"``.
``chain``
    :class:`Chain`: moves block time and height forward (``chain.advance(seconds=60)``).
``deploy_file``
    ``deploy_file(path, file, signer=None)`` deploys a service file (relative to the test
    file's folder) and returns its path; the signer defaults to the path's namespace.

Assertions (plain functions, usable outside pytest too): :func:`assert_ok`,
:func:`assert_fails`, :func:`assert_event` and :func:`assert_gas_below`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from .errors import UsageError
from .runtime import LocalRuntime, Receipt, validate_account
from .vm.machine import Event

__all__ = [
    "START_TIME",
    "Accounts",
    "Chain",
    "Clock",
    "DeployFile",
    "assert_event",
    "assert_fails",
    "assert_gas_below",
    "assert_ok",
    "run_tests",
]

START_TIME = 1_700_000_000
"""The block time tests start at (2023-11-14T22:13:20Z): a fixed value keeps gas and results
reproducible."""

PLUGIN_NAME = __name__
"""The plugin's name, as the ``pytest11`` entry point and for ``-p``: the module's own name, so
that pytest recognises the two as one plugin (``-p no:amigos.testing`` turns it off)."""


# ------------------------------------------------------------------ time and blocks


@dataclass
class Clock:
    """The time, in whole seconds, that the runtime gives each new block.

    A runtime never lets block time go backwards (a block gets at least the previous block's
    time), so :meth:`set` to an earlier time has effect only once the clock passes it again.
    """

    now: int = START_TIME

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: int) -> int:
        """Move the clock ``seconds`` forward and return the new time."""
        if type(seconds) is not int or seconds < 0:
            raise UsageError(f"the clock only moves forward by a whole number of seconds, not {seconds!r}")
        self.now += seconds
        return self.now

    def set(self, now: int) -> None:
        """Set the time of the next blocks."""
        if type(now) is not int or now < 0:
            raise UsageError(f"a time is a non-negative whole number of seconds, not {now!r}")
        self.now = now


@dataclass
class Chain:
    """Block height and time of a test's runtime, and the means to move them.

    Every call and deploy outside ``runtime.batch()`` is one block; :meth:`advance` adds empty
    blocks, for services that count heights (a vote that closes at height 100).
    """

    runtime: LocalRuntime
    clock: Clock

    @property
    def height(self) -> int:
        """The height of the last block."""
        return self.runtime.height

    @property
    def time(self) -> int:
        """The time of the last block."""
        return self.runtime.time

    def advance(self, *, seconds: int = 0, blocks: int = 0) -> None:
        """Move the clock ``seconds`` forward, then commit ``blocks`` empty blocks.

        The next call runs at height ``height + 1`` (plus ``blocks``) and at the clock's time.
        Each empty block is a real commit, so keep ``blocks`` to what the test needs.
        """
        if type(blocks) is not int or blocks < 0:
            raise UsageError(f"blocks must be a non-negative int, not {blocks!r}")
        self.clock.advance(seconds)
        for _ in range(blocks):
            with self.runtime.batch():
                pass


# ------------------------------------------------------------------ accounts and deploys


class Accounts:
    """Named signers: ``accounts.alice`` is ``"alice"``, checked to be a valid account name.

    The embedded runtime signs with account names, so a signer is just its name; reading it
    through ``accounts`` makes a typo fail loudly and keeps tests readable.
    """

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return validate_account(name)

    def __getitem__(self, name: str) -> str:
        return validate_account(name)


class DeployFile(Protocol):
    """The type of the ``deploy_file`` fixture, for annotating tests."""

    def __call__(self, path: str, file: str | Path, signer: str | None = None) -> str: ...


def _namespace(path: str) -> str:
    parts = path.split("/")
    if len(parts) < 3:
        raise UsageError(f"{path!r} is not a service path such as hub.amigos.dev/alice/counter")
    return parts[1]


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def clock() -> Clock:
    """The test's block clock, starting at :data:`START_TIME`."""
    return Clock()


@pytest.fixture
def runtime(clock: Clock) -> Iterator[LocalRuntime]:
    """A fresh in-memory runtime whose blocks take their time from ``clock``."""
    rt = LocalRuntime(clock=clock)
    yield rt
    rt.close()


@pytest.fixture
def accounts() -> Accounts:
    """Named signers: ``accounts.alice``, ``accounts.bob``…"""
    return Accounts()


@pytest.fixture
def chain(runtime: LocalRuntime, clock: Clock) -> Chain:
    """Block height and time of ``runtime``: ``chain.advance(seconds=…, blocks=…)``."""
    return Chain(runtime, clock)


@pytest.fixture
def deploy_file(runtime: LocalRuntime, request: pytest.FixtureRequest) -> DeployFile:
    """``deploy_file(path, file, signer=None) -> path``: deploy a service file into ``runtime``.

    ``file`` is relative to the folder of the test file that uses the fixture, so tests run the
    same from any working directory. ``signer`` defaults to the namespace in ``path`` (``alice``
    for ``hub.amigos.dev/alice/counter``), the account that owns it.
    """
    folder = Path(request.path).parent

    def deploy(path: str, file: str | Path, signer: str | None = None) -> str:
        source_file = folder / file
        if not source_file.is_file():
            raise UsageError(f"no service file at {source_file}")
        owner = signer if signer is not None else _namespace(path)
        return runtime.deploy(path, source_file.read_text(encoding="utf-8"), signer=owner).path

    return deploy


# ------------------------------------------------------------------ assertions


def assert_ok(receipt: Receipt) -> Any:
    """Fail unless the call succeeded; return its result."""
    __tracebackhide__ = True
    if not receipt.ok:
        assert receipt.error is not None
        raise AssertionError(f"the call failed: {receipt.error.type}: {receipt.error.message}")
    return receipt.result


def assert_fails(receipt: Receipt, message: str | None = None, *, type: str = "ServiceError") -> None:
    """Fail unless the call failed with an error of ``type`` (and exactly ``message`` if given)."""
    __tracebackhide__ = True
    if receipt.ok:
        raise AssertionError(f"the call succeeded (result {receipt.result!r}) but should have failed")
    assert receipt.error is not None
    got = (receipt.error.type, receipt.error.message)
    if got[0] != type or (message is not None and got[1] != message):
        expected = f"{type}: {message}" if message is not None else type
        raise AssertionError(f"expected the call to fail with {expected}, it failed with {got[0]}: {got[1]}")


def assert_event(receipt: Receipt, name: str, /, **attrs: Any) -> Event:
    """Return the first event named ``name`` of the successful call whose attributes include
    ``attrs``; fail listing the events the call emitted otherwise.

    ``receipt`` and ``name`` are positional-only, so an event may have a ``name`` attribute.
    The returned :class:`~amigos.Event` tells which service emitted it (``.service``).
    """
    __tracebackhide__ = True
    assert_ok(receipt)
    for event in receipt.events:
        if event.name == name and all(k in event.attrs and event.attrs[k] == v for k, v in attrs.items()):
            return event
    emitted = "\n".join(f"  {e.name} {e.attrs} from {e.service}" for e in receipt.events) or "  (none)"
    wanted = " ".join([name, *(f"{k}={v!r}" for k, v in attrs.items())])
    raise AssertionError(f"no event {wanted}; the call emitted:\n{emitted}")


def assert_gas_below(receipt: Receipt, limit: int) -> int:
    """Fail unless the call used less than ``limit`` gas; return the gas used.

    A ceiling in a test catches a change that makes a function much more expensive (a loop over
    a whole Map, say); set it with some headroom above what the function uses today.
    """
    __tracebackhide__ = True
    if receipt.gas_used >= limit:
        raise AssertionError(f"the call used {receipt.gas_used} gas, not below {limit}")
    return receipt.gas_used


# ------------------------------------------------------------------ amigos test


def run_tests(files: list[str], extra_args: list[str]) -> int:
    """Run the tests in ``files`` (default: the test_*.py files under the current folder) with
    pytest and this plugin; return pytest's exit code (0 passed, 1 failed, 5 no tests…).

    The plugin is named after this module both as the ``pytest11`` entry point and here, so
    ``-p amigos.testing`` is a no-op when the installed entry point already loaded it: it is
    loaded exactly once either way.
    """
    for file in files:
        if not Path(file.split("::", 1)[0]).exists():
            raise UsageError(f"no such test file or folder: {file}")
    return int(pytest.main(["-p", PLUGIN_NAME, *(files or ["."]), *extra_args]))
