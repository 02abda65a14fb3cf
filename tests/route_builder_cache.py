"""Tests build a Flask app per test (~2,500 a run), and werkzeug compiles each of its ~600 URL rules' builders anew.

Rule._compile_builder turns a rule into Python source (an AST) and compiles it: 118 ms of the 244 ms a
create_app took. The function it returns reads everything that differs between apps from the rule it is
bound to at call time (`.self._converters`, `.self._encode_query_vars`); what is baked in is only the
rule's trace (its static text and argument names), the defaults' names and the defaults of dynamic parts
converted to text. Same inputs, same function: this memoises it on exactly those inputs, for the tests only.

It reaches into a private method, so it is applied only to the werkzeug version it was written against;
any other version runs unpatched (slower, never wrong).
"""
from __future__ import annotations

from typing import Any, Callable

from importlib.metadata import version

from werkzeug.routing.rules import Rule

CHECKED_VERSIONS = ("3.1.",)


def _key(rule: Rule, append_unknown: bool) -> tuple[Any, ...]:
    """Everything _compile_builder bakes into the function it returns."""
    dynamic = {data for is_dynamic, data in rule._trace if is_dynamic}
    defaults = tuple((name, rule._converters[name].to_url(value) if name in dynamic else None) for name, value in (rule.defaults or {}).items())
    return (rule.rule, append_unknown, tuple(rule._trace), defaults)


def install() -> Callable[[], None] | None:
    """Memoise Rule._compile_builder; returns the undo, or None when this werkzeug is not a checked version."""
    if not version("werkzeug").startswith(CHECKED_VERSIONS):
        return None
    original = Rule._compile_builder
    built: dict[tuple[Any, ...], Callable[..., tuple[str, str]]] = {}

    def compile_builder(self: Rule, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        key = _key(self, append_unknown)
        function = built.get(key)
        if function is None:
            function = built[key] = original(self, append_unknown)
        return function

    Rule._compile_builder = compile_builder

    def undo() -> None:
        Rule._compile_builder = original

    return undo
