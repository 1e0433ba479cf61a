"""Every route of the ingress in one table."""

from __future__ import annotations

from aiohttp import web

from ingress.views import agent_api, health, ingest, tasks


def add_routes(app: web.Application) -> None:
    """Register the routes."""
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    app.router.add_post("/api/v1/boards/{board_id}/webhooks/{webhook_id}", ingest.ingest_webhook)
    app.router.add_routes(agent_api.ROUTES)
    app.router.add_routes(tasks.AGENT_ROUTES)
    app.router.add_routes(tasks.MIXED_ROUTES)
