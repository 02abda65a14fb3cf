"""Serving a sandbox's WSGI app on 127.0.0.1 from a daemon thread (shared by every sandbox).

werkzeug's server answers every request with "Connection: close", so each call the app makes
opens a new TCP connection, which Shopify's and Printful's servers do not make it do. The
benchmarks set KEEP_ALIVE to serve the sandboxes with cheroot instead (HTTP/1.1 keep-alive,
a pool of threads), so they measure the app's CPU per call as production pays it; the tests
keep werkzeug (its per-request handler hooks serve the held-answer and hang-up fakes).
"""
from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class QuietRequestHandler(WSGIRequestHandler):
    """No log line per request (tests make thousands), no traceback when a client hung up on a held answer."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log_error(self, *args: Any) -> None:
        pass


KEEP_ALIVE = False  # set by benchmarks before the sandboxes start (see the module's docstring)
KEEP_ALIVE_THREADS = 64  # the benchmarks keep up to ~50 calls to the Printful sandbox in flight


class _KeepAliveServer:
    """cheroot's WSGI server behind the part of werkzeug's server interface BackgroundServer uses."""

    def __init__(self, host: str, port: int, app) -> None:
        from cheroot import wsgi

        self._server = wsgi.Server((host, port), app, numthreads=KEEP_ALIVE_THREADS, request_queue_size=128, shutdown_timeout=1)
        self._server.prepare()  # binds now: the port is known before serving starts
        self.server_port = self._server.bind_addr[1]

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._server.serve()

    def shutdown(self) -> None:
        self._server.stop()

    def server_close(self) -> None:
        pass  # stop() closed the socket


class BackgroundServer:
    """One threaded werkzeug server in a daemon thread."""

    def __init__(self) -> None:
        self._server: BaseWSGIServer | _KeepAliveServer | None = None
        self._thread: threading.Thread | None = None
        self.host = "127.0.0.1"

    @property
    def running(self) -> bool:
        """Whether it is serving."""
        return self._server is not None

    @property
    def base_url(self) -> str:
        """`http://host:port` while serving."""
        if self._server is None:
            raise RuntimeError("server is not running; call start()")
        return f"http://{self.host}:{self._server.server_port}"

    def start(self, app, *, host: str = "127.0.0.1", port: int = 0, name: str = "sandbox", request_handler: type[WSGIRequestHandler] = QuietRequestHandler) -> str:
        """Serve `app` (port 0: any free port); returns the base URL. Idempotent."""
        if self._server is None:
            self.host = host
            if KEEP_ALIVE and request_handler is QuietRequestHandler:
                self._server = _KeepAliveServer(host, port, app)
            else:
                self._server = make_server(host, port, app, threaded=True, request_handler=request_handler)
            # A short poll interval makes stop() quick (shutdown waits for the next poll).
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name=name, daemon=True)
            self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None
