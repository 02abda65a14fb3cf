"""A real FTP / FTPS server on 127.0.0.1 for the tests (pyftpdlib), one user confined to its folder."""
from __future__ import annotations

import threading
from pathlib import Path

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.servers import ThreadedFTPServer

from email_testkit import self_signed_tls


class TestFtpServer:
    """FTP (or explicit FTPS with a self-signed certificate for 127.0.0.1) on port 0."""

    __test__ = False

    def __init__(self, root: Path, user: str, password: str, *, tls: bool = False):
        self.root, self.user, self.password, self.tls = Path(root), user, password, tls
        (self.root / user).mkdir(parents=True, exist_ok=True)
        self.ca_file: str | None = None
        authorizer = DummyAuthorizer()
        authorizer.add_user(user, password, str(self.root / user), perm="elradfmwMT")
        if tls:
            from pyftpdlib.handlers import TLS_FTPHandler

            cert, key = self_signed_tls(self.root)
            handler = type("Handler", (TLS_FTPHandler,), {"certfile": str(cert), "keyfile": str(key), "tls_control_required": True, "tls_data_required": True})
            self.ca_file = str(cert)
        else:
            from pyftpdlib.handlers import FTPHandler

            handler = type("Handler", (FTPHandler,), {})
        handler.authorizer = authorizer
        handler.passive_ports = None
        handler.banner = "sandbox ftp ready"
        self._server = ThreadedFTPServer(("127.0.0.1", 0), handler)
        self.host, self.port = self._server.address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"timeout": 0.2, "handle_exit": False}, daemon=True)

    @property
    def home(self) -> Path:
        return self.root / self.user

    def __enter__(self) -> "TestFtpServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.close_all()
        self._thread.join(10)
