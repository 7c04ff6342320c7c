"""Builds the ASGI application from settings: store, writer, feed, receivers, APIs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from syncmon.alerting import retention as alerting_retention
from syncmon.alerting.dispatcher import Dispatcher
from syncmon.alerting.engine import AlertEngine, store_reader
from syncmon.channels import outbox
from syncmon.channels.delivery import DeliveryWorker, worker_from_settings
from syncmon.clock import Clock, SystemClock
from syncmon.errors import issue_counts
from syncmon.errors.issue_store import assign_issues
from syncmon.events import Event, Kind
from syncmon.ingest import csp, native, posthog, sentry, vercel
from syncmon.ingest.cors import IngestCORS
from syncmon.ingest.gateway import IngestGateway
from syncmon.ingest.keys import KeyRing
from syncmon.ingest.ratelimit import IngestRateLimiter
from syncmon.metrics import rollup_versions, sketch_rollups
from syncmon.metrics.rollups import apply_count_rollups
from syncmon.pipeline.clientip import ClientIPResolver
from syncmon.pipeline.feed import Feed
from syncmon.pipeline.useragent import parse_user_agent
from syncmon.pipeline.writer import Writer
from syncmon.security import config_store, subject_rollups
from syncmon.security.detector_config import ProjectConfig
from syncmon.security.engine import SecurityEngine
from syncmon.settings import Settings
from syncmon.store import eventlog, projects
from syncmon.store.projects import Project
from syncmon.store.retention import delete_expired_events, delete_expired_rollups
from syncmon.telemetry import Telemetry
from syncmon.web import (
    alerts_api,
    analytics_api,
    api,
    channels_api,
    detectors_api,
    health,
    incident_links,
    incidents_api,
    issues_api,
    performance_api,
    posthog_static,
    sdk_scripts,
    security_api,
)
from syncmon.web.dashboard.mount import guarded
from syncmon.web.responses import JSONResponse

log = logging.getLogger(__name__)
INGEST_PATHS = re.compile(r"^/(api/(monitoring/|\d+/(envelope|store)/)|_vercel/)")
DAY_MS = 86_400_000
T = TypeVar("T")


@dataclass
class Services:
    """Everything a request handler or background task may need, built once per app."""

    settings: Settings
    engine: Engine
    clock: Clock
    telemetry: Telemetry
    writer: Writer
    feed: Feed
    keyring: KeyRing
    gateway: IngestGateway
    security: SecurityEngine
    delivery: DeliveryWorker
    alerts: AlertEngine
    dispatcher: Dispatcher
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run a read-only store function `fn(conn)` off the event loop."""

        def call() -> T:
            with self.engine.connect() as conn:
                return fn(conn)

        return await run_in_threadpool(call)


def new_writer(
    engine: Engine,
    settings: Settings,
    *,
    on_commit: Callable[[list[Event]], None] | None = None,
    telemetry: Telemetry | None = None,
) -> Writer:
    """The writer with every in-commit hook; the CLI uses it too, so its events are stored alike."""
    return Writer(
        engine,
        before=[assign_issues],
        hooks=[apply_count_rollups, sketch_rollups.hook, subject_rollups.hook],
        on_commit=on_commit,
        max_batch=settings.commit_max_batch,
        telemetry=telemetry,
    )


def build_services(
    settings: Settings,
    engine: Engine,
    clock: Clock | None = None,
) -> Services:
    clock = clock or SystemClock()
    telemetry = Telemetry()

    async def read_range(first: int, last: int) -> list[Event]:
        return await services.read(lambda conn: eventlog.events_in_seq_range(conn, first, last))

    async def lookup_key(key: str) -> tuple[Project, bool] | None:
        return await services.read(lambda conn: projects.project_for_key(conn, key))

    feed = Feed(read_range, max_batches=settings.feed_queue_batches, telemetry=telemetry)
    writer = new_writer(engine, settings, on_commit=feed.publish, telemetry=telemetry)
    keyring = KeyRing(lookup_key, clock)
    gateway = IngestGateway(
        settings=settings,
        keyring=keyring,
        limiter=IngestRateLimiter(settings.rate_limit_per_key, settings.rate_limit_per_ip),
        resolver=ClientIPResolver(settings.trusted_proxies),
        writer=writer,
        clock=clock,
        telemetry=telemetry,
    )

    async def read_recent(since_ms: int) -> list[Event]:
        kinds = (Kind.SECURITY.value, Kind.REQUEST.value, Kind.ERROR.value)
        return await services.read(lambda conn: eventlog.events_received_since(conn, since_ms, kinds))

    async def read_config() -> dict[int, ProjectConfig]:
        return dict(await services.read(config_store.load_all))

    security = SecurityEngine(
        writer,
        clock,
        read_recent=read_recent,
        read_config=read_config,
        config_poll_ms=round(settings.security_config_poll_seconds * 1000),
        replay_ms=settings.security_replay_seconds * 1000,
    )
    delivery = worker_from_settings(settings, writer.run, clock)
    dispatcher = Dispatcher(
        writer,
        clock,
        sink=outbox.enqueue,
        wake=delivery.wake,
        public_url=settings.effective_public_url,
        link_secret=settings.alert_link_secret,
        link_ttl_ms=settings.alert_link_ttl_seconds * 1000,
        cancel_pending=outbox.cancel_pending,
    )
    alerts = AlertEngine(
        read=store_reader(engine),
        writer=writer,
        clock=clock,
        on_transitions=dispatcher.handle,
        interval_ms=int(settings.alert_eval_interval_seconds * 1000),
        replay_ms=settings.alert_replay_seconds * 1000,
        history_retention_ms=settings.alert_history_days * DAY_MS,
        generator_url=settings.effective_public_url + "/api/v1/alerts/rules/{rule_id}",
    )
    security.add_listener(alerts.observe_detections)
    services = Services(
        settings,
        engine,
        clock,
        telemetry,
        writer,
        feed,
        keyring,
        gateway,
        security,
        delivery,
        alerts,
        dispatcher,
    )
    return services


async def _retention_loop(services: Services) -> None:
    settings = services.settings
    while True:
        try:
            await run_retention(services)
            await run_dashboard_retention(services)
            await alerting_retention.run(
                services.writer, services.clock.now_ms(), settings.incident_retention_days
            )
        except Exception:
            log.exception("retention pass failed; will try again")
        await asyncio.sleep(settings.retention_interval_seconds)


async def run_retention(services: Services) -> dict[str, int]:
    """One full retention pass in small steps; returns rows deleted per table."""
    settings = services.settings
    now = services.clock.now_ms()
    event_cutoff = now - settings.retention_days * DAY_MS
    # Count rollups keep each tier as long as the sketch rollups keep theirs.
    rollup_cutoffs = sketch_rollups.tier_cutoffs(now, settings.rollup_retention_days)
    deleted = {"events": 0, "rollup_counts": 0}
    while True:
        count = await services.writer.run(
            lambda conn: delete_expired_events(conn, event_cutoff, settings.retention_batch_size)
        )
        deleted["events"] += count
        if count < settings.retention_batch_size:
            break
        await asyncio.sleep(0)
    while True:
        count = await services.writer.run(lambda conn: delete_expired_rollups(conn, rollup_cutoffs, 60))
        deleted["rollup_counts"] += count
        if count == 0:
            break
    deleted["sketch_rollups"] = 0
    while True:
        count = await services.writer.run(
            lambda conn: sketch_rollups.delete_expired_sketch_rollups(
                conn, now, settings.rollup_retention_days
            )
        )
        deleted["sketch_rollups"] += count
        if count == 0:
            break
    for table, count in deleted.items():
        services.telemetry.retention_deleted.labels(table).inc(count)
    return deleted


async def run_dashboard_retention(services: Services) -> dict[str, int]:
    """One retention pass over what the dashboard reads besides the rollups above: minute
    rows of the per-issue counts (their hour and day rows leave with the events), the
    security-subject rollups and old rollup versions. Returns rows deleted per table."""
    now = services.clock.now_ms()
    days = services.settings.rollup_retention_days
    steps: dict[str, Callable[[Connection], int]] = {
        "issue_counts": lambda conn: issue_counts.delete_expired_minutes(conn, now),
        "rollup_subjects": lambda conn: subject_rollups.delete_expired(conn, now, days),
        "rollup_versions": lambda conn: rollup_versions.delete_expired(conn, now, days),
    }
    deleted = {}
    for table, step in steps.items():
        deleted[table] = 0
        while True:
            count = await services.writer.run(step)
            deleted[table] += count
            if count == 0:
                break
        services.telemetry.retention_deleted.labels(table).inc(deleted[table])
    return deleted


def create_app(
    settings: Settings, engine: Engine, *, clock: Clock | None = None, background: bool = True
) -> Starlette:
    services = build_services(settings, engine, clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services.feed.bind(asyncio.get_running_loop())
        # ua-parser loads its rules on first use (~0.1 s); do it before the first request.
        await run_in_threadpool(parse_user_agent, "Mozilla/5.0")
        services.writer.start()
        services.tasks.append(asyncio.create_task(services.security.run(services.feed)))
        await services.dispatcher.load_secret()
        services.tasks.append(asyncio.create_task(services.delivery.run()))
        services.tasks.append(asyncio.create_task(services.alerts.run(services.feed)))
        services.tasks.append(
            asyncio.create_task(services.dispatcher.run_forever(services.settings.alerting_tick_seconds))
        )
        if background:
            services.tasks.append(asyncio.create_task(_retention_loop(services)))
        try:
            yield
        finally:
            for task in services.tasks:
                task.cancel()
            await asyncio.gather(*services.tasks, return_exceptions=True)
            await services.delivery.aclose()
            services.feed.close()
            await run_in_threadpool(services.writer.stop)

    async def origins_for(key: str | None) -> set[str]:
        if key:
            found = await services.keyring.resolve(key)
            return set(found[0].allowed_origins) if found else set()
        every = await services.read(projects.list_projects)
        return {origin for project in every for origin in project.allowed_origins}

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        headers = getattr(exc, "headers", None) or {}
        return JSONResponse({"error": "Method not allowed"}, status_code=405, headers=headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "Internal server error"
        return JSONResponse({"error": detail}, status_code=status)

    public = [
        *native.routes(services.gateway),
        *sentry.routes(services.gateway),
        *posthog.routes(services.gateway),
        *vercel.routes(services.gateway),
        *csp.routes(services.gateway),
        *health.routes(services),
        *sdk_scripts.routes(),
        *posthog_static.routes(),
        *incident_links.routes(services),  # signed links: the signature is the authorisation
    ]
    # Everything else is behind the access guard: sessions or tokens, CSRF, roles, CSP.
    protected = [
        *api.routes(services),
        *issues_api.routes(services),
        *incidents_api.routes(services),
        *security_api.routes(services),
        *detectors_api.routes(services),
        *performance_api.routes(services),
        *analytics_api.routes(services),
        *channels_api.routes(services),
        *alerts_api.routes(services),
    ]
    app = Starlette(
        routes=[*public, guarded(services, public, protected)],
        middleware=[Middleware(IngestCORS, origins_for=origins_for, paths=INGEST_PATHS)],
        exception_handlers={405: method_not_allowed, HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.services = services
    return app
