"""TEST-ONLY: httpx's ASGI transport for a *synchronous* httpx.Client, so the (sync) SDK can
talk to the node's app in-process: each request runs on an event loop in a background thread."""

from __future__ import annotations

from typing import Any

import httpx
from anyio.from_thread import start_blocking_portal


class SyncASGITransport(httpx.BaseTransport):
    def __init__(self, app: Any) -> None:
        self._asgi = httpx.ASGITransport(app=app)
        self._portal_manager = start_blocking_portal()
        self._portal = self._portal_manager.__enter__()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def send() -> tuple[int, httpx.Headers, bytes]:
            copy = httpx.Request(request.method, request.url, headers=request.headers, content=body)
            response = await self._asgi.handle_async_request(copy)
            return response.status_code, response.headers, await response.aread()

        status, headers, content = self._portal.call(send)
        return httpx.Response(status, headers=headers, content=content, request=request)

    def close(self) -> None:
        self._portal_manager.__exit__(None, None, None)


def sync_client(app: Any, base_url: str = "http://node.test") -> httpx.Client:
    return httpx.Client(transport=SyncASGITransport(app), base_url=base_url)
