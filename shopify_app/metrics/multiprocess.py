"""prometheus_client's multiprocess mode: gunicorn workers and procrastinate workers write into one directory.

Set PROMETHEUS_MULTIPROC_DIR (the same directory for the web processes and any worker on the
host) before the app starts: each process writes its counters and histograms into its own
files there, and a scrape of any web process aggregates all of them.
"""
from __future__ import annotations

import atexit
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The shared metrics directory, or None in single-process mode."""
    return os.environ.get(ENV) or os.environ.get(ENV.lower()) or None


def ensure_multiprocess_dir() -> None:
    """Create the shared directory if it is missing (prometheus_client fails the first metric write otherwise)."""
    path = multiprocess_dir()
    if path is not None:
        Path(path).mkdir(parents=True, exist_ok=True)


def prepare_multiprocess_dir(workers: int = 1) -> None:
    """Empty the directory before any process forks (gunicorn on_starting): last run's files would count twice."""
    path = multiprocess_dir()
    if path is None:
        if workers > 1:
            log.warning("%d web workers without %s: each scrape shows one worker's counts; set it to a directory the workers share", workers, ENV)
        return
    from prometheus_client import values

    if values.ValueClass is values.MutexValue:
        # prometheus_client chose its value store when first imported, before the variable was set.
        log.error("%s was set after prometheus_client was imported: metrics stay per process; set it in the environment that starts the server", ENV)
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
