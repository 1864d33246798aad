"""Where the ``amigos`` command keeps the user's things, and how it finds them.

::

    CONFIG/                 $AMIGOS_CONFIG, else $XDG_CONFIG_HOME/amigos, else ~/.config/amigos (0700)
    CONFIG/config.json      saved defaults: {"node": URL, "account": NAME}
    CONFIG/accounts/        the keystore (amigos.keystore), one NAME.json per account
    CONFIG/nodes.json       per node URL: the node key pinned on first contact and the last
                            tree head checked (the SDK's state file)

Local state lives in a home folder: ``--home DIR``, else ``$AMIGOS_HOME``, else ``~/.amigos``.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..client import statefile
from ..crypto.keys import Account
from ..errors import UsageError
from ..keystore import Keystore, KeystoreError, make_private_folder, write_private_file

SETTINGS = ("node", "account")
"""What ``amigos config set`` can save."""


def config_folder() -> Path:
    override = os.environ.get("AMIGOS_CONFIG")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "amigos"


def default_home() -> Path:
    return Path(os.environ.get("AMIGOS_HOME") or Path.home() / ".amigos")


def check_node_url(url: str) -> str:
    if not url.startswith(("http://", "https://")) or len(url) < 10 or any(c.isspace() for c in url):
        raise UsageError(f"a node URL looks like http://127.0.0.1:8700, not {url!r}")
    return url.rstrip("/")


def read_json_object(file: Path) -> dict[str, Any]:
    """The JSON object in ``file`` ({} if there is no file); anything else is a clear error."""
    if not file.exists():
        return {}
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise KeystoreError(f"cannot read {file}: {exc} (fix or remove it)") from None
    if type(value) is not dict:
        raise KeystoreError(f"{file} does not hold a JSON object (fix or remove it)")
    return value


class Settings:
    """The user's config folder: saved defaults, the keystore, pinned node keys."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or config_folder()
        self.file = self.folder / "config.json"
        self.keystore = Keystore(self.folder / "accounts")
        self.nodes_file = self.folder / "nodes.json"

    def load(self) -> dict[str, Any]:
        saved = read_json_object(self.file)
        for key in SETTINGS:
            if type(saved.get(key, "")) is not str:
                raise KeystoreError(f"{self.file}: {key} is not a string (fix or remove it)")
        return saved

    def get(self, key: str) -> Any:
        return self.load().get(key)

    def set(self, key: str, value: str | None) -> None:
        if key not in SETTINGS:
            raise UsageError(f"unknown setting {key!r} (settings: {', '.join(SETTINGS)})")
        saved = self.load()
        if value is None:
            saved.pop(key, None)
        else:
            saved[key] = value
        make_private_folder(self.folder)
        write_private_file(self.file, (json.dumps(saved, indent=2) + "\n").encode(), replace=True)

    def pinned_key(self, url: str) -> str | None:
        """The node key (hex) pinned for ``url``, if any."""
        saved = statefile.pinned(self.nodes_file, url)
        return None if saved is None else saved[0].hex()

    def forget_node(self, url: str) -> bool:
        """Drop the key pinned for ``url`` (after the node was reset on purpose)."""
        return statefile.forget_pin(self.nodes_file, url)

    def unlock(self, name: str) -> Account:
        """The keystore account ``name``, able to sign; its passphrase (if it has one) read
        with :func:`read_passphrase`."""
        return self.keystore.unlock(name, lambda: read_passphrase(f"passphrase for {name}: "))

    def pinned_nodes_file(self) -> Path:
        """The SDK's state file, in a private folder (it says which nodes the user talks to)."""
        make_private_folder(self.folder)
        return self.nodes_file


def read_passphrase(prompt: str, *, confirm: bool = False) -> str:
    """``$AMIGOS_PASSPHRASE`` if set (scripts, tests), else asked on the terminal."""
    given = os.environ.get("AMIGOS_PASSPHRASE")
    if given is not None:
        return given
    if not sys.stdin.isatty():
        raise UsageError("a passphrase is needed and there is no terminal to ask it on: set AMIGOS_PASSPHRASE")
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("again: ") != first:
        raise UsageError("the two passphrases differ")
    return first
