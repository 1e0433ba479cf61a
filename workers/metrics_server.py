"""Each worker serves its own Prometheus metrics; a taken port costs one warning, not the worker."""

from __future__ import annotations

import logging
from typing import Protocol

from prometheus_client import start_http_server

log = logging.getLogger(__name__)


class Stoppable(Protocol):
    """A server that can be shut down."""

    def shutdown(self) -> None:
        """Stop serving."""

    def server_close(self) -> None:
        """Release the port."""


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
    return server


def stop_metrics_server(server: Stoppable | None) -> None:
    """Stop serving and free the port (a reconnecting worker binds it again)."""
    if server is not None:
        server.shutdown()
        server.server_close()
