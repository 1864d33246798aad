"""The ``amigos`` command: one module per group of subcommands.

Each module in :data:`GROUPS` has a ``register(commands)`` function that adds its subcommands
with :meth:`Commands.add`, naming a handler ``handler(ctx) -> exit status``. A new group (say
``init``, ``test`` or ``run``) is a new module with a ``register`` function, added to
:data:`GROUPS`; its help, the shared options, ``--json``, error lines and shell completion
come with it.

Exit status: 0 done, 1 failed (a failed call or deploy, an unreachable node, a log that does not
verify, a keystore problem), 2 usage (bad arguments, options or files), 130 interrupted.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Callable, Sequence

from .. import __version__
from ..errors import (
    AmigosError,
    DeployError,
    ExecutionError,
    ForkDetected,
    NodeError,
    TransactionRefused,
    UsageError,
)
from ..keystore import WrongPassphrase
from .context import Context
from .output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, Output

Handler = Callable[[Context], int]

SHARED = {
    "home": (("--home",), {"metavar": "DIR", "help": "work on the local home DIR (default: $AMIGOS_HOME or ~/.amigos)"}),
    "node": (("--node",), {"metavar": "URL", "help": "work on the node at URL (default: $AMIGOS_NODE or `amigos config set node`)"}),
    "signer": (("--as",), {"metavar": "NAME", "help": "act as account NAME (default: `amigos account use`; locally any name, or dev)"}),
}
"""Options that go before or after the subcommand; each command says which it takes."""

FLAGS = {
    "json": (("--json",), {"action": "store_true", "help": "print JSON for scripts instead of text"}),
    "debug": (("--debug",), {"action": "store_true", "help": "show a traceback on errors"}),
}
"""Flags every command takes."""


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line and the subcommand's help pointed at."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} — see `{self.prog} --help`\n")


@dataclass
class Commands:
    """Where the groups register their subcommands."""

    subparsers: Any

    def add(self, name: str, summary: str, handler: Handler | None, *, takes: Sequence[str] = (),
            description: str | None = None, epilog: str | None = None,
            helps: dict[str, str] | None = None) -> argparse.ArgumentParser:
        """A subcommand ``name``; ``takes`` lists the shared options it understands
        (``home``, ``node``, ``signer``), ``helps`` what they mean for it if that differs.
        ``handler`` None: it has subcommands of its own."""
        parser = self.subparsers.add_parser(name, help=summary, description=description or summary, epilog=epilog,
                                            formatter_class=argparse.RawDescriptionHelpFormatter)
        for dest in takes:
            flags, options = SHARED[dest]
            options = {**options, "help": (helps or {}).get(dest, options["help"])}
            parser.add_argument(*flags, dest=dest, default=argparse.SUPPRESS, **options)
        for dest, (flags, options) in FLAGS.items():
            parser.add_argument(*flags, dest=dest, default=argparse.SUPPRESS, **options)
        parser.set_defaults(handler=handler, takes=frozenset(takes), command_parser=parser)
        return parser

    def group(self, name: str, summary: str, *, description: str | None = None) -> Commands:
        """A subcommand with subcommands of its own (``amigos account new``)."""
        parser = self.add(name, summary, None, description=description)
        sub = parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND", parser_class=Parser)
        sub.required = True
        return Commands(sub)


GROUPS = ("services", "logs", "accounts", "wallet", "session", "recovery", "authoring", "node", "dev", "completion")
"""The modules of this package whose ``register`` adds subcommands, in ``--help`` order."""


def build_parser() -> Parser:
    parser = Parser(
        prog="amigos",
        description="Deploy, call and inspect Amigos services, in a local home or on a node.",
        epilog="Arguments parse as JSON when they can (42, true, [1,2], {\"a\": 1}), else as strings.\n"
               "`amigos COMMAND --help` tells more; `amigos completion bash|zsh|fish` completes commands.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"amigos {__version__}")
    for dest, (flags, options) in {**SHARED, **FLAGS}.items():
        parser.add_argument(*flags, dest=dest, default=None if dest in SHARED else False, **options)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    commands = Commands(sub)
    for name in GROUPS:
        import_module(f"{__name__}.{name}").register(commands)
    return parser


def check_shared_options(args: argparse.Namespace) -> None:
    """``amigos --node URL account list``: refuse a shared option the command would ignore."""
    for dest, (flags, _) in SHARED.items():
        if getattr(args, dest, None) is not None and dest not in args.takes:
            raise UsageError(f"`amigos {args.command}` does not take {flags[0]}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Output(bool(args.json))
    try:
        check_shared_options(args)
        return int(args.handler(Context(args, out)))
    except KeyboardInterrupt:
        out.note("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        return report(exc, out)


def report(exc: Exception, out: Output) -> int:
    """One line for what went wrong (and what to try); the exit status it means."""
    if isinstance(exc, UsageError):
        out.error(str(exc), type="UsageError")
        return EXIT_USAGE
    if isinstance(exc, DeployError):
        where = f"line {exc.line}: " if exc.line is not None else ""
        out.error(f"deploy failed: {where}{exc.message} [{exc.rule}]", type="DeployError", line=exc.line, rule=exc.rule)
        return EXIT_FAILED
    if isinstance(exc, ExecutionError):
        out.error(describe_error(exc), type=exc.type, line=exc.line)
        return EXIT_FAILED
    if isinstance(exc, WrongPassphrase):
        out.error(str(exc), "check AMIGOS_PASSPHRASE or type it again", type="WrongPassphrase")
        return EXIT_FAILED
    if isinstance(exc, TransactionRefused):
        hint = "another client may have used the same key: try again" if exc.code == "bad-nonce" else None
        out.error(f"the node refused the transaction: {exc.message} [{exc.code}]", hint, type="TransactionRefused", code=exc.code)
        return EXIT_FAILED
    if isinstance(exc, ForkDetected):
        out.error(f"the node contradicts what it signed before: {exc}",
                  "if you reset that node on purpose, run `amigos config forget-node URL`", type="ForkDetected")
        return EXIT_FAILED
    if isinstance(exc, NodeError):
        hint = "is it running? `amigos dev` starts one" if exc.status == 0 else None
        out.error(str(exc), hint, type="NodeError", code=exc.code)
        return EXIT_FAILED
    if isinstance(exc, AmigosError):
        out.error(str(exc), type=type(exc).__name__)
        return EXIT_FAILED
    if isinstance(exc, OSError):
        out.error(f"{exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}", type="OSError")
        return EXIT_FAILED
    out.error(f"unexpected {type(exc).__name__}: {exc}", "this is a bug: run again with --debug and report the traceback",
              type=type(exc).__name__)
    return EXIT_FAILED


def describe_error(error: ExecutionError) -> str:
    where = f" (line {error.line})" if error.line is not None else ""
    return f"{error.type}: {error.message}{where}"


__all__ = ["Commands", "GROUPS", "build_parser", "main"]
