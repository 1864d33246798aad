"""Run every code example in the documentation, so that no example can rot.

Markdown files are scanned for fenced code blocks:

* ```` ```python ```` blocks are executed, each on its own in a fresh namespace. They must be
  self-contained (build their own ``amigos.LocalRuntime()``) and state their outputs with
  ``assert``.
* ```` ```service ```` blocks show a service file on its own; they are run through the language
  checker (``compile_service``), so they cannot drift out of the language either.
* any other fence (``text``, ``console``…) is prose and is left alone.

Every example is named by the file and the Markdown heading above it, so a failure reads like
``docs/services.md::Reentrancy``.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

from amigos.vm import compile_service

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "docs" / "services.md", ROOT / "docs" / "protocol.md", ROOT / "docs" / "api.md",
             ROOT / "docs" / "sdk.md", ROOT / "README.md"]  # README.md is optional
EXECUTED = "python"
CHECKED = "service"

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)[^\n]*$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(?P<title>.+?)\s*#*\s*$")


@dataclass(frozen=True)
class Example:
    file: Path
    heading: str
    lang: str
    line: int
    """1-based line of the opening fence."""
    code: str

    @property
    def id(self) -> str:
        return f"{self.file.relative_to(ROOT).as_posix()}::{self.heading}"


def extract(path: Path) -> list[Example]:
    """The fenced code blocks of a Markdown file, each with the heading it sits under."""
    examples: list[Example] = []
    heading = "(no heading)"
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        opening = _FENCE.match(line)
        if opening is None:
            title = _HEADING.match(line)
            if title is not None:
                heading = title.group("title").strip("`")
            i += 1
            continue
        fence, lang, start = opening.group("fence"), opening.group("lang").lower(), i
        body: list[str] = []
        i += 1
        while i < len(lines) and not (lines[i].strip().startswith(fence) and set(lines[i].strip()) == {fence[0]}):
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        examples.append(Example(path, heading, lang, start + 1, "\n".join(body) + "\n"))
    return examples


def collect(lang: str) -> list:
    found = [e for path in DOC_FILES if path.is_file() for e in extract(path) if e.lang == lang]
    total: dict[str, int] = {}
    for example in found:
        total[example.id] = total.get(example.id, 0) + 1
    params, seen = [], {}
    for example in found:
        test_id = example.id
        if total[test_id] > 1:  # several blocks under one heading: number them
            seen[test_id] = seen.get(test_id, 0) + 1
            test_id = f"{test_id} ({seen[test_id]})"
        params.append(pytest.param(example, id=test_id))
    return params


PYTHON_EXAMPLES = collect(EXECUTED)
SERVICE_EXAMPLES = collect(CHECKED)


@pytest.mark.parametrize("example", PYTHON_EXAMPLES)
def test_python_example(example: Example) -> None:
    # Pad with blank lines so that traceback line numbers are line numbers of the Markdown file.
    source = "\n" * example.line + example.code
    failure = None
    try:
        exec(compile(source, str(example.file), "exec"), {"__name__": "__doc_example__"})  # noqa: S102
    except Exception as exc:  # noqa: BLE001 - reported below with the example's heading
        failure = "".join(traceback.format_exception(exc))
    if failure is not None:
        pytest.fail(f"example {example.id!r} (block at line {example.line}) failed:\n{failure}", pytrace=False)


@pytest.mark.parametrize("example", SERVICE_EXAMPLES)
def test_service_example_passes_the_checker(example: Example) -> None:
    failure = None
    try:
        compile_service("hub.amigos.dev/docs/example", example.code)
    except Exception as exc:  # noqa: BLE001
        failure = str(exc)
    if failure is not None:
        pytest.fail(f"service example {example.id!r} (line {example.line}) is rejected: {failure}", pytrace=False)


def test_examples_were_found() -> None:
    """Guard against a broken parser or fence silently skipping the whole document."""
    services_md = DOC_FILES[0]
    assert services_md.is_file(), "docs/services.md is missing"
    python_blocks = [e for e in extract(services_md) if e.lang == EXECUTED]
    assert len(python_blocks) >= 20
    assert all(e.heading != "(no heading)" for e in python_blocks), "every example needs a heading"


def test_extract_tracks_headings_and_fences(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Title\n\n## First\n\n```python\nx = 1\n# not a heading\n```\n\n"
        "### Second\n\n````text\n```python\nignored\n```\n````\n\n```service\ndef f():\n    pass\n```\n",
        encoding="utf-8",
    )
    blocks = [(e.heading, e.lang, e.code) for e in extract(doc)]
    assert blocks == [
        ("First", "python", "x = 1\n# not a heading\n"),
        ("Second", "text", "```python\nignored\n```\n"),
        ("Second", "service", "def f():\n    pass\n"),
    ]
