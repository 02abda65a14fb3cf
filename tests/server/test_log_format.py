"""Log format by mode (JSON in real mode, text in sandbox mode, LOG_FORMAT overrides) and the bound context on each line."""
from __future__ import annotations

import contextvars
import io
import json
import logging
import logging.config

import pytest

from shopify_app.server.logs import bound, log_format, logging_dict


@pytest.mark.parametrize("sandbox, override, expected", [("", "", "json"), ("1", "", "text"), ("", "text", "text"), ("1", "json", "json")])
def test_format_follows_the_mode_unless_overridden(monkeypatch, sandbox, override, expected):
    monkeypatch.setenv("SANDBOX", sandbox)
    monkeypatch.setenv("LOG_FORMAT", override)
    assert log_format() == expected


def emit(fmt: str, message: str, *args, **context) -> str:
    """One record through the handler logging_dict(fmt) configures (its filters and formatter), captured."""
    config = logging_dict(fmt)
    handler = logging.StreamHandler(io.StringIO())
    dict_config = logging.config.DictConfigurator(config)
    handler.setFormatter(dict_config.configure_formatter(config["formatters"]["main"]))
    for spec in config["handlers"]["stderr"]["filters"]:
        handler.addFilter(dict_config.configure_filter(config["filters"][spec]))
    logger = logging.getLogger(f"test.logformat.{fmt}")
    logger.addHandler(handler)
    logger.propagate = False
    def log_in_a_fresh_context():
        with bound(**context):
            logger.warning(message, *args)

    try:
        # A fresh context: a field another test left bound on this worker's thread (a streamed
        # test-client response whose teardown ran elsewhere) must not show up in these lines.
        contextvars.Context().run(log_in_a_fresh_context)
    finally:
        logger.removeHandler(handler)
    return handler.stream.getvalue()


def test_json_lines_carry_the_context_as_fields_and_redact():
    line = emit("json", "supplier refused order for %s", "jane@example.com", shop="a.myshopify.com", supplier_order_id=12, request_id="r1")
    record = json.loads(line)
    assert record["level"] == "WARNING" and record["logger"] == "test.logformat.json"
    assert record["shop"] == "a.myshopify.com" and record["supplier_order_id"] == 12 and record["request_id"] == "r1"
    assert record["message"] == "supplier refused order for [email]"


def test_text_lines_are_human_readable_with_the_context_at_the_end():
    line = emit("text", "inbox pass done", shop="a.myshopify.com", topic="orders/create")
    assert not line.startswith("{")
    assert "WARNING test.logformat.text: inbox pass done [shop=a.myshopify.com topic=orders/create]" in line


@pytest.mark.parametrize("line, secret, marker", [
    ("GET /?shop=a.myshopify.com&id_token=abc.def.ghi&host=x", "abc.def.ghi", "[redacted]"),
    ("token=abc123def&x=1", "abc123def", "[redacted]"),
    ('{"access_token": "xyz123"}', "xyz123", "[redacted]"),
    ("password: hunter22", "hunter22", "[redacted]"),
    ("Authorization: Bearer shpat_abcdef123456", "shpat_abcdef123456", "[authorization]"),
    ("offline token for the shop: shpua_0123456789", "shpua_0123456789", "[shopify-token]"),
    ("session eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "eyJhbGciOiJIUzI1NiJ9", "[jwt]"),
    ("stored gAAAAABpZ2FhYWFhYWFhYWFhYWFhYWFh", "gAAAAABpZ2Fh", "[fernet]"),
    ("customer jane.doe+shop@example.co.uk", "jane.doe", "[email]"),
    ("call +48 601 555 019 now", "601 555 019", "[phone]"),
    ("call (613) 555-0111", "555-0111", "[phone]"),
    ("ship to 742 Evergreen Terrace, Springfield", "Evergreen", "[address]"),
    ("dostawa: ul. Marszałkowska 12/3, Warszawa", "Marszałkowska", "[address]"),
])
def test_redaction_masks_each_kind(line, secret, marker):
    from shopify_app.server.logs import redact

    masked = redact(line)
    assert secret not in masked and marker in masked, masked


def test_redaction_leaves_ordinary_lines_alone():
    from shopify_app.server.logs import redact

    line = "webhook 9b430378-b9be-4733 topic=orders/create shop=demo.myshopify.com outcome=new at 2026-12-03 17:40:00 order 820982911946154508"
    assert redact(line) == line
