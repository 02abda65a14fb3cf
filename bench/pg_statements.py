"""PostgreSQL statement counts per order, split by the app's process roles (bench/peak_orders.py --statements).

The throwaway server preloads pg_stat_statements; every app process logs in as its own role
(`app_web`, `app_worker_0`, ...) through its DATABASE_URL, set only in the bench's environment,
so pg_stat_statements (keyed by user, database and statement) tells web from workers without
any change to the app. BEGIN / COMMIT / ROLLBACK are utility statements and counted too.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

# Server settings for tests.pg_server.start_postgres(settings=...).
SERVER_SETTINGS = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.max": "10000",
    "pg_stat_statements.track": "top",
    "pg_stat_statements.track_utility": "on",
}
TRANSACTION_STATEMENTS = ("BEGIN", "COMMIT", "ROLLBACK")


def role_user(role: str) -> str:
    """The login of one process role ("web", "worker-0", ...)."""
    return "app_" + role.replace("-", "_")


def role_group(user: str) -> str:
    """web / workers / bench (the bench's own connections log in as postgres)."""
    if user == "app_web":
        return "web"
    if user.startswith("app_worker_"):
        return "workers"
    return "bench"


def prepare(port: int, database: str, workers: int) -> None:
    """Create the role logins (superusers, as the bench's postgres) and the extension in `database`."""
    import psycopg

    roles = ["web"] + [f"worker-{n}" for n in range(workers)]
    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True) as conn:
        existing = {r for (r,) in conn.execute("SELECT rolname FROM pg_roles")}
        for role in roles:
            if role_user(role) not in existing:
                conn.execute(f'CREATE ROLE "{role_user(role)}" LOGIN SUPERUSER')
    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname={database}", autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def role_url(database_url: str, role: str) -> str:
    """`database_url` with the role's login instead of postgres."""
    return database_url.replace("://postgres@", f"://{role_user(role)}@", 1)


@dataclass
class StatementCounts:
    """Calls per statement and role group over one step (from pg_stat_statements)."""

    calls: dict[str, dict[str, int]] = field(default_factory=dict)  # statement -> group -> calls
    per_worker: dict[str, int] = field(default_factory=dict)  # role user -> all its calls

    def total(self, statement: str, groups=("web", "workers")) -> int:
        return sum(self.calls.get(statement, {}).get(g, 0) for g in groups)


def reset(port: int, database: str) -> None:
    """Zero pg_stat_statements (cluster-wide; the bench runs one mode at a time)."""
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname={database}", autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")


def collect(port: int, database: str) -> StatementCounts:
    """The calls since the last reset in `database`, by statement and role group."""
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname={database}", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT r.rolname, s.query, s.calls FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid "
            "WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())").fetchall()
    out = StatementCounts()
    calls: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_worker: dict[str, int] = defaultdict(int)
    for user, query, n in rows:
        text = " ".join(query.split())
        if text.upper() in TRANSACTION_STATEMENTS or text.upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            text = text.upper().split()[0]
        calls[text][role_group(user)] += n
        per_worker[user] += n
    out.calls = {k: dict(v) for k, v in calls.items()}
    out.per_worker = dict(per_worker)
    return out


def step_lines(counts: StatementCounts, carried: int, top: int = 15, width: int = 110) -> list[str]:
    """Report lines: transactions and the top statements by app calls per order carried, web / workers."""
    if not carried:
        return ["    (no orders carried: no per-order statement figures)"]
    per = lambda n: n / carried  # noqa: E731
    lines = ["    explicit transactions per order (web / workers): "
             + ", ".join(f"{s} {per(counts.calls.get(s, {}).get('web', 0)):.1f} / {per(counts.calls.get(s, {}).get('workers', 0)):.1f}"
                         for s in TRANSACTION_STATEMENTS)]
    app_total = sum(counts.total(s) for s in counts.calls)
    lines.append(f"    app statements per order: {per(app_total):.1f} (web {per(sum(c.get('web', 0) for c in counts.calls.values())):.1f}, "
                 f"workers {per(sum(c.get('workers', 0) for c in counts.calls.values())):.1f}); per role: "
                 + ", ".join(f"{u} {per(n):.1f}" for u, n in sorted(counts.per_worker.items())))
    lines.append(f"    {'total':>7} {'web':>7} {'workers':>7}  statement (calls per order carried)")
    ranked = sorted(counts.calls, key=lambda s: -counts.total(s))[:top]
    for s in ranked:
        c = counts.calls[s]
        lines.append(f"    {per(counts.total(s)):>7.2f} {per(c.get('web', 0)):>7.2f} {per(c.get('workers', 0)):>7.2f}  {s[:width]}")
    return lines


def comparison_lines(by_mode: dict[str, tuple[StatementCounts, int]], top: int = 25, width: int = 100) -> list[str]:
    """Calls per order per statement side by side across modes (each mode's first step), ranked by the largest growth."""
    modes = list(by_mode)
    if len(modes) < 2:
        return []

    def per(mode: str, s: str, group: str | None = None) -> float:
        counts, carried = by_mode[mode]
        n = counts.total(s) if group is None else counts.calls.get(s, {}).get(group, 0)
        return n / carried if carried else 0.0

    statements = set().union(*(c.calls for c, _ in by_mode.values()))
    first, last = modes[0], modes[-1]
    ranked = sorted(statements, key=lambda s: -(abs(per(last, s) - per(first, s)) + 1e-6 * per(last, s)))[:top]
    head = "  ".join(f"{m + ' (web/workers)':>22}" for m in modes)
    lines = [f"  {head}  {'grows':>7}  statement (calls per order carried; ranked by {last} - {first})"]
    for s in ranked:
        cells = "  ".join(f"{per(m, s):>7.2f} ({per(m, s, 'web'):>5.2f}/{per(m, s, 'workers'):>5.2f})" for m in modes)
        lines.append(f"  {cells}  {per(last, s) - per(first, s):>+7.2f}  {s[:width]}")
    return lines
