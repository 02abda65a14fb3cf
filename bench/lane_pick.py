"""Benchmark: what the web's pick of one live lane listener adds to each NOTIFY (issue 19 leftovers, session 30 part B).

Every intake's transaction NOTIFYs one worker's lane listener (shopify_app/jobs/lane_notices.py).
The pick read pg_stat_activity in the statement: every connection's entry, so its cost grew
with the connections. Now a process picks from a list it reads at most every second and the
statement checks only the picked listener's entry. This script starts a throwaway PostgreSQL,
opens --connections idle connections (four of them named as lane listeners) and times, in
the same run and interleaved rounds, one autocommit NOTIFY statement through SQLAlchemy:

  baseline      pg_notify on the shared channel (no pick at all)
  full pick     the pick reading pg_stat_activity in the statement (lane_notices.NOTIFY, before)
  checked pick  lane_notices.notify_in (the list, and the picked listener checked)

Figures are CPU microseconds per statement, of the database server's process (its
/proc/<pid>/schedstat) and of this client process, the median of the rounds: the machine is
shared, and wall-clock figures moved by half with the load (printed with them).

    .venv/bin/python bench/lane_pick.py                     # 11, 71 and 151 connections
    .venv/bin/python bench/lane_pick.py --connections 71 --rounds 30
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

LISTENERS = 4
TARGET_CONNECTIONS = 71  # the peak bench's connection count (4 workers, the web's pool, procrastinate)
# Set in this session after the first run (the pick's Python and SQLAlchemy side does not shrink; the server's does).
SERVER_SHARE = 0.5  # the checked pick adds at most half the database CPU the full pick added
TOTAL_SHARE = 2 / 3  # and at most two thirds of the CPU both sides added
BASELINE, FULL, CHECKED = "baseline (shared channel, no pick)", "full pick (pg_stat_activity, before)", "checked pick (notify_in, now)"


def measure(url: str, connections: int, rounds: int, per_round: int) -> dict[str, list[float]]:
    """{case: [us per statement, one figure per round]} with `connections` open to the database (the timing one included)."""
    import psycopg
    from sqlalchemy import create_engine, text

    from scheduler.distributed import conninfo
    from shopify_app.jobs import lane_notices

    idle = [psycopg.connect(conninfo(url), autocommit=True, application_name=f"{lane_notices.LISTENER_NAME}:{uuid.uuid4().hex}" if n < LISTENERS else "bench-idle")
            for n in range(connections - 1)]
    engine = create_engine(url, pool_size=1)
    shared = text("SELECT pg_notify(:channel, :lane)").bindparams(channel=lane_notices.CHANNEL)
    cases = {
        BASELINE: lambda conn: conn.execute(shared, {"lane": "orders"}),
        FULL: lambda conn: conn.execute(lane_notices.NOTIFY, {"lane": "orders"}),
        CHECKED: lambda conn: lane_notices.notify_in(conn, "orders"),
    }
    figures: dict[str, list[tuple[float, float]]] = {case: [] for case in cases}
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            backend = Path(f"/proc/{conn.connection.dbapi_connection.info.backend_pid}/schedstat")  # the server process's CPU, in ns
            for run in cases.values():  # warm up: prepared statements, caches, the listener list
                for _ in range(50):
                    run(conn)
            for _ in range(rounds):
                for case, run in cases.items():
                    server, client = int(backend.read_text().split()[0]), time.process_time()
                    for _ in range(per_round):
                        run(conn)
                    figures[case].append(((int(backend.read_text().split()[0]) - server) / per_round / 1e3, (time.process_time() - client) / per_round * 1e6))
    finally:
        engine.dispose()
        for conn in idle:
            conn.close()
    return figures


def main(argv=None) -> int:
    """Time the three cases at each connection count; print the table and the targets."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, action="append", help="connections open to the database (repeatable; default 11, 71, 151)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=300)
    options = parser.parse_args(argv)
    counts = options.connections or [11, TARGET_CONNECTIONS, 151]
    from pg_server import start_postgres
    from sqlalchemy import create_engine, text

    server = start_postgres({"max_connections": str(max(counts) + 20)})
    results = {}
    try:
        admin = create_engine(server.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('CREATE DATABASE "bench"'))
        admin.dispose()
        for count in counts:
            load = os.getloadavg()[0]
            results[count] = (load, {case: (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values))
                                     for case, values in measure(server.database_url("bench"), count, options.rounds, options.per_round).items()})
    finally:
        server.stop()
    print(f"CPU us per NOTIFY statement (median of {options.rounds} rounds of {options.per_round}): the database server's process, the client (this"
          " process: SQLAlchemy, psycopg, the pick's Python); + is the sum over the baseline of the same run")
    for count, (load, figures) in results.items():
        base = sum(figures[BASELINE])
        print(f"{count} connections, load {load:.1f}")
        for case, (server_us, client_us) in figures.items():
            print(f"  {case:<40} server {server_us:7.1f}  client {client_us:7.1f}  (+{server_us + client_us - base:6.1f})")
    print("targets")
    for count, (_, figures) in results.items():
        if count != TARGET_CONNECTIONS and len(results) > 1:
            continue
        base_server, base = figures[BASELINE][0], sum(figures[BASELINE])
        before, now = figures[FULL][0] - base_server, figures[CHECKED][0] - base_server
        print(f"  database server CPU the checked pick adds <= {SERVER_SHARE:.2f} of the full pick's at {count} connections: +{now:.1f} vs +{before:.1f} us: "
              f"{'MET' if now <= before * SERVER_SHARE else 'MISSED'}")
        before, now = sum(figures[FULL]) - base, sum(figures[CHECKED]) - base
        print(f"  server and client CPU it adds <= {TOTAL_SHARE:.2f} of the full pick's at {count} connections: +{now:.1f} vs +{before:.1f} us: "
              f"{'MET' if now <= before * TOTAL_SHARE else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
