"""Prometheus metrics of ingress and workers. Labels are bounded: never ids, IPs or tokens."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

# Ingress
HTTP_REQUESTS = Counter(
    "mc_http_requests_total", "HTTP requests by route template and status.", ["route", "status"]
)
HTTP_LATENCY = Histogram(
    "mc_http_request_duration_seconds",
    "HTTP request latency by route template.",
    ["route"],
    buckets=_LATENCY_BUCKETS,
)
INGEST_OUTCOMES = Counter(
    "mc_ingest_outcomes_total",
    "Webhook ingest requests by outcome.",
    ["outcome"],
)
RATE_LIMITED = Counter(
    "mc_rate_limit_rejections_total", "Requests refused by a rate limiter.", ["limiter"]
)
AGENT_AUTH = Counter(
    "mc_agent_auth_total", "Agent authentication attempts by outcome.", ["outcome"]
)
PBKDF2_RUNS = Counter("mc_agent_auth_pbkdf2_runs_total", "PBKDF2 token verifications run.")
# Each ingress process sets its own value from its refresh loop. In multiprocess mode
# (`--processes N`) /metrics answers the worst (oldest) cache among processes still running:
# "livemax" drops a process's value when it ends, where "max" would keep a dead one forever.
CONFIG_CACHE_AGE = Gauge(
    "mc_webhook_config_cache_age_seconds",
    "Seconds since this ingress process last refreshed webhook configuration.",
    multiprocess_mode="livemax",
)

# Workers
JOBS = Counter("mc_worker_jobs_total", "Delivery jobs finished, by outcome.", ["outcome"])
JOB_DURATION = Histogram(
    "mc_worker_job_duration_seconds", "Time a delivery job ran.", buckets=_LATENCY_BUCKETS
)
JOB_TRIES = Histogram(
    "mc_worker_job_tries",
    "Try number at which a delivery job finished.",
    buckets=(1, 2, 3, 5, 8, 13, 21),
)
DELIVERIES_PERSISTED = Counter(
    "mc_deliveries_persisted_total", "Deliveries written to PostgreSQL, by status.", ["status"]
)
DELIVERY_LAG = Histogram(
    "mc_delivery_lag_seconds",
    "Time from the ingress accepting a delivery to a worker persisting it.",
    buckets=_LAG_BUCKETS,
)
BATCH_SIZE = Histogram(
    "mc_worker_batch_size",
    "Deliveries written per database round trip.",
    buckets=(1, 5, 10, 50, 100, 250, 500, 1000),
)
# Workers never run in multiprocess mode (each serves its own registry; `mission-control
# worker` ignores PROMETHEUS_MULTIPROC_DIR), so the mode below only matters if that changes.
QUEUE_DEPTH = Gauge("mc_queue_depth", "Jobs waiting in the queue.", multiprocess_mode="livemax")
QUEUE_OLDEST_AGE = Gauge(
    "mc_queue_oldest_job_age_seconds",
    "Age of the oldest job waiting in the queue.",
    multiprocess_mode="livemax",
)

INGEST_OUTCOME_NAMES = (
    "accepted",
    "duplicate",
    "rate_limited",
    "not_found",
    "disabled",
    "too_large",
    "bad_signature",
    "queue_unavailable",
)
