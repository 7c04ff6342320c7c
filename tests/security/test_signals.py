"""Events to Signals: what the detectors read from security events, requests and CSP reports."""

from __future__ import annotations

from typing import Any

import pytest

from syncmon.events import Event, Kind
from syncmon.security.signals import Signal, signal_from_event

RECEIVED = 1_767_225_600_000
CLAIMED = RECEIVED - 3_600_000  # a client's own timestamp: never the signal's time


def event(kind: str, name: str, data: dict[str, Any] | None = None, **fields: Any) -> Event:
    values: dict[str, Any] = {
        "project_id": 7,
        "kind": kind,
        "name": name,
        "timestamp_ms": CLAIMED,
        "received_ms": RECEIVED,
        "id": "ev1",
        "data": data or {},
    }
    values.update(fields)
    return Event(**values)


def security(name: str, data: dict[str, Any] | None = None, **fields: Any) -> Signal:
    signal = signal_from_event(event(Kind.SECURITY, name, data, **fields))
    assert signal is not None
    return signal


def test_a_trusted_security_event() -> None:
    signal = security(
        "authn_login_fail",
        {"category": "authentication", "user_agent": "curl/8.0", "target": "/login"},
        client_ip="203.0.113.9",
        user_id="alice",
        url="https://app.example/login",
        trusted=True,
    )
    assert signal == Signal(
        at_ms=RECEIVED,
        project_id=7,
        event_id="ev1",
        category="authentication",
        name="authn_login_fail",
        client_ip="203.0.113.9",
        user_id="alice",
        target="/login",
        url="https://app.example/login",
        user_agent="curl/8.0",
        spoofable=False,
    )


def test_a_browser_sent_event_is_spoofable() -> None:
    assert security("authn_login_fail", trusted=False).spoofable is True
    assert security("authn_login_fail", trusted=True).spoofable is False


@pytest.mark.parametrize(
    ("name", "data", "category"),
    [
        ("authz_fail", {}, "authorization"),  # from the name when data has none
        ("something_odd", {}, "system"),
        ("something_odd", {"category": "malicious"}, "malicious"),  # as stored at ingest
        ("authentication", {}, "authentication"),
    ],
)
def test_category(name: str, data: dict[str, Any], category: str) -> None:
    assert security(name, data).category == category


@pytest.mark.parametrize(
    ("data", "target"),
    [
        ({"target": "doc-1"}, "doc-1"),
        ({"resource": "/files/2"}, "/files/2"),
        ({"object_id": 42}, "42"),
        ({"target": "doc-1", "resource": "other"}, "doc-1"),
        ({"target": {"nested": 1}}, None),
        ({"target": True}, None),
        ({"target": "x" * 600}, "x" * 512),
        ({}, None),
    ],
)
def test_target(data: dict[str, Any], target: str | None) -> None:
    assert security("sensitive_read", data).target == target


@pytest.mark.parametrize(
    ("data", "amount"),
    [
        ({"records": 500}, 500.0),
        ({"rows": 12}, 12.0),
        ({"bytes": 1.5e6}, 1.5e6),
        ({"count": 3}, 3.0),
        ({"records": 5, "rows": 6, "bytes": 7}, 5.0),  # records first, then rows, bytes, count
        ({"rows": 6, "bytes": 7}, 6.0),
        ({"records": 0}, 0.0),
        ({"records": "500"}, None),  # text is not an amount
        ({"records": True}, None),  # nor is a boolean
        ({}, None),
    ],
)
def test_amount(data: dict[str, Any], amount: float | None) -> None:
    assert security("sensitive_read", data).amount == amount


@pytest.mark.parametrize(
    ("data", "location"),
    [
        ({"geo": {"latitude": 48.8566, "longitude": 2.3522}}, (48.8566, 2.3522)),
        ({"geo": {"lat": -33.87, "lon": 151.21}}, (-33.87, 151.21)),
        ({"latitude": 40.7, "longitude": -74}, (40.7, -74.0)),  # top level when there is no geo
        ({"geo": {"latitude": 0, "longitude": 0}}, (0.0, 0.0)),
        ({"geo": {"latitude": 90, "longitude": 180}}, (90.0, 180.0)),
        ({"geo": {"latitude": 91, "longitude": 0}}, (None, None)),
        ({"geo": {"latitude": 0, "longitude": -181}}, (None, None)),
        ({"geo": {"latitude": 48.8}}, (None, None)),  # one coordinate is no place
        ({"geo": {"latitude": "48.8", "longitude": "2.3"}}, (None, None)),
        ({"geo": {"latitude": True, "longitude": 2.3}}, (None, None)),
        ({"geo": "Paris"}, (None, None)),
        ({}, (None, None)),
    ],
)
def test_geo(data: dict[str, Any], location: tuple[float | None, float | None]) -> None:
    signal = security("authn_login_success", data)
    assert (signal.latitude, signal.longitude) == location


def test_times_are_receive_times_not_client_claims() -> None:
    assert security("authn_login_fail").at_ms == RECEIVED
    request = signal_from_event(event(Kind.REQUEST, "GET /", {"status": 404}))
    assert request is not None and request.at_ms == RECEIVED


def test_a_request() -> None:
    signal = signal_from_event(
        event(
            Kind.REQUEST,
            "GET /docs/{id}",
            {"status": 403, "method": "GET", "route": "/docs/{id}", "user_agent": "sqlmap/1.7"},
            url="https://app.example/docs/9?x=1",
            client_ip="198.51.100.4",
            user_id="bob",
            trusted=True,
        )
    )
    assert signal == Signal(
        at_ms=RECEIVED,
        project_id=7,
        event_id="ev1",
        category="api_access",
        name="http_403",
        client_ip="198.51.100.4",
        user_id="bob",
        target="/docs/{id}",
        url="https://app.example/docs/9?x=1",
        user_agent="sqlmap/1.7",
        status=403,
        method="GET",
        spoofable=False,
    )


def test_a_request_without_a_route_targets_its_url() -> None:
    signal = signal_from_event(event(Kind.REQUEST, "GET /x", {"status": 404}, url="/.env"))
    assert signal is not None
    assert (signal.name, signal.target, signal.status, signal.spoofable) == ("http_404", "/.env", 404, True)


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (200, "http_200"),
        (404, "http_404"),
        # Ingest accepts what pydantic coerces to a status (and stores the payload as sent).
        ("404", "http_404"),
        (404.0, "http_404"),
        (None, None),
        ("not found", None),
        (True, None),
        (404.5, None),
        (600, None),
    ],
)
def test_request_status(status: Any, name: str | None) -> None:
    signal = signal_from_event(event(Kind.REQUEST, "GET /", {"status": status}))
    assert (signal.name if signal else None) == name
    if signal is not None:
        assert signal.status == int(status)


def test_a_csp_violation() -> None:
    signal = signal_from_event(
        event(
            Kind.ERROR,
            "csp_violation",
            {"violated_directive": "script-src", "blocked_uri": "https://evil.example/x.js"},
            url="https://app.example/page",
            client_ip="192.0.2.1",
        )
    )
    assert signal == Signal(
        at_ms=RECEIVED,
        project_id=7,
        event_id="ev1",
        category="malicious",
        name="malicious_csp_violation",
        client_ip="192.0.2.1",
        target="https://evil.example/x.js",
        url="https://app.example/page",
        spoofable=True,
        details=(("directive", "script-src"),),
    )


def test_a_csp_violation_falls_back_to_the_effective_directive() -> None:
    signal = signal_from_event(event(Kind.ERROR, "csp_violation", {"effective_directive": "img-src"}))
    assert signal is not None and signal.details == (("directive", "img-src"),)
    bare = signal_from_event(event(Kind.ERROR, "csp_violation", {}))
    assert bare is not None and bare.details == (("directive", ""),) and bare.target is None


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        (Kind.ERROR, "javascript_error"),
        (Kind.PAGE_VIEW, "page_view"),
        (Kind.CUSTOM, "signup"),
        (Kind.PERFORMANCE, "LCP"),
        (Kind.TRANSACTION, "GET /"),
    ],
)
def test_other_events_say_nothing_about_security(kind: str, name: str) -> None:
    assert signal_from_event(event(kind, name, {"status": 404})) is None
