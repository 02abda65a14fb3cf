"""Serving a sandbox's WSGI app on 127.0.0.1 from a daemon thread (shared by every sandbox)."""
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


class BackgroundServer:
    """One threaded werkzeug server in a daemon thread."""

    def __init__(self) -> None:
        self._server: BaseWSGIServer | None = None
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
