"""Posting account events to the webhook each account registered (``set_webhook``).

After a block commits, the node hands each account event of an account with a webhook to
:meth:`WebhookSender.offer`, which only puts it on a bounded queue: the sequencer never waits
for a receiver. A few delivery threads, each with its own queue, POST them; all deliveries to
one URL go through the same thread, so a receiver gets its events in log order (and a slow
receiver holds up only the URLs that share its thread):

* the body is JSON ``{"chain_id", "account", "height", "index", "tx_hash", "event"}`` (``index``
  is the receipt's log index, so a receiver can order what it got and fetch the receipt);
* ``Amigos-Node-Key`` names the node's public key and ``Amigos-Signature`` is its Ed25519
  signature over ``b"amigos/webhook/v1\\x00" + body``, so a receiver can check that the node it
  trusts sent it (:func:`verify_webhook`);
* only ``http(s)`` URLs, redirects are never followed, each attempt has a short timeout, and a
  failed delivery (no answer, or a status other than 2xx) is tried again a few times with a
  growing pause, then dropped. When the queue is full, new deliveries are dropped (counted in
  :attr:`WebhookSender.dropped`): webhooks are a notification, the log is the record.
* unless the node allows private addresses (a dev node, tests), a URL whose host resolves to a
  loopback, private, link-local or otherwise non-global address is not posted to, so accounts
  cannot make the node probe the network it runs in.
* the host is resolved once per delivery and the delivery connects to an address that was
  checked, with the URL's host in ``Host`` and in TLS's SNI (and the certificate checked for it):
  a name that resolves to a public address for the check and to a private one a moment later
  (DNS rebinding) cannot steer the post. Connections are not kept open between posts, since a
  connection to one address could otherwise carry the post of another host sharing it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import queue
import socket
import threading
from dataclasses import dataclass
from typing import Any, Callable

from ..crypto.keys import Account, verify_signature

WEBHOOK_DOMAIN = b"amigos/webhook/v1\x00"
KEY_HEADER = "Amigos-Node-Key"
SIGNATURE_HEADER = "Amigos-Signature"
QUEUE_SIZE = 10_000
"""Deliveries waiting per delivery thread, at most."""
DELIVERY_THREADS = 4
TIMEOUT_SECONDS = 3.0
ATTEMPTS = 3
BACKOFF_SECONDS = 0.5
"""Pause before the second attempt; it doubles for each further one."""
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    url: str
    body: bytes


def webhook_body(chain_id: str, account: str, height: int, index: int, tx_hash: bytes, event: dict[str, Any]) -> bytes:
    """The JSON a webhook receives for one account event (keys sorted, no spaces)."""
    value = {"chain_id": chain_id, "account": account, "height": height, "index": index,
             "tx_hash": tx_hash.hex(), "event": event}
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_webhook(key: Account, body: bytes) -> str:
    return key.sign(WEBHOOK_DOMAIN + body).hex()


def verify_webhook(node_key: bytes, body: bytes, signature_hex: str) -> bool:
    """What a receiver runs: whether ``body`` was signed by the node whose key is ``node_key``."""
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        return False
    return verify_signature(node_key, WEBHOOK_DOMAIN + body, signature)  # False for any length but 64 bytes


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def resolve_host(host: str) -> list[IPAddress]:
    """The addresses ``host`` (an IDNA-encoded name or an address) resolves to, in the
    resolver's order of preference; none if it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos))


def allowed_addresses(host: str, allow_private: bool) -> list[IPAddress]:
    """The addresses a delivery to ``host`` may connect to: all it resolves to, if every one is
    a global address (or private ones are allowed); none otherwise."""
    addresses = resolve_host(host)
    if allow_private or all(a.is_global for a in addresses):
        return addresses
    return []


class WebhookSender:
    """Delivery threads over a bounded queue; :meth:`start` before offering, :meth:`stop` at the end."""

    def __init__(self, key: Account, *, allow_private: bool = False, threads: int = DELIVERY_THREADS,
                 queue_size: int = QUEUE_SIZE, timeout: float = TIMEOUT_SECONDS, attempts: int = ATTEMPTS,
                 backoff: float = BACKOFF_SECONDS) -> None:
        self.key = key
        self.allow_private = allow_private
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self._queues: list[queue.Queue[Delivery | None]] = [queue.Queue(maxsize=queue_size) for _ in range(threads)]
        self._threads = [threading.Thread(target=self._run, args=(q,), name=f"amigos-webhooks-{i}", daemon=True)
                         for i, q in enumerate(self._queues)]
        self._stopping = threading.Event()
        self._count_lock = threading.Lock()
        self.delivered = 0
        self.failed = 0
        """Deliveries given up after every attempt."""
        self.dropped = 0
        """Deliveries never tried: the queue was full."""

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop the threads (a delivery under way ends with its current attempt)."""
        self._stopping.set()
        for q in self._queues:
            try:
                q.put_nowait(None)
            except queue.Full:  # its thread sees _stopping after the delivery under way
                pass
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=self.timeout + 1)

    def offer(self, url: str, body: bytes) -> bool:
        """Queue one delivery without waiting; False when it was dropped (queue full, stopping)."""
        if self._stopping.is_set():
            return False
        try:
            self._queues[hash(url) % len(self._queues)].put_nowait(Delivery(url, body))
        except queue.Full:
            with self._count_lock:
                self.dropped += 1
            log.warning("webhook queue full: dropped a delivery to %s", url)
            return False
        return True

    def _run(self, deliveries: queue.Queue[Delivery | None]) -> None:
        import httpx

        no_reuse = httpx.Limits(max_keepalive_connections=0)  # see the module's docstring
        with httpx.Client(follow_redirects=False, timeout=self.timeout, trust_env=False, limits=no_reuse) as client:
            while not self._stopping.is_set():
                delivery = deliveries.get()
                if delivery is None:
                    return
                try:
                    delivered = self._deliver(delivery, client.post)
                except Exception:  # noqa: BLE001 - a bug must not end the thread (and its queue)
                    log.exception("webhook delivery to %s failed", delivery.url)
                    delivered = False
                with self._count_lock:
                    if delivered:
                        self.delivered += 1
                    else:
                        self.failed += 1

    def _deliver(self, delivery: Delivery, post: Callable[..., Any]) -> bool:
        import httpx

        try:  # the ledger only checks that a webhook starts with http(s)://
            url = httpx.URL(delivery.url)
        except httpx.InvalidURL:
            return False
        if url.scheme not in ("http", "https") or not url.raw_host:
            return False
        host = url.raw_host.decode("ascii")
        addresses = allowed_addresses(host, self.allow_private)
        if not addresses:
            log.info("webhook %s: its host does not resolve, or not only to public addresses", delivery.url)
            return False
        headers = {"Host": url.netloc.decode("ascii"), "Content-Type": "application/json",
                   KEY_HEADER: self.key.public_key.hex(), SIGNATURE_HEADER: sign_webhook(self.key, delivery.body)}
        pause = self.backoff
        for attempt in range(self.attempts):
            if attempt:
                if self._stopping.wait(pause):
                    return False
                pause *= 2
            address = addresses[attempt % len(addresses)]  # a retry tries the host's next address
            try:
                response = post(url.copy_with(host=str(address)), content=delivery.body, headers=headers,
                                extensions={"sni_hostname": host})
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                log.info("webhook %s (%s): %s", delivery.url, address, exc)
                continue
            if 200 <= response.status_code < 300:
                return True
            log.info("webhook %s (%s) answered %s", delivery.url, address, response.status_code)
        return False
