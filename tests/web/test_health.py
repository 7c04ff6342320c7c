"""Liveness, readiness (also with a store that cannot be reached) and the Prometheus metrics."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from syncmon.app import create_app
from syncmon.settings import load_settings
from syncmon.store.engine import create_store_engine
from tests.conftest import Store
from tests.support.live import LiveServer, free_port

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: httpx.Client) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_healthz_and_readyz(live: LiveServer) -> None:
    with live.client() as client:
        health = client.get("/healthz")
        ready = client.get("/readyz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


def test_health_endpoints_take_only_get(live: LiveServer) -> None:
    with live.client() as client:
        assert client.post("/healthz").status_code == 405
        assert client.post("/readyz").status_code == 405


def broken_store_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}"  # a directory: SQLite cannot open it as a database
    return f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"  # nothing listens there


async def test_readyz_is_503_when_the_store_is_unreachable(backend: str, tmp_path: Path) -> None:
    url = broken_store_url(backend, tmp_path)
    settings = load_settings({"data_dir": str(tmp_path / "data"), "database_url": url}, environ={})
    engine = create_store_engine(url)
    app = create_app(settings, engine, background=False)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            ready = await client.get("/readyz")
            health = await client.get("/healthz")
    finally:
        engine.dispose()
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "error": "OperationalError"}
    assert health.status_code == 200  # alive, just not ready


def test_readyz_turns_503_when_the_store_goes_away(live: LiveServer, backend: str, tmp_path: Path) -> None:
    with live.client() as client:
        assert client.get("/readyz").status_code == 200
        working = live.services.engine
        broken = create_store_engine(broken_store_url(backend, tmp_path))
        live.services.engine = broken
        try:
            assert client.get("/readyz").status_code == 503
        finally:
            live.services.engine = working
            broken.dispose()
        assert client.get("/readyz").status_code == 200


def test_metrics(live: LiveServer, store: Store) -> None:
    key = store.project.public_key
    with live.client() as client:
        before = scrape(client)
        assert not [name for name, _ in before if name == "syncmon_requests_rejected_total"]
        assert before[("syncmon_writer_queue_depth", ())] == 0
        assert before[("syncmon_commit_batch_events_count", ())] == 0

        items = [{"kind": "custom", "name": "signup"}] * 3 + [{"name": "page_view", "url": "https://x/"}]
        assert client.post(f"/api/monitoring/events?key={key}", json=items).status_code == 200
        assert client.post(f"/api/monitoring/error?key={key}", json={"message": "boom"}).status_code == 200
        assert client.post("/api/monitoring/events?key=nope", json=items).status_code == 401
        assert client.post("/api/monitoring/events?key=nope", json=items).status_code == 401
        assert client.post("/api/monitoring/events", json=items).status_code == 401
        bad_json = client.post(
            f"/api/monitoring/events?key={key}", content=b"[{", headers={"content-type": "application/json"}
        )
        assert bad_json.status_code == 400
        after = scrape(client)

    assert after[("syncmon_events_accepted_total", (("kind", "custom"),))] == 3
    assert after[("syncmon_events_accepted_total", (("kind", "page_view"),))] == 1
    assert after[("syncmon_events_accepted_total", (("kind", "error"),))] == 1
    assert after[("syncmon_requests_rejected_total", (("reason", "bad_key"),))] == 2
    assert after[("syncmon_requests_rejected_total", (("reason", "no_key"),))] == 1
    assert after[("syncmon_requests_rejected_total", (("reason", "bad_json"),))] == 1

    batches = after[("syncmon_commit_batch_events_count", ())]
    assert 1 <= batches <= 2  # two requests, possibly sharing one group commit
    assert after[("syncmon_commit_batch_events_sum", ())] == 5
    assert after[("syncmon_commit_batch_events_bucket", (("le", "+Inf"),))] == batches
    assert after[("syncmon_commit_batch_events_bucket", (("le", "5.0"),))] == batches
    assert after[("syncmon_commit_seconds_count", ())] == batches
    assert after[("syncmon_commit_seconds_sum", ())] > 0
    assert after[("syncmon_commit_seconds_bucket", (("le", "+Inf"),))] == batches
    assert after[("syncmon_writer_queue_depth", ())] == 0
