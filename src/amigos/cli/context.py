"""What a command handler gets: the parsed arguments, the output, the user's settings, and an
SDK client (:func:`amigos.connect`) of the local home or the node chosen by the rules below.

Where a command works, first match wins:

1. ``--node URL`` or ``--home DIR`` (not both);
2. ``$AMIGOS_NODE`` or ``$AMIGOS_HOME`` (not both);
3. the saved default node (``amigos config set node URL``);
4. the per-user home ``~/.amigos``.

Who acts (``--as NAME``, else the saved default account ``amigos account use NAME``): against a
node, an account of the keystore (unlocked with its passphrase or the OS keyring) signs. In a
local home no key signs anything: an account of the keystore acts as its address, any other
NAME acts as itself (``--as alice``), and without either the signer is ``dev`` (as
``amigos.connect(home, account=…)`` does).

A device's session key (``amigos session pair``) is a keystore account that acts for another
account: it signs that account's transactions (``amigos.connect(url, account=key,
acting_for=address)``), and locally it acts as that account's address.

A node's home folder (``amigos serve``, ``amigos dev``) can be read locally while the node
runs, but not changed: state that no transaction of its log explains would break it.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..client import LOCAL_SIGNER, Client
from ..errors import UsageError
from ..keystore import StoredAccount
from ..node.node import KEY_FILE
from .output import Output
from .settings import Settings, check_node_url, default_home


@dataclass
class Context:
    args: argparse.Namespace
    out: Output
    settings: Settings = field(default_factory=Settings)

    def node_url(self) -> str | None:
        """The node to work on, or None for a local home (rules 1-3 above)."""
        node, home = getattr(self.args, "node", None), getattr(self.args, "home", None)
        if node is not None and home is not None:
            raise UsageError("give --node URL or --home DIR, not both")
        if node is not None:
            return check_node_url(node)
        if home is not None:
            return None
        env_node, env_home = os.environ.get("AMIGOS_NODE"), os.environ.get("AMIGOS_HOME")
        if env_node and env_home:
            raise UsageError("both AMIGOS_NODE and AMIGOS_HOME are set: unset one (or pass --node or --home)")
        if env_node:
            return check_node_url(env_node)
        if env_home:
            return None
        saved = self.settings.get("node")
        return check_node_url(saved) if saved else None

    def home(self) -> Path:
        home = getattr(self.args, "home", None)
        return Path(home) if home is not None else default_home()

    def account_name(self) -> str | None:
        name = getattr(self.args, "signer", None)
        return name if name is not None else self.settings.get("account")

    def client(self, *, signs: bool = False, acting_for: str | None = None) -> Client:
        """The SDK's client of the local home or the node this command works on; ``signs``: it
        sends transactions (against a node, the account's key is unlocked for them) for the
        account the key acts for, or for ``acting_for`` (a recovery key's account)."""
        import amigos

        url = self.node_url()
        if url is None:
            home = self.home()
            if signs and is_node_home(home):
                raise UsageError(f"{home} is a node's home: change it through the node (--node URL); "
                                 "reading it locally is fine")
            return amigos.connect(home, account=self.local_signer())
        if not signs:
            return amigos.connect(url, state_file=self.settings.pinned_nodes_file())
        stored = self.stored()
        return amigos.connect(url, account=self.settings.unlock(stored.name), acting_for=acting_for or stored.acting_for,
                              state_file=self.settings.pinned_nodes_file())

    def stored(self) -> StoredAccount:
        """The chosen account's keystore entry (what it shows in the clear)."""
        name = self.account_name()
        if name is None:
            raise UsageError("no account chosen: make one with `amigos account new NAME`, "
                             "then pass --as NAME or run `amigos account use NAME`")
        stored = self.settings.keystore.find(name)
        if stored is None:
            raise UsageError(f"no account {name!r} in the keystore ({self.settings.keystore.folder}): "
                             "`amigos account list` shows them, `amigos account new NAME` makes one")
        return stored

    def acting_address(self) -> str:
        """The account this command acts for: locally the signer's name or address, on a node
        the chosen keystore account's (for a session key, the account it acts for)."""
        if self.node_url() is None:
            return self.local_signer()
        return self.stored().acts_as

    def local_signer(self) -> str:
        name = self.account_name()
        if name is None:
            return LOCAL_SIGNER
        stored = self.settings.keystore.find(name)
        return name if stored is None else stored.acts_as


def is_node_home(home: Path) -> bool:
    return (home / KEY_FILE).exists()
