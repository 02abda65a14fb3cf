"""Real receivers for what the app sends out: an SMTP server (aiosmtpd) and a Slack-compatible incoming webhook."""
from __future__ import annotations

import http.server
import json
import socket
import threading

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """aiosmtpd handler keeping every message as (recipients, raw text)."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode("utf-8", errors="replace")))
        return "250 OK"


class LoopbackController(Controller):
    """aiosmtpd's Controller listening on 127.0.0.1 at a port the kernel picks when it binds.

    Probing for a free port and binding it later races with other test processes (pytest-xdist
    workers, other runs) that probe at the same moment; binding port 0 cannot collide.
    """

    def __init__(self, handler, **options):
        super().__init__(handler, hostname="127.0.0.1", port=0, **options)

    def _trigger_server(self):
        # aiosmtpd connects once to its own port to finish starting: learn which port the bind got first.
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def start_smtp(inbox: Inbox) -> tuple[Controller, int]:
    """An SMTP server on a free loopback port delivering into `inbox`; stop the controller after."""
    controller = LoopbackController(inbox)
    controller.start()
    return controller, controller.port


class SlackReceiver:
    """A Slack-compatible incoming webhook on 127.0.0.1: records every POST, answers the queued statuses, then 200."""

    def __init__(self, secret: str = "XyZ-s3cr3t-webhook-token"):
        self.secret = secret
        self.posts: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append({"path": self.path, "content_type": self.headers["Content-Type"], "json": json.loads(body)})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/{self.secret}"
