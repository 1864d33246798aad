"""Where a service's state lives in the key-value store.

All keys of one service share its path, so a whole service can be listed by prefix::

    c/<path>                         source code
    i/<path>                         service record (owner, version, code hash, exports, deps)
    g/<path>\\0<name>                 one persisted global
    m/<path>\\0<map id><Map key>      one std.Map entry (map id as a varint, key order-preserving)
    n/<path>\\0<map id>               number of entries in one std.Map
    q/<path>                         next std.Map id of the service
    o/<namespace>                    owner of a namespace
    a/b/<address>                    AMI balance of an account or a service (amigos.accounts
                                     keeps the rest of its layout under a/)
    r/height, r/time                 the runtime's block height and time
"""

from __future__ import annotations

import hashlib

from ..codec import encode_varint
from ..crypto.address import ADDRESS_SIZE, format_address

SERVICE_ADDRESS_DOMAIN = b"amigos/service\x00"


def code(path: str) -> bytes:
    return b"c/" + path.encode()


def record(path: str) -> bytes:
    return b"i/" + path.encode()


def globals_prefix(path: str) -> bytes:
    return b"g/" + path.encode() + b"\x00"


def global_(path: str, name: str) -> bytes:
    return globals_prefix(path) + name.encode()


def map_entries(path: str, map_id: int) -> bytes:
    return b"m/" + path.encode() + b"\x00" + encode_varint(map_id)


def map_count(path: str, map_id: int) -> bytes:
    return b"n/" + path.encode() + b"\x00" + encode_varint(map_id)


def map_sequence(path: str) -> bytes:
    return b"q/" + path.encode()


def namespace_owner(namespace: str) -> bytes:
    return b"o/" + namespace.encode()


MAX_AMOUNT = 2**64 - 1
"""The most AMI (in base units) a balance or a transfer holds: an unsigned 64-bit integer."""


BALANCE_PREFIX = b"a/b/"


def balance(holder: str) -> bytes:
    return BALANCE_PREFIX + holder.encode()


SERVICE_WRITABLE = (b"g/", b"m/", b"n/", b"q/", BALANCE_PREFIX)
"""What service code can change: globals, Maps, and (std.send) balances. Code, service
records, namespace owners, the ledger's and the accounts' keys are written by the host only."""
SERVICE_READABLE = (b"c/", *SERVICE_WRITABLE)
"""What running service code reads: the code of the services it loads, and what it can change.
A sandbox worker reads nothing else, so only changes to these keys can leave its cache stale."""


def service_address(path: str) -> str:
    """The address of the service at ``path``, which holds its AMI: a hash of the
    domain-separated path, so no key signs for it and no account collides with it."""
    return format_address(hashlib.sha256(SERVICE_ADDRESS_DOMAIN + path.encode()).digest()[:ADDRESS_SIZE])


def service_holding(key: bytes) -> str | None:
    """The service whose code or globals ``key`` stores (what a loaded service holds), else None."""
    if key[:2] not in (b"c/", b"g/"):
        return None
    return key[2:].split(b"\x00", 1)[0].decode("utf-8", "surrogatepass")


HEIGHT = b"r/height"
TIME = b"r/time"
SERVICES_PREFIX = b"i/"
