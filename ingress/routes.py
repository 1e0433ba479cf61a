"""Every route of the ingress in one table."""

from __future__ import annotations

from aiohttp import web

from ingress.views import (
    agent_api,
    health,
    ingest,
    operator_agents,
    operator_boards,
    operator_deliveries,
    operator_replay,
    operator_webhooks,
    tasks,
)

BOARD = "/api/v1/boards/{board_id}"
AGENT = BOARD + "/agents/{agent_id}"
WEBHOOK = BOARD + "/webhooks/{webhook_id}"


def add_routes(app: web.Application) -> None:
    """Register the routes."""
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    app.router.add_post("/api/v1/boards/{board_id}/webhooks/{webhook_id}", ingest.ingest_webhook)
    app.router.add_routes(agent_api.ROUTES)
    app.router.add_routes(tasks.AGENT_ROUTES)
    app.router.add_routes(tasks.MIXED_ROUTES)
    add_operator_routes(app.router)


def add_operator_routes(router: web.UrlDispatcher) -> None:
    """The operator API (user auth): boards, agents, webhooks and their deliveries."""
    router.add_post("/api/v1/boards", operator_boards.create_board)
    router.add_get("/api/v1/boards", operator_boards.list_boards)
    router.add_get(BOARD, operator_boards.get_board)
    router.add_patch(BOARD, operator_boards.update_board)
    router.add_delete(BOARD, operator_boards.delete_board)

    router.add_post(BOARD + "/agents", operator_agents.create_agent)
    router.add_get(BOARD + "/agents", operator_agents.list_agents)
    router.add_get(AGENT, operator_agents.get_agent)
    router.add_delete(AGENT, operator_agents.delete_agent)
    router.add_post(AGENT + "/token", operator_agents.rotate_agent_token)

    router.add_post(BOARD + "/webhooks", operator_webhooks.create_webhook)
    router.add_get(BOARD + "/webhooks", operator_webhooks.list_webhooks)
    # The same path's POST is the (unauthenticated) ingest route above.
    router.add_get(WEBHOOK, operator_webhooks.get_webhook)
    router.add_patch(WEBHOOK, operator_webhooks.update_webhook)
    router.add_delete(WEBHOOK, operator_webhooks.delete_webhook)
    router.add_post(WEBHOOK + "/rotate-secret", operator_webhooks.rotate_secret)

    router.add_get(WEBHOOK + "/payloads", operator_deliveries.list_deliveries)
    router.add_get(WEBHOOK + "/payloads/{payload_id}", operator_deliveries.get_delivery)
    router.add_post(WEBHOOK + "/payloads/{payload_id}/replay", operator_replay.replay_delivery)
    router.add_post("/api/v1/replay", operator_replay.replay_many)
