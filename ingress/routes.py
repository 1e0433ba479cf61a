"""Every route of the ingress in one table."""

from __future__ import annotations

from aiohttp import web

from ingress.views import health, ingest


def add_routes(app: web.Application) -> None:
    """Register the routes."""
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    app.router.add_post("/api/v1/boards/{board_id}/webhooks/{webhook_id}", ingest.ingest_webhook)
