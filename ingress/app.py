"""The ingress application factory."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware

from ingress import resources
from ingress.middlewares import cors_middleware, security_headers
from ingress.request_context import REQUEST_CONTEXT, RequestContext
from ingress.routes import add_routes
from shared.settings import Settings


def create_app(settings: Settings) -> web.Application:
    """Build the ingress app; resources open on startup via `cleanup_ctx`."""
    # The request context wraps each route's handler (see ingress.request_context); the only
    # middleware is CORS, and only when origins are configured.
    middlewares: list[Middleware] = []
    if settings.cors_origins:
        middlewares.append(cors_middleware(settings.cors_origins, security_headers(settings)))
    # Webhook bodies are streamed and capped by the ingest view itself; this caps other routes.
    app = web.Application(middlewares=middlewares, client_max_size=1_048_576)
    app[REQUEST_CONTEXT] = RequestContext(settings)
    resources.install(app, settings)
    add_routes(app)
    return app
