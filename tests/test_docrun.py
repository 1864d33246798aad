"""amigos.docrun: which blocks are examples, their names, how each kind runs, and failure
messages that say where (file:line) and why. Documents are written into tmp_path."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

from amigos import docrun
from amigos.docrun import ExampleResult, collect, run_example, select
from amigos.errors import UsageError


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages show paths relative to the working directory: doc.md."""
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str, name: str = "doc.md") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run_only(tmp_path: Path, text: str) -> ExampleResult:
    [example] = collect(write(tmp_path, text))
    return run_example(example)


# ------------------------------------------------------------------ collecting and naming


def test_only_runnable_blocks_are_examples(tmp_path: Path) -> None:
    doc = write(tmp_path, """\
        # Title

        ```text
        prose
        ```

        ```console
        $ amigos dev
        ```

        ```json
        {}
        ```

        ```
        no language
        ```

        ```python
        x = 1
        ```

        ```service
        y = 2
        ```

        ```console run
        $ true
        ```
    """)
    assert [(e.name, e.lang, e.line, e.code) for e in collect(doc)] == [
        ("Title", "python", 19, "x = 1\n"),
        ("Title_2", "service", 23, "y = 2\n"),
        ("Title_3", "console", 27, "$ true\n"),
    ]


@pytest.mark.parametrize("heading, name", [
    ("A counter", "A_counter"),
    ("5. std.Map", "5._std.Map"),
    ("Globals, Maps & `gas`", "Globals_Maps_gas"),
    ("Read-only queries", "Read-only_queries"),
    ("Closing hashes ##", "Closing_hashes"),
    ("¿Qué?", "Qu"),
    ("!!!", "Example"),
])
def test_names_come_from_the_heading(tmp_path: Path, heading: str, name: str) -> None:
    [example] = collect(write(tmp_path, f"## {heading}\n\n```python\npass\n```\n"))
    assert example.name == name


def test_fences_inside_longer_fences_are_content(tmp_path: Path) -> None:
    doc = write(tmp_path, """\
        ## Outer

        ````python
        text = '''
        ```python
        not an example
        ```
        '''
        ````

        ~~~service
        z = 3
        ~~~
    """)
    examples = collect(doc)
    assert [(e.lang, e.line) for e in examples] == [("python", 3), ("service", 11)]
    assert "```python\nnot an example\n```" in examples[0].code


def test_an_unclosed_fence_runs_to_the_end(tmp_path: Path) -> None:
    [example] = collect(write(tmp_path, "# T\n\n```python\nx = 1\n"))
    assert example.code == "x = 1\n"


def test_select_lists_the_names_when_one_is_missing(tmp_path: Path) -> None:
    examples = collect(write(tmp_path, "# First\n\n```python\npass\n```\n\n## Second\n\n```service\nx = 1\n```\n"))
    assert select(examples, "Second").lang == "service"
    with pytest.raises(UsageError) as raised:
        select(examples, "second")
    assert str(raised.value) == ("no example 'second' in doc.md; its examples are:\n"
                                 "  First  (python, line 3)\n  Second  (service, line 9)")
    with pytest.raises(UsageError, match="the document has no examples"):
        select([], "Anything")


@pytest.mark.parametrize("content", [b"\xff\xfe not utf-8", None])
def test_unreadable_documents_are_usage_errors(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "doc.md"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UsageError, match="cannot read"):
        collect(path)


@pytest.mark.parametrize("text", [
    "# T\n\n```output\n1\n```\n",
    "# T\n\n```python\nprint(1)\n```\n\nSome prose.\n\n```output\n1\n```\n",
    "# T\n\n```service\nx = 1\n```\n\n```output\n1\n```\n",
    "# T\n\n```python\nprint(1)\n```\n\n```output\n1\n```\n\n```output\n1\n```\n",
])
def test_an_output_block_must_follow_a_python_example(tmp_path: Path, text: str) -> None:
    with pytest.raises(UsageError, match=r"doc.md:\d+: an output block must follow a python example"):
        collect(write(tmp_path, text))


# ------------------------------------------------------------------ python examples


def test_python_output_is_compared(tmp_path: Path) -> None:
    text = "# Greeting\n\n```python\nprint('hello')\nprint('gas 1234')\n```\n\n```output\nhello\ngas …\n```\n"
    result = run_only(tmp_path, text)
    assert result.ok and result.output == "hello\ngas 1234\n"
    result = run_only(tmp_path, text.replace("print('hello')", "print('goodbye')"))
    assert not result.ok
    assert result.message.startswith("doc.md:3: Greeting: what it printed differs from the output block at line 8:")
    assert "-hello\n+goodbye" in result.message


@pytest.mark.parametrize("expected, printed, ok", [
    ("a\n…\nz", "a\nb\nc\nz", True),
    ("a\n…\nz", "a\nz", True),
    ("a\n…", "a\nb", True),
    ("a … z", "a b c z", True),
    ("a\n…\nz", "a\nb", False),
    ("a", "a\nb", False),
    ("a\n\n", "a\n", True),  # trailing blank lines and spaces do not count
    ("a.c", "abc", False),    # only … is a wildcard
    ("(x)", "(x)", True),
])
def test_output_wildcards(tmp_path: Path, expected: str, printed: str, ok: bool) -> None:
    text = f"# W\n\n```python\nprint({printed!r}, end='')\n```\n\n```output\n{expected}\n```\n"
    assert run_only(tmp_path, text).ok is ok


def test_a_failed_assert_shows_the_statement_and_its_line(tmp_path: Path) -> None:
    result = run_only(tmp_path, "# Sums\n\n```python\ntotal = 2\nassert total == [\n    3,\n]\n```\n")
    assert result.message == "doc.md:5: Sums: assertion failed: assert total == [\n    3,\n]"


def test_an_exception_shows_its_line_and_traceback(tmp_path: Path) -> None:
    result = run_only(tmp_path, "# Oops\n\n```python\ndef f():\n    return 1 // 0\n\nf()\n```\n")
    assert result.message.startswith("doc.md:5: Oops: ZeroDivisionError: integer division or modulo by zero\n")
    assert "line 7" in result.message and "line 5" in result.message
    result = run_only(tmp_path, "# Raised\n\n```python\nraise AssertionError('custom')\n```\n")
    assert result.message.startswith("doc.md:4: Raised: AssertionError: custom")


def test_an_example_cannot_exit_the_runner(tmp_path: Path) -> None:
    result = run_only(tmp_path, "# Exit\n\n```python\nimport sys\nsys.exit(3)\n```\n")
    assert result.message.startswith("doc.md:5: Exit: SystemExit: 3")


def test_a_syntax_error_points_at_its_line(tmp_path: Path) -> None:
    result = run_only(tmp_path, "# Broken\n\n```python\nx = 1\ndef (:\n```\n")
    assert result.message.startswith("doc.md:5: Broken: SyntaxError")


def test_python_examples_do_not_share_a_namespace(tmp_path: Path) -> None:
    first, second = collect(write(tmp_path, "# A\n\n```python\nshared = 1\n```\n\n```python\nshared\n```\n"))
    assert run_example(first).ok
    assert "NameError: name 'shared' is not defined" in run_example(second).message


# ------------------------------------------------------------------ service examples


def test_service_examples_go_through_the_checker(tmp_path: Path) -> None:
    assert run_only(tmp_path, "# S\n\n```service\nimport std\n\ndef f():\n    return std.caller()\n```\n").ok
    result = run_only(tmp_path, "# Bad\n\n```service\nx = 1\n\ndef f():\n    print(x)\n```\n")
    assert result.message.startswith("doc.md:7: Bad: the service is rejected: line 4: ")
    assert "forbidden-name" in result.message


# ------------------------------------------------------------------ console examples


def test_console_commands_run_in_order_and_their_output_is_checked(tmp_path: Path) -> None:
    result = run_only(tmp_path, """\
        # Shell

        ```console run
        $ echo one; echo two >&2
        one
        two
        $ echo "a \\
        b"
        a b
        $ false
        $ echo $?
        1
        ```
    """)
    assert result.ok, result.message
    assert result.output == "$ echo one; echo two >&2\none\ntwo\n$ echo \"a b\"\na b\n$ false\n$ echo $?\n1\n"


def test_console_failures_name_the_command_and_line(tmp_path: Path) -> None:
    result = run_only(tmp_path, "# Shell\n\n```console run\n$ echo yes\nno\n```\n")
    assert result.message.startswith("doc.md:4: Shell: `echo yes` printed something else:\n")
    assert "-no\n+yes" in result.message
    result = run_only(tmp_path, "# Shell\n\n```console run\n$ true\n$ ls nothing-here\n…\n$ echo after\nafter\n```\n")
    assert result.message.startswith("doc.md:5: Shell: `ls nothing-here` exited with status 2 (show it with `$ echo $?`")
    result = run_only(tmp_path, "# Shell\n\n```console run\n$ exit 3\n$ echo unreached\n```\n")
    assert result.message == "doc.md:4: Shell: the session ended in or before `exit 3`"
    result = run_only(tmp_path, "# Shell\n\n```console run\nno command\n```\n")
    assert result.message == "doc.md:3: Shell: a console example needs at least one '$ command' line"


def test_console_examples_are_isolated(tmp_path: Path) -> None:
    result = run_only(tmp_path, """\
        # Isolated

        ```console run
        $ pwd; echo $HOME; echo "[$AMIGOS_HOME]"; echo $AMIGOS_CONFIG; ls -A
        /tmp/amigos-docrun-…/work
        /tmp/amigos-docrun-…/home
        []
        /tmp/amigos-docrun-…/home/.config/amigos
        $ touch made-here; ls; command -v amigos
        made-here
        /tmp/amigos-docrun-…/bin/amigos
        ```
    """.replace("/tmp", str(Path(__import__("tempfile").gettempdir()))))
    assert result.ok, result.message


def test_console_examples_get_the_named_service_files_above_them(tmp_path: Path) -> None:
    doc = write(tmp_path, """\
        # Files

        ```service counter.py
        count = 0
        ```

        ```console run
        $ cat counter.py
        count = 0
        ```

        ```service ../escape.py
        x = 1
        ```

        ```console run
        $ true
        ```
    """)
    service, console, _, after = collect(doc)
    assert service.filename == "counter.py" and console.files == {"counter.py": "count = 0\n"}
    assert run_example(console).ok
    assert run_example(after).message == "doc.md:16: Files_4: the file name '../escape.py' leaves the example's folder"


def test_a_console_example_that_hangs_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docrun, "CONSOLE_TIMEOUT", 1.0)
    result = run_only(tmp_path, "# Hang\n\n```console run\n$ sleep 30 & sleep 30\n```\n")
    assert result.message.startswith("doc.md:3: Hang: timed out after 1 s")


def test_nothing_a_console_example_starts_outlives_it(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    result = run_only(tmp_path, f"# Bg\n\n```console run\n$ sleep 300 >/dev/null 2>&1 & echo $! > {pid_file}\n```\n")
    assert result.ok, result.message
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), "the background process of the example is still running"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(") ", 1)[1].startswith("Z"))  # a zombie is gone


def test_the_amigos_command_is_this_amigos(tmp_path: Path) -> None:
    service, console = collect(write(tmp_path, """\
        # CLI

        ```service hello.py
        def hello(name):
            return "Hello, " + name
        ```

        ```console run
        $ amigos --home state --as alice deploy hub.amigos.dev/alice/hello hello.py >/dev/null 2>&1
        $ amigos --home state query hub.amigos.dev/alice/hello hello Bob
        "Hello, Bob"
        ```
    """))
    assert run_example(service).ok
    result = run_example(console)
    assert result.ok, result.message


# ------------------------------------------------------------------ run


def test_run_takes_a_file_or_a_file_and_a_name(tmp_path: Path) -> None:
    doc = write(tmp_path, "# One\n\n```python\npass\n```\n\n# Two\n\n```python\nassert False\n```\n")
    assert [r.ok for r in docrun.run(str(doc))] == [True, False]
    assert [r.example.name for r in docrun.run(f"{doc}#Two")] == ["Two"]
    with pytest.raises(UsageError, match="no example 'Three'"):
        docrun.run(f"{doc}#Three")
    with pytest.raises(UsageError, match="cannot read"):
        docrun.run(str(tmp_path / "missing.md"))
