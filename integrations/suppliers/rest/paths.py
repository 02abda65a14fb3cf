"""Dotted paths into JSON documents: read `data.items.0.sku`, write `ship_to.address.city`.

A path is a dot-separated list of keys; an all-digit segment indexes a list when the value
at that point is a list. The empty path means the document itself.
"""
from __future__ import annotations

from typing import Any


class PathError(ValueError):
    """A path that cannot be written (a segment runs into a value that is not an object)."""


def segments(path: str) -> tuple[str, ...]:
    """The keys of a dotted path; ValueError for empty segments such as `a..b`."""
    if path == "":
        return ()
    parts = tuple(path.split("."))
    if any(part == "" for part in parts):
        raise ValueError(f"path {path!r} has an empty segment")
    return parts


def get_path(document: Any, path: str, default: Any = None) -> Any:
    """The value at `path`, or `default` when any step is missing."""
    current = document
    for part in segments(path):
        if isinstance(current, dict):
            if part not in current:
                return default
            current = current[part]
        elif isinstance(current, list) and part.isdigit():
            index = int(part)
            if index >= len(current):
                return default
            current = current[index]
        else:
            return default
    return current


def set_path(document: dict[str, Any], path: str, value: Any) -> None:
    """Write `value` at `path`, creating objects on the way."""
    parts = segments(path)
    if not parts:
        raise PathError("cannot write at the empty path")
    current = document
    for part in parts[:-1]:
        child = current.setdefault(part, {})
        if not isinstance(child, dict):
            raise PathError(f"path {path!r} runs into a value that is not an object at {part!r}")
        current = child
    current[parts[-1]] = value
