"""The state-counts fold touches only the (shop, kind, state) keys with more than one row: an idle fold writes nothing, counts stay exact under concurrent appends (SQLite and PostgreSQL)."""
from __future__ import annotations

import random
import threading

from sqlalchemy import event, insert, select, update

from shopify_app.kpis.models import StateCount
from shopify_app.kpis.state_counts import fold_state_counts, pipeline_counts, recounted
from shopify_app.orders.models import Order, OrderState
from test_state_counts import SHOPS, services  # noqa: F401  (the fixture)

STATES = [s.value for s in OrderState]


def _rows(services) -> dict[int, tuple]:
    with services.session_factory() as session:
        return {id_: rest for id_, *rest in session.execute(select(StateCount.id, StateCount.shop_domain, StateCount.kind, StateCount.state, StateCount.delta))}


def _writes(services):
    """The data-changing statements run on the services' engine while the block runs, with the rows each changed."""
    engine = services.session_factory.kw["bind"]
    seen: list[tuple[str, int]] = []

    def after(conn, cursor, statement, parameters, context, executemany):
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb in ("INSERT", "UPDATE", "DELETE"):
            seen.append((verb, cursor.rowcount))

    event.listen(engine, "after_cursor_execute", after)
    return seen, lambda: event.remove(engine, "after_cursor_execute", after)


def test_an_idle_fold_writes_nothing_and_a_busy_one_only_the_keys_appended_to(services) -> None:  # noqa: F811
    with services.session_factory.begin() as session:
        session.execute(insert(Order), [{"shop_domain": SHOPS[n % 2], "shopify_id": str(n), "state": STATES[n % 4], "currency": "EUR"} for n in range(200)])
    assert fold_state_counts(services) == 200
    folded = _rows(services)
    assert len(folded) == 4  # one row per key: shop A has two states, shop B two others
    seen, stop = _writes(services)
    try:
        assert fold_state_counts(services) == 0
    finally:
        stop()
    assert [(verb, n) for verb, n in seen if n] == []  # the DELETE matched nothing, nothing was inserted
    assert _rows(services) == folded  # the very same rows (ids and values)
    # One order of shop A moves from one state to another: only those two keys are rewritten.
    with services.session_factory.begin() as session:
        moved = session.scalar(select(Order).where(Order.shop_domain == SHOPS[0], Order.state == STATES[0]).limit(1))
        moved.state = STATES[2]
    assert fold_state_counts(services) == 4  # the two keys' folded rows and their -1 and +1
    after = _rows(services)
    untouched = {id_: row for id_, row in folded.items() if (row[0], row[2]) not in ((SHOPS[0], STATES[0]), (SHOPS[0], STATES[2]))}
    assert {id_: after[id_] for id_ in untouched} == untouched and len(untouched) == 2 and len(after) == 4
    with services.session_factory() as session:
        for shop in SHOPS:
            assert pipeline_counts(session, shop) == recounted(session, shop)


def test_counts_stay_exact_while_writers_append_and_folds_run(services) -> None:  # noqa: F811
    with services.session_factory.begin() as session:
        session.execute(insert(Order), [{"shop_domain": SHOPS[n % 2], "shopify_id": f"seed-{n}", "state": STATES[0], "currency": "EUR"} for n in range(40)])
    done = threading.Event()
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for n in range(25):
                with services.session_factory.begin() as session:
                    shop = rng.choice(SHOPS)
                    if rng.random() < 0.4:
                        session.execute(insert(Order), [{"shop_domain": shop, "shopify_id": f"w{seed}-{n}", "state": rng.choice(STATES), "currency": "EUR"}])
                    else:
                        ids = session.scalars(select(Order.id).where(Order.shop_domain == shop).order_by(Order.id).limit(5).offset(rng.randrange(20))).all()
                        session.execute(update(Order).where(Order.id.in_(ids)).values(state=rng.choice(STATES)))
        except BaseException as exc:  # noqa: BLE001  (reported by the test)
            errors.append(exc)

    def folder() -> None:
        try:
            while not done.is_set():
                fold_state_counts(services)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    writers = [threading.Thread(target=writer, args=(seed,)) for seed in range(3)]
    folding = threading.Thread(target=folder)
    folding.start()
    for t in writers:
        t.start()
    for t in writers:
        t.join(timeout=120)
    done.set()
    folding.join(timeout=120)
    assert not errors, errors
    with services.session_factory() as session:
        for shop in SHOPS:
            assert pipeline_counts(session, shop) == recounted(session, shop), shop
    fold_state_counts(services)
    rows = _rows(services)
    assert len({(shop, kind, state) for shop, kind, state, _ in rows.values()}) == len(rows)  # one row per key after a quiet fold
    assert fold_state_counts(services) == 0
