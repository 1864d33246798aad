"""Run every example of README.md and docs/*.md, so that no example can rot.

The conventions (which blocks run, how an example states its output, how examples are named)
are amigos.docrun's, documented in docs/docs.md. A failure is named and located like
``docs/services.md#Reentrancy`` and ``docs/services.md:612``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from amigos.docrun import Example, collect, run_example

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLES = [
    pytest.param(example, id=f"{path.relative_to(ROOT).as_posix()}#{example.name}")
    for path in DOCUMENTS if path.is_file()
    for example in collect(path) if not example.in_session  # sessions: tests/test_tutorial.py
]


@pytest.mark.parametrize("example", EXAMPLES)
def test_example(example: Example) -> None:
    result = run_example(example)
    if not result.ok:
        pytest.fail(result.message, pytrace=False)


def test_examples_were_found() -> None:
    """Guard against a parser or a fence that silently skips a whole document."""
    languages = {(e.file.name, e.lang) for e in (p.values[0] for p in EXAMPLES)}
    count = sum(1 for p in EXAMPLES if p.values[0].file.name == "services.md" and p.values[0].lang == "python")
    assert count >= 20
    assert {("docs.md", "python"), ("docs.md", "service"), ("docs.md", "console")} <= languages
