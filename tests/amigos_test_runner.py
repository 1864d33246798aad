"""Run `amigos test` (amigos.testing.run_tests) in a folder, in a fresh interpreter: a pytest run
nested in this one would share its imported modules and plugins.

Other installed pytest plugins are not autoloaded (they take seconds to import and are not what
is tested) unless ``env`` turns autoload back on with ``PYTEST_DISABLE_PLUGIN_AUTOLOAD=""``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import amigos

SRC = Path(amigos.__file__).resolve().parent.parent


def run_amigos_test(folder: Path, files: list[str] | None = None, *, env: dict[str, str] | None = None,
                    python_path: list[Path] | None = None) -> subprocess.CompletedProcess[str]:
    code = ("import sys; from amigos.testing import run_tests; "
            f"sys.exit(run_tests({files or []!r}, ['-p', 'no:cacheprovider']))")
    paths = [str(SRC), *(str(p) for p in python_path or [])]
    full_env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTEST_ADDOPTS": "",
                "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **(env or {})}
    return subprocess.run([sys.executable, "-c", code], cwd=folder, env=full_env, capture_output=True,
                          text=True, timeout=120, check=False)
