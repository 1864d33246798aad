"""TEST-ONLY: a keyring backend that keeps its passwords in the JSON file named by
``$AMIGOS_TEST_KEYRING``. Chosen with ``PYTHON_KEYRING_BACKEND=file_keyring.FileKeyring``, it
lets the tests take the keystore's OS-keyring path through the real ``keyring`` package on a
machine that has no OS keyring (no desktop session, no D-Bus)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class FileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    @staticmethod
    def _file() -> Path:
        return Path(os.environ["AMIGOS_TEST_KEYRING"])

    def _load(self) -> dict[str, str]:
        return json.loads(self._file().read_text()) if self._file().exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        saved = self._load()
        saved[f"{service}/{username}"] = password
        self._file().write_text(json.dumps(saved))

    def delete_password(self, service: str, username: str) -> None:
        saved = self._load()
        if saved.pop(f"{service}/{username}", None) is None:
            raise PasswordDeleteError(username)
        self._file().write_text(json.dumps(saved))
