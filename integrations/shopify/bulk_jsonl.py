"""Reading a bulk operation's JSONL output, grouped or not.

Since 2026-01 Shopify writes bulk results ungrouped by default: a nested connection's node is
a line of its own with `__parentId`, and it may come before its parent's line. Readers must
therefore join by `__parentId`, never by position. `join_by_parent` does it in one pass:
root lines are passed on at once (and a small summary of each kept), a child whose parent
was already seen is passed on with that summary, and a child that arrives first waits until
its parent's line comes (or is reported as an orphan at the end of the file).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator


@dataclass(frozen=True)
class BulkLine:
    """One object of the file: a root (parent None) or a child with its parent's summary."""

    obj: dict[str, Any]
    parent_id: str | None = None
    parent: Any = None
    orphan: bool = False  # a child whose parent never appeared in the file


def join_by_parent(lines: Iterable[dict[str, Any]], summarize: Callable[[dict[str, Any]], Any] = lambda obj: obj) -> Iterator[BulkLine]:
    """Yield roots as they come and children once their parent is known (`summarize` keeps what children need)."""
    seen: dict[str, Any] = {}
    waiting: dict[str, list[dict[str, Any]]] = {}
    for obj in lines:
        parent_id = obj.get("__parentId")
        if parent_id is None:
            summary = summarize(obj)
            if obj.get("id") is not None:
                seen[obj["id"]] = summary
            yield BulkLine(obj)
            for child in waiting.pop(obj.get("id"), ()):  # children that came first
                yield from _child(child, seen, waiting)
        else:
            yield from _child(obj, seen, waiting)
    for parent_id, children in waiting.items():
        for child in children:
            yield BulkLine(child, parent_id, None, orphan=True)


def _child(obj: dict[str, Any], seen: dict[str, Any], waiting: dict[str, list[dict[str, Any]]]) -> Iterator[BulkLine]:
    parent_id = obj["__parentId"]
    if parent_id in seen:
        summary = seen[parent_id]
        # A child can itself be a parent (two levels of nesting): its own children point at it.
        if obj.get("id") is not None:
            seen[obj["id"]] = summary
        yield BulkLine(obj, parent_id, summary)
        for grandchild in waiting.pop(obj.get("id"), ()):
            yield from _child(grandchild, seen, waiting)
    else:
        waiting.setdefault(parent_id, []).append(obj)
