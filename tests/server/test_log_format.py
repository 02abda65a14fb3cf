"""Log format by mode (JSON in real mode, text in sandbox mode, LOG_FORMAT overrides) and the bound context on each line."""
from __future__ import annotations

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
    try:
        with bound(**context):
            logger.warning(message, *args)
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
