"""Writing services: ``amigos init NAME`` scaffolds one, ``amigos test`` runs its tests, and
``amigos run FILE.md[#Example]`` runs the examples of a Markdown document and checks their
output (how examples are written: docs/docs.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import Commands
from .context import Context
from .output import EXIT_FAILED, EXIT_OK


def register(commands: Commands) -> None:
    p = commands.add("init", "write a new service and its tests", init,
                     epilog="Example: amigos init greeter && amigos test test_greeter.py")
    p.add_argument("name", help="the service's name: a lower-case identifier (its file is NAME.py)")
    p.add_argument("--dir", type=Path, default=Path("."), help="folder to write into (default: here)")

    p = commands.add("test", "run service tests (pytest with the amigos.testing fixtures)", test,
                     epilog="Options after -- go to pytest, e.g. amigos test test_greeter.py -- -k hello -x")
    p.add_argument("files", nargs="*", help="test files or folders (default: the test_*.py files under here)")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    p = commands.add("run", "run the examples of a Markdown file and check their output", run,
                     epilog="Examples: amigos run docs/services.md   amigos run 'README.md#Five_minutes_with_a_service'")
    p.add_argument("target", help="FILE.md (every example) or FILE.md#Example_Name (one)")


def init(ctx: Context) -> int:
    from ..scaffold import write_service

    written = write_service(ctx.args.name, ctx.args.dir)
    if ctx.out.json:
        ctx.out.data({"ok": True, "files": [str(f) for f in written]})
        return EXIT_OK
    for file in written:
        ctx.out.line(f"wrote {ctx.out.paint(str(file), 'bold')}")
    ctx.out.note(f"next: amigos test {written[1]}   then deploy it with amigos deploy PATH {written[0]}")
    return EXIT_OK


def test(ctx: Context) -> int:
    import pytest

    from ..testing import run_tests

    # This process imported amigos before pytest started, so pytest cannot rewrite its asserts:
    # that is expected, not worth a warning in every run.
    extra = ["-W", "ignore::pytest.PytestAssertRewriteWarning", *(a for a in ctx.args.pytest_args if a != "--")]
    status = run_tests(ctx.args.files, extra)
    if status == pytest.ExitCode.NO_TESTS_COLLECTED:
        ctx.out.error("no tests found", "tests are test_*.py files with test_* functions; `amigos init NAME` writes one")
        return EXIT_FAILED
    return EXIT_OK if status == 0 else EXIT_FAILED


def run(ctx: Context) -> int:
    from ..docrun import run as run_examples

    results = run_examples(ctx.args.target)
    failed = [r for r in results if not r.ok]
    if ctx.out.json:
        ctx.out.data({"ok": not failed, "examples": [
            {"name": r.example.name, "line": r.example.line, "ok": r.ok, "message": r.message} for r in results]})
    else:
        for r in results:
            mark = ctx.out.paint("ok  ", "green") if r.ok else ctx.out.paint("FAIL", "red")
            ctx.out.line(f"{mark} {r.example.name} (line {r.example.line})")
            if not r.ok:
                ctx.out.line("     " + r.message.replace("\n", "\n     "))
        ctx.out.note(f"{len(results) - len(failed)} of {len(results)} examples ran as written")
    return EXIT_FAILED if failed else EXIT_OK
