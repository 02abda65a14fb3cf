"""A throwaway PostgreSQL server from Debian's package, started for the test run."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass


class PostgresUnavailable(RuntimeError):
    """Debian's postgresql package is not installed (make test installs it)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bin_dir() -> str:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if not candidates:
        raise PostgresUnavailable("no /usr/lib/postgresql/*/bin/pg_ctl: install Debian's postgresql package")
    return os.path.dirname(candidates[-1])


@dataclass
class PostgresServer:
    """A running server: admin URL and how to stop it."""

    bin_dir: str
    data_dir: str
    port: int
    as_user: list[str]

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the maintenance database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        """SQLAlchemy URL of a database on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        """Stop the server; its files are deleted by a detached `rm -rf` that may outlive the test run."""
        subprocess.run(self.as_user + [f"{self.bin_dir}/pg_ctl", "-D", self.data_dir, "-m", "immediate", "-w", "stop"], capture_output=True)
        # A worker leaves ~750 test databases (8 GB in about a million files); deleting them in the last test's
        # teardown held the end of every run 30-60 s. Nothing reads them once the server is down.
        # The shell puts rm in the background and returns at once (rm is left to init: no zombie, no ResourceWarning).
        subprocess.run(["sh", "-c", 'rm -rf -- "$0" &', os.path.dirname(self.data_dir)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, start_new_session=True, check=True)


def start_postgres(settings: dict[str, str] | None = None) -> PostgresServer:
    """initdb + pg_ctl start on a free loopback port (as the postgres user when root); `settings` adds server settings (-c name=value)."""
    bin_dir = _bin_dir()
    root = tempfile.mkdtemp(prefix="pg-test-")
    data_dir = os.path.join(root, "data")
    as_user: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root.
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(as_user + [f"{bin_dir}/initdb", "-D", data_dir, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200"
    options += "".join(f" -c {name}={value}" for name, value in (settings or {}).items())
    subprocess.run(as_user + [f"{bin_dir}/pg_ctl", "-D", data_dir, "-o", options, "-l", os.path.join(root, "log"), "-w", "start"], check=True, capture_output=True)
    return PostgresServer(bin_dir, data_dir, port, as_user)
