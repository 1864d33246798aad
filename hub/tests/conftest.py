"""Fixtures shared by the tests of the example services."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from amigos.testing import DeployFile

HUB = "hub.amigos.dev/amigos"
"""Where `amigos dev` deploys the services of hub/, so their imports read `from hub.amigos import …`."""


@pytest.fixture
def hub(deploy_file: DeployFile) -> Callable[[str], str]:
    """``hub("names")`` deploys hub/names.py where `amigos dev` puts it and returns its path.
    Deploy a service's imports first, as `amigos dev` does."""

    def deploy(stem: str) -> str:
        return deploy_file(f"{HUB}/{stem}", f"../{stem}.py")

    return deploy
