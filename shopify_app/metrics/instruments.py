"""Every event metric the app records, in one place (names are what the dashboard and alert rules use).

Labels are bounded sets only: webhook topics we know, supplier kinds, adapter operations,
outcomes, job kinds, GraphQL document names. Shop domains label only the GraphQL cost and
throttle counters (one series per installed shop and kind, which the issue asks for);
nothing a merchant or customer types ever becomes a label value.
"""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# No *_created series: they double what a scrape renders (1,000 shops' GraphQL counters) and
# Prometheus detects counter resets without them.
disable_created_metrics()

# Webhook intake is a commit to the inbox: a few ms normally, seconds when SQLite's writer is busy.
INTAKE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Supplier and Shopify calls: tens of ms to the 30 s timeout cap.
CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Periodic jobs: from a no-op to a reconciliation of every shop.
JOB_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)

WEBHOOKS_RECEIVED = Counter(
    "dropship_webhooks_received", "Webhook deliveries answered by /webhooks, by topic and outcome (new, replay, duplicate_event, or the HTTP status of a refusal).",
    ["topic", "outcome"],
)
WEBHOOK_INTAKE_SECONDS = Histogram(
    "dropship_webhook_intake_seconds", "Time to verify, record and acknowledge a webhook delivery.", ["topic"], buckets=INTAKE_BUCKETS,
)
SUPPLIER_CALLS = Counter(
    "dropship_supplier_calls", "Calls to supplier adapters by supplier kind, operation and outcome (ok, not_found, permanent, transient, unknown, error).",
    ["kind", "operation", "outcome"],
)
SUPPLIER_CALL_SECONDS = Histogram(
    "dropship_supplier_call_seconds", "Duration of calls to supplier adapters.", ["kind", "operation"], buckets=CALL_BUCKETS,
)
# State per supplier id, published by the process that owns the breaker; only suppliers whose
# breaker left "closed" at least once get series (bounded by incidents, not by suppliers).
SUPPLIER_BREAKER_STATE = Gauge(
    "dropship_supplier_breaker_state", "1 for the current state of a supplier's circuit breaker (closed, open, half_open).",
    ["supplier_id", "state"], multiprocess_mode="livemax",
)
GRAPHQL_REQUESTS = Counter(
    "dropship_shopify_graphql_requests", "Shopify Admin GraphQL requests by document and outcome (ok, throttled, rate_limited, unauthorized, transient, rejected, graphql_errors).",
    ["operation", "outcome"],
)
GRAPHQL_SECONDS = Histogram(
    "dropship_shopify_graphql_seconds", "Duration of one Shopify Admin GraphQL HTTP request.", ["operation"], buckets=CALL_BUCKETS,
)
GRAPHQL_COST = Counter(
    "dropship_shopify_graphql_cost_points", "Calculated query cost Shopify reported, per shop: requested and actual.", ["shop", "kind"],
)
GRAPHQL_THROTTLES = Counter(
    "dropship_shopify_graphql_throttles", "Requests Shopify throttled, per shop: THROTTLED answers (HTTP 200) and HTTP 429.", ["shop", "reason"],
)
GRAPHQL_PACING_SECONDS = Counter(
    "dropship_shopify_graphql_pacing_wait_seconds", "Seconds the gateway waited for a shop's cost bucket to refill before sending.", ["shop"],
)
JOB_RUNS = Counter(
    "dropship_job_runs", "Periodic job runs this process claimed and ran, by job kind and status (done, failed).", ["job", "status"],
)
JOB_DURATION_SECONDS = Histogram(
    "dropship_job_duration_seconds", "Duration of periodic job runs.", ["job"], buckets=JOB_BUCKETS,
)
JOB_START_LAG_SECONDS = Histogram(
    "dropship_job_start_lag_seconds", "How late a periodic job run started after the start of its slot.", ["job"], buckets=JOB_BUCKETS,
)
