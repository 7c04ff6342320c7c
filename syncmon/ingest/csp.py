"""Browser Content-Security-Policy violation reports: `POST /api/monitoring/csp?key=<public key>`.

Browsers send reports without custom headers, so the project's public key goes in the
URL of the policy's reporting endpoint:

    Content-Security-Policy: …; report-uri https://<monitor>/api/monitoring/csp?key=<public key>;
        report-to csp
    Reporting-Endpoints: csp="https://<monitor>/api/monitoring/csp?key=<public key>"

Accepted bodies, whatever the Content-Type among `application/csp-report`,
`application/reports+json` and `application/json`:

- `report-uri`: `{"csp-report": {"document-uri", "referrer", "violated-directive",
  "effective-directive", "original-policy", "blocked-uri", "status-code", "source-file",
  "line-number", "column-number", "script-sample", "disposition"}}` (the inner object
  alone is accepted too);
- the Reporting API (`report-to`): a JSON array of `{type, age, url, user_agent, body}`;
  `csp-violation` bodies have `documentURL`, `blockedURL`, `effectiveDirective`,
  `originalPolicy`, `sourceFile`, `sample`, `disposition`, `statusCode`, `lineNumber`,
  `columnNumber`. Reports of other types (deprecation, intervention, …) are counted and
  skipped.

Each violation kept becomes an `error` Event named `csp_violation` (level warning) with the
fields of the seed's ErrorMonitoring CSP payload (`violated_directive`, `blocked_uri`) and
`effective_directive`, `document_uri` (also the event's url), `referrer`, `source_file`,
`line_number`, `column_number`, `sample`, `disposition`, `status_code`,
`original_policy`, `report_format`. Its issue is fingerprinted, as Sentry groups CSP
reports, by effective directive and blocked source (host of a URL; `inline`, `eval`,
`data:` …), and the security engine reads it as `malicious_csp_violation`.

Not stored:

- noise: a blocked URI or source file of a browser extension or the browser itself
  (`chrome-extension://`, `moz-extension://`, `about:` … the prefixes CspViolationBurst
  ignores, patterns/csp_ignored_sources.txt, plus the other schemes of Sentry's
  DEFAULT_DISALLOWED_SOURCES); `inline`, `eval`, `data` and `blob` are real and kept;
- duplicates: a report with the same effective directive, blocked URI and document URI
  from the same client IP as one stored less than a minute before (a fixed window from
  that stored report). The browser is part of the key so that one browser repeating
  itself is folded, while many browsers hitting the same violation (injected script) still
  reach csp_violation_burst, which needs reports from several browsers. Duplicates are
  only counted, in `syncmon_csp_reports_total{outcome="duplicate"}`; the stored event is
  not updated (events are not rewritten after their commit, and a write per duplicate is
  the cost this avoids). The window map is in memory, bounded, per process.

Every report received is counted by outcome: stored, duplicate, dropped_noise, ignored
(another report type), invalid. Replies: 204 when the body was read, even if nothing was
stored; 400 / 401 / 403 / 413 / 415 / 429 / 503 (JSON errors) otherwise.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

import orjson
from prometheus_client import CollectorRegistry, Counter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.clock import Clock
from syncmon.events import Event
from syncmon.http_errors import ClientError
from syncmon.ingest.gateway import IngestGateway
from syncmon.ingest.native import error_event
from syncmon.pipeline.normalize import IngestContext
from syncmon.security.patterns import load

PATH = "/api/monitoring/csp"
REPORT_TYPES = ("application/csp-report", "application/reports+json", "application/json")
OUTCOMES = ("stored", "duplicate", "dropped_noise", "ignored", "invalid")
DEDUPE_WINDOW_MS = 60_000
MAX_TRACKED = 10_000
MAX_AGE_MS = 7 * 86_400_000

# Sentry's DEFAULT_DISALLOWED_SOURCES (getsentry/sentry src/sentry/interfaces/security.py)
# names these browser schemes besides those in csp_ignored_sources.txt. Its list of ad and
# malware hosts (superfish, metrext …, 2015-2019) and `localhost` are not copied.
_SENTRY_SCHEMES = (
    "chromeinvokeimmediate://",
    "chromenull://",
    "data:text/html,chromewebdata",
    "mxaddon-pkg://",
    "jar://",
    "tmtbff://",
    "symres://",
)
NOISE_PREFIXES: tuple[str, ...] = tuple(dict.fromkeys(load("csp_ignored_sources.txt")[""] + _SENTRY_SCHEMES))
# Browsers sometimes report only the scheme ("about", "moz-extension", "chrome-extension").
NOISE_SCHEMES = frozenset(
    prefix.split(":", 1)[0] for prefix in NOISE_PREFIXES if prefix.endswith(("://", ":"))
)

_TEXT_FIELDS_LEGACY = {
    "document-uri": "document_uri",
    "referrer": "referrer",
    "violated-directive": "violated_directive",
    "effective-directive": "effective_directive",
    "original-policy": "original_policy",
    "blocked-uri": "blocked_uri",
    "source-file": "source_file",
    "script-sample": "sample",
    "disposition": "disposition",
}
_INT_FIELDS_LEGACY = {
    "status-code": "status_code",
    "line-number": "line_number",
    "column-number": "column_number",
}
_TEXT_FIELDS_REPORTING = {
    "documentURL": "document_uri",
    "referrer": "referrer",
    "effectiveDirective": "effective_directive",
    "originalPolicy": "original_policy",
    "blockedURL": "blocked_uri",
    "sourceFile": "source_file",
    "sample": "sample",
    "disposition": "disposition",
}
_INT_FIELDS_REPORTING = {
    "statusCode": "status_code",
    "lineNumber": "line_number",
    "columnNumber": "column_number",
}
_LIMITS = {
    "original_policy": 8192,
    "sample": 256,
    "disposition": 16,
    "violated_directive": 2048,
    "effective_directive": 64,
}
_URL_LIMIT = 2048


@dataclass(frozen=True, slots=True)
class Violation:
    """One CSP violation, in the seed's field names, whatever report format it came in."""

    fields: dict[str, Any]  # violated_directive, effective_directive, blocked_uri, …
    report_format: str  # "csp-report" | "reports+json"
    age_ms: int | None = None

    @property
    def directive(self) -> str:
        return str(self.fields["effective_directive"])

    @property
    def blocked_uri(self) -> str | None:
        return self.fields.get("blocked_uri")

    @property
    def document_uri(self) -> str | None:
        return self.fields.get("document_uri")

    def is_noise(self) -> bool:
        """A browser extension or the browser itself, not the site (Sentry checks both)."""
        return is_noise(self.blocked_uri) or is_noise(self.fields.get("source_file"))


def is_noise(uri: str | None) -> bool:
    if not uri:
        return False
    value = uri.strip().lower()
    return value in NOISE_SCHEMES or value.startswith(NOISE_PREFIXES)


def blocked_source(blocked: str | None) -> str:
    """What a violation is grouped by (Sentry's normalisation): a URL's host, a scheme
    (`data:`), or a keyword (`inline`, `eval`); `self` when the browser gave nothing."""
    if not blocked or blocked.strip() in ("'self'", "self"):
        return "self"
    value = blocked.strip().lower()[:_URL_LIMIT]
    if ":" not in value:
        return value[:100]
    try:
        parts = urlsplit(value)
    except ValueError:
        return value[:100]
    if parts.scheme in ("http", "https", "ws", "wss"):
        return parts.netloc or parts.scheme
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"


def _title(directive: str, blocked: str | None) -> str:
    source = blocked_source(blocked)
    what = {"inline": "inline code", "eval": "eval()", "self": "'self'"}.get(source, source)
    return f"CSP {directive}: blocked {what}"


def _clean(raw: dict[str, Any], texts: dict[str, str], ints: dict[str, str], where: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for source, target in texts.items():
        value = raw.get(source)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise ClientError(400, f"{where}{source}: expected a string", field=f"{where}{source}")
        fields[target] = value.strip()[: _LIMITS.get(target, _URL_LIMIT)]
    for source, target in ints.items():
        value = raw.get(source)
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10:
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31:
            fields[target] = value
    directive = fields.get("effective_directive") or (fields.get("violated_directive") or "").split(" ")[0]
    if not directive:
        name = "effectiveDirective" if "effectiveDirective" in texts else "effective-directive"
        raise ClientError(400, f"{where}{name}: required (the directive violated)", field=f"{where}{name}")
    fields["effective_directive"] = directive.lower()[: _LIMITS["effective_directive"]]
    fields.setdefault("violated_directive", fields["effective_directive"])
    if "disposition" in fields:
        fields["disposition"] = fields["disposition"].lower()
    return fields


def parse_legacy(report: Any, where: str = "") -> Violation:
    """The body of a `report-uri` report: the object under "csp-report"."""
    if not isinstance(report, dict):
        raise ClientError(400, f"{where}csp-report: expected a JSON object", field=f"{where}csp-report")
    fields = _clean(report, _TEXT_FIELDS_LEGACY, _INT_FIELDS_LEGACY, f"{where}csp-report.")
    return Violation(fields, "csp-report")


def parse_reporting(report: Any, where: str = "") -> Violation | None:
    """One Reporting API report; None for a report of another type than csp-violation."""
    if not isinstance(report, dict):
        raise ClientError(400, f"{where.rstrip('.')}: expected a JSON object", field=where.rstrip("."))
    if "csp-report" in report:  # a report-uri body inside an array
        return parse_legacy(report["csp-report"], where)
    kind = report.get("type")
    if not isinstance(kind, str):
        raise ClientError(400, f"{where}type: expected a report type", field=f"{where}type")
    if kind != "csp-violation":
        return None
    body = report.get("body")
    if not isinstance(body, dict):
        raise ClientError(400, f"{where}body: expected a JSON object", field=f"{where}body")
    fields = _clean(body, _TEXT_FIELDS_REPORTING, _INT_FIELDS_REPORTING, f"{where}body.")
    url = report.get("url")
    if "document_uri" not in fields and isinstance(url, str) and url:
        fields["document_uri"] = url.strip()[:_URL_LIMIT]
    age = report.get("age")
    valid_age = isinstance(age, int) and not isinstance(age, bool) and 0 <= age <= MAX_AGE_MS
    return Violation(fields, "reports+json", age if valid_age else None)


def read_reports(payload: Any, max_reports: int) -> tuple[list[Any], bool]:
    """The reports of a body and whether it is a Reporting API list."""
    if isinstance(payload, dict) and "csp-report" in payload:
        return [payload["csp-report"]], False
    if isinstance(payload, dict) and ("effective-directive" in payload or "violated-directive" in payload):
        return [payload], False  # a report-uri body without its "csp-report" wrapper (polyfills)
    if isinstance(payload, dict) and "type" in payload and "body" in payload:
        return [payload], True
    if not isinstance(payload, list):
        raise ClientError(
            400, 'body: expected {"csp-report": {...}} or a JSON array of reports', reason="bad_shape"
        )
    if not payload:
        raise ClientError(400, "body: the array of reports is empty", reason="bad_shape")
    if len(payload) > max_reports:
        raise ClientError(413, f"body: at most {max_reports} reports per request, got {len(payload)}")
    return payload, True


def violation_event(violation: Violation, ctx: IngestContext) -> Event:
    item: dict[str, Any] = {
        "type": "csp_violation",
        "message": _title(violation.directive, violation.blocked_uri),
        **violation.fields,
        "report_format": violation.report_format,
        "fingerprint": ["csp_violation", violation.directive, blocked_source(violation.blocked_uri)],
    }
    if violation.document_uri:
        item["url"] = violation.document_uri
    if violation.age_ms is not None:
        item["timestamp"] = ctx.received_ms - violation.age_ms
    return error_event(item, ctx)


# ------------------------------------------------------------------------------------------
# Duplicates


DedupeKey = tuple[int, str, str, str, str]


@dataclass(slots=True)
class _Seen:
    first_ms: int
    event_id: str
    duplicates: int = 0


class RecentViolations:
    """Violations stored in the last window, by key, oldest first; at most `max_size`."""

    def __init__(self, clock: Clock, window_ms: int = DEDUPE_WINDOW_MS, max_size: int = MAX_TRACKED) -> None:
        self.clock = clock
        self.window_ms = window_ms
        self.max_size = max_size
        self._seen: OrderedDict[DedupeKey, _Seen] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def duplicate(self, key: DedupeKey) -> bool:
        """Whether `key` was stored within the window; a duplicate is counted on its entry."""
        now = self.clock.now_ms()
        self._evict(now)
        seen = self._seen.get(key)
        if seen is None:
            return False
        if now - seen.first_ms >= self.window_ms:
            del self._seen[key]
            return False
        seen.duplicates += 1
        return True

    def remember(self, key: DedupeKey, event_id: str) -> None:
        now = self.clock.now_ms()
        self._seen.pop(key, None)
        self._seen[key] = _Seen(now, event_id)
        self._evict(now)

    def forget(self, key: DedupeKey, event_id: str) -> None:
        """Undo `remember` (the event was not stored after all)."""
        seen = self._seen.get(key)
        if seen is not None and seen.event_id == event_id:
            del self._seen[key]

    def get(self, key: DedupeKey) -> tuple[str, int] | None:
        """(first event id, duplicates counted) for a key still in its window."""
        seen = self._seen.get(key)
        return (seen.event_id, seen.duplicates) if seen else None

    def _evict(self, now: int) -> None:
        while self._seen:
            oldest = next(iter(self._seen.values()))
            if len(self._seen) <= self.max_size and now - oldest.first_ms < self.window_ms:
                break
            self._seen.popitem(last=False)


def dedupe_key(violation: Violation, ctx: IngestContext) -> DedupeKey:
    return (
        ctx.project_id,
        violation.directive,
        violation.blocked_uri or "",
        violation.document_uri or "",
        ctx.client_ip or "",
    )


# ------------------------------------------------------------------------------------------
# HTTP


_COUNTERS: WeakKeyDictionary[CollectorRegistry, Counter] = WeakKeyDictionary()


def reports_counter(registry: CollectorRegistry) -> Counter:
    """`syncmon_csp_reports_total{outcome}` on the server's registry, created once per registry."""
    counter = _COUNTERS.get(registry)
    if counter is None:
        counter = Counter(
            "syncmon_csp_reports",
            "CSP violation reports received, by what became of them "
            "(stored, duplicate, dropped_noise, ignored, invalid).",
            ["outcome"],
            registry=registry,
        )
        for outcome in OUTCOMES:
            counter.labels(outcome)
        _COUNTERS[registry] = counter
    return counter


class CspReceiver:
    def __init__(
        self, gateway: IngestGateway, *, window_ms: int = DEDUPE_WINDOW_MS, max_tracked: int = MAX_TRACKED
    ) -> None:
        self.gateway = gateway
        self.counter = reports_counter(gateway.telemetry.registry)
        self.recent = RecentViolations(gateway.clock, window_ms, max_tracked)

    async def _payload(self, request: Request) -> Any:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in REPORT_TYPES:
            raise ClientError(
                415,
                f"Content-Type {content_type[:64]!r} is not accepted; browsers send "
                "application/csp-report or application/reports+json",
                reason="bad_content_type",
            )
        raw = await self.gateway.body(request)
        if not raw.strip():
            raise ClientError(400, "body is empty; expected a CSP report", reason="empty")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ClientError(400, f"body is not valid JSON: {exc}", reason="bad_json") from None

    def _translate(
        self, reports: list[Any], batch: bool, ctx: IngestContext, tally: Tally[str]
    ) -> tuple[list[Event], list[tuple[DedupeKey, str]]]:
        events: list[Event] = []
        remembered: list[tuple[DedupeKey, str]] = []
        problems: list[ClientError] = []
        for index, report in enumerate(reports):
            try:
                violation = parse_reporting(report, f"[{index}].") if batch else parse_legacy(report)
                if violation is None:
                    tally["ignored"] += 1
                    continue
                if violation.is_noise():
                    tally["dropped_noise"] += 1
                    continue
                key = dedupe_key(violation, ctx)
                if self.recent.duplicate(key):
                    tally["duplicate"] += 1
                    continue
                event = violation_event(violation, ctx)
            except ClientError as exc:
                tally["invalid"] += 1
                problems.append(exc)
                continue
            self.recent.remember(key, event.id)
            remembered.append((key, event.id))
            events.append(event)
        if problems and tally["invalid"] == len(reports):
            raise problems[0]
        return events, remembered

    async def report(self, request: Request) -> Response:
        tally: Tally[str] = Tally()
        remembered: list[tuple[DedupeKey, str]] = []
        try:
            _, context = await self.gateway.admit(request)
            payload = await self._payload(request)
            try:
                reports, batch = read_reports(payload, self.gateway.settings.max_batch_events)
            except ClientError:
                tally["invalid"] += 1
                raise
            events, remembered = self._translate(reports, batch, context, tally)
            if events:
                await self.gateway.commit(events)
                tally["stored"] += len(events)
        except ClientError as exc:
            for key, event_id in remembered:
                self.recent.forget(key, event_id)
            self._count(tally)
            return self.gateway.refuse(exc)
        self._count(tally)
        return Response(status_code=204)

    def _count(self, tally: Tally[str]) -> None:
        for outcome, count in tally.items():
            if count:
                self.counter.labels(outcome).inc(count)


def routes(gateway: IngestGateway) -> list[Route]:
    receiver = CspReceiver(gateway)
    return [Route(PATH, receiver.report, methods=["POST"])]
