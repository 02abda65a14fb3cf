"""Gunicorn servers under test: start on a free loopback port, wait until ready, measure CPU, stop."""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GUNICORN = REPO / ".venv" / "bin" / "gunicorn"
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A port nobody listens on right now (the usual bind-to-0 trick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class GunicornConfig:
    """The one server configuration both targets get."""

    workers: int = 2
    threads: int = 4
    keep_alive: int = 5
    # A module of gunicorn server hooks (`-c python:<module>`): the app's production hooks
    # (shopify_app.server.hooks: gc.freeze after the app loaded, graceful stop) for the app's server.
    hooks: str | None = None

    def args(self) -> list[str]:
        return [
            *(["--config", f"python:{self.hooks}"] if self.hooks else []),
            "--worker-class", "gthread",
            "--workers", str(self.workers),
            "--threads", str(self.threads),
            "--keep-alive", str(self.keep_alive),
            "--timeout", "60",
            "--graceful-timeout", "5",
            "--no-control-socket",  # gunicorn 27: else both masters share ~/.gunicorn/gunicorn.ctl
        ]

    def describe(self) -> str:
        return " ".join(self.args())


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user+system CPU seconds) of a live process, None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is state (stat field 3): ppid is field 4, utime 14, stime 15.
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass
class Server:
    """One gunicorn master (and its workers), started by us, in its own process group."""

    name: str
    target: str
    env: dict[str, str]
    config: GunicornConfig
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    _log: object | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        cmd = [str(GUNICORN), "--bind", f"{HOST}:{self.port}", *self.config.args(), self.target]
        self._log = open(self.log_path, "ab")
        # Output goes to a file, never a pipe nobody reads (a full pipe would stall the server).
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, env=self.env, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_ready(self, timeout: float = 45.0) -> None:
        """Until GET /healthz answers 200 and all workers are forked."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: gunicorn exited with {self.proc.returncode}\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", "/healthz")
                status = conn.getresponse().status
                conn.close()
                if status == 200 and len(self.worker_pids()) >= self.config.workers:
                    return
                last = f"status {status}"
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: not ready after {timeout:.0f}s ({last})\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        pids = []
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                stat = _stat(int(entry.name))
                if stat and stat[0] == self.proc.pid:
                    pids.append(int(entry.name))
        return pids

    def cpu_seconds(self) -> float:
        """CPU used so far by the master and its live workers."""
        total = 0.0
        for pid in [self.proc.pid, *self.worker_pids()]:
            stat = _stat(pid)
            if stat:
                total += stat[1]
        return total

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM the master (graceful), then SIGKILL our own process group if it lingers."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group we created with start_new_session
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
