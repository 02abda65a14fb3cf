"""Every GraphQL query and mutation the app sends to Shopify, one `.graphql` file each.

Each file holds exactly one named operation whose name equals the file stem, so a
document is referred to by its operation name everywhere (gateway calls, logs, the
remembered query costs) and the whole set is validated against the Admin schema in
tests/integrations/test_documents_schema.py.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

from graphql import DocumentNode, FieldNode, OperationDefinitionNode, OperationType, VariableNode, parse

DOCUMENTS_DIR = Path(__file__).resolve().parent


FRAGMENTS_DIR = DOCUMENTS_DIR / "fragments"
# `...Name` (a named fragment spread), not `... on Type` (an inline fragment).
_SPREAD = re.compile(r"\.\.\.\s*(?!on\b)([_A-Za-z][_0-9A-Za-z]*)")


def _load_fragments() -> dict[str, str]:
    return {path.stem: path.read_text(encoding="utf-8") for path in sorted(FRAGMENTS_DIR.glob("*.graphql"))}


def _with_fragments(text: str, fragments: dict[str, str]) -> str:
    """Append every fragment the document spreads, transitively (shared selections live once)."""
    needed: list[str] = []
    pending = _SPREAD.findall(text)
    while pending:
        name = pending.pop()
        if name in needed or name not in fragments:
            continue
        needed.append(name)
        pending.extend(_SPREAD.findall(fragments[name]))
    return text + "".join("\n" + fragments[name] for name in sorted(needed))


def _load_documents() -> dict[str, str]:
    fragments = _load_fragments()
    return {path.stem: _with_fragments(path.read_text(encoding="utf-8"), fragments) for path in sorted(DOCUMENTS_DIR.glob("*.graphql"))}


DOCUMENTS: dict[str, str] = _load_documents()


def get_document(name: str) -> str:
    """The text of the document `name` (with the fragments it spreads)."""
    try:
        return DOCUMENTS[name]
    except KeyError:
        raise KeyError(f"no GraphQL document named {name!r} in {DOCUMENTS_DIR}") from None


@functools.lru_cache(maxsize=None)
def parsed_document(name: str) -> DocumentNode:
    """The parsed AST of a document (cached: documents never change at runtime)."""
    return parse(get_document(name))


def operation_of(name: str) -> OperationDefinitionNode:
    """The single operation definition in the document `name`."""
    operations = [d for d in parsed_document(name).definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1:
        raise ValueError(f"document {name!r} must hold exactly one operation, found {len(operations)}")
    return operations[0]


def is_mutation(name: str) -> bool:
    """True when the document `name` is a mutation (its failures may leave side effects)."""
    return operation_of(name).operation is OperationType.MUTATION


def idempotency_key_variable(name: str) -> str | None:
    """The variable a mutation passes to `@idempotent(key: $var)` on its root field, if it uses the directive."""
    for selection in operation_of(name).selection_set.selections:
        if not isinstance(selection, FieldNode):
            continue
        for directive in selection.directives or ():
            if directive.name.value != "idempotent":
                continue
            for argument in directive.arguments or ():
                if argument.name.value == "key" and isinstance(argument.value, VariableNode):
                    return argument.value.name.value
    return None
