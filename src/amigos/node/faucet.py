"""The faucet of a dev node (``amigos dev``): free AMI for trying things out.

A dev node's genesis gives the faucet account (its seed kept in the home, ``faucet.key``)
:data:`FAUCET_ALLOCATION`. ``POST /v1/faucet {"address": …}`` makes the faucet send
:data:`FAUCET_AMOUNT` to the address: an ordinary ``send`` signed by the faucet account, in the
log like any other transaction. Each address gets one drip per :data:`ADDRESS_WINDOW` seconds
and each client address :data:`DRIPS_PER_CLIENT` per :data:`CLIENT_WINDOW`. Other nodes have
no faucet (the route answers 404).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from typing import Callable

from ..crypto.keys import Account
from ..ledger.block import Genesis
from ..ledger.tx import AccountMessage, Transaction, sign

FAUCET_FILE = "faucet.key"
FAUCET_ALLOCATION = 10**15
FAUCET_AMOUNT = 1_000_000
ADDRESS_WINDOW = 60.0
CLIENT_WINDOW = 60.0
DRIPS_PER_CLIENT = 5
FAUCET_GAS = 100_000


class RateLimited(Exception):
    def __init__(self, what: str, retry_after: float) -> None:
        super().__init__(f"{what}: try again in {math.ceil(retry_after)} s")
        self.retry_after = math.ceil(retry_after)


class RateLimit:
    """At most ``count`` uses per key in any ``window`` seconds. Keys idle for a window are
    forgotten, so memory stays bounded by the keys seen in the last window."""

    def __init__(self, count: int, window: float) -> None:
        self.count = count
        self.window = window
        self._uses: OrderedDict[str, deque[float]] = OrderedDict()  # least recently used first

    def wait_for(self, key: str, now: float) -> float:
        """Seconds until ``key`` may be used again (0: now)."""
        self._forget_idle(now)
        uses = self._uses.get(key)
        if uses is None or len(uses) < self.count:
            return 0.0
        return max(0.0, uses[0] + self.window - now)

    def use(self, key: str, now: float) -> None:
        uses = self._uses.setdefault(key, deque())
        uses.append(now)
        while len(uses) > self.count:
            uses.popleft()
        self._uses.move_to_end(key)

    def _forget_idle(self, now: float) -> None:
        while self._uses:
            key, uses = next(iter(self._uses.items()))
            if uses[-1] + self.window > now:
                return
            del self._uses[key]


def faucet_genesis(faucet: Account) -> Genesis:
    """The genesis of a new dev node: everything to the faucet."""
    return Genesis({faucet.address: FAUCET_ALLOCATION})


class Faucet:
    """Signs the faucet's sends, in nonce order, within the rate limits."""

    def __init__(self, account: Account, chain_id: str, last_nonce: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.account = account
        self.chain_id = chain_id
        self.clock = clock
        self.lock = threading.Lock()
        """Held while a drip is signed and queued, so the sequencer gets them in nonce order."""
        self._nonce = last_nonce
        self._by_address = RateLimit(1, ADDRESS_WINDOW)
        self._by_client = RateLimit(DRIPS_PER_CLIENT, CLIENT_WINDOW)

    def drip(self, address: str, client: str) -> bytes:
        """The next drip to ``address``, signed, counted against both limits (call holding
        :attr:`lock`, and queue it before letting go). Raises RateLimited."""
        now = self.clock()
        wait = self._by_address.wait_for(address, now)
        if wait > 0:
            raise RateLimited(f"{address} got AMI from the faucet less than {ADDRESS_WINDOW:.0f} s ago", wait)
        wait = self._by_client.wait_for(client, now)
        if wait > 0:
            raise RateLimited(f"this client asked the faucet {DRIPS_PER_CLIENT} times in {CLIENT_WINDOW:.0f} s", wait)
        self._by_address.use(address, now)
        self._by_client.use(client, now)
        self._nonce += 1
        tx = Transaction(chain_id=self.chain_id, account=self.account.address, public_key=self.account.public_key,
                         nonce=self._nonce, gas_limit=FAUCET_GAS,
                         messages=[AccountMessage("send", {"to": address, "amount": FAUCET_AMOUNT, "memo": "faucet"})])
        return sign(tx, self.account).encode()

    def resync(self, last_nonce: int) -> None:
        """After a drip was refused (so its nonce is unused): go on from the ledger's nonce."""
        self._nonce = last_nonce
