"""What the command prints: human text (coloured on a terminal unless NO_COLOR is set), or JSON
with ``--json``; errors as one line on stderr; progress bars on stderr."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

STYLES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}


def wants_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


class Output:
    """Human or JSON output. Results go to stdout; notes, events and errors to stderr, so
    ``$(amigos query …)`` captures the value alone."""

    def __init__(self, as_json: bool) -> None:
        self.json = as_json
        self.colour = wants_colour(sys.stdout)
        self.colour_err = wants_colour(sys.stderr)

    def paint(self, text: str, style: str, *, err: bool = False) -> str:
        if not (self.colour_err if err else self.colour):
            return text
        return f"\033[{STYLES[style]}m{text}\033[0m"

    def line(self, text: str = "") -> None:
        print(text, flush=True)

    def note(self, text: str, style: str = "dim") -> None:
        print(self.paint(text, style, err=True), file=sys.stderr, flush=True)

    def data(self, value: Any) -> None:
        print(json.dumps(value, indent=2, ensure_ascii=False), flush=True)

    def data_line(self, value: Any) -> None:
        """One JSON document per line, for streams (JSON Lines)."""
        print(json.dumps(value, ensure_ascii=False), flush=True)

    def error(self, message: str, hint: str | None = None, **fields: Any) -> None:
        """One line: what went wrong and where, then what to try."""
        if self.json:
            self.data({"ok": False, "error": {"message": message, "hint": hint, **fields}})
            return
        text = f"{self.paint('error:', 'red', err=True)} {message}"
        if hint:
            text += f" — {hint}"
        print(text, file=sys.stderr, flush=True)


class ProgressBar:
    """``[#####·····] 120/240 blocks`` redrawn in place on stderr; silent when stderr is not a
    terminal (logs and pipes get no carriage returns)."""

    WIDTH = 30

    def __init__(self, unit: str) -> None:
        self.unit = unit
        self.shown = sys.stderr.isatty()

    def __call__(self, done: int, total: int, label: str = "") -> None:
        if not self.shown:
            return
        filled = self.WIDTH * done // total if total else self.WIDTH
        text = f"\r[{'#' * filled}{'·' * (self.WIDTH - filled)}] {done}/{total} {self.unit} {label}"
        print(f"{text[:120]:<120}", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.shown:
            print(f"\r{'':<120}\r", end="", file=sys.stderr, flush=True)
