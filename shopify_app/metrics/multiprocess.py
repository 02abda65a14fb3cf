"""prometheus_client's multiprocess mode: gunicorn workers and procrastinate workers write into one directory.

Set PROMETHEUS_MULTIPROC_DIR (the same directory for the web processes and any worker on the
host) before the app starts: each process writes its counters and histograms into its own
files there, and a scrape of any web process aggregates all of them.
"""
from __future__ import annotations

import atexit
import os
import shutil
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The shared metrics directory, or None in single-process mode."""
    return os.environ.get(ENV) or os.environ.get(ENV.lower()) or None


def ensure_multiprocess_dir() -> None:
    """Create the shared directory if it is missing (prometheus_client fails the first metric write otherwise)."""
    path = multiprocess_dir()
    if path is not None:
        Path(path).mkdir(parents=True, exist_ok=True)


def prepare_multiprocess_dir() -> None:
    """Empty the directory before any process forks (gunicorn on_starting): last run's files would count twice."""
    path = multiprocess_dir()
    if path is None:
        return
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.iterdir():
        if entry.is_file() and entry.suffix == ".db":
            entry.unlink()
        elif entry.is_dir():
            shutil.rmtree(entry)


def mark_process_dead(pid: int) -> None:
    """Forget a finished process's live gauges (gunicorn child_exit; counters and histograms stay counted)."""
    if multiprocess_dir() is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


def mark_dead_at_exit() -> None:
    """For processes no arbiter watches (procrastinate workers, CLI jobs): drop their live gauges when they exit."""
    if multiprocess_dir() is not None:
        ensure_multiprocess_dir()
        atexit.register(mark_process_dead, os.getpid())
