"""Every route of the ingress in one table; each handler is wrapped in the request context."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from ingress.request_context import REQUEST_CONTEXT, UNMATCHED, Handler
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


def add_route(app: web.Application, method: str, path: str, handler: Handler) -> None:
    """Register `handler` for `method path`, wrapped in the request context (GET adds HEAD)."""
    wrapped = app[REQUEST_CONTEXT].wrap(handler, path)
    if method == "GET":
        app.router.add_get(path, wrapped)
    else:
        app.router.add_route(method, path, wrapped)


def add_route_defs(app: web.Application, routes: Iterable[web.RouteDef]) -> None:
    """Register aiohttp route definitions (their options kept), each wrapped like `add_route`."""
    context = app[REQUEST_CONTEXT]
    for route in routes:
        wrapped = context.wrap(route.handler, route.path)
        web.RouteDef(route.method, route.path, wrapped, route.kwargs).register(app.router)


def add_routes(app: web.Application) -> None:
    """Register the routes, then the catch-all that answers 404/405 for everything else."""
    add_route(app, "GET", "/healthz", health.healthz)
    add_route(app, "GET", "/readyz", health.readyz)
    add_route(app, "GET", "/metrics", health.metrics)
    # The hot path runs the request context itself (see IngestEndpoint).
    endpoint = ingest.IngestEndpoint(WEBHOOK)
    app.on_startup.append(endpoint.bind)
    app.router.add_post(WEBHOOK, endpoint.handle)
    add_route_defs(app, agent_api.ROUTES)
    add_route_defs(app, tasks.AGENT_ROUTES)
    add_route_defs(app, tasks.MIXED_ROUTES)
    add_operator_routes(app)
    context = app[REQUEST_CONTEXT]
    # Any path at all, line breaks included (`.` would stop at one and leave it to aiohttp).
    app.router.add_route(
        "*", r"/{path:[\s\S]*}", context.wrap(context.unmatched, UNMATCHED), name=UNMATCHED
    )


def add_operator_routes(app: web.Application) -> None:
    """The operator API (user auth): boards, agents, webhooks and their deliveries."""
    add_route(app, "POST", "/api/v1/boards", operator_boards.create_board)
    add_route(app, "GET", "/api/v1/boards", operator_boards.list_boards)
    add_route(app, "GET", BOARD, operator_boards.get_board)
    add_route(app, "PATCH", BOARD, operator_boards.update_board)
    add_route(app, "DELETE", BOARD, operator_boards.delete_board)

    add_route(app, "POST", BOARD + "/agents", operator_agents.create_agent)
    add_route(app, "GET", BOARD + "/agents", operator_agents.list_agents)
    add_route(app, "GET", AGENT, operator_agents.get_agent)
    add_route(app, "DELETE", AGENT, operator_agents.delete_agent)
    add_route(app, "POST", AGENT + "/token", operator_agents.rotate_agent_token)

    add_route(app, "POST", BOARD + "/webhooks", operator_webhooks.create_webhook)
    add_route(app, "GET", BOARD + "/webhooks", operator_webhooks.list_webhooks)
    # The same path's POST is the (unauthenticated) ingest route above.
    add_route(app, "GET", WEBHOOK, operator_webhooks.get_webhook)
    add_route(app, "PATCH", WEBHOOK, operator_webhooks.update_webhook)
    add_route(app, "DELETE", WEBHOOK, operator_webhooks.delete_webhook)
    add_route(app, "POST", WEBHOOK + "/rotate-secret", operator_webhooks.rotate_secret)

    add_route(app, "GET", WEBHOOK + "/payloads", operator_deliveries.list_deliveries)
    add_route(app, "GET", WEBHOOK + "/payloads/{payload_id}", operator_deliveries.get_delivery)
    add_route(
        app, "POST", WEBHOOK + "/payloads/{payload_id}/replay", operator_replay.replay_delivery
    )
    add_route(app, "POST", "/api/v1/replay", operator_replay.replay_many)
