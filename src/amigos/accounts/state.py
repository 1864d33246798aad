"""Where accounts live in the state store.

Account state sits in the same store as service state, so it commits with the block, rolls back
with a failed transaction, and is covered by the state hash and replayed by ``amigos verify``::

    a/b/<holder>                       AMI balance of an account or a service (its address),
                                       defined with the service keys (amigos.vm.keys): service
                                       code pays from it with std.send
    a/k/<address>                      AMI staked
    a/u/<address>\0<release time>      AMI unbonding, paid back at that block time (8-byte time)
    a/ut/<release time><address>       the same, ordered by time: what the next block releases
    a/m/<address>                      the master key, once it is no longer the address's own
    a/s/<address>\\0<public key>        a device session
    a/g/<address>                      guardians: who, how many must agree, the time lock
    a/gp/<address>                     a change of guardians waiting out the time lock
    a/r/<address>                      a social recovery in progress
    a/rk/<address>                     the recovery key and a takeover it announced
    a/w/<address>                      the webhook account events are posted to

Values are canonical encodings (``amigos.codec``) of plain lists and dicts, except the master
key (``a/m/``), which is the raw 32-byte public key.
"""

from __future__ import annotations

import struct
from typing import Any, Protocol

from .. import codec
from ..crypto.address import address_bytes, parse_address
from ..vm.keys import service_address  # noqa: F401 - accounts name services by address too

STAKE_PREFIX = b"a/k/"
UNBONDING_PREFIX = b"a/u/"
UNBONDING_QUEUE_PREFIX = b"a/ut/"
MASTER_PREFIX = b"a/m/"
SESSION_PREFIX = b"a/s/"
GUARDIANS_PREFIX = b"a/g/"
GUARDIANS_PENDING_PREFIX = b"a/gp/"
RECOVERY_PREFIX = b"a/r/"
RECOVERY_KEY_PREFIX = b"a/rk/"
WEBHOOK_PREFIX = b"a/w/"


class View(Protocol):
    """The state an account rule reads and writes: the runtime's :class:`StateView`."""

    def get(self, key: bytes) -> bytes | None: ...

    def apply(self, writes: dict[bytes, bytes | None]) -> None: ...

    def scan(self, prefix: bytes, start: bytes | None = None, limit: int | None = None) -> list[tuple[bytes, bytes]]: ...


def read(view: View, key: bytes) -> Any:
    raw = view.get(key)
    return None if raw is None else codec.decode(raw)


def write(view: View, key: bytes, value: Any) -> None:
    view.apply({key: None if value is None else codec.encode(value)})


def stake_key(address: str) -> bytes:
    return STAKE_PREFIX + address.encode()


def unbonding_prefix(address: str) -> bytes:
    return UNBONDING_PREFIX + address.encode() + b"\x00"


def unbonding_key(address: str, release_time: int) -> bytes:
    return unbonding_prefix(address) + struct.pack(">Q", release_time)


def unbonding_queue_key(release_time: int, address: str) -> bytes:
    return UNBONDING_QUEUE_PREFIX + struct.pack(">Q", release_time) + address.encode()


def split_unbonding_queue_key(key: bytes) -> tuple[int, str]:
    rest = key[len(UNBONDING_QUEUE_PREFIX):]
    return struct.unpack(">Q", rest[:8])[0], rest[8:].decode()


def master_key_key(address: str) -> bytes:
    return MASTER_PREFIX + address.encode()


def sessions_prefix(address: str) -> bytes:
    return SESSION_PREFIX + address.encode() + b"\x00"


def session_key(address: str, public_key: bytes) -> bytes:
    return sessions_prefix(address) + public_key


def guardians_key(address: str) -> bytes:
    return GUARDIANS_PREFIX + address.encode()


def guardians_pending_key(address: str) -> bytes:
    return GUARDIANS_PENDING_PREFIX + address.encode()


def recovery_key(address: str) -> bytes:
    return RECOVERY_PREFIX + address.encode()


def recovery_key_key(address: str) -> bytes:
    return RECOVERY_KEY_PREFIX + address.encode()


def webhook_key(address: str) -> bytes:
    return WEBHOOK_PREFIX + address.encode()


def is_master(view: View, address: str, public_key: bytes) -> bool:
    """Whether ``public_key`` is the account's master key now: the one a recovery recorded,
    else the key the address derives from."""
    recorded = view.get(master_key_key(address))
    if recorded is not None:
        return recorded == public_key
    return address_bytes(public_key) == parse_address(address)


def account_event(address: str, name: str, **attrs: Any) -> dict[str, Any]:
    """An event about account ``address``, in the shape of a service event: its ``service``
    is the address, so the event stream's filters find it."""
    return {"service": address, "name": name, "attrs": attrs}
