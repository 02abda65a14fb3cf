"""Logging: JSON lines in real mode, text in sandbox mode (LOG_FORMAT overrides), with context and redaction.

Context (request id, shop, topic, supplier, order ids) lives in a contextvar that the web
request, the inbox and forwarding workers and the job runner bind (`bound(...)`); a filter
copies it onto every record. A second filter redacts what must never reach a log line
(tokens, Authorization values, emails, phone numbers, street addresses): a safety net
behind the rule that code never logs them in the first place.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import logging.config
import os
import re
from dataclasses import dataclass

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONTEXT_KEYS = ("request_id", "shop", "topic", "delivery_id", "supplier_id", "supplier_order_id", "amendment_id", "order_id", "job")

_context: contextvars.ContextVar[dict] = contextvars.ContextVar("log_context", default={})


def current_context() -> dict:
    """The fields bound in this thread or task."""
    return dict(_context.get())


@contextlib.contextmanager
def bound(**fields):
    """Add fields (None values are skipped) to every log record emitted inside the block."""
    token = bind(**fields)
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields) -> contextvars.Token:
    """Add fields to the log context; returns the token to reset it with `unbind`."""
    merged = dict(_context.get())
    merged.update({key: value for key, value in fields.items() if value is not None})
    return _context.set(merged)


def unbind(token: contextvars.Token) -> None:
    """Restore the log context as it was before `bind`."""
    _context.reset(token)


class ContextFilter(logging.Filter):
    """Copies the bound context onto the record (JSON: top-level fields; text: key=value at the end)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


_PLAIN_SECRET_NAMES = r"access_token|refresh_token|id_token|session_token|client_secret|api_secret|api_key|apikey|password|passwd|secret|token|authorization|x-shopify-access-token|x-shopify-hmac-sha256|hmac|signature|code"
# Compound identifiers too (webhook_secret_key, secret_key, imap_password): `_` is a word character, so \b alone misses them.
_SECRET_NAMES = r"(?:[A-Za-z0-9]+_)*(?:secret(?:_key)?|password|passwd|token)|" + _PLAIN_SECRET_NAMES
_STREET_WORDS = ("Street", "St", "Avenue", "Ave", "Road", "Rd", "Boulevard", "Blvd", "Lane", "Ln", "Drive", "Dr", "Court", "Ct", "Terrace", "Way", "Place", "Pl", "Square", "Sq", "Highway", "Hwy")


@dataclass(frozen=True)
class Redaction:
    """A pattern, its marker, and `gate`: a regex (on the lowercased line) that must match somewhere for the pattern to run."""

    pattern: re.Pattern
    replacement: str
    gate: str


def _words(*words: str) -> str:
    return "|".join(map(re.escape, words))


REDACTIONS: tuple[Redaction, ...] = (
    Redaction(re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[jwt]", "eyj"),  # session tokens
    Redaction(re.compile(r"\b(?:Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE), "[authorization]", _words("bearer", "basic", "token")),
    Redaction(re.compile(r"\bshp(?:at|ua|ca|pa|ss|rt)_[A-Za-z0-9]{6,}"), "[shopify-token]", "shp"),
    Redaction(re.compile(r"\bgAAAAA[A-Za-z0-9_=-]{20,}"), "[fernet]", "gaaaaa"),  # our ciphertexts
    Redaction(re.compile(rf"(?i)([\"']?\b(?:{_SECRET_NAMES})\b[\"']?\s*[=:]\s*[\"']?)(?!\[)([^\s&\"',;}}\]]+)"), r"\1[redacted]", _PLAIN_SECRET_NAMES),  # the gate: every compound contains a plain name; no prefix keeps the search linear
    Redaction(re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), "[email]", "@"),
    Redaction(re.compile(r"\+\d[\d\s().-]{6,}\d"), "[phone]", r"\+\d"),  # E.164 and international forms (Shopify's)
    Redaction(re.compile(r"\(?\b\d{3}\)?[-.\s]\d{3}[-.\s]\d{4}\b"), "[phone]", r"\d{3}\)?[-.\s]\d{3}[-.\s]\d{4}"),  # NANP 555-123-4567 / (555) 123-4567
    Redaction(re.compile(rf"\b\d{{1,5}}[A-Za-z]?\s+(?:[A-Z][\w'-]*\.?\s+){{1,4}}(?:{'|'.join(_STREET_WORDS)})\b\.?"), "[address]",
              r"\s(?:" + _words(*(w.lower() for w in _STREET_WORDS)) + r")\b"),
    Redaction(re.compile(r"\b(?:ul\.|ulica|al\.|aleja)\s+[\w .'-]{2,40}?\s\d{1,5}[A-Za-z]?(?:/\d+)?", re.IGNORECASE), "[address]", _words("ul.", "ulica", "al.", "aleja")),  # Polish addresses
)
# Gates are separate searches: one alternation would report only one gate per position (token=... is two).
_GATES = tuple(re.compile(redaction.gate) for redaction in REDACTIONS)


def redact(text: str) -> str:
    """`text` with secrets and personal data replaced by [kind] markers."""
    lower = text.lower()
    for redaction, gate in zip(REDACTIONS, _GATES):
        if gate.search(lower):
            text = redaction.pattern.sub(redaction.replacement, text)
    return text


def redact_value(value):
    """Redact strings inside nested dicts/lists/tuples (for Sentry events and structured fields)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: "[redacted]" if isinstance(key, str) and re.fullmatch(rf"(?i)(?:{_SECRET_NAMES}|cookie|set-cookie|email|phone|address\d?|street)", key) else redact_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(item) for item in value)
    return value


class RedactFilter(logging.Filter):
    """Renders the message (and any traceback) once, redacted, so no formatter sees the raw values."""

    _plain = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info:
            record.exc_text = redact(self._plain.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        # Context values are not redacted: ids from our rows, and request headers only when well-formed (request_context.py).
        return True


class TextFormatter(logging.Formatter):
    """The human-readable line, with the bound context as key=value at the end."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(f"{key}={getattr(record, key)}" for key in CONTEXT_KEYS if getattr(record, key, None) is not None)
        if not fields:
            return line
        head, sep, rest = line.partition("\n")
        return f"{head} [{fields}]{sep}{rest}"


def log_format(settings=None) -> str:
    """'json' or 'text': LOG_FORMAT when set, else JSON in real mode and text in sandbox mode."""
    chosen = os.environ.get("LOG_FORMAT", "").strip().lower()
    if chosen in ("json", "text"):
        return chosen
    sandbox = settings.sandbox if settings is not None else os.environ.get("SANDBOX", "").strip().lower() in ("1", "true", "yes", "on")
    return "text" if sandbox else "json"


def logging_dict(fmt: str) -> dict:
    """A dictConfig: one stderr handler on the root with the context and redaction filters; gunicorn's loggers propagate to it."""
    if fmt == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger", "asctime": "time"},
            "timestamp": False,
        }
    else:
        formatter = {"()": "shopify_app.server.logs.TextFormatter", "fmt": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "shopify_app.server.logs.ContextFilter"}, "redact": {"()": "shopify_app.server.logs.RedactFilter"}},
        "formatters": {"main": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr", "filters": ["context", "redact"]}},
        "root": {"level": os.environ.get("LOG_LEVEL", "INFO").upper(), "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
            "httpx": {"level": "WARNING"},  # its INFO lines are full request URLs
            "apscheduler": {"level": "WARNING"},
        },
    }


_configured = False


def configure_logging(settings=None, *, force: bool = False) -> None:
    """Install the app's logging once per process (create_app and the CLI call this; gunicorn applies the same dict)."""
    global _configured
    if _configured and not force:
        return
    if not force and _root_has_foreign_handlers():
        return  # pytest's capture or an embedding host owns logging: leave it alone
    logging.config.dictConfig(logging_dict(log_format(settings)))
    _configured = True


def _root_has_foreign_handlers() -> bool:
    root = logging.getLogger()
    return any(not any(isinstance(f, RedactFilter) for f in handler.filters) for handler in root.handlers)


def gunicorn_logconfig(settings) -> dict:
    """The dictConfig gunicorn applies in the arbiter (inherited by the worker)."""
    return logging_dict(log_format(settings))
