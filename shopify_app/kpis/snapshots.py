"""KPI snapshots: each UTC day's facts digested per shop by a job; views merge them instead of reading every record.

A shop with a million orders cannot have its dashboard summarise every order on each view.
The facts of compute.py (one per sold line, parcel, supplier order...) are digested per day
into small mergeable forms: sums, and counts of distinct values where a median or a share
is needed. A period's figures merge the digests of its days (closed days from the
`kpi_snapshots` rows; today from its row as of the job's last run while that is under
TODAY_MAX_AGE old, else live; a day cut by the period's edge live) and come out in the same
shape as compute.kpis(). Complaints (with the customers' cases, hence the reply-time KPI) are
always read live: they are few next to the orders, and a complaint is reacted to after its day
has closed, which a day's digest would miss.

Satisfaction (the follow-up's answers, the review requests and their clicks: ~100,000 of each a
year for a 1,000,000-order shop, which made the month view read a year of rows) is digested per
day as counts (kpis/satisfaction.py: an answer counts on the day of the order's latest answer, a
review request on the day it was sent). What changes such a day after it closed (a customer
changing the answer, opening the review link days later) marks the day in the same transaction
(kpis/stale_days.py); a view reads a marked day's satisfaction live until the job re-digests it.

Adding a KPI (e.g. cases or satisfaction): give compute._facts a fact family, then register
a `Digester` here under the same name (how a day's facts digest, how digests merge) and read
the merged value in `summarise`. Raise VERSION when a digest's format changes: older
snapshots are then recomputed.

The per-shop job `kpi-snapshots` (every 15 min) writes the days that closed, rewrites today and
the last RESNAPSHOT_DAYS closed days (late facts: a cost, a cancellation); and keeps the
all-time returns analytics (returns.analytics, which reads every order line) as a snapshot too.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..models import utcnow
from ..returns.analytics import return_analytics
from ..suppliers.models import Supplier
from . import compute
from . import satisfaction
from .satisfaction import answer_facts, review_facts
from .stale_days import clear_marks, stale_days, taken_marks
from .models import KpiSnapshot, ReturnAnalyticsSnapshot
from .targets import get_targets

# 2: with the "satisfaction" digest (a version-1 row got it added by the job, its other digests kept).
# 3: parcels judged on their ETA's day, one never delivered as late (compute.py): older rows dated them by delivery, so they are recomputed.
VERSION = 3
UPGRADABLE = (3,)  # versions whose digests are kept (older days are read live until the job rewrites them)
DAY = dt.timedelta(days=1)
HISTORY_DAYS = 400  # how far back the job snapshots (the month view reaches 365 days)
RESNAPSHOT_DAYS = 2  # closed days rewritten each run: facts that arrive late (a cost, a cancellation)
# Days one run writes at most, newest first: after a VERSION change (or a first run) a shop's 400 days are
# spread over runs instead of one run digesting them all (a big shop's run would outlast its 15-minute slot);
# two months first, so the default views (30 days and the period before) are fast after one run. Days not
# written yet are read live by the views meanwhile (day_digests).
MAX_DAYS_PER_RUN = 62
HOURS_PLACES = 4  # hours are kept to 0.36 s: medians shown to 2 places come out the same
# Today is digested by each run of the job (every 15 min): a view uses that while it is this
# fresh, else reads today's records. Today's live facts look back 180 days for parcels and
# first shipments, which is what made a big shop's view slow.
TODAY_MAX_AGE = dt.timedelta(minutes=30)


@dataclass(frozen=True)
class Digester:
    """How one fact family of a day digests into JSON, and how digests merge."""

    digest: Callable[[list], object]
    merge: Callable[[list], object]


def _count_by(key: Callable) -> Callable[[list], list]:
    def digest(facts: list) -> list:
        return [[*k, n] for k, n in sorted(Counter(key(f) for f in facts).items(), key=repr)]
    return digest


def _merge_counts(digests: list) -> Counter:
    merged: Counter = Counter()
    for rows in digests:
        for *key, n in rows:
            merged[tuple(key)] += n
    return merged


def _digest_money(facts: list) -> dict:
    total: dict[str, Decimal] = {}
    for f in facts:
        total[f.field] = total.get(f.field, Decimal(0)) + f.amount
    return {field: str(amount) for field, amount in sorted(total.items())}


def _merge_money(digests: list) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for digest in digests:
        for field, amount in digest.items():
            total[field] = total.get(field, Decimal(0)) + Decimal(amount)
    return total


_hours_digester = Digester(_count_by(lambda f: (f.supplier_id, round(f.hours, HOURS_PLACES))), _merge_counts)

DIGESTERS: dict[str, Digester] = {
    "units": Digester(lambda facts: [sum(f.sold for f in facts), sum(f.returned for f in facts)],
                      lambda digests: [sum(d[0] for d in digests), sum(d[1] for d in digests)]),
    "parcels": Digester(_count_by(lambda f: (f.supplier_id, f.status, f.transit_days)), _merge_counts),
    "forward": _hours_digester,
    "ack": _hours_digester,
    "ship": _hours_digester,
    "money": Digester(_digest_money, _merge_money),
}
LIVE_FAMILIES = ("complaints",)  # read for the period on each view (see the module's docstring)
SATISFACTION = "satisfaction"  # digested from a session (its products), beside DIGESTERS


def live_facts(session: Session, shop: str, start: dt.datetime, end: dt.datetime) -> dict[str, list]:
    """The families read live for [start, end) on each view, by name."""
    live = {"complaints": compute.complaint_facts(session, shop, start, end)}
    return {name: sorted(facts, key=_at) for name, facts in live.items()}  # by time: each bucket's share is a slice (_within)


def _at(fact) -> dt.datetime:
    return fact.at


def _within(live: dict[str, list], start: dt.datetime, end: dt.datetime) -> dict[str, list]:
    """The facts of [start, end) out of live_facts' time-ordered lists (a year's month buckets of 100k answers: a slice each, not a scan)."""
    return {name: facts[bisect_left(facts, start, key=_at):bisect_left(facts, end, key=_at)] for name, facts in live.items()}


def digest_day(session: Session, shop: str, day: dt.date, now: dt.datetime) -> dict:
    """The digests of one UTC day's facts."""
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    return digest_with_satisfaction(session, compute._facts(session, shop, start, start + DAY, now))


def digest_facts(facts: dict[str, list]) -> dict:
    """Digest fact lists (compute._facts' shape) family by family."""
    return {name: digester.digest(facts[name]) for name, digester in DIGESTERS.items()}


def digest_with_satisfaction(session: Session, facts: dict[str, list]) -> dict:
    """digest_facts() and the satisfaction digest of the same facts (its products read through the session)."""
    return {**digest_facts(facts), SATISFACTION: _satisfaction_digest(session, facts["answers"], facts["reviews"])}


def _satisfaction_digest(session: Session, answers: list, reviews: list) -> dict:
    return satisfaction.digest(answers, reviews, satisfaction.product_lines(session, {f.order_id for f in answers} | {r.order_id for r in reviews}))


def satisfaction_day(session: Session, shop: str, day: dt.datetime) -> dict:
    """The satisfaction digest of one whole UTC day read from the rows (a marked day, a snapshot without it)."""
    return _satisfaction_digest(session, answer_facts(session, shop, day, day + DAY), review_facts(session, shop, day, day + DAY))


def merge(digests: list[dict]) -> dict:
    """One merged state per family from several days' digests."""
    return {**{name: digester.merge([d[name] for d in digests]) for name, digester in DIGESTERS.items()},
            SATISFACTION: satisfaction.merge_digests([d[SATISFACTION] for d in digests])}


# --- writing: the per-shop job ------------------------------------------------------------------


def close_shop_days(services, shop: str, now: dt.datetime | None = None) -> int:
    """Snapshot the shop's closed days that have none (or an old one), and rewrite the last few; how many were written."""
    now = now or utcnow()
    today = now.date()
    first = today - dt.timedelta(days=HISTORY_DAYS)
    with services.session_factory() as session:
        marks = taken_marks(session, shop)  # before any fact is read: a change committed later keeps its mark (stale_days.py)
        have = {day: version for day, version in session.execute(
            select(KpiSnapshot.day, KpiSnapshot.version).where(KpiSnapshot.shop_domain == shop, KpiSnapshot.day >= first))}
        oldest = _first_activity(session, shop)
    if oldest is None:
        return 0
    days = [first + dt.timedelta(days=n) for n in range((today - first).days + 1)]  # today too: its figures so far
    wanted = [d for d in reversed(days) if d >= oldest and (have.get(d) not in UPGRADABLE or d >= today - dt.timedelta(days=RESNAPSHOT_DAYS))]
    wanted = wanted[:MAX_DAYS_PER_RUN]  # newest first: the rest in the next runs
    for day in wanted:  # one transaction per day: a long history never holds the write lock for long
        with services.session_factory() as session:
            digests = digest_day(session, shop, day, now)  # today: up to now (the facts after now do not exist yet)
        with services.session_factory.begin() as session:
            session.execute(delete(KpiSnapshot).where(KpiSnapshot.shop_domain == shop, KpiSnapshot.day == day))
            session.add(KpiSnapshot(shop_domain=shop, day=day, version=VERSION, digests=digests, computed_at=now))
    # Only the satisfaction of a day marked stale: the rest stays (an older version's day is in `wanted`, rewritten whole).
    redo = sorted({d for d in marks.values() if have.get(d) in UPGRADABLE} - set(wanted))
    for day in redo:
        start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
        with services.session_factory() as session:
            digest = satisfaction_day(session, shop, start)
        with services.session_factory.begin() as session:
            row = session.scalar(select(KpiSnapshot).where(KpiSnapshot.shop_domain == shop, KpiSnapshot.day == day))
            if row is not None:
                row.digests, row.version = {**row.digests, SATISFACTION: digest}, VERSION
    if marks:
        with services.session_factory.begin() as session:
            clear_marks(session, marks)
    snapshot_return_analytics(services, shop, now)
    return len(wanted) + len(redo)


def _first_activity(session: Session, shop: str) -> dt.date | None:
    """The first day with an order (no history before it to snapshot)."""
    first = session.scalar(select(compute.func.min(compute.ORDER_TIME)).where(compute.Order.shop_domain == shop))
    return first.date() if first is not None else None


def snapshot_return_analytics(services, shop: str, now: dt.datetime | None = None) -> None:
    """Store returns.analytics' all-time figures for the shop (read by the dashboard and the returns page)."""
    with services.session_factory() as session:
        analytics = json.loads(json.dumps(return_analytics(session, shop), default=str))
    with services.session_factory.begin() as session:
        session.execute(delete(ReturnAnalyticsSnapshot).where(ReturnAnalyticsSnapshot.shop_domain == shop))
        session.add(ReturnAnalyticsSnapshot(shop_domain=shop, analytics=analytics, computed_at=now or utcnow()))


def stored_return_analytics(session: Session, shop: str) -> dict:
    """The snapshot of returns.analytics when there is one (at most an hour old), else computed now."""
    row = session.scalar(select(ReturnAnalyticsSnapshot.analytics).where(ReturnAnalyticsSnapshot.shop_domain == shop))
    return row if row is not None else return_analytics(session, shop)


# --- reading: a period from snapshots and live facts --------------------------------------------


def kpis_from_snapshots(session: Session, shop: str, start: dt.datetime, end: dt.datetime, bucket: str = "day", *, now: dt.datetime | None = None) -> dict:
    """compute.kpis() for [start, end), from the closed days' snapshots plus live facts for today and cut days."""
    if bucket not in compute.BUCKETS:
        raise ValueError(f"bucket must be one of {', '.join(compute.BUCKETS)}, got {bucket!r}")
    start, end, now = compute._aware(start), compute._aware(end), compute._aware(now) if now else utcnow()
    if end <= start:
        raise ValueError("end must be after start")
    targets = get_targets(session, shop)
    names = dict(session.execute(select(Supplier.id, Supplier.name).where(Supplier.shop_domain == shop)).all())
    days = day_digests(session, shop, start, end, now)
    live = live_facts(session, shop, start, end)
    overall = merge(list(days.values()))
    buckets = []
    for key, b_start, b_end in compute.bucket_ranges(start, end, bucket):
        inside = [d for day, d in days.items() if b_start <= day < b_end or (day < b_start < day + DAY)]
        buckets.append({"key": key, "start": b_start.isoformat(), "end": b_end.isoformat(),
                        **summarise(merge(inside), _within(live, b_start, b_end), targets, now, names)})
    return {
        "shop": shop, "start": start.isoformat(), "end": end.isoformat(), "bucket": bucket, "as_of": now.isoformat(), "targets": targets,
        "overall": summarise(overall, live, targets, now, names),
        "buckets": buckets,
        "returns_all_time": compute.returns_all_time_from(stored_return_analytics(session, shop)),
        "satisfaction": satisfaction.from_digest(overall[SATISFACTION], names, detail=True),  # with per supplier and per product
        "notes": list(compute.NOTES),
    }


def summary_from_snapshots(session: Session, shop: str, start: dt.datetime, end: dt.datetime, *, now: dt.datetime | None = None) -> dict:
    """compute.kpi_summary() (the overall figures alone) from snapshots."""
    start, end, now = compute._aware(start), compute._aware(end), compute._aware(now) if now else utcnow()
    names = dict(session.execute(select(Supplier.id, Supplier.name).where(Supplier.shop_domain == shop)).all())
    days = day_digests(session, shop, start, end, now)
    return summarise(merge(list(days.values())), live_facts(session, shop, start, end), get_targets(session, shop), now, names)


def day_digests(session: Session, shop: str, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> dict[dt.datetime, dict]:
    """Digests by day start: whole closed days from snapshots (computed when missing), cut days and today from live facts."""
    today = now.astimezone(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    stored = {day: (digests, computed_at) for day, digests, computed_at in session.execute(
        select(KpiSnapshot.day, KpiSnapshot.digests, KpiSnapshot.computed_at)
        .where(KpiSnapshot.shop_domain == shop, KpiSnapshot.version.in_(UPGRADABLE), KpiSnapshot.day >= first.date(), KpiSnapshot.day < end.date() + DAY))}
    stale = stale_days(session, shop, first.date(), end.date() + DAY)
    digests = {}
    day = first
    oldest: list[dt.date | None] = []  # the shop's first order day, read once when a day would be computed live
    while day < end:
        following = day + DAY
        whole = start <= day and following <= end
        row = stored.get(day.date())
        if (whole and following <= today and row is not None and row[1] >= following) or (
                day == today and start <= day and row is not None and now - TODAY_MAX_AGE <= row[1] <= end):  # today: as of the job's last run
            digests[day] = row[0]
            if day.date() in stale or SATISFACTION not in row[0]:  # changed since (a new answer, a late click), or a row older than the digest
                digests[day] = {**row[0], SATISFACTION: satisfaction_day(session, shop, day)}
        elif _before_first_order(session, shop, following, oldest):
            digests[day] = digest_with_satisfaction(session, {name: [] for name in (*DIGESTERS, "answers", "reviews")})  # a young shop: no history
        else:  # a day cut by the period, a day the job has not reached yet (or only saw in part), today when its row is stale
            digests[day] = digest_with_satisfaction(session, compute._facts(session, shop, max(day, start), min(following, end), now))
        day = following
    return digests


def _before_first_order(session: Session, shop: str, day_end: dt.datetime, oldest: list) -> bool:
    """Whether a day ending at `day_end` lies wholly before the shop's first order (no fact can fall in it); `oldest` caches the lookup."""
    if not oldest:
        oldest.append(_first_activity(session, shop))
    return oldest[0] is None or day_end.date() <= oldest[0]


def summarise(merged: dict, live: dict[str, list], targets: dict, now: dt.datetime, names: dict[int, str]) -> dict:
    """compute._summarise's figures from merged digests and the period's live facts (LIVE_FAMILIES)."""
    complaints = live["complaints"]
    sold, returned = merged["units"]
    parcels: Counter = merged["parcels"]
    hours = {name: merged[name] for name in ("forward", "ack", "ship")}
    voice = merged[SATISFACTION]
    suppliers = ({k[0] for name in ("forward", "ack", "ship", "parcels") for k in merged[name]} | satisfaction.answered_suppliers(voice)) - {None}
    return {
        "return_rate": compute._return_rate([compute.UnitsFact(None, sold, returned)]),
        "on_time": _on_time(parcels),
        "forward_hours": _hours_stats(hours["forward"], targets["forward_hours"]),
        "suppliers": [
            {
                "supplier_id": sid,
                "name": names.get(sid),
                "forward_hours": _hours_stats(hours["forward"], targets["forward_hours"], sid),
                "ack_hours": _hours_stats(hours["ack"], None, sid),
                "ship_hours": _hours_stats(hours["ship"], None, sid),
                "on_time": _on_time(parcels, sid),
                "satisfaction": satisfaction.supplier_from_digest(voice, sid),
            }
            for sid in sorted(suppliers, key=lambda i: (names.get(i) or "", i))
        ],
        "complaints": {kind: compute._complaints([f for f in complaints if f.kind == kind], targets[f"{kind}_hours"], now) for kind in compute.COMPLAINT_KINDS},
        "margin": compute._margin([compute.MoneyFact(None, field, amount) for field, amount in merged["money"].items()]),
        "shipping_days": _shipping_days(parcels),
        "satisfaction": satisfaction.from_digest(voice),
    }


_ANY = object()


def _on_time(parcels: Counter, supplier=_ANY) -> dict:
    counts = Counter()
    for (sid, status, _transit), n in parcels.items():
        if supplier is _ANY or sid == supplier:
            counts[status] += n
    return compute.on_time_from_counts(counts)


def _shipping_days(parcels: Counter) -> dict:
    days = Counter()
    for (_sid, _status, transit), n in parcels.items():
        if transit is not None:
            days[transit] += n
    bins = {label: sum(n for d, n in days.items() if d >= low and (high is None or d <= high)) for label, low, high in compute.SHIPPING_DAY_BINS}
    return {"count": sum(days.values()), "bins": bins}


def _hours_stats(counts: Counter, target: float | None, supplier=_ANY) -> dict:
    """compute._hours_stats over counted values: median (mean of the two middle ones when even) and p90 by nearest rank."""
    values = Counter()
    for (sid, hours), n in counts.items():
        if supplier is _ANY or sid == supplier:
            values[hours] += n
    ordered = sorted(values.items())
    total = sum(values.values())

    def nth(rank: int) -> float:  # the rank-th smallest (1-based)
        seen = 0
        for value, n in ordered:
            seen += n
            if seen >= rank:
                return value
        raise IndexError(rank)

    median = None
    if total:
        median = nth((total + 1) // 2) if total % 2 else (nth(total // 2) + nth(total // 2 + 1)) / 2
    stats = {
        "count": total,
        "median": round(median, 2) if total else None,
        "p90": round(nth(math.ceil(0.9 * total)), 2) if total else None,
    }
    if target is not None:
        within = sum(n for value, n in ordered if value <= target)
        stats.update(target_hours=target, within_target=within, share_within=round(within / total, 4) if total else None)
    return stats
