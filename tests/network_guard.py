"""Fail a test when an outbound connection starts while its thread holds a database write transaction (rule 6)."""
from __future__ import annotations

import smtplib
import socket
import threading
import traceback

import httpx

from shopify_app.write_transactions import holds_write_transaction


class NetworkInWriteTransaction:
    """Patches the outbound entry points; collects violations (the code under test may swallow exceptions)."""

    def __init__(self):
        self.violations: list[str] = []
        self._inside = threading.local()
        self._originals = []

    def _guarded(self, what: str, original):
        guard = self

        def call(*args, **kwargs):
            if not getattr(guard._inside, "active", False) and holds_write_transaction():
                stack = "".join(traceback.format_stack(limit=25)[:-1])
                guard.violations.append(f"{what} started inside a write transaction:\n{stack}")
            outer = getattr(guard._inside, "active", False)
            guard._inside.active = True  # one report per call, not one per layer (SMTP -> socket)
            try:
                return original(*args, **kwargs)
            finally:
                guard._inside.active = outer

        return call

    def install(self, monkeypatch) -> None:
        """Wrap httpx's transport, SMTP connect and socket.create_connection."""
        for owner, name, what in (
            (httpx.HTTPTransport, "handle_request", "an HTTP request"),
            (smtplib.SMTP, "connect", "an SMTP connection"),
            (socket, "create_connection", "a socket connection"),
        ):
            monkeypatch.setattr(owner, name, self._guarded(what, getattr(owner, name)))

    def report(self) -> str:
        """All violations, deduplicated, for the failure message."""
        return "\n\n".join(dict.fromkeys(self.violations))
