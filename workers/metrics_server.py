"""Each worker serves its own Prometheus metrics; a taken port costs one warning, not the worker."""

from __future__ import annotations

import logging
from typing import Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

log = logging.getLogger(__name__)


class Stoppable(Protocol):
    """A server that can be shut down."""

    def shutdown(self) -> None:
        """Stop serving."""


def start_metrics_server(port: int) -> Stoppable | None:
    """Serve metrics on `port` (0 = off); on a taken port, warn once and serve nothing."""
    if port == 0:
        return None
    try:
        server, _thread = start_http_server(port)
    except OSError as error:
        log.warning(
            "worker metrics port %d unavailable (%s); running without /metrics",
            port,
            error.strerror,
        )
        return None
    log.info("worker metrics on port %d", port)
    return _ClosingServer(server)


class _ClosingServer:
    """Stops the metrics server's thread and closes its listening socket."""

    def __init__(self, server: WSGIServer) -> None:
        self._server = server

    def shutdown(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
