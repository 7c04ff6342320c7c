"""What detectors read: one `Signal` per security-relevant event, whatever its kind.

Security events, requests a server reported (401/403/404 …), CSP violations and
uploads all become Signals with the subject (client IP, account) and the facts a rule
needs. Times are the server's receive times: a client's own timestamp is not evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from syncmon.events import Event, Kind
from syncmon.security.vocabulary import Category, category_of


@dataclass(frozen=True, slots=True)
class Signal:
    at_ms: int
    project_id: int
    event_id: str
    category: str
    name: str
    client_ip: str | None = None
    user_id: str | None = None
    target: str | None = None
    url: str | None = None
    user_agent: str | None = None
    status: int | None = None
    method: str | None = None
    amount: float | None = None
    latitude: float | None = None
    longitude: float | None = None
    spoofable: bool = False
    details: tuple[tuple[str, str], ...] = ()


def _text(value: Any, limit: int = 512) -> str | None:
    return (
        str(value)[:limit] if isinstance(value, str | int | float) and not isinstance(value, bool) else None
    )


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _status(value: Any) -> int | None:
    """An HTTP status as ingest accepted it: the payload is stored as sent, and ingest takes
    what pydantic coerces to an int ("404", 404.0) as well as an int."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and 100 <= value <= 599 else None


def _location(data: dict[str, Any]) -> tuple[float | None, float | None]:
    raw_geo = data.get("geo")
    geo: dict[str, Any] = raw_geo if isinstance(raw_geo, dict) else data
    lat, lon = _number(geo.get("latitude", geo.get("lat"))), _number(geo.get("longitude", geo.get("lon")))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    return lat, lon


def signal_from_event(event: Event) -> Signal | None:
    """The Signal an event stands for, or None when it says nothing about security."""
    data = event.data
    common: dict[str, Any] = {
        "at_ms": event.received_ms,
        "project_id": event.project_id,
        "event_id": event.id,
        "client_ip": event.client_ip,
        "user_id": event.user_id,
        "url": event.url,
        "user_agent": _text(data.get("user_agent")),
        # A browser (public key) can claim any account; only a server's word counts fully.
        "spoofable": not event.trusted,
    }
    if event.kind == Kind.SECURITY:
        lat, lon = _location(data)
        amount = _number(data.get("records", data.get("rows", data.get("bytes", data.get("count")))))
        return Signal(
            category=str(data.get("category") or category_of(event.name).value),
            name=event.name,
            target=_text(data.get("target") or data.get("resource") or data.get("object_id")),
            amount=amount,
            latitude=lat,
            longitude=lon,
            details=tuple(
                (key, text)
                for key in ("parameter", "payload", "query")
                if (text := _text(data.get(key), 2048)) is not None
            ),
            **common,
        )
    if event.kind == Kind.REQUEST:
        status = _status(data.get("status"))
        if status is None:
            return None
        return Signal(
            category=Category.API_ACCESS.value,
            name=f"http_{status}",
            target=_text(data.get("route")) or event.url,
            status=status,
            method=_text(data.get("method"), 16),
            **common,
        )
    if event.kind == Kind.ERROR and event.name == "csp_violation":
        directive = _text(data.get("violated_directive") or data.get("effective_directive"), 128) or ""
        return Signal(
            category=Category.MALICIOUS.value,
            name="malicious_csp_violation",
            target=_text(data.get("blocked_uri")),
            details=(("directive", directive),),
            **common,
        )
    return None
