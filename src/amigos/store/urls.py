"""Store URLs without their secrets: what error messages and logs may show."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit


def redact(url: str) -> str:
    """``url`` with its password (in the user part or a ``password=`` parameter) as ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return re.sub(r"(?i)(password\s*=\s*)\S+", r"\1***", url)
    netloc, tail = re.match(r"([^/?#]*)(.*)", rest, re.S).groups()  # type: ignore[union-attr]
    if "@" in netloc:
        userinfo, _, hosts = netloc.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{hosts}"
    tail = re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", tail)
    return f"{scheme}{sep}{netloc}{tail}"


MIN_SCRUBBED = 4
"""Shorter passwords are not scrubbed from free text (a one-letter password would mangle every
word holding that letter); :func:`redact_in` still removes them wherever they stand as one."""


def redact_in(text: str, secrets: list[str]) -> str:
    """``text`` (a driver's message) with every URL in it redacted, every ``password=…`` value
    hidden, and then ``secrets`` (from :func:`secrets_in`) of MIN_SCRUBBED characters or more."""
    text = re.sub(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+", lambda m: redact(m.group(0)), text)
    text = re.sub(r"(?i)(password\s*=\s*)(?!\*\*\*)[^\s'\"&]+", r"\1***", text)
    for secret in secrets:
        if len(secret) >= MIN_SCRUBBED:
            text = text.replace(secret, "***")
    return text


def secrets_in(url: str) -> list[str]:
    """The password in ``url`` as written and decoded, longest first, to scrub from messages."""
    found: set[str] = set()
    try:
        parts = urlsplit(url)
        if parts.password:
            found.update({parts.password, unquote(parts.password)})
        for name, value in parse_qsl(parts.query, keep_blank_values=False):
            if name.lower() == "password" and value:
                found.update({value, unquote(value)})
    except ValueError:
        pass
    _, sep, rest = url.partition("://")
    userinfo = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[0] if sep else ""
    if ":" in userinfo:
        raw = userinfo.split(":", 1)[1]
        found.update({raw, unquote(raw)})
    return sorted((s for s in found if s), key=len, reverse=True)
