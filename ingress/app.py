"""The ingress application factory."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware

from ingress import resources
from ingress.middlewares import cors_middleware, request_context_middleware, security_headers
from ingress.routes import add_routes
from shared.settings import Settings


def create_app(settings: Settings) -> web.Application:
    """Build the ingress app; resources open on startup via `cleanup_ctx`."""
    middlewares: list[Middleware] = [request_context_middleware(settings)]
    if settings.cors_origins:
        cors = cors_middleware(settings.cors_origins, security_headers(settings))
        middlewares.insert(0, cors)
    # Webhook bodies are streamed and capped by the ingest view itself; this caps other routes.
    app = web.Application(middlewares=middlewares, client_max_size=1_048_576)
    resources.install(app, settings)
    add_routes(app)
    return app
