"""Error reporting to a Sentry-compatible DSN (SENTRY_DSN), scrubbed of secrets and personal data."""
from __future__ import annotations

import logging
import os

from .logs import current_context, redact, redact_value

log = logging.getLogger(__name__)

# Request fields that only ever carry what we must not send (session tokens in the query,
# cookies, webhook bodies with customers' addresses).
_DROP_REQUEST_FIELDS = ("cookies", "data", "query_string", "env")
_KEEP_HEADERS = {"content-type", "content-length", "user-agent", "x-request-id", "x-shopify-topic", "x-shopify-shop-domain", "x-shopify-api-version", "x-shopify-webhook-id"}


def scrub_event(event: dict, hint: dict | None = None) -> dict:
    """Sentry's before_send: drop request bodies, cookies, query strings and most headers; redact every string left."""
    request = event.get("request")
    if isinstance(request, dict):
        for name in _DROP_REQUEST_FIELDS:
            request.pop(name, None)
        if isinstance(request.get("url"), str):
            request["url"] = request["url"].split("?", 1)[0]
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {key: value for key, value in headers.items() if key.lower() in _KEEP_HEADERS}
    event.pop("user", None)
    context = current_context()
    if context:
        event.setdefault("tags", {}).update({key: str(value) for key, value in context.items()})
    return redact_value(event)


def scrub_breadcrumb(crumb: dict, hint: dict | None = None) -> dict:
    """Sentry's before_breadcrumb: log lines and HTTP breadcrumbs redacted like our logs."""
    if isinstance(crumb.get("message"), str):
        crumb["message"] = redact(crumb["message"])
    if isinstance(crumb.get("data"), dict):
        crumb["data"] = redact_value({key: value for key, value in crumb["data"].items() if key not in ("http.query", "http.fragment")})
    return crumb


def init_error_reporting(settings, env: dict | None = None) -> bool:
    """Start the official sentry-sdk when SENTRY_DSN is set (send_default_pii=False, no locals, no bodies); True when on."""
    env = os.environ if env is None else env
    dsn = env.get("SENTRY_DSN", "").strip()
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    sentry_sdk.init(
        dsn=dsn,
        # No PII, stated explicitly: sentry-sdk 2.75 replaces send_default_pii=False (deprecated) with
        # data_collection; nothing of the user, cookies, bodies, query strings, SQL values or frame locals.
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {"request": {"mode": "allowlist", "terms": sorted(_KEEP_HEADERS)}},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "database_query_data": False,
            "stack_frame_variables": False,
        },
        before_send=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
        traces_sample_rate=0.0,
        environment=env.get("SENTRY_ENVIRONMENT") or ("sandbox" if settings.sandbox else "production"),
        release=env.get("APP_RELEASE") or None,
        integrations=[FlaskIntegration(), LoggingIntegration(level=logging.INFO, event_level=logging.ERROR)],
    )
    log.info("error reporting on (%s)", dsn.split("@")[-1])  # host and project only: the key stays out of logs
    return True
