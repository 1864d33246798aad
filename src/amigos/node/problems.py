"""Errors as RFC 9457 problem details: ``application/problem+json`` with a stable ``type``.

Every problem's ``type`` is ``https://amigos.dev/problems/<code>`` and the body repeats the
``code`` on its own, so a client can switch on it without parsing a URI. docs/api.md lists the
codes. Refused transactions use their refusal code (``bad-nonce``…); failed queries and
renders use the execution error's type in kebab case (``ServiceError`` → ``service-error``) and
carry the error itself as ``error``.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse, Response

from ..errors import REFUSAL_CODES, ExecutionError, NotFound, TransactionRefused
from .wire import dump_json

PROBLEM_BASE = "https://amigos.dev/problems/"
MEDIA_TYPE = "application/problem+json"

REFUSAL_STATUS = {"malformed": 400, "bad-nonce": 409, "unknown-key": 403, "session-expired": 403,
                  "session-revoked": 403, "not-permitted": 403, "over-limit": 403, "frozen": 403}
"""HTTP status of a refused transaction by refusal code; the others are 422."""
HTTP_CODES = {
    400: "bad-request",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "unprocessable",
    500: "internal-error",
    503: "unavailable",
    504: "timeout",
}


class Json(JSONResponse):
    """Compact JSON in UTF-8; text that cannot be UTF-8 (a service can make strings with lone
    surrogates) is escaped instead of failing the response."""

    def render(self, content: Any) -> bytes:
        return dump_json(content).encode()


class JsonAnswer(Response):
    """JSON already rendered to UTF-8 bytes (see ``Api.receipts_answer``)."""

    media_type = "application/json"


class Problem(Exception):
    """Raised by a handler to answer with a problem; ``extra`` members go into the body."""

    def __init__(self, status: int, code: str, detail: str, *, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers
        self.extra = extra

    def response(self) -> Json:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.code,
            "title": _title(self.status, self.code),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
            **self.extra,
        }
        return Json(body, status_code=self.status, media_type=MEDIA_TYPE, headers=self.headers)


def _title(status: int, code: str) -> str:
    if code in REFUSAL_CODES:
        return "Transaction refused"
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def refused(refusal: TransactionRefused, **extra: Any) -> Problem:
    return Problem(REFUSAL_STATUS.get(refusal.code, 422), refusal.code, refusal.message, **extra)


def kebab(name: str) -> str:
    """``ServiceError`` → ``service-error``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def execution_failed(error: ExecutionError) -> Problem:
    """A failed query or render: 404 when the service or function does not exist, else 422."""
    status = 404 if isinstance(error, NotFound) else 422
    return Problem(status, kebab(error.type), error.message, error=error.to_dict())


def http_problem(status: int, detail: str | None, headers: dict[str, str] | None = None) -> Problem:
    code = HTTP_CODES.get(status, "bad-request" if 400 <= status < 500 else "internal-error")
    return Problem(status, code, detail or _title(status, code), headers=headers)
