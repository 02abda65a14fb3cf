"""`node(id:)` and `nodes(ids:)`: any stored object by GID."""
from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from ..ids import check_gid
from ..registry import resolver

MAX_IDS = 250


@resolver("Query", "node")
def node(root: Any, info, id: str) -> dict | None:
    """One object by GID, or null."""
    return info.context.shop.get(check_gid(id))


@resolver("Query", "nodes")
def nodes(root: Any, info, ids: list[str]) -> list[dict | None]:
    """Objects by GID, null where not found, in the order asked."""
    if len(ids) > MAX_IDS:
        raise GraphQLError(f"The input array size of {len(ids)} is greater than the maximum allowed of {MAX_IDS}.", extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"})
    return [info.context.shop.get(check_gid(i)) for i in ids]
