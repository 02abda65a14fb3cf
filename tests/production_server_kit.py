"""Start the real production server (`python -m shopify_app.cli run`, real mode) as a subprocess on a free port."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conftest import API_KEY, API_SECRET, FERNET_KEY, LOOPBACK_ALLOW

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A port the OS picks (closed again at once; the server binds it right after)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def real_mode_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    """The environment of a real-mode deployment (test credentials, no SANDBOX)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOPIFY_", "SANDBOX", "SENTRY_", "LOG_"))}
    env.update(
        SHOPIFY_API_KEY=API_KEY, SHOPIFY_API_SECRET=API_SECRET, ENCRYPTION_KEYS=FERNET_KEY, DATABASE_URL=database_url,
        PORT=str(port), APP_URL=f"http://127.0.0.1:{port}", EGRESS_ALLOW=LOOPBACK_ALLOW, PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class ServerProcess:
    """One server process; its combined output goes to a log file the test can read."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, port: int | None = None):
        self.args, self.env, self.log_path, self.port = args, env, log_path, port
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ServerProcess":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "shopify_app.cli", *self.args], cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        return self

    def wait_http(self, path: str = "/healthz", timeout: float = 60.0) -> httpx.Response:
        """Until `path` answers (any status); fails if the process dies first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                return httpx.get(self.url + path, timeout=5)
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"server did not answer {path}:\n{self.output()}")

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM (what a process manager sends) and wait for the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """Cleanup: the whole process group (gunicorn's workers too), only if still running."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
