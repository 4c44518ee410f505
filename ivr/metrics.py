"""Prometheus metrics of the phone line, served at `GET /metrics` (text exposition format).

With several uvicorn workers set `PROMETHEUS_MULTIPROC_DIR` (prometheus_client multiprocess mode) so
that `/metrics` sums all workers; otherwise each worker reports its own process.
"""

from __future__ import annotations

import os

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

CALLS_IN_PROGRESS = Gauge("dn_calls_in_progress", "Calls with live state in this process",
                          multiprocess_mode="livesum")
CALLS = Counter("dn_calls_total", "Calls started, by caller kind", ["kind"])
WEBHOOK_SECONDS = Histogram("dn_webhook_seconds", "Time to answer a Telnyx webhook (s)",
                            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
WEBHOOKS = Counter("dn_webhooks_total", "Webhooks received, by outcome", ["outcome"])
EVENT_SECONDS = Histogram("dn_event_seconds", "Time to process one call event, effects and commands (s)")
MATCH_SECONDS = Histogram("dn_match_seconds", "Spoken-name match latency (s)",
                          buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1))
ACTIONS = Counter("dn_actions_total", "Committed actions, by type", ["type"])
ERRORS = Counter("dn_errors_total", "Errors, by where they happened", ["where"])

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    """All metrics in the Prometheus text format."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
