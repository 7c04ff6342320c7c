"""The server's own Prometheus metrics, on a registry of its own (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Telemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events_accepted = Counter(
            "syncmon_events_accepted",
            "Events stored and acknowledged.",
            ["kind"],
            registry=self.registry,
        )
        self.events_rejected = Counter(
            "syncmon_requests_rejected",
            "Ingest requests refused, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.commit_batch_size = Histogram(
            "syncmon_commit_batch_events",
            "Events per group commit.",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
            registry=self.registry,
        )
        self.commit_latency = Histogram(
            "syncmon_commit_seconds",
            "Time to write and commit one batch.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "syncmon_writer_queue_depth", "Requests waiting for the writer.", registry=self.registry
        )
        self.feed_lagged = Counter(
            "syncmon_feed_batches_replayed",
            "Committed batches a slow subscriber missed live and re-read from the store.",
            ["subscriber"],
            registry=self.registry,
        )
        self.sentry_items = Counter(
            "syncmon_sentry_items",
            "Sentry envelope items by type and what became of them (stored, counted, skipped, invalid).",
            ["type", "outcome"],
            registry=self.registry,
        )
        self.sdk_discarded = Counter(
            "syncmon_sdk_discarded_events",
            "Events SDKs report (client reports) they dropped before sending, by reason and category.",
            ["reason", "category"],
            registry=self.registry,
        )
        self.retention_deleted = Counter(
            "syncmon_retention_deleted_rows",
            "Rows removed by retention.",
            ["table"],
            registry=self.registry,
        )
