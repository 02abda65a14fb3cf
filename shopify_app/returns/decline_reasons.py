"""Why the policy declined a return, kept as a code and its figures and put into words in the reader's language.

The case stores [{"code": ..., "params": {...}}]; the customer's email says it in the
customer's language when it is rendered, the merchant's note in the language of the
moment of the decision. A code this version does not know says nothing (the stored note stays).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from ..i18n import gettext as _

_TEXTS: dict[str, Callable[..., str]] = {
    "final_sale": lambda: _("This item was sold as final sale and cannot be returned."),
    "withdrawal_exempt": lambda: _("This item was made or personalised for you, or perishes, so the law excludes it from withdrawal."),
    "guarantee_ended": lambda days: _("The legal guarantee has ended: it covers %(days)s days from delivery.", days=days),
    "window_ended": lambda days: _("The return window has ended: for this reason returns are accepted within %(days)s days of delivery.", days=days),
    "window_ended_business": lambda days: _("The return window has ended: for this reason returns are accepted within %(days)s business days of delivery.",
                                            days=days),
    "damage_window_ended": lambda days: _("The return window has ended: for this reason damage must be reported within %(days)s days of delivery.", days=days),
    "damage_window_ended_business": lambda days: _("The return window has ended: for this reason damage must be reported within %(days)s business days of delivery.",
                                                   days=days),
}


def reason(code: str, **params: int) -> dict[str, Any]:
    """One decline reason as stored: its code and whole-number figures."""
    return {"code": code, "params": params}


def merged(reasons: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The reasons once each, in order (several lines may be declined for the same reason)."""
    seen: dict[tuple, dict[str, Any]] = {}
    for item in reasons:
        seen.setdefault((item["code"], tuple(sorted(item.get("params", {}).items()))), dict(item))
    return list(seen.values())


def in_words(reasons: Iterable[Mapping[str, Any]] | None) -> str:
    """The reasons as sentences in the current language ('' when none is known)."""
    sentences = []
    for item in reasons or ():
        text = _TEXTS.get(str(item.get("code"))) if isinstance(item, Mapping) else None
        if text is None:
            continue
        params = item.get("params")
        params = {k: v for k, v in params.items() if isinstance(v, int) and not isinstance(v, bool)} if isinstance(params, Mapping) else {}
        try:
            sentences.append(text(**params))
        except TypeError:  # stored figures that do not fit the sentence (an older or tampered row)
            continue
    return " ".join(dict.fromkeys(sentences))
