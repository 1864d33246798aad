"""amigos.scaffold: the files `amigos init NAME` writes, the names it refuses, and that the
generated tests pass through `amigos test`'s run_tests (and fail when the service breaks)."""

from __future__ import annotations

from pathlib import Path

import pytest
from amigos_test_runner import run_amigos_test

import amigos
from amigos.errors import UsageError
from amigos.scaffold import write_service


def test_writes_a_service_and_its_passing_tests(tmp_path: Path) -> None:
    written = write_service("greeter", tmp_path)
    assert written == [tmp_path / "greeter.py", tmp_path / "test_greeter.py"]
    rt = amigos.LocalRuntime()
    info = rt.deploy("hub.amigos.dev/dev/greeter", written[0].read_text(), signer="dev")
    assert [f.name for f in info.functions] == ["hello", "count", "render"]
    assert all(f.doc for f in info.functions) and info.doc
    done = run_amigos_test(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_the_generated_tests_catch_a_broken_service(tmp_path: Path) -> None:
    service, _ = write_service("greeter", tmp_path)
    service.write_text(service.read_text().replace("greetings.get(caller, 0) + 1", "greetings.get(caller, 0) + 2"))
    done = run_amigos_test(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "test_hello_counts_per_account" in done.stdout


def test_a_folder_is_created_when_missing(tmp_path: Path) -> None:
    assert write_service("poll", tmp_path / "new" / "folder")[0].is_file()


@pytest.mark.parametrize("name, complaint", [
    ("", "cannot name a service"),
    ("Greeter", "cannot name a service"),
    ("my-service", "cannot name a service"),
    ("my__service", "cannot name a service"),
    ("9lives", "cannot name a service"),
    ("../evil", "cannot name a service"),
    ("a/b", "cannot name a service"),
    ("x" * 65, "cannot name a service"),
    ("naïve", "cannot name a service"),
    ("class", "is reserved"),
    ("len", "is reserved"),
    ("print", "is reserved"),
    ("std", "is reserved"),
    ("hub", "is reserved"),
    ("test_thing", "taken for a test file"),
    ("testing", "taken for a test file"),
])
def test_bad_names_are_refused(tmp_path: Path, name: str, complaint: str) -> None:
    with pytest.raises(UsageError, match=complaint):
        write_service(name, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("existing", ["greeter.py", "test_greeter.py"])
def test_never_overwrites(tmp_path: Path, existing: str) -> None:
    (tmp_path / existing).write_text("mine\n")
    with pytest.raises(UsageError, match=f"{existing} already exists"):
        write_service("greeter", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [existing]
    assert (tmp_path / existing).read_text() == "mine\n"


def test_a_name_that_is_not_a_string_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="must be a string"):
        write_service(42, tmp_path)  # type: ignore[arg-type]
