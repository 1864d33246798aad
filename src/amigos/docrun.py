"""Run the examples of a Markdown document and check what they say they do.

The library behind ``amigos run docs/FILE.md#Example_Name`` (one example) and
``amigos run docs/FILE.md`` (all of them), and behind the test that runs every example of
README.md and docs/ (tests/test_docs.py). The conventions are documented, with examples that
run, in docs/docs.md:

* ```` ```python ```` blocks are executed, each on its own in a fresh namespace; they state
  their results with ``assert``, and what they print with an ```` ```output ```` block right
  after them.
* ```` ```service ```` blocks are service files, checked by the language checker;
  ```` ```service NAME.py ```` also provides the file ``NAME.py`` to the console examples
  after it in the same document.
* ```` ```console run ```` blocks are shell sessions: each ``$ command`` runs in bash, in a new
  temporary folder with its own home, and its output must be the lines below it.
* In expected output, ``…`` stands for any text within a line, and a line of just ``…`` for
  any number of lines.
* ```` ```console session ```` and ```` ```python session ```` blocks are the steps of one
  session (:func:`run_session`: a tutorial against a running node); they never run alone.
* Any other block (``text``, ``json``, ``console`` without ``run``…) is prose.

An example is named after the Markdown heading above it, spaces replaced by underscores and
other punctuation dropped (``### A counter`` gives ``A_counter``); a second example under the
same heading gets ``_2``, and so on.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import traceback
import uuid
from dataclasses import dataclass, field, replace
from difflib import unified_diff
from pathlib import Path

from .errors import DeployError, UsageError

__all__ = ["Example", "ExampleResult", "collect", "run", "run_example", "run_session", "select"]

EXECUTED = "python"
CHECKED = "service"
SHELL = "console"
OUTPUT = "output"
SHELL_RUN_FLAG = "run"
"""The word after ``console`` that makes a shell session an example: plain ``console`` blocks
stay prose, since many show commands that need a running node or files of the reader's."""

SESSION_FLAG = "session"
"""The word after ``console`` or ``python`` that makes a block a step of a session
(:func:`run_session`): it runs with the steps around it (a tutorial against a running node,
say), never on its own."""

CONSOLE_TIMEOUT = 60.0
"""Seconds a whole console example may take before it is stopped (and fails)."""

_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(?P<title>.+?)(?:[ \t]+#+)?[ \t]*$")
_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9_.-]")
WILDCARD = "…"
"""In expected output, any text within a line; on a line of its own, any lines."""
_PROMPT = "$ "


@dataclass(frozen=True)
class Example:
    """A fenced code block that can be run, and where it comes from."""

    file: Path
    name: str
    """Unique in its file: the heading above, as ``Words_Joined_By_Underscores``."""
    lang: str
    """``python``, ``service`` or ``console``."""
    line: int
    """The 1-based line of the opening fence."""
    code: str
    filename: str = ""
    """For a service block, the file name its info string gives (``service counter.py``)."""
    output: str | None = None
    """For a python block, the text of the ```` ```output ```` block after it."""
    output_line: int = 0
    files: dict[str, str] = field(default_factory=dict)
    """For a console block, the named service blocks above it: file name -> source."""
    in_session: bool = False
    """A step of a session (``console session``, ``python session``): it runs only with the
    other steps, through :func:`run_session`."""

    @property
    def where(self) -> str:
        """``FILE:LINE`` of the example, for messages."""
        return f"{_display(self.file)}:{self.line}"


@dataclass(frozen=True)
class ExampleResult:
    """What running an example gave: ``ok``, and if not a ``message`` that says where and why."""

    example: Example
    ok: bool
    message: str = ""
    output: str = ""
    """What the example printed (for a console example, the whole session)."""


# ------------------------------------------------------------------ collecting


@dataclass
class _Block:
    lang: str
    words: list[str]
    line: int
    code: str
    heading: str
    adjacent: bool
    """Only blank lines separate it from the block before."""


def collect(path: str | Path) -> list[Example]:
    """The examples of the Markdown file ``path``, in order, each with a unique name.

    Raises :class:`~amigos.errors.UsageError` if the file cannot be read, or if an
    ```` ```output ```` block follows no python example.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    examples: list[Example] = []
    files: dict[str, str] = {}
    counts: dict[str, int] = {}
    previous: Example | None = None
    for block in _blocks(text.splitlines()):
        if block.lang == OUTPUT:
            if not block.adjacent or previous is None or previous.lang != EXECUTED or previous.output is not None:
                raise UsageError(f"{_display(path)}:{block.line}: an output block must follow a python example")
            examples[-1] = previous = replace(previous, output=block.code, output_line=block.line)
            continue
        previous = None
        if not _is_example(block):
            continue
        base = _name(block.heading)
        counts[base] = counts.get(base, 0) + 1
        name = base if counts[base] == 1 else f"{base}_{counts[base]}"
        filename = block.words[1] if block.lang == CHECKED and len(block.words) > 1 else ""
        example = Example(path, name, block.lang, block.line, block.code, filename=filename,
                          files=dict(files) if block.lang == SHELL else {},
                          in_session=block.lang != CHECKED and SESSION_FLAG in block.words[1:])
        if filename:
            files[filename] = block.code
        examples.append(example)
        previous = example
    return examples


def _blocks(lines: list[str]) -> list[_Block]:
    """The fenced blocks of a Markdown text, with the heading each sits under."""
    blocks: list[_Block] = []
    heading = ""
    adjacent = False  # only blank lines since the end of the last block
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            title = _HEADING.match(lines[i])
            if title is not None:
                heading = title.group("title")
            adjacent = adjacent and not lines[i].strip()
            i += 1
            continue
        fence, words, start = opening.group("fence"), opening.group("info").split(), i
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body: list[str] = []
        i += 1
        while i < len(lines) and not closing.match(lines[i]):
            body.append(lines[i])
            i += 1
        lang = words[0].lower() if words else ""
        code = "\n".join(body) + "\n" if body else ""
        blocks.append(_Block(lang, words, start + 1, code, heading, adjacent))
        i += 1  # the closing fence
        adjacent = True
    return blocks


def _is_example(block: _Block) -> bool:
    if block.lang == SHELL:
        return bool({SHELL_RUN_FLAG, SESSION_FLAG} & set(block.words[1:]))
    return block.lang in (EXECUTED, CHECKED)


def _name(heading: str) -> str:
    """``"A counter"`` -> ``"A_counter"``: words joined by underscores, other punctuation dropped."""
    name = re.sub("_+", "_", _NAME_CHARACTERS.sub("", "_".join(heading.split())))
    return name.strip("_.-") or "Example"


def _display(path: Path) -> str:
    """``path`` relative to the working directory when it is under it, for short messages."""
    try:
        return path.resolve().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


def select(examples: list[Example], name: str) -> Example:
    """The example called ``name``; a :class:`~amigos.errors.UsageError` listing the names
    there are if none is."""
    for example in examples:
        if example.name == name:
            return example
    if not examples:
        raise UsageError(f"no example {name!r}: the document has no examples")
    where = _display(examples[0].file)
    listed = "\n".join(f"  {e.name}  ({e.lang}, line {e.line})" for e in examples)
    raise UsageError(f"no example {name!r} in {where}; its examples are:\n{listed}")


def run(target: str) -> list[ExampleResult]:
    """Run ``FILE.md#Example_Name`` (one example) or ``FILE.md`` (all of them)."""
    file, _, name = target.partition("#")
    examples = [e for e in collect(file) if not e.in_session]
    chosen = [select(examples, name)] if name else examples
    return [run_example(example) for example in chosen]


# ------------------------------------------------------------------ running


def run_example(example: Example) -> ExampleResult:
    """Run one example and check it; never raises for what the example does."""
    if example.lang == EXECUTED:
        return _run_python(example)
    if example.lang == CHECKED:
        return _check_service(example)
    if example.lang == SHELL:
        return _run_console(example)
    raise UsageError(f"{example.where}: {example.lang!r} blocks are not examples")


def _failure(example: Example, line: int, problem: str, output: str = "") -> ExampleResult:
    return ExampleResult(example, False, f"{_display(example.file)}:{line}: {example.name}: {problem}", output)


def _run_python(example: Example) -> ExampleResult:
    # Pad with blank lines so that line numbers in tracebacks are lines of the Markdown file.
    source = "\n" * example.line + example.code
    printed = io.StringIO()
    try:
        code = compile(source, str(example.file), "exec")
        with contextlib.redirect_stdout(printed):
            exec(code, {"__name__": "__doc_example__"})  # noqa: S102 - running the example is the point
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of the example is reported, with where
        return _failure(example, _failing_line(exc, example), _describe(exc, example), printed.getvalue())
    if example.output is not None and not _matches(example.output, printed.getvalue()):
        problem = (f"what it printed differs from the output block at line {example.output_line}:\n"
                   + _diff(example.output, printed.getvalue()))
        return _failure(example, example.line, problem, printed.getvalue())
    return ExampleResult(example, True, output=printed.getvalue())


def _failing_line(exc: BaseException, example: Example) -> int:
    """The line of the Markdown file where ``exc`` was raised, or the opening fence."""
    if isinstance(exc, SyntaxError) and exc.filename == str(example.file) and exc.lineno:
        return exc.lineno
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__)
             if frame.filename == str(example.file) and frame.lineno]
    return lines[-1] if lines else example.line


def _describe(exc: BaseException, example: Example) -> str:
    """For a failed assert, the assert statement itself; else the exception and its traceback
    within the example."""
    statement = _statement_at(example, _failing_line(exc, example)) if isinstance(exc, AssertionError) else ""
    if statement:
        return f"assertion failed: {statement}" + (f" ({exc})" if str(exc) else "")
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(example.file)]
    trace = "".join(traceback.format_list(frames))
    return f"{type(exc).__name__}: {exc}" + (f"\n{trace}" if trace else "")


def _statement_at(example: Example, line: int) -> str:
    """The source of the assert statement at ``line`` of the Markdown file (it may span lines)."""
    source = "\n" * example.line + example.code
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assert) and node.lineno == line:
            return ast.get_source_segment(source, node) or ""
    return ""


def _check_service(example: Example) -> ExampleResult:
    from .vm import compile_service

    try:
        compile_service("hub.amigos.dev/docs/example", example.code)
    except DeployError as exc:
        line = example.line + exc.line if exc.line else example.line
        return _failure(example, line, f"the service is rejected: {exc}")
    return ExampleResult(example, True)


# ------------------------------------------------------------------ output


def _matches(expected: str, got: str) -> bool:
    """Whether ``got`` reads as ``expected``, line by line: ``…`` within a line stands for any
    text, and a line that is just ``…`` for any number of lines. Trailing blanks and blank lines
    do not count."""
    pattern = "".join(_line_pattern(line) for line in _lines(expected))
    return re.fullmatch(pattern, "".join(line + "\n" for line in _lines(got))) is not None


def _line_pattern(line: str) -> str:
    if line == WILDCARD:
        return r"(?:[^\n]*\n)*?"
    return "[^\n]*".join(map(re.escape, line.split(WILDCARD))) + "\n"


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _diff(expected: str, got: str) -> str:
    """A unified diff of expected and got output; a got line that its expected line's wildcards
    match is shown as the expected line, so that only real differences stand out."""
    want, have = _lines(expected), _lines(got)
    shown = [w if re.fullmatch(_line_pattern(w), h + "\n") else h for w, h in zip(want + [""] * len(have), have)]
    return "\n".join(unified_diff(want, shown, "expected", "got", lineterm=""))


# ------------------------------------------------------------------ console


@dataclass(frozen=True)
class _Command:
    text: str
    line: int
    expected: str


def _commands(example: Example) -> list[_Command]:
    """The ``$ `` commands of a console block, each with the output lines below it."""
    commands: list[_Command] = []
    lines = example.code.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith(_PROMPT):
            i += 1
            continue
        start, text = i, lines[i][len(_PROMPT):]
        while text.endswith("\\") and i + 1 < len(lines):  # a command continued on the next line
            i += 1
            text = text[:-1] + lines[i]
        i += 1
        output: list[str] = []
        while i < len(lines) and not lines[i].startswith(_PROMPT):
            output.append(lines[i])
            i += 1
        commands.append(_Command(text, example.line + 1 + start, "\n".join(output)))
    return commands


def _run_console(example: Example) -> ExampleResult:
    return _run_commands(example, _commands(example), example.files, {}, CONSOLE_TIMEOUT)


def run_session(examples: list[Example], *, env: dict[str, str] | None = None,
                timeout: float = 5 * CONSOLE_TIMEOUT) -> ExampleResult:
    """Run ``examples`` in order as one shell session in one folder: console commands as
    written, python blocks with ``python`` (their output checked against their output block),
    service blocks written as their files first. This is how a tutorial runs: later steps
    see the files, keys and settings the earlier ones made. ``env`` adds variables (such as
    the address of a node the session talks to). The result names the first failing step."""
    if not examples:
        raise UsageError("a session needs at least one example")
    commands: list[_Command] = []
    files: dict[str, str] = {}
    for example in examples:
        if example.lang == SHELL:
            commands.extend(_commands(example))
        elif example.lang == EXECUTED:
            end = f"AMIGOS_EXAMPLE_{uuid.uuid4().hex}"
            commands.append(_Command(f"python - <<'{end}'\n{example.code}{end}", example.line + 1,
                                     (example.output or "").rstrip("\n")))
        elif example.filename:
            files[example.filename] = example.code
    return _run_commands(examples[0], commands, files, env or {}, timeout)


def _run_commands(example: Example, commands: list[_Command], files: dict[str, str], env: dict[str, str],
                  timeout: float) -> ExampleResult:
    if not commands:
        return _failure(example, example.line, "a console example needs at least one '$ command' line")
    with tempfile.TemporaryDirectory(prefix="amigos-docrun-") as folder:
        root = Path(folder)
        work = root / "work"
        work.mkdir()
        for name, source in files.items():
            target = (work / name).resolve()
            if work.resolve() not in target.parents:
                return _failure(example, example.line, f"the file name {name!r} leaves the example's folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source, encoding="utf-8")
        marker = f"@@docrun-{uuid.uuid4().hex}@@"
        try:
            transcript = _session(commands, work, {**_isolated_env(root), **env}, marker, timeout)
        except subprocess.TimeoutExpired:
            return _failure(example, example.line, f"timed out after {timeout:g} s (a command that runs "
                                                   "until stopped, like a server, cannot be an example)")
    results = _split(transcript, marker)
    session = "".join(f"$ {c.text}\n{out}" for c, (out, _) in zip(commands, results))
    for index, command in enumerate(commands):
        output, status = results[index] if index < len(results) else ("", None)
        shows_status = index + 1 < len(commands) and commands[index + 1].text.strip() == "echo $?"
        if status is None:
            return _failure(example, command.line, f"the session ended in or before `{command.text}`", session)
        if status != 0 and not shows_status:
            return _failure(example, command.line, f"`{command.text}` exited with status {status} "
                                                   f"(show it with `$ echo $?` if that is expected):\n{output}",
                            session)
        if not _matches(command.expected, output):
            return _failure(example, command.line, f"`{command.text}` printed something else:\n"
                                                   + _diff(command.expected, output), session)
    return ExampleResult(example, True, output=session)


def _session(commands: list[_Command], work: Path, env: dict[str, str], marker: str, timeout: float) -> str:
    """Run the commands in one bash, printing ``marker STATUS`` after each, and return all it
    printed. The status is put back (``(exit $status)``) so that ``echo $?`` sees the command's."""
    script = ["status=0"]
    for command in commands:
        script.append(f"(exit $status); {command.text}\nstatus=$?; printf '\\n%s %s\\n' {marker} \"$status\"")
    process = subprocess.Popen(["bash", "--noprofile", "--norc", "-c", "\n".join(script)], cwd=work, env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=timeout)
    finally:
        # The whole session goes, with anything it left running in the background.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
    return out


def _split(transcript: str, marker: str) -> list[tuple[str, int]]:
    """``[(output, status), ...]`` per command, from the markers in the transcript."""
    results = []
    pattern = re.compile(rf"\n{re.escape(marker)} (\d+)\n")
    position = 0
    for found in pattern.finditer(transcript):
        results.append((transcript[position:found.start()], int(found.group(1))))
        position = found.end()
    return results


def _isolated_env(root: Path) -> dict[str, str]:
    """An environment where `amigos` is this Amigos and nothing of the user's is in reach:
    its own HOME, state, config and keyring, no colours."""
    home = root / "home"
    bin_dir = root / "bin"
    for folder in (home, bin_dir):
        folder.mkdir()
    launcher = bin_dir / "amigos"
    launcher.write_text(
        "#!/bin/sh\n"
        f"exec {shlex.quote(sys.executable)} -c 'import sys; from amigos.cli import main; sys.exit(main())' \"$@\"\n",
        encoding="utf-8",
    )
    launcher.chmod(0o755)
    python = bin_dir / "python"  # `python` is the one running Amigos (a launcher keeps its venv)
    python.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} \"$@\"\n", encoding="utf-8")
    python.chmod(0o755)
    source_root = str(Path(__file__).resolve().parent.parent)
    return {
        "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", os.defpath)]),
        "PYTHONPATH": source_root,
        "HOME": str(home),
        "AMIGOS_CONFIG": str(home / ".config" / "amigos"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        "PYTHONUNBUFFERED": "1",  # stdout and stderr interleave in the order they were written
        "NO_COLOR": "1",
        "TERM": "dumb",
        "COLUMNS": "100",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }
