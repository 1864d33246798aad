"""TEST-ONLY worker: runs raw, unchecked Python inside a confined process.

It exists so that tests can attack the process wall directly, as if the language wall had
already fallen. It lives under tests/ on purpose: no service, API or command can reach it and
the node never imports it. Do not move it into the package.

Usage: ``python tests/confined_worker.py LIMITS_JSON`` with requests on stdin and replies on
stdout, each a 4-byte big-endian length and that many bytes: a request is Python source, a
reply is JSON. The first reply, sent once confined, is ``{"ready": true}``. A snippet's reply is
``{"ok": true, "result": repr(result)}`` or ``{"ok": false, "type": ..., "errno": ...,
"message": ...}``. Every module a snippet may use is imported before confinement, since
nothing can be opened afterwards.
"""

from __future__ import annotations

import ctypes  # noqa: F401  (imported for snippets)
import json
import mmap  # noqa: F401
import os
import resource  # noqa: F401
import signal  # noqa: F401
import socket  # noqa: F401
import struct
import subprocess  # noqa: F401
import sys

from amigos.vm.confine import Limits, confine

IN, OUT = 0, 1


def _read_exact(n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = os.read(IN, n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _send(obj: object) -> None:
    data = json.dumps(obj).encode()
    frame = struct.pack(">I", len(data)) + data
    while frame:
        frame = frame[os.write(OUT, frame) :]


def main() -> None:
    limits = Limits(**json.loads(sys.argv[1]))
    confine({0, 1, 2}, limits)
    _send({"ready": True})
    while (header := _read_exact(4)) is not None:
        source = _read_exact(struct.unpack(">I", header)[0])
        if source is None:
            break
        namespace: dict[str, object] = {}
        try:
            exec(compile(source.decode(), "<snippet>", "exec"), namespace)
            _send({"ok": True, "result": repr(namespace.get("result"))})
        except BaseException as exc:  # report everything, including SystemExit
            _send(
                {
                    "ok": False,
                    "type": type(exc).__name__,
                    "errno": getattr(exc, "errno", None),
                    "message": str(exc)[:500],
                }
            )


if __name__ == "__main__":
    main()
