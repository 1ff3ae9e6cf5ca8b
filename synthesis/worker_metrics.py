"""A `synthesis_worker` process's metrics, on a port of its own (`--metrics-port`).

A worker process serves no HTTP, so its synthesis threads' numbers (metrics.py) are served
here, to a scraper that sends TTS_METRICS_TOKEN as `Authorization: Bearer <token>`: there is
no staff sign-in to fall back on, so the page is never served without a token.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from . import metrics


class MetricsServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    # A scraper that stops sending holds a thread for this long at most.
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        """Called for each request: scrapes come every few seconds, and are not news."""


def guarded(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """`app`, for a request that carries the metrics token; 401 for any other."""

    def answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if metrics.token_sent(environ.get("HTTP_AUTHORIZATION", "")):
            return app(environ, start_response)
        start_response(
            "401 Unauthorized",
            [("Content-Type", "text/plain; charset=utf-8"), ("WWW-Authenticate", "Bearer")],
        )
        return [metrics.TOKEN_WANTED.encode()]

    return answer


def serve_metrics(host: str, port: int) -> MetricsServer:
    """Serve this process's metrics on `host`:`port`, from a thread of their own."""
    server = make_server(
        host, port, guarded(make_wsgi_app()), MetricsServer, handler_class=QuietHandler
    )
    assert isinstance(server, MetricsServer)
    threading.Thread(target=server.serve_forever, name="tts-metrics", daemon=True).start()
    return server
