"""Reference (a): the barest aiohttp handler that reads the body and answers 202."""

from __future__ import annotations

import argparse

from aiohttp import web

_ANSWER = b'{"ok":true}'


async def accept(request: web.Request) -> web.Response:
    """Read the whole body, answer 202."""
    await request.read()
    return web.Response(status=202, body=_ANSWER, content_type="application/json")


async def healthz(_request: web.Request) -> web.Response:
    """Readiness probe for the benchmark."""
    return web.Response(body=_ANSWER, content_type="application/json")


def main() -> None:
    """Serve on 127.0.0.1:--port, one process, no access log (as the ingress runs)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application(client_max_size=1_048_576)
    app.router.add_post("/api/v1/boards/{board_id}/webhooks/{webhook_id}", accept)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
