"""CORS, and the pieces of the request context shared with it (request ids, JSON errors,
security headers). The request context itself is in `ingress.request_context`."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware

from shared.ids import random_hex_id
from shared.settings import Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_PLAIN_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


def clean_request_id(raw: str | None) -> str:
    """The client's request id if it is short and plain, else a new one (ids reach log lines)."""
    if raw is not None and _PLAIN_REQUEST_ID.fullmatch(raw):
        return raw
    return random_hex_id()


def json_error(status: int, body: dict[str, object], request_id: str) -> web.Response:
    """A JSON error response carrying the request id."""
    body["request_id"] = request_id
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def security_headers(settings: Settings) -> dict[str, str]:
    """The configured SECURITY_HEADER_* values; a blank one is left out."""
    return {
        name: value
        for name, value in (
            ("X-Content-Type-Options", settings.security_header_x_content_type_options),
            ("X-Frame-Options", settings.security_header_x_frame_options),
            ("Referrer-Policy", settings.security_header_referrer_policy),
            ("Permissions-Policy", settings.security_header_permissions_policy),
        )
        if value
    }


def cors_middleware(origins: list[str], headers: Mapping[str, str] | None = None) -> Middleware:
    """CORS for the configured origins only; preflight answered here, with `headers` added."""
    allowed = frozenset(origins)
    preflight_headers = dict(headers or {})
    allow_any = "*" in allowed

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if not origin or not (allow_any or origin in allowed):
            return await handler(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response: web.StreamResponse = web.Response(status=204)
            response.headers["Access-Control-Allow-Methods"] = (
                "GET, POST, PATCH, PUT, DELETE, OPTIONS"
            )
            response.headers["Access-Control-Allow-Headers"] = request.headers.get(
                "Access-Control-Request-Headers", "Authorization, Content-Type"
            )
            response.headers["Access-Control-Max-Age"] = "600"
            response.headers["X-Request-Id"] = clean_request_id(request.headers.get("X-Request-Id"))
            # Answered before the request-context middleware, which adds these to the rest.
            response.headers.update(preflight_headers)
        else:
            response = await handler(request)
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Expose-Headers"] = "X-Request-Id, Retry-After"
        response.headers["Vary"] = "Origin"
        return response

    return middleware
