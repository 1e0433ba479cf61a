"""Request context, error mapping, security headers, access logs and CORS."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import Counter, Histogram

from ingress.keys import CLIENT_IP, REQUEST_ID
from shared.client_ip import resolve_client_ip
from shared.errors import DomainError
from shared.ids import RequestIds
from shared.metrics import HTTP_LATENCY, HTTP_REQUESTS
from shared.settings import Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger("ingress.access")
error_log = logging.getLogger("ingress.errors")

_PLAIN_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/api/v1/agent/healthz"})


def clean_request_id(raw: str | None, ids: RequestIds) -> str:
    """The client's request id if it is short and plain, else a new one (ids reach log lines)."""
    if raw is not None and _PLAIN_REQUEST_ID.fullmatch(raw):
        return raw
    return ids.next()


# Metric children by (route, status): labels() takes a lock and builds a key on every call.
_METRIC_CHILDREN: dict[tuple[str, int], tuple[Counter, Histogram]] = {}


def _metric_children(route: str, status: int) -> tuple[Counter, Histogram]:
    children = _METRIC_CHILDREN.get((route, status))
    if children is None:
        children = (HTTP_REQUESTS.labels(route, str(status)), HTTP_LATENCY.labels(route))
        _METRIC_CHILDREN[(route, status)] = children
    return children


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


def _route_name(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource
    return resource.canonical if resource is not None else "unmatched"


def request_context_middleware(settings: Settings) -> Middleware:
    """Request id, client address, errors as JSON, security headers, access log and metrics."""
    trusted = tuple(settings.trusted_proxies)
    headers_to_add = security_headers(settings)
    slow_seconds = settings.request_log_slow_ms / 1000
    log_health = settings.log_health_requests
    ids = RequestIds()
    perf_counter = time.perf_counter

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = perf_counter()
        request_id = clean_request_id(request.headers.get("X-Request-Id"), ids)
        if trusted:
            headers = request.headers
            client_ip = resolve_client_ip(
                request.remote,
                forwarded=headers.get("Forwarded"),
                x_forwarded_for=headers.get("X-Forwarded-For"),
                trusted=trusted,
            )
        else:  # no proxy is believed: the peer is the client, as the socket reports it
            client_ip = request.remote or "unknown"
        request[REQUEST_ID] = request_id
        request[CLIENT_IP] = client_ip
        try:
            response = await handler(request)
        except DomainError as error:
            response = json_error(error.status, error.body(), request_id)
            response.headers.update(error.headers)
        except web.HTTPException as error:
            # aiohttp's own refusals (no route, wrong method, bad request) answer in JSON too.
            response = json_error(error.status, {"detail": error.reason}, request_id)
            for name in ("Allow", "Retry-After"):
                if name in error.headers:
                    response.headers[name] = error.headers[name]
        except Exception:
            error_log.exception(
                "unhandled error on %s %s",
                request.method,
                request.path,
                extra={"request_id": request_id},
            )
            response = json_error(500, {"detail": "Internal server error."}, request_id)
        response_headers = response.headers
        response_headers["X-Request-Id"] = request_id
        response_headers.update(headers_to_add)
        elapsed = perf_counter() - started
        requests, latency = _metric_children(_route_name(request), response.status)
        requests.inc()
        latency.observe(elapsed)
        level = logging.WARNING if elapsed >= slow_seconds else logging.INFO
        path = request.path if log.isEnabledFor(level) else None
        if path is not None and (log_health or path not in _QUIET_PATHS):
            log.log(
                level,
                "%s %s %s %.1fms ip=%s request_id=%s%s",
                request.method,
                path,
                response.status,
                elapsed * 1000,
                client_ip,
                request_id,
                " slow" if level == logging.WARNING else "",
                extra={
                    "method": request.method,
                    "path": path,
                    "status": response.status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client_ip": client_ip,
                    "request_id": request_id,
                    "slow": level == logging.WARNING,
                },
            )
        return response

    return middleware


def cors_middleware(origins: list[str], headers: Mapping[str, str] | None = None) -> Middleware:
    """CORS for the configured origins only; preflight answered here, with `headers` added."""
    allowed = frozenset(origins)
    preflight_headers = dict(headers or {})
    preflight_ids = RequestIds()
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
            response.headers["X-Request-Id"] = clean_request_id(
                request.headers.get("X-Request-Id"), preflight_ids
            )
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
