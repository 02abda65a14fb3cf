"""Logging: JSON lines in real mode, text in sandbox mode (LOG_FORMAT overrides), with context and redaction."""
from __future__ import annotations

import logging
import logging.config
import os

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_format(settings) -> str:
    """'json' or 'text': LOG_FORMAT when set, else JSON in real mode and text in sandbox mode."""
    chosen = os.environ.get("LOG_FORMAT", "").strip().lower()
    if chosen in ("json", "text"):
        return chosen
    return "text" if settings.sandbox else "json"


def logging_dict(fmt: str) -> dict:
    """A dictConfig: one stderr handler on the root; gunicorn's loggers propagate to it."""
    formatter = {"()": "pythonjsonlogger.json.JsonFormatter", "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s", "rename_fields": {"levelname": "level", "name": "logger", "asctime": "time"}} if fmt == "json" else {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr"}},
        "root": {"level": os.environ.get("LOG_LEVEL", "INFO").upper(), "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
        },
    }


def gunicorn_logconfig(settings) -> dict:
    """The dictConfig gunicorn applies in the arbiter (inherited by the worker)."""
    return logging_dict(log_format(settings))
