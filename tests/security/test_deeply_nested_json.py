"""JSON nested past Python's limits (a text any merchant can type, a signed body) is refused or treated as text, never a crash.

json.loads raises RecursionError, not ValueError, from about 1,000 levels, and a recursive walk of a
parsed value fails from about 300: code that caught only ValueError let one such value stop a
customer's redaction or every claim of a scaled-out webhook lane.
"""
from __future__ import annotations

import pytest

from shopify_app.jobs.order_holds import order_key_of
from shopify_app.privacy import orders_named
from shopify_app.privacy_files import _is_json
from shopify_app.privacy_search import Needles, Redactor

EMAIL = "jan.kowalski@example.pl"


def nested(depth: int, inner: str = f'"{EMAIL}"') -> str:
    return '{"a": ' * depth + inner + "}" * depth


@pytest.mark.parametrize("depth", [600, 5000], ids=["parses-but-too-deep-to-walk", "too-deep-to-parse"])
def test_a_customers_email_inside_deep_json_text_is_redacted_as_text(depth):
    redactor = Redactor(Needles.build([EMAIL], [], [], []))
    redacted = redactor.value(nested(depth), "suppliers.notes")
    assert EMAIL not in redacted and "[redacted" in redacted
    assert redactor.found == [("suppliers.notes", nested(depth))]


def test_a_deep_json_text_inside_a_webhook_body_names_no_order_and_does_not_fail():
    assert orders_named({"note": nested(5000), "id": 7, "admin_graphql_api_id": "gid://shopify/Order/7"}, "orders/create") == {"7"}


def test_a_deep_json_file_is_not_taken_for_json():
    assert _is_json(nested(5000)) is False


def test_an_orders_body_too_deep_to_parse_has_no_order_key_and_is_left_to_the_worker():
    assert order_key_of("orders/create", nested(5000)) == (None, None)
