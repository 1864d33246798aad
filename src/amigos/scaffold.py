"""``amigos init NAME``: write a small service and its tests, ready to run with ``amigos test``.

``write_service("greeter", folder)`` writes ``greeter.py``, a service that shows state, a
``std.Map``, ``std.require``, ``std.emit`` and ``render``, and ``test_greeter.py``, its tests
using the :mod:`amigos.testing` fixtures. It never overwrites a file.
"""

from __future__ import annotations

import keyword
from pathlib import Path
from string import Template

from .errors import UsageError
from .vm.checker import ALLOWED_BUILTINS, FORBIDDEN_NAMES
from .vm.paths import HUB_DOMAIN, validate_path

__all__ = ["write_service"]

DEV_NAMESPACE = "dev"
"""The namespace the generated test deploys into: the CLI signs as ``dev`` by default."""

SERVICE = Template('''\
"""$name: say hello, and count how often each account did."""
import std

greetings = std.Map()   # account -> how many times it said hello (a Map: one entry per read)
total = 0               # a module global: the service's state, saved after each successful call


def hello(message: str = "hello") -> int:
    """Say hello with `message` (1 to 100 characters); return how many times you did."""
    global total
    std.require(isinstance(message, str) and 0 < len(message) <= 100,
                "a message has 1 to 100 characters")
    caller = std.caller()
    greetings[caller] = greetings.get(caller, 0) + 1
    total += 1
    std.emit("hello", caller=caller, message=message)
    return greetings[caller]


def count(account: str) -> int:
    """How many times `account` said hello."""
    return greetings.get(account, 0) if isinstance(account, str) else 0


def render(path: str) -> str:
    """The service's page, in Markdown."""
    return f"# $name\\n\\n{total} greetings from {len(greetings)} accounts.\\n"
''')

TEST = Template('''\
"""Tests of $name.py: run them with `amigos test`."""

from amigos import LocalRuntime
from amigos.testing import Accounts, DeployFile, assert_event, assert_fails, assert_ok

PATH = "$path"


def test_hello_counts_per_account(runtime: LocalRuntime, accounts: Accounts, deploy_file: DeployFile) -> None:
    service = deploy_file(PATH, "$name.py")
    assert assert_ok(runtime.call(service, "hello", signer=accounts.alice)) == 1
    receipt = runtime.call(service, "hello", "hi again", signer=accounts.alice)
    assert assert_ok(receipt) == 2
    assert_event(receipt, "hello", caller=accounts.alice, message="hi again")
    assert runtime.query(service, "count", accounts.alice) == 2
    assert runtime.query(service, "count", accounts.bob) == 0


def test_bad_messages_are_refused(runtime: LocalRuntime, accounts: Accounts, deploy_file: DeployFile) -> None:
    service = deploy_file(PATH, "$name.py")
    for message in ["", "x" * 101, 42]:
        assert_fails(runtime.call(service, "hello", message, signer=accounts.bob), "a message has 1 to 100 characters")
    assert runtime.query(service, "count", accounts.bob) == 0


def test_render_shows_the_totals(runtime: LocalRuntime, accounts: Accounts, deploy_file: DeployFile) -> None:
    service = deploy_file(PATH, "$name.py")
    assert_ok(runtime.call(service, "hello", signer=accounts.alice))
    assert_ok(runtime.call(service, "hello", signer=accounts.bob))
    assert runtime.render(service) == "# $name\\n\\n2 greetings from 2 accounts.\\n"
''')


def write_service(name: str, folder: Path | str) -> list[Path]:
    """Write ``NAME.py`` and ``test_NAME.py`` into ``folder`` (created if missing) and return
    their paths. Raises :class:`~amigos.errors.UsageError` for a bad name or if either file
    exists, before writing anything."""
    check_service_name(name)
    folder = Path(folder)
    path = f"{HUB_DOMAIN}/{DEV_NAMESPACE}/{name}"
    files = {
        folder / f"{name}.py": SERVICE.substitute(name=name),
        folder / f"test_{name}.py": TEST.substitute(name=name, path=path),
    }
    for file in files:
        if file.exists():
            raise UsageError(f"{file} already exists: amigos init never overwrites a file (pick another name)")
    folder.mkdir(parents=True, exist_ok=True)
    for file, text in files.items():
        with file.open("x", encoding="utf-8") as out:  # "x": fail rather than overwrite a file made meanwhile
            out.write(text)
    return list(files)


def check_service_name(name: object) -> str:
    """Return ``name`` if it can name a service file, its path segment and its import."""
    if not isinstance(name, str):
        raise UsageError("a service name must be a string")
    if not _is_path_segment(name):
        raise UsageError(
            f"{name!r} cannot name a service: use a lower-case identifier of at most 64 characters "
            "(letters, digits, single underscores; starting with a letter), such as 'my_counter'"
        )
    if keyword.iskeyword(name) or name in ALLOWED_BUILTINS or name in FORBIDDEN_NAMES or name in ("std", "hub"):
        raise UsageError(f"{name!r} is reserved in services (a keyword, a builtin or a module): pick another name")
    if name.startswith("test"):
        raise UsageError(f"{name!r} would be taken for a test file by pytest: pick a name not starting with 'test'")
    return name


def _is_path_segment(name: str) -> bool:
    """Whether ``name`` is one segment of a service path, by the rules of service paths."""
    if "/" in name:
        return False
    try:
        validate_path(f"{HUB_DOMAIN}/{DEV_NAMESPACE}/{name}")
    except UsageError:
        return False
    return True
