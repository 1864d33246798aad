"""Service paths: ``hub.amigos.dev/<namespace>/<name>[/<name>…]``.

Every segment after the domain is a lower-case identifier so that the path can be imported as
``from hub.<namespace> import <name>`` (deeper paths: ``from hub.<ns>.<sub> import <name>``).
"""

from __future__ import annotations

import re

from ..errors import UsageError

HUB_DOMAIN = "hub.amigos.dev"
_SEGMENT = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_SEGMENTS = 8


def validate_path(path: object) -> str:
    """Return ``path`` if it is a well-formed service path, else raise :class:`UsageError`."""
    if not isinstance(path, str):
        raise UsageError("a service path must be a string")
    parts = path.split("/")
    if parts[0] != HUB_DOMAIN or len(parts) < 3:
        raise UsageError(f"service path {path!r} must look like {HUB_DOMAIN}/<namespace>/<name>")
    if len(parts) > MAX_SEGMENTS + 1:
        raise UsageError(f"service path {path!r} has too many segments")
    for segment in parts[1:]:
        if not _SEGMENT.fullmatch(segment) or "__" in segment:
            raise UsageError(
                f"service path segment {segment!r} must be a lower-case identifier "
                "(letters, digits, single underscores; starting with a letter)"
            )
    return path


def namespace_of(path: str) -> str:
    return path.split("/")[1]


def import_to_path(module: str, name: str) -> str | None:
    """``("hub.alice", "counter")`` → ``"hub.amigos.dev/alice/counter"`` (None if not a hub import)."""
    parts = module.split(".")
    if parts[0] != "hub" or len(parts) < 2:
        return None
    path = "/".join([HUB_DOMAIN, *parts[1:], name])
    try:
        return validate_path(path)
    except UsageError:
        return None


def path_to_import(path: str) -> str:
    """``"hub.amigos.dev/alice/counter"`` → ``"from hub.alice import counter"``."""
    parts = path.split("/")[1:]
    return f"from hub.{'.'.join(parts[:-1])} import {parts[-1]}"
