"""HttpProbing, SensitiveFileProbe and AttackToolUserAgent: what must fire, what must not.

Times are invented epoch milliseconds; nothing here reads a clock or sleeps.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from syncmon.security.detection import Severity
from syncmon.security.detectors.probing import (
    AttackToolUserAgent,
    HttpProbing,
    HttpProbingParams,
    SensitiveFileProbe,
)
from syncmon.security.signals import Signal
from tests.security.support import run

T0 = 1_700_000_000_000
IP = "203.0.113.7"
_ids = itertools.count(1)


def req(
    at_ms: int,
    path: str,
    status: int = 404,
    *,
    ip: str | None = IP,
    project: int = 1,
    ua: str | None = None,
    spoofable: bool = False,
    url: bool = True,
    eid: str | None = None,
) -> Signal:
    return Signal(
        at_ms=at_ms,
        project_id=project,
        event_id=eid or f"ev{next(_ids)}",
        category="api_access",
        name=f"http_{status}",
        client_ip=ip,
        target=path.split("?")[0],
        url=f"https://shop.example.com{path}" if url else None,
        user_agent=ua,
        status=status,
        method="GET",
        spoofable=spoofable,
    )


def csp(at_ms: int, document: str, ip: str = IP) -> Signal:
    return Signal(
        at_ms=at_ms,
        project_id=1,
        event_id=f"ev{next(_ids)}",
        category="malicious",
        name="malicious_csp_violation",
        client_ip=ip,
        url=document,
        target="https://evil.example/x.js",
        spoofable=True,
        details=(("directive", "script-src-elem"),),
    )


# --------------------------------------------------------------------------------------
# http_probing


def test_http_probing_fires_on_the_eleventh_distinct_path() -> None:
    signals = [req(T0 + i * 1000, f"/guess-{i}") for i in range(11)]
    found = run(HttpProbing(), signals)
    assert len(found) == 1
    d = found[0]
    assert (d.rule, d.project_id, d.subject_type, d.subject) == ("http_probing", 1, "ip", IP)
    assert (d.severity, d.confidence, d.count) == (Severity.MEDIUM, 0.5, 11)
    assert (d.first_ms, d.last_ms, d.window_ms) == (T0, T0 + 10_000, 10_000)
    assert d.evidence == tuple(s.event_id for s in signals[:10])
    assert d.details["distinct_paths"] == 11
    assert d.details["last_path"] == "/guess-10"
    assert d.details["last_status"] == 404
    # The 11th signal fires, not an earlier one.
    assert run(HttpProbing(), signals[:10]) == []


PROBING_FIRES: list[tuple[str, list[tuple[int, str, int]], int]] = [
    # (id, [(offset ms, path, status)], expected count)
    ("eleven-404s-one-second-apart", [(i * 1000, f"/a{i}", 404) for i in range(11)], 11),
    ("mixed-400-403-404", [(i * 500, f"/m{i}", (400, 403, 404)[i % 3]) for i in range(11)], 11),
    ("one-batch-same-millisecond", [(0, f"/b{i}.php", 404) for i in range(11)], 11),
    # Level after k events 5 s apart: 0.5 k + 0.5, past 10 at k = 20.
    ("slow-scan-one-per-5s", [(i * 5000, f"/s{i}", 404) for i in range(20)], 20),
    ("query-ignored-paths-distinct", [(i * 100, f"/p{i}?x=1", 403) for i in range(11)], 11),
    ("repeats-do-not-hide-new-paths", [(i * 100, f"/r{i // 2}", 404) for i in range(22)], 11),
]


@pytest.mark.parametrize(
    ("steps", "count"), [(s, c) for _, s, c in PROBING_FIRES], ids=[i for i, _, _ in PROBING_FIRES]
)
def test_http_probing_must_fire(steps: list[tuple[int, str, int]], count: int) -> None:
    found = run(HttpProbing(), [req(T0 + off, path, status) for off, path, status in steps])
    assert [(d.rule, d.subject, d.count, d.severity) for d in found] == [
        ("http_probing", IP, count, Severity.MEDIUM)
    ]


PROBING_QUIET: list[tuple[str, list[Signal]]] = [
    ("exactly-capacity", [req(T0 + i * 1000, f"/a{i}") for i in range(10)]),
    ("same-path-fifty-times", [req(T0 + i * 100, "/missing") for i in range(50)]),
    (
        "static-assets",
        [
            req(T0 + i * 100, f"/assets/{i}.{ext}")
            for i, ext in enumerate(
                ["js", "css", "png", "ico", "woff2", "svg", "map", "webp", "jpg", "mjs"] * 3
            )
        ],
    ),
    (
        "crawler-files",
        [req(T0 + i, p) for i, p in enumerate(["/robots.txt", "/favicon.ico", "/sitemap.xml"] * 9)],
    ),
    ("other-statuses", [req(T0 + i * 100, f"/x{i}", (200, 301, 401, 500)[i % 4]) for i in range(40)]),
    ("one-per-ten-seconds", [req(T0 + i * 10_000, f"/slow{i}") for i in range(100)]),
    ("many-ips-five-each", [req(T0 + i * 10, f"/n{i}", ip=f"198.51.100.{i % 8}") for i in range(40)]),
    (
        "two-projects-same-ip",
        [req(T0 + i * 10, f"/q{i}", project=1 + i % 2) for i in range(20)],
    ),
    ("no-client-ip", [req(T0 + i, f"/z{i}", ip=None) for i in range(30)]),
]


@pytest.mark.parametrize("signals", [s for _, s in PROBING_QUIET], ids=[i for i, _ in PROBING_QUIET])
def test_http_probing_must_not_fire(signals: list[Signal]) -> None:
    assert run(HttpProbing(), signals) == []


def test_http_probing_ignores_non_request_signals() -> None:
    # A security event with a URL but no status, and CSP reports (sent by victims).
    security = [
        Signal(T0 + i, 1, f"s{i}", "authorization", "authz_fail", client_ip=IP, url=f"/adm{i}")
        for i in range(30)
    ]
    reports = [csp(T0 + i, f"https://shop.example.com/p{i}") for i in range(30)]
    assert run(HttpProbing(), security + reports) == []


def test_http_probing_quiet_period_then_fires_again() -> None:
    detector = HttpProbing()
    first = run(detector, [req(T0 + i * 100, f"/a{i}") for i in range(11)])
    assert len(first) == 1
    # Within the 5 min blackhole: nothing, however many.
    assert run(detector, [req(T0 + 2_000 + i * 100, f"/b{i}") for i in range(100)]) == []
    start = T0 + 1_000 + 300_000  # the overflow was at T0 + 1 000
    again = run(detector, [req(start + i * 100, f"/c{i}") for i in range(11)])
    assert [(d.count, d.first_ms, d.last_ms) for d in again] == [(11, start, start + 1_000)]


def test_http_probing_spoofable_signals_lower_confidence() -> None:
    found = run(HttpProbing(), [req(T0 + i, f"/a{i}", spoofable=True) for i in range(11)])
    assert [d.confidence for d in found] == [0.25]  # CONFIDENCE[1] x (1 - 0.5 x 11/11)


def test_http_probing_route_template_when_no_url() -> None:
    signals = [req(T0 + i, f"/route/{i}", url=False) for i in range(11)]
    assert len(run(HttpProbing(), signals)) == 1


def test_http_probing_params_override() -> None:
    params = HttpProbingParams(statuses=frozenset({401}))
    assert run(HttpProbing(params), [req(T0 + i, f"/a{i}", 404) for i in range(20)]) == []
    assert len(run(HttpProbing(params), [req(T0 + i, f"/a{i}", 401) for i in range(11)])) == 1


# --------------------------------------------------------------------------------------
# sensitive_file_probe

SENSITIVE_FIRES: list[tuple[str, str, int, str, Severity]] = [
    # (id, path, status, matched entry, severity)
    ("dotenv", "/.env", 404, "/.env", Severity.HIGH),
    ("git-config", "/.git/config", 404, "/.git/config", Severity.HIGH),
    ("git-config-trailing-slash", "/.git/config/", 403, "/.git/config", Severity.HIGH),
    ("encoded-dot", "/%2egit/config", 404, "/.git/config", Severity.HIGH),
    ("double-encoded-dot", "/%252eenv", 404, "/.env", Severity.HIGH),
    ("upper-case", "/.AWS/Credentials", 404, "/.aws/credentials", Severity.HIGH),
    ("nested-app", "/blog/.env.production", 404, "/.env.production", Severity.HIGH),
    ("wp-config-backup", "/wp-config.php.bak", 404, "/wp-config.php.bak", Severity.HIGH),
    ("spring-actuator", "/actuator/env", 404, "/actuator/env", Severity.HIGH),
    ("with-query", "/.env?cache=1", 404, "/.env", Severity.HIGH),
    ("served-dotenv", "/.env", 200, "/.env", Severity.CRITICAL),
    ("served-git-head", "/.git/HEAD", 206, "/.git/head", Severity.CRITICAL),
]


@pytest.mark.parametrize(
    ("path", "status", "matched", "severity"),
    [case[1:] for case in SENSITIVE_FIRES],
    ids=[case[0] for case in SENSITIVE_FIRES],
)
def test_sensitive_file_one_request_fires(path: str, status: int, matched: str, severity: Severity) -> None:
    signal = req(T0, path, status)
    found = SensitiveFileProbe().observe(signal)
    assert len(found) == 1
    d = found[0]
    assert (d.rule, d.subject_type, d.subject, d.severity) == ("sensitive_file_probe", "ip", IP, severity)
    assert (d.count, d.first_ms, d.last_ms, d.evidence, d.confidence) == (1, T0, T0, (signal.event_id,), 1.0)
    assert d.details["matched"] == matched
    assert d.details["served"] is (severity is Severity.CRITICAL)


SENSITIVE_QUIET: list[tuple[str, list[str]]] = [
    ("look-alikes", ["/environment", "/blog/.env-tips", "/api/env", "/git/config", "/docs/.env.example"]),
    ("assets-with-sql-in-name", ["/static/app.sql.js", "/sql/guide", "/backup-policy", "/old/news"]),
    ("one-probe-path", ["/wp-login.php"]),
    ("four-probe-paths", ["/wp-login.php", "/phpmyadmin", "/backup.sql", "/server-status"]),
    ("wordpress-admin-browsing", ["/wp-admin/edit.php", "/wp-admin/post.php", "/wp-admin/upload.php"] * 5),
    ("same-probe-path-repeated", ["/xmlrpc.php"] * 30),
]


@pytest.mark.parametrize("paths", [p for _, p in SENSITIVE_QUIET], ids=[i for i, _ in SENSITIVE_QUIET])
def test_sensitive_file_must_not_fire(paths: list[str]) -> None:
    assert run(SensitiveFileProbe(), [req(T0 + i * 100, p, 404) for i, p in enumerate(paths)]) == []


def test_sensitive_file_csp_and_ipless_signals_are_not_attributed() -> None:
    assert run(SensitiveFileProbe(), [csp(T0, "https://shop.example.com/.env")]) == []
    assert run(SensitiveFileProbe(), [req(T0, "/.git/config", ip=None)]) == []


def test_sensitive_file_probe_paths_burst() -> None:
    paths = ["/wp-login.php", "/phpmyadmin", "/backup.sql", "/server-status", "/.DS_Store"]
    signals = [req(T0 + i * 200, p) for i, p in enumerate(paths)]
    found = run(SensitiveFileProbe(), signals)
    assert [(d.severity, d.count, d.first_ms, d.last_ms) for d in found] == [(Severity.HIGH, 5, T0, T0 + 800)]
    assert found[0].details["distinct_paths"] == 5
    assert found[0].evidence == tuple(s.event_id for s in signals)


def test_sensitive_file_one_detection_per_scan_and_quiet_period() -> None:
    detector = SensitiveFileProbe()
    scan = ["/.env", "/.git/config", "/.aws/credentials", "/wp-login.php", "/phpmyadmin", "/db.sql"]
    scan += ["/backup.zip", "/server-status", "/.DS_Store", "/pma"]
    found = run(detector, [req(T0 + i * 50, p) for i, p in enumerate(scan)])
    assert [(d.details["matched"], d.count) for d in found] == [("/.env", 1)]
    # The [critical] trigger and the [probe] bucket share one 5 min quiet period per IP.
    assert run(detector, [req(T0 + 299_000, "/.git/config")]) == []
    later = run(detector, [req(T0 + 300_000, "/.git/config")])
    assert [(d.details["matched"], d.last_ms) for d in later] == [("/.git/config", T0 + 300_000)]


def test_sensitive_file_served_is_not_hidden_by_an_earlier_404() -> None:
    detector = SensitiveFileProbe()
    asked = run(detector, [req(T0, "/.env", 404)])
    served = run(detector, [req(T0, "/.git/config", 200)])  # same batch, same millisecond
    assert [d.severity for d in asked] == [Severity.HIGH]
    assert [d.severity for d in served] == [Severity.CRITICAL]
    # Distinct in the store's occurrence key (rule, subject, last_ms): moved by 1 ms.
    assert (asked[0].last_ms, served[0].last_ms) == (T0, T0 + 1)


def test_sensitive_file_other_ips_and_projects_are_separate() -> None:
    detector = SensitiveFileProbe()
    found = run(
        detector,
        [
            req(T0, "/.env", ip="198.51.100.1"),
            req(T0, "/.env", ip="198.51.100.2"),
            req(T0, "/.env", project=2),
        ],
    )
    assert [(d.project_id, d.subject) for d in found] == [(1, "198.51.100.1"), (1, "198.51.100.2"), (2, IP)]


# --------------------------------------------------------------------------------------
# attack_tool

TOOL_FIRES: list[tuple[str, str, str, Severity]] = [
    ("sqlmap", "sqlmap/1.7.2#stable (https://sqlmap.org)", "sqlmap", Severity.HIGH),
    ("nikto", "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000003)", "nikto", Severity.HIGH),
    ("nuclei", "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)", "nuclei", Severity.HIGH),
    ("wpscan", "WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)", "wpscan", Severity.HIGH),
    ("hydra", "Mozilla/4.0 (Hydra)", "hydra", Severity.HIGH),
    (
        "nmap",
        "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
        "nmap",
        Severity.MEDIUM,
    ),
    ("masscan", "masscan/1.3 (https://github.com/robertdavidgraham/masscan)", "masscan", Severity.MEDIUM),
    ("zgrab", "Mozilla/5.0 zgrab/0.x", "zgrab", Severity.MEDIUM),
    ("gobuster", "gobuster/3.6", "gobuster", Severity.MEDIUM),
    ("ffuf", "Fuzz Faster U Fool v2.1.0-dev", "fuzz faster u fool", Severity.MEDIUM),
]


@pytest.mark.parametrize(
    ("ua", "tool", "severity"), [c[1:] for c in TOOL_FIRES], ids=[c[0] for c in TOOL_FIRES]
)
def test_attack_tool_fires_on_the_second_request(ua: str, tool: str, severity: Severity) -> None:
    detector = AttackToolUserAgent()
    first, second = req(T0, "/", 200, ua=ua), req(T0 + 1_000, "/login", 404, ua=ua)
    assert detector.observe(first) == []
    found = detector.observe(second)
    assert len(found) == 1
    d = found[0]
    assert (d.rule, d.subject_type, d.subject, d.severity) == ("attack_tool", "ip", IP, severity)
    assert (d.count, d.first_ms, d.last_ms, d.confidence) == (2, T0, T0 + 1_000, 0.5)
    assert d.evidence == (first.event_id, second.event_id)
    assert d.details["tool"] == tool.strip("()/")


TOOL_QUIET: list[tuple[str, list[tuple[int, str | None]]]] = [
    (
        "browser",
        [
            (i, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36")
            for i in range(9)
        ],
    ),
    ("curl", [(i, "curl/8.4.0") for i in range(9)]),
    ("python-requests", [(i, "python-requests/2.31.0") for i in range(9)]),
    ("python-httpx", [(i, "python-httpx/0.27.0") for i in range(9)]),
    ("go-client", [(i, "Go-http-client/1.1") for i in range(9)]),
    (
        "googlebot",
        [(i, "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)") for i in range(9)],
    ),
    ("single-sqlmap-request", [(0, "sqlmap/1.7")]),
    ("two-requests-a-minute-apart", [(0, "sqlmap/1.7"), (61_000, "sqlmap/1.7")]),
    ("no-user-agent", [(i, None) for i in range(9)]),
]


@pytest.mark.parametrize("steps", [s for _, s in TOOL_QUIET], ids=[i for i, _ in TOOL_QUIET])
def test_attack_tool_must_not_fire(steps: list[tuple[int, str | None]]) -> None:
    assert run(AttackToolUserAgent(), [req(T0 + off, "/", 200, ua=ua) for off, ua in steps]) == []


def test_attack_tool_quiet_period() -> None:
    detector = AttackToolUserAgent()
    found = run(detector, [req(T0 + i * 1_000, f"/{i}", ua="sqlmap/1.7") for i in range(100)])
    # Fires at T0 + 1 s, silent for 2 min (until T0 + 121 s), then at the 2nd request after.
    assert [(d.count, d.first_ms, d.last_ms) for d in found] == [(2, T0, T0 + 1_000)]
    found = run(detector, [req(T0 + 121_000 + i * 1_000, "/", ua="sqlmap/1.7") for i in range(2)])
    assert [(d.count, d.last_ms) for d in found] == [(2, T0 + 122_000)]


# --------------------------------------------------------------------------------------
# memory and determinism


def _one_hit(detector: Any, index: int) -> Signal:
    ip = f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}"
    if isinstance(detector, AttackToolUserAgent):
        return req(T0 + index, "/", 200, ip=ip, ua="sqlmap/1.7")
    if isinstance(detector, SensitiveFileProbe):
        return req(T0 + index, "/.env" if index % 2 else "/wp-login.php", ip=ip)
    return req(T0 + index, f"/x{index}", ip=ip)


@pytest.mark.parametrize("cls", [HttpProbing, SensitiveFileProbe, AttackToolUserAgent])
def test_memory_is_bounded_by_active_subjects(cls: type[Any]) -> None:
    detector = cls()
    for index in range(100_000):
        detector.observe(_one_hit(detector, index))
    held = len(detector)
    assert held >= 100_000  # one bucket per IP (plus, for fired triggers, its occurrence)
    assert detector.evict(T0 + 100_000) < held  # still leaking or quiet: kept
    assert detector.evict(T0 + 100_000 + 2 * 3_600_000) > 0
    assert len(detector) == 0


@pytest.mark.parametrize("cls", [HttpProbing, SensitiveFileProbe, AttackToolUserAgent])
def test_detectors_are_deterministic(cls: type[Any]) -> None:
    paths = ["/.env", "/wp-login.php", "/x", "/phpmyadmin", "/backup.sql", "/.git/config", "/a.js"]
    uas = ["sqlmap/1.7", "curl/8", None, "Nikto/2.1.6"]
    stream = sorted(
        (
            req(
                T0 + (i * 7919) % 50_000,
                f"{paths[i % len(paths)]}{i % 13 if i % 3 else ''}",
                (404, 403, 200)[i % 3],
                ip=f"192.0.2.{i % 5}",
                ua=uas[i % 4],
                eid=f"d{i}",
            )
            for i in range(3_000)
        ),
        key=lambda s: s.at_ms,
    )
    first = [d.as_dict() for d in run(cls(), stream)]
    second = [d.as_dict() for d in run(cls(), stream)]
    assert first == second
    assert first  # the stream does trigger the rule


def test_hostile_long_paths_are_handled() -> None:
    hostile = ["/" + "%25" * 40_000, "/" + "a/" * 50_000 + ".env", "/" + "../" * 30_000, "/" + "~" * 100_000]
    for detector in (HttpProbing(), SensitiveFileProbe()):
        for index, path in enumerate(hostile):
            detector.observe(req(T0 + index, path))
    assert AttackToolUserAgent().tool("x" * 1_000_000 + "sqlmap") is None  # only the first 512 chars count
