"""The pipeline's counts by state, kept by the database instead of counted on each view.

Triggers (migration 0032) append a +1/-1 `StateCount` row for every insert, state change and
delete of an order or supplier order, in the writer's own transaction, whatever the writer
(ORM, Core statements, bulk loads, erasure): no code path can forget it, and since rows are
only inserted, concurrent writers never wait on a shared counter row. A view sums the shop's
rows (`pipeline_counts`); the `state-counts` job folds them into one row per (shop, kind,
state) every minute so that sum stays a handful of rows; `recount_shop_states` (daily per
shop) repairs drift, e.g. rows written while triggers were off in a restore.
"""
from __future__ import annotations

import logging
from collections import Counter

from sqlalchemy import delete, func, insert, literal, select, tuple_, union_all
from sqlalchemy.orm import Session

from ..orders.models import Order
from ..suppliers.models import SupplierOrder
from .models import StateCount

log = logging.getLogger(__name__)

COUNTED = {"order": Order, "delivery": SupplierOrder}  # kind -> the table the triggers count

def pipeline_counts(session: Session, shop: str) -> dict[str, Counter]:
    """{'order': Counter(state -> n), 'delivery': Counter(state -> n)} for the shop, from the kept counts (an index-only read)."""
    counts: dict[str, Counter] = {kind: Counter() for kind in COUNTED}
    rows = session.execute(select(StateCount.kind, StateCount.state, func.sum(StateCount.delta))
                           .where(StateCount.shop_domain == shop).group_by(StateCount.kind, StateCount.state))
    for kind, state, total in rows:
        if kind in counts and total:
            counts[kind][state] = int(total)
    return counts


def recounted(session: Session, shop: str) -> dict[str, Counter]:
    """The same figures counted from the orders and supplier orders themselves (the slow way: the recount and the tests)."""
    parts = [select(literal(kind).label("kind"), model.state, func.count()).where(model.shop_domain == shop).group_by(model.state)
             for kind, model in COUNTED.items()]
    counts: dict[str, Counter] = {kind: Counter() for kind in COUNTED}
    for kind, state, total in session.execute(union_all(*parts)):
        counts[kind][state] = int(total)
    return counts


# The (shop, kind, state) keys with more than one row: what a fold has to do. Read from the covering
# index; a key with one row is folded already, and rewriting it each minute (10,000 rows for
# 1,000 shops) was the whole cost of an idle fold.
_UNFOLDED = select(StateCount.shop_domain, StateCount.kind, StateCount.state).group_by(
    StateCount.shop_domain, StateCount.kind, StateCount.state).having(func.count() > 1)
_TAKE = delete(StateCount).where(tuple_(StateCount.shop_domain, StateCount.kind, StateCount.state).in_(_UNFOLDED)).returning(
    StateCount.shop_domain, StateCount.kind, StateCount.state, StateCount.delta)


def fold_state_counts(services) -> int:
    """Fold the appended rows into one row per (shop, kind, state), touching only keys with more than one row; how many rows were folded.

    DELETE ... RETURNING takes exactly the rows this statement saw, so a row committed
    meanwhile (on PostgreSQL ids are not in commit order) stays for the next fold; the sums
    are of what was returned, whichever keys the statement's subquery picked. Nothing to fold:
    nothing is written.
    """
    with services.session_factory.begin() as session:
        taken = session.execute(_TAKE).all()
        sums: Counter = Counter()
        for shop, kind, state, delta in taken:
            sums[(shop, kind, state)] += delta
        rows = [{"shop_domain": shop, "kind": kind, "state": state, "delta": total} for (shop, kind, state), total in sums.items() if total]
        for start in range(0, len(rows), 1000):
            session.execute(insert(StateCount), rows[start:start + 1000])
    return len(taken)


def recount_shop_states(services, shop: str) -> dict[str, Counter]:
    """Replace the shop's kept counts by a recount; the drift found (recount - kept, non-zero only).

    One snapshot for the recount and the rows it replaces (REPEATABLE READ on PostgreSQL; a
    SQLite transaction is one snapshot already): a change committed after it keeps its own
    +1/-1 rows, so nothing is counted twice or lost. A conflicting fold makes PostgreSQL
    refuse this transaction; the next run repairs instead.
    """
    with services.session_factory() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})  # before the transaction's first statement
        kept, actual = pipeline_counts(session, shop), recounted(session, shop)
        session.execute(delete(StateCount).where(StateCount.shop_domain == shop))
        rows = [{"shop_domain": shop, "kind": kind, "state": state, "delta": n} for kind, states in actual.items() for state, n in states.items() if n]
        if rows:
            session.execute(insert(StateCount), rows)
        session.commit()
    drift = {kind: Counter({s: actual[kind][s] - kept[kind][s] for s in set(actual[kind]) | set(kept[kind]) if actual[kind][s] != kept[kind][s]})
             for kind in COUNTED}
    if any(drift.values()):
        log.warning("state counts drifted shop=%s drift=%s (repaired)", shop, {k: dict(v) for k, v in drift.items() if v})
    return drift
