"""PathTraversal, SqlInjection and XssProbe: payloads that must fire, ordinary text that must not.

Payload shapes follow danielmiessler/SecLists (MIT) Fuzzing/SQLi/Generic-SQLi.txt,
Fuzzing/Polyglots/XSS_Polyglots.txt and Fuzzing/LFI/LFI-Jhaddix.txt; the ordinary texts are
searches and paths a real site sees. Times are invented; nothing reads a clock or sleeps.
"""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from syncmon.security.detection import Detection, Severity
from syncmon.security.detectors.injection import PathTraversal, SqlInjection, XssProbe
from syncmon.security.patterns import MAX_SCAN
from syncmon.security.signals import Signal
from tests.security.support import run

T0 = 1_700_000_000_000
IP = "203.0.113.9"
_ids = itertools.count(1)


def hit(
    at_ms: int,
    url: str | None,
    *,
    ip: str | None = IP,
    user: str | None = None,
    name: str = "http_200",
    status: int | None = 200,
    target: str | None = None,
    details: tuple[tuple[str, str], ...] = (),
    spoofable: bool = False,
    eid: str | None = None,
) -> Signal:
    return Signal(
        at_ms=at_ms,
        project_id=1,
        event_id=eid or f"ev{next(_ids)}",
        category="api_access" if status is not None else "input_validation",
        name=name,
        client_ip=ip,
        user_id=user,
        target=target,
        url=None if url is None else f"https://shop.example.com{url}",
        status=status,
        spoofable=spoofable,
        details=details,
    )


def query(text: str) -> str:
    """`text` as a browser form sends it in the query string."""
    return "/search?q=" + quote_plus(text)


def single(detector: Any, url: str) -> list[Detection]:
    found: list[Detection] = detector.observe(hit(T0, url))
    return found


# --------------------------------------------------------------------------------------
# sql_injection

SQLI_FIRES: list[tuple[str, str, str]] = [
    # (id, url, an indicator that must be among those reported)
    ("quoted-tautology", "/products?id=" + quote("1' or '1'='1"), "'or'1'='1"),
    ("numeric-tautology", "/products?id=" + quote("1 or 1=1"), "=1or1=1"),
    ("comment-login-bypass", "/login?user=" + quote("admin'--"), "'--"),
    (
        "union-information-schema",
        "/search?q=" + quote("1 union all select null,table_name from information_schema.tables--"),
        "information_schema",
    ),
    ("waitfor-delay", "/item?id=" + quote("1;waitfor delay '0:0:5'--"), "waitfor delay"),
    ("mysql-sleep", "/item?id=1+AND+SLEEP(5)", "sleep(5"),
    ("pg-sleep", "/item?id=" + quote("1) or pg_sleep(5)--"), "pg_sleep("),
    ("benchmark", "/item?id=" + quote("1 or benchmark(10000000,MD5(1))#"), "benchmark("),
    ("xp-cmdshell", "/q?x=" + quote("'; exec master..xp_cmdshell 'dir'--"), "xp_cmdshell"),
    ("comment-obfuscation", "/item?id=1/**/UNION/**/SELECT/**/NULL,NULL--", "union select null"),
    ("mysql-versioned-comment", "/item?id=1/*!50000UNION*//*!50000SELECT*/1,2", "union select 1,"),
    ("newline-separators", "/item?id=1%0aunion%0aall%0aselect%0a1", "union all select"),
    ("error-based", "/item?id=" + quote("1 and extractvalue(1,concat(0x7e,version()))"), "extractvalue("),
    ("two-weak-indicators", "/item?id=" + quote("1 and 1=2 union select user()"), "union select"),
    ("order-by-probe", "/item?id=" + quote("1' ORDER BY 1--+"), "orderby1"),
    ("upper-case", "/item?id=" + quote("1' OR 1=1 --"), "'or1=1"),
]


@pytest.mark.parametrize(("url", "indicator"), [c[1:] for c in SQLI_FIRES], ids=[c[0] for c in SQLI_FIRES])
def test_sqli_one_payload_fires_medium(url: str, indicator: str) -> None:
    signal = hit(T0, url)
    found = SqlInjection().observe(signal)
    assert len(found) == 1
    d = found[0]
    assert (d.rule, d.subject_type, d.subject, d.severity) == ("sql_injection", "ip", IP, Severity.MEDIUM)
    assert (d.count, d.first_ms, d.last_ms, d.evidence, d.confidence) == (1, T0, T0, (signal.event_id,), 1.0)
    assert indicator in d.details["indicators"]
    assert d.details["field"] == "url"
    assert d.details["double_encoded"] is False


def test_sqli_double_encoded_payload() -> None:
    once = quote("1' or 1=1--", safe="")
    twice = quote(once, safe="")  # %2527 …
    assert "%25" in twice
    found = single(SqlInjection(), f"/item?id={twice}")
    assert [(d.severity, d.details["double_encoded"]) for d in found] == [(Severity.MEDIUM, True)]
    assert "'or1=1" in found[0].details["indicators"]


SQLI_QUIET: list[tuple[str, str]] = [
    ("select-a-union", query("select a union of the best products")),
    ("labor-union-select-committee", query("labor union select committee")),
    ("apostrophe-name", query("o'brien")),
    ("apostrophe-and-dashes", query("Tom's diner -- 1987")),
    ("rock-n-roll", query("rock 'n' roll -- live")),
    ("sleep-apnea", query("sleep(apnea) clinic")),
    ("sql-tutorial-path", "/blog/sql-tutorial-select-from-where"),
    ("sorting-params", "/api/v1/items?sort=-created_at&order=desc&ids=1,2,3"),
    ("in-order-by-1pm", query("deliver in order by 1pm")),
    ("podcast-parenthesis", query("podcast(2024) episodes")),
    ("percent-sign", query("100% cotton")),
    ("color-param", "/shop?color1=1&color2=2"),
    ("jwt-in-query", "/cb?token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abc-_"),
    ("date-range", "/report?range=2024-01-01--2024-02-01"),
]


@pytest.mark.parametrize("url", [u for _, u in SQLI_QUIET], ids=[i for i, _ in SQLI_QUIET])
def test_sqli_must_not_fire(url: str) -> None:
    detector = SqlInjection()
    # Even typed letter by letter (search-as-you-type), at request rate: no detection.
    signals = [hit(T0 + i * 50, url[: len(url) - i]) for i in range(min(12, len(url) - 10))]
    assert run(detector, [hit(T0, url), *signals]) == []


def test_sqli_in_a_reported_parameter() -> None:
    signal = hit(
        T0,
        None,
        name="input_validation_fail",
        status=None,
        details=(("parameter", "' OR 1=1 --"), ("field", "username")),
    )
    found = SqlInjection().observe(signal)
    assert [(d.severity, d.details["field"]) for d in found] == [(Severity.MEDIUM, "parameter")]
    # Other detail keys are not read.
    other = hit(T0, None, name="input_validation_fail", status=None, details=(("note", "' OR 1=1 --"),))
    assert SqlInjection().observe(other) == []


def test_sqli_application_verdict_counts_directly() -> None:
    by_ip = SqlInjection().observe(hit(T0, None, name="malicious_sqli", status=None))
    assert [(d.subject_type, d.subject, d.details["indicators"]) for d in by_ip] == [
        ("ip", IP, ["event:malicious_sqli"])
    ]
    by_account = SqlInjection().observe(
        hit(T0, None, ip=None, user=" Mallory ", name="malicious_sqli", status=None)
    )
    assert [(d.subject_type, d.subject) for d in by_account] == [("account", "mallory")]


def test_sqli_burst_escalates_to_high() -> None:
    detector = SqlInjection()
    payloads = [hit(T0 + i * 100, "/item?id=" + quote(f"{i}' or 1=1--")) for i in range(11)]
    found = run(detector, payloads)
    assert [(d.severity, d.count, d.first_ms, d.last_ms) for d in found] == [
        (Severity.MEDIUM, 1, T0, T0),
        (Severity.HIGH, 11, T0, T0 + 1_000),
    ]
    burst = found[1]
    assert burst.evidence == tuple(s.event_id for s in payloads[:10])
    assert burst.details["payloads"] == 11
    assert "probing" in burst.title
    # Both quiet for 5 min: a further 100 different payloads say nothing new.
    more = [
        hit(T0 + 2_000 + i * 100, "/item?id=" + quote(f"{i}' or 2=2 union select null--")) for i in range(100)
    ]
    assert run(detector, more) == []
    later = run(detector, [hit(T0 + 300_000 + i, "/item?id=" + quote(f"{i}' or 1=1--")) for i in range(2)])
    assert [(d.severity, d.count) for d in later] == [(Severity.MEDIUM, 1)]


def test_sqli_same_payload_repeated_is_one_payload() -> None:
    found = run(SqlInjection(), [hit(T0 + i * 10, "/item?id=1%27%20or%201=1--") for i in range(200)])
    assert [(d.severity, d.count) for d in found] == [(Severity.MEDIUM, 1)]


def test_sqli_batch_in_one_millisecond_keeps_both_detections_distinct() -> None:
    found = run(SqlInjection(), [hit(T0, "/item?id=" + quote(f"{i}' or 1=1--")) for i in range(11)])
    assert [(d.severity, d.last_ms) for d in found] == [(Severity.MEDIUM, T0), (Severity.HIGH, T0 + 1)]


def test_sqli_csp_reports_and_subjectless_signals_are_skipped() -> None:
    payload = "/item?id=" + quote("1 union all select null--")
    report = hit(T0, payload, name="malicious_csp_violation", status=None, spoofable=True)
    assert SqlInjection().observe(report) == []
    assert SqlInjection().observe(hit(T0, payload, ip=None)) == []


def test_sqli_spoofable_signal_lowers_confidence() -> None:
    found = SqlInjection().observe(hit(T0, "/item?id=1%27%20or%201=1--", spoofable=True))
    assert [d.confidence for d in found] == [0.5]


# --------------------------------------------------------------------------------------
# xss_probe

XSS_FIRES: list[tuple[str, str]] = [
    ("script-alert", "/search?q=" + quote("<script>alert(1)</script>")),
    ("img-onerror", "/search?q=" + quote('"><img src=x onerror=alert(1)>')),
    ("svg-onload", "/search?q=" + quote("<svg/onload=alert(1)>")),
    ("javascript-uri-cookie", "/go?next=" + quote("javascript:alert(document.cookie)")),
    ("attribute-break", "/p?name=" + quote('" onmouseover="alert(1)')),
    ("whitespace-in-handler", "/search?q=" + quote("<img src=x onerror = alert(1)>")),
    ("mixed-case", "/search?q=" + quote("<ScRiPt>alert(1)</sCrIpT>")),
    ("js-string-break", "/search?q=" + quote("';alert(String.fromCharCode(88,83,83))//")),
    ("details-ontoggle", "/search?q=" + quote("<details open ontoggle=alert(1)>")),
    ("raw-unencoded", "/search?q=<script>alert(1)</script>"),
    ("in-fragment", "/page#<img src=x onerror=alert(1)>"),
]


@pytest.mark.parametrize("url", [u for _, u in XSS_FIRES], ids=[i for i, _ in XSS_FIRES])
def test_xss_one_payload_fires_low(url: str) -> None:
    found = single(XssProbe(), url)
    assert [(d.rule, d.subject, d.severity, d.count, d.confidence) for d in found] == [
        ("xss_probe", IP, Severity.LOW, 1, 1.0)
    ]


def test_xss_double_encoded_payload() -> None:
    twice = quote(quote("<script>alert(1)</script>", safe=""), safe="")
    found = single(XssProbe(), f"/search?q={twice}")
    assert [(d.severity, d.details["double_encoded"]) for d in found] == [(Severity.LOW, True)]


XSS_QUIET: list[tuple[str, str]] = [
    ("blog-script-post", "/blog/how-to-write-a-deploy-script"),
    ("blog-javascript-post", "/blog/2024/01/javascript-tips-and-tricks"),
    ("search-javascript-colon", query("javascript: the good parts")),
    ("search-img-tag", query("<img> tag")),
    ("search-script-element", query("how does the <script> element work")),
    ("search-window-onload", query("window.onload=function")),
    ("search-postscript", query("postscript printer")),
    ("search-red-alert", query("red alert(2) remastered")),
    ("search-document-cookie", query("document.cookie explained")),
    ("svg-icons-path", "/products/svg-icons?sort=-price&page=2"),
    ("wiki-scripts", "/wiki/Category:Scripts"),
    ("retrieval", query("retrieval(augmented) generation")),
]


@pytest.mark.parametrize("url", [u for _, u in XSS_QUIET], ids=[i for i, _ in XSS_QUIET])
def test_xss_must_not_fire(url: str) -> None:
    signals = [hit(T0 + i * 50, url[: len(url) - i]) for i in range(min(8, len(url) - 10))]
    assert run(XssProbe(), [hit(T0, url), *signals]) == []


def test_xss_burst_escalates_to_medium() -> None:
    payloads = [hit(T0 + i * 100, "/search?q=" + quote(f"<script>alert({i})</script>")) for i in range(6)]
    found = run(XssProbe(), payloads)
    assert [(d.severity, d.count, d.window_ms) for d in found] == [
        (Severity.LOW, 1, 0),
        (Severity.MEDIUM, 6, 500),
    ]


def test_xss_csp_report_is_the_victim_not_the_attacker() -> None:
    url = "/search?q=" + quote("<script>alert(1)</script>")
    report = hit(T0, url, name="malicious_csp_violation", status=None, spoofable=True)
    assert XssProbe().observe(report) == []


# --------------------------------------------------------------------------------------
# path_traversal

TRAVERSAL_FIRES: list[tuple[str, str]] = [
    ("dot-dot-etc-passwd", "/download?file=../../../../etc/passwd"),
    ("encoded-slashes", "/download?file=..%2f..%2f..%2fetc%2fpasswd"),
    ("encoded-dots", "/%2e%2e/%2e%2e/%2e%2e/etc/shadow"),
    ("double-encoded", "/download?file=%252e%252e%252f%252e%252e%252fetc%252fpasswd"),
    ("backslashes", "/download?file=..\\..\\..\\windows\\win.ini"),
    ("encoded-backslashes", "/download?file=..%5c..%5c..%5cboot.ini"),
    ("filter-bypass", "/download?file=....//....//etc/passwd"),
    ("absolute-etc-passwd", "/download?file=/etc/passwd"),
    ("php-wrapper", "/index.php?page=php://filter/convert.base64-encode/resource=index.php"),
    ("overlong-utf8", "/download?file=..%c0%af..%c0%afboot.ini"),
    ("windows-drive", "/download?file=" + quote("c:\\windows\\system32\\drivers\\etc\\hosts")),
    ("tomcat-semicolon", "/app/..;/manager/html"),
    ("weak-pair-null-byte", "/download?file=../config.php%00.jpg"),
]


@pytest.mark.parametrize("url", [u for _, u in TRAVERSAL_FIRES], ids=[i for i, _ in TRAVERSAL_FIRES])
def test_traversal_one_payload_fires_medium(url: str) -> None:
    found = single(PathTraversal(), url)
    assert [(d.rule, d.subject, d.severity, d.count) for d in found] == [
        ("path_traversal", IP, Severity.MEDIUM, 1)
    ]


def test_traversal_double_encoding_is_flagged() -> None:
    found = single(PathTraversal(), "/download?file=%252e%252e%252f%252e%252e%252fetc%252fpasswd")
    # %2e%2e (encoded dots) is already visible after one decoding; /etc/passwd only after two.
    assert found[0].details["double_encoded"] is False
    assert "/etc/passwd" in found[0].details["indicators"]
    found = single(PathTraversal(), "/download?file=%252fetc%252fpasswd")
    assert [d.details["double_encoded"] for d in found] == [True]


def test_traversal_in_a_security_event_target() -> None:
    signal = hit(T0, None, name="upload_validation_failed", status=None, target="../../etc/cron.d/x")
    found = PathTraversal().observe(signal)
    assert [(d.details["field"], d.severity) for d in found] == [("target", Severity.MEDIUM)]


TRAVERSAL_QUIET: list[tuple[str, str]] = [
    ("dots-in-file-name", "/files/report..final.pdf"),
    ("one-level-up", "/docs/../guide"),
    ("search-for-dot-dot-slash", query("a/b/../c")),
    ("blog-about-passwd", "/blog/2024/etc-passwd-explained"),
    ("windows-user-path", query("C:\\Users\\me\\Documents")),
    ("static-asset", "/static/app.3f9a.min.js"),
    ("single-null-byte", "/download?file=report.pdf%00"),
    ("dot-segments", "/a/./b/./c"),
]


@pytest.mark.parametrize("url", [u for _, u in TRAVERSAL_QUIET], ids=[i for i, _ in TRAVERSAL_QUIET])
def test_traversal_must_not_fire(url: str) -> None:
    assert run(PathTraversal(), [hit(T0 + i, url) for i in range(5)]) == []


def test_traversal_burst_and_quiet_period() -> None:
    detector = PathTraversal()
    files = ["etc/passwd", "etc/shadow", "etc/hosts", "proc/self/environ", "etc/group"]
    found = run(detector, [hit(T0 + i * 1_000, f"/dl?f=../../../{f}") for i, f in enumerate(files)])
    # Capacity 3: the 4th distinct payload overflows; the 5th falls in the 2 min blackhole.
    assert [(d.severity, d.count, d.last_ms) for d in found] == [
        (Severity.MEDIUM, 1, T0),
        (Severity.HIGH, 4, T0 + 3_000),
    ]
    assert run(detector, [hit(T0 + 100_000, "/dl?f=../../../etc/issue")]) == []
    assert [d.severity for d in run(detector, [hit(T0 + 121_000, "/dl?f=../../../etc/issue")])] == [
        Severity.MEDIUM
    ]


# --------------------------------------------------------------------------------------
# hostile input, memory, determinism

HOSTILE = [
    "/?q=" + "%25" * 50_000,
    "/?q=" + "%2525" * 30_000,
    "/?q=" + "'" * 150_000,
    "/?q=" + "<" * 150_000,
    "/?q=" + "/*!" * 50_000,
    "/?q=" + "(" * 150_000,
    "/?q=" + "a" * 150_000 + "' or 1=1--",
    "/" + "..%2f" * 30_000,
]


@pytest.mark.parametrize("cls", [PathTraversal, SqlInjection, XssProbe])
def test_hostile_long_urls_are_linear_and_bounded(cls: type[Any]) -> None:
    detector = cls()
    for index, url in enumerate(HOSTILE):
        detector.observe(hit(T0 + index, url))
    # Only the first MAX_SCAN characters are read: a payload behind them is not seen.
    assert (
        detector.match("/?q=" + "a" * MAX_SCAN + "' or 1=1-- <script>alert(1)</script> ../../etc/passwd")
        is None
    )


def test_match_reports_linear_work_only() -> None:
    # The one regular expression (SQL comments) has no nested quantifier; a worst case for it.
    assert SqlInjection().match("/?q=" + "/*!" + "9" * 100_000) is None


@pytest.mark.parametrize("cls", [PathTraversal, SqlInjection, XssProbe])
def test_memory_is_bounded_by_active_subjects(cls: type[Any]) -> None:
    payload = {
        PathTraversal: "/dl?f=../../etc/passwd",
        SqlInjection: "/item?id=1%27%20or%201=1--",
        XssProbe: "/s?q=%3Cscript%3Ealert(1)%3C/script%3E",
    }[cls]
    detector = cls()
    for index in range(100_000):
        ip = f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}"
        detector.observe(hit(T0 + index, payload, ip=ip, eid="e"))
    assert len(detector) >= 100_000
    assert detector.evict(T0 + 100_000) < len(detector)  # in the blackhole: kept
    assert detector.evict(T0 + 100_000 + 2 * 3_600_000) > 0
    assert len(detector) == 0


@pytest.mark.parametrize("cls", [PathTraversal, SqlInjection, XssProbe])
def test_detectors_are_deterministic(cls: type[Any]) -> None:
    urls = [
        "/dl?f=../../etc/passwd",
        "/item?id=1%27%20or%201=1--",
        "/s?q=%3Cscript%3Ealert(1)%3C/script%3E",
        "/ok",
        query("labor union select committee"),
    ]
    stream = [
        hit(T0 + i * 37, f"{urls[i % len(urls)]}&n={i % 17}", ip=f"192.0.2.{i % 4}", eid=f"d{i}")
        for i in range(3_000)
    ]
    first = [d.as_dict() for d in run(cls(), stream)]
    assert first == [d.as_dict() for d in run(cls(), stream)]
    assert any(d["severity"] != "low" or cls is XssProbe for d in first)
