"""2026-10 names return reasons by ReturnReasonDefinition handle; the policy speaks the legacy reasons."""
from __future__ import annotations

from shopify_app.returns.intake import reason_of


def test_handles_map_onto_the_policy_reasons() -> None:
    assert reason_of({"returnReasonDefinition": {"handle": "defective", "name": "Defective"}}) == "DEFECTIVE"
    assert reason_of({"returnReasonDefinition": {"handle": "size-too-small"}}) == "SIZE_TOO_SMALL"
    assert reason_of({"returnReasonDefinition": {"handle": "damaged"}}) == "DEFECTIVE"  # unsellable either way
    assert reason_of({"returnReasonDefinition": {"handle": "too-tight"}}) == "SIZE_TOO_SMALL"


def test_unknown_or_missing_handles_are_kept_or_unknown() -> None:
    assert reason_of({"returnReasonDefinition": {"handle": "arrived-late"}}) == "ARRIVED_LATE"
    assert reason_of({"returnReasonDefinition": None}) == "UNKNOWN"
    assert reason_of({}) == "UNKNOWN"
    assert len(reason_of({"returnReasonDefinition": {"handle": "x" * 80}})) == 32  # fits the column
