"""The Errors pages against the real server, on both engines: the issue list with its filters,
sort and sparklines, an issue's detail (stack trace, breadcrumbs, tags, latest events) and
status changes, which only admins may make.

Errors go in as the seed's ErrorMonitoring reports (/api/monitoring/error) and as Sentry
events (the store endpoint); the server's clock is a ManualClock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa

from syncmon.clock import ManualClock, SystemClock
from syncmon.store import accounts, projects
from syncmon.store.schema import issues
from tests.conftest import ADMIN_PASSWORD, Store
from tests.support.dashboard import Dashboard, audit_actions, page_token
from tests.support.live import LiveServer
from tests.support.pages_seed import XSS, XSS_SCRIPT, Seeder, escaped, seed_error, sentry_error

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MIN = 60_000
HOUR = 60 * MIN
ADMIN = "admin@localhost"
VIEWER = "viewer@example.com"


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        Dashboard(client).login_ok(ADMIN, ADMIN_PASSWORD)
        yield client


def get(client: httpx.Client, store: Store, path: str = "/errors", **params: str) -> str:
    reply = client.get(path, params={"project": store.project.slug, **params})
    assert reply.status_code == 200, reply.text[:2000]
    return reply.text


def listed(html: str) -> list[int]:
    """Issue ids of the list, in order."""
    return [int(found) for found in re.findall(r'<tr data-issue="(\d+)">', html)]


def row(html: str, issue_id: int) -> str:
    return html.split(f'<tr data-issue="{issue_id}">', 1)[1].split("</tr>", 1)[0]


def cell(markup: str, name: str) -> str:
    found = re.search(rf'data-metric="{name}">([^<]*)<', markup)
    assert found is not None, name
    return found.group(1)


def section(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    return html[start : html.find("</section>", start)]


def issue_ids(store: Store) -> dict[str, int]:
    """Issue id by title."""
    with store.engine.connect() as conn:
        return {row.title: int(row.id) for row in conn.execute(sa.select(issues.c.id, issues.c.title))}


def issue_status(store: Store, issue_id: int) -> str:
    with store.engine.connect() as conn:
        return str(conn.execute(sa.select(issues.c.status).where(issues.c.id == issue_id)).scalar_one())


KEY_ERROR = "KeyError: 'sku-4411'"
TYPE_ERROR = "TypeError: Cannot read properties of undefined (reading 'total')"


def seed_two_issues(seeder: Seeder, clock: ManualClock) -> None:
    """Three Sentry KeyErrors (production, shop@1.4.0) a minute apart, then one seed TypeError
    from a browser."""
    for _ in range(3):
        seeder.sentry(sentry_error())
        clock.advance(60)
    seeder.error(seed_error(), **{"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36"})


def test_no_errors_yet_says_how_to_send_one(admin: httpx.Client, store: Store, server: LiveServer) -> None:
    html = get(admin, store)
    empty = section(html, "errors-empty")
    assert "No errors yet" in empty
    dsn = store.project.dsn(server.url)
    assert f'sentry_sdk.init(dsn="{dsn}"' in empty
    assert f"/api/monitoring/error?key={store.project.public_key}" in empty
    assert 'id="issues"' not in html
    nav = html.split('aria-label="Sections"', 1)[1].split("</nav>", 1)[0]
    assert 'aria-current="page">Errors<' in nav
    assert f'<body data-live-url="/live?project={store.project.slug}">' in html


def test_the_list_shows_each_issue_with_its_numbers_and_sparkline(
    admin: httpx.Client, seeder: Seeder, store: Store, clock: ManualClock
) -> None:
    seed_two_issues(seeder, clock)
    ids = issue_ids(store)
    key, typ = ids[KEY_ERROR], ids[TYPE_ERROR]
    html = get(admin, store)
    assert listed(html) == [typ, key]  # last seen first
    key_row = row(html, key)
    assert (
        cell(key_row, "count") == "3" and cell(key_row, "users") == "1" and cell(key_row, "in-range") == "3"
    )
    assert "shop.catalog in price_of" in key_row and "shop@1.4.0" in key_row
    points = re.search(r'<polyline points="([^"]+)">', key_row).group(1).split()  # type: ignore[union-attr]
    # Two-minute steps over the hour, from the start of the step it began in: the hour
    # started at now - 60 min, an odd minute, so 31 whole steps end with the current one.
    assert len(points) == 31
    # Events at now - 3, - 2 and - 1 minutes: two in the step before last, one in the last.
    heights = [point.split(",")[1] for point in points]
    assert heights == ["38.0"] * 29 + ["2.0", "20.0"]
    assert cell(row(html, typ), "count") == "1"
    assert f'href="/errors/{key}?project={store.project.slug}"' in key_row
    # Sorting by events puts the KeyError first.
    assert listed(get(admin, store, sort="count")) == [key, typ]


def test_filters(admin: httpx.Client, seeder: Seeder, store: Store, clock: ManualClock) -> None:
    seed_two_issues(seeder, clock)
    seeder.sentry(
        sentry_error(
            value="'sku-9'",
            level="warning",
            environment="staging",
            release="shop@1.5.0",
            fingerprint=["warning-one"],
        )
    )
    ids = issue_ids(store)
    key, typ = ids[KEY_ERROR], ids[TYPE_ERROR]
    warning = ids["KeyError: 'sku-9'"]
    assert listed(get(admin, store, level="warning")) == [warning]
    assert listed(get(admin, store, level="error")) == [typ, key]
    assert listed(get(admin, store, environment="production")) == [key]
    assert listed(get(admin, store, environment="staging")) == [warning]
    assert listed(get(admin, store, release="shop@1.5.0")) == [warning]
    assert listed(get(admin, store, query="SKU-4411")) == [key]
    assert listed(get(admin, store, query="cart.js")) == [typ]  # the culprit
    assert listed(get(admin, store, query="100%_")) == []  # LIKE wildcards are text
    html = get(admin, store)
    env_menu = html.split('name="environment"', 1)[1].split("</select>", 1)[0]
    assert '<option value="production">' in env_menu and '<option value="staging">' in env_menu
    release_menu = html.split('name="release"', 1)[1].split("</select>", 1)[0]
    assert '<option value="shop@1.4.0">' in release_menu
    with store.engine.begin() as conn:
        conn.execute(issues.update().where(issues.c.id == key).values(status="resolved"))
    assert key not in listed(get(admin, store))  # unresolved by default
    assert listed(get(admin, store, status="resolved")) == [key]
    assert set(listed(get(admin, store, status="all"))) == {key, typ, warning}
    nothing = get(admin, store, level="critical")
    assert "No issue matches" in nothing and "of level critical" in nothing
    bad = get(admin, store, status="<b>x</b>", sort="nope", page="0")
    assert "status: “&lt;b&gt;x&lt;/b&gt;” is not one of unresolved, resolved, ignored, all." in bad
    assert "sort: “nope” is not one of" in bad and "page: “0” is not a page number." in bad
    assert set(listed(bad)) == {typ, warning}  # the defaults apply


def test_range_project_and_pages(admin: httpx.Client, seeder: Seeder, store: Store) -> None:
    seeder.sentry(sentry_error(value="'old'", timestamp=iso(T0 - 3 * HOUR), fingerprint=["old"]))
    for index in range(52):
        seeder.sentry(sentry_error(value=f"'sku-{index}'", fingerprint=[f"sku-{index}"]))
    other = add_project(store, "Other shop")
    Seeder(seeder.client, other).sentry(sentry_error(value="'elsewhere'"))
    ids = issue_ids(store)
    first = get(admin, store)
    assert len(listed(first)) == 50 and ids["KeyError: 'old'"] not in listed(first)
    assert "Next →" in first and "Previous" not in first
    second = get(admin, store, page="2")
    assert len(listed(second)) == 2 and "← Previous" in second and "Next →" not in second
    assert set(listed(first)).isdisjoint(listed(second))
    six = get(admin, store, range="6h", page="2")
    assert ids["KeyError: 'old'"] in listed(six)
    assert ids["KeyError: 'elsewhere'"] not in listed(first) + listed(second)
    every = admin.get("/errors", params={"query": "elsewhere"}).text
    assert listed(every) == [ids["KeyError: 'elsewhere'"]] and "<th>Project</th>" in every


def test_the_issue_page(admin: httpx.Client, seeder: Seeder, store: Store, clock: ManualClock) -> None:
    seed_two_issues(seeder, clock)
    ids = issue_ids(store)
    html = get(admin, store, f"/errors/{ids[KEY_ERROR]}")
    assert f'<h1 class="issue-title">{escaped(KEY_ERROR)}</h1>' in html
    facts = section(html, "issue-facts")
    assert cell(facts, "count") == "3" and cell(facts, "users") == "1" and cell(facts, "in-range") == "3"
    assert "shop@1.4.0" in facts and "production" in facts and "stacktrace" in facts
    trace = section(html, "stacktrace")
    assert "KeyError" in trace and "unhandled" in trace
    app = trace.split('class="frame in-app"', 1)[1].split("</li>\n", 1)[0]
    assert "shop/catalog.py:88" in app and "price_of" in app
    assert '<li class="current"><span class="lineno">88</span><code>    return PRICES[sku]</code></li>' in app
    assert '<span class="lineno">86</span><code>def price_of(sku):</code>' in app
    assert '<span class="lineno">90</span><code>def total(cart):</code>' in app
    assert "Local variables" in app and "sku-4411" in app
    library = trace.split('class="frame library"', 1)[1]
    assert "starlette/routing.py:74" in library and "<details>" in library
    assert trace.index("shop/catalog.py") < trace.index("starlette/routing.py")  # most recent call first
    crumbs = section(html, "breadcrumbs")
    assert "GET /api/cart" in crumbs and "SELECT price FROM prices" in crumbs and "23:59:50.500" in crumbs
    tags = section(html, "tags")
    region = tags.split('data-tag="region"', 1)[1].split("</div>", 1)[0]
    assert "eu-west" in region and "3 · 100 %" in region
    assert 'data-tag="release"' in tags and 'data-tag="environment"' in tags
    latest = section(html, "latest-events")
    assert latest.count("<tr data-event=") == 3

    # The seed's browser error: frames parsed from its stack string, library frames folded.
    browser = get(admin, store, f"/errors/{ids[TYPE_ERROR]}")
    trace = section(browser, "stacktrace")
    assert trace.count('class="frame in-app"') == 2 and trace.count('class="frame library"') == 1
    assert "cart.js:41:17" in trace and "renderCart" in trace and "react-dom.development.js" in trace
    assert "No breadcrumbs came with this event" in browser

    # Another event of the issue, by its id; an unknown one is said to be missing.
    chosen = re.findall(r'<tr data-event="([0-9a-f]+)"', latest)[-1]
    older = get(admin, store, f"/errors/{ids[KEY_ERROR]}", event=chosen)
    assert f"<code>{chosen}</code>" in section(older, "event") and "Latest event" not in section(
        older, "event"
    )
    missing = get(admin, store, f"/errors/{ids[KEY_ERROR]}", event="0" * 32)
    assert "not one of this issue's stored events" in missing
    assert admin.get("/errors/999999").status_code == 404
    assert admin.get("/errors/abc").status_code == 404


def test_admins_change_the_status(
    admin: httpx.Client, seeder: Seeder, store: Store, clock: ManualClock
) -> None:
    seed_two_issues(seeder, clock)
    issue_id = issue_ids(store)[KEY_ERROR]
    path = f"/errors/{issue_id}"
    html = get(admin, store, path)
    token = page_token(html)
    actions = section(html, "issue-actions")
    assert actions.count(f'action="{path}/status?project={store.project.slug}"') == 4

    def post(**fields: str) -> httpx.Response:
        return admin.post(
            f"{path}/status", params={"project": store.project.slug}, data={"csrf_token": token, **fields}
        )

    done = post(status="resolved")
    assert (
        done.status_code == 303
        and done.headers["location"] == f"{path}?project={store.project.slug}&done=resolved"
    )
    assert issue_status(store, issue_id) == "resolved"
    page = admin.get(done.headers["location"]).text
    assert "Issue resolved" in page and 'data-metric="status">resolved<' in page
    assert "disabled>Resolve<" in page
    assert post(status="ignored", ignore="100").status_code == 303
    with store.engine.connect() as conn:
        ignored = conn.execute(sa.select(issues).where(issues.c.id == issue_id)).one()
    assert (ignored.status, ignored.ignore_until_count) == ("ignored", 3 + 100)
    assert post(status="ignored", ignore="24h").status_code == 303
    with store.engine.connect() as conn:
        until = conn.execute(sa.select(issues.c.ignore_until_ms).where(issues.c.id == issue_id)).scalar_one()
    assert until == clock.now_ms() + 24 * HOUR
    assert post(status="resolved_next_release").status_code == 303
    assert issue_status(store, issue_id) == "resolved_next_release"
    assert post(status="unresolved").status_code == 303
    assert issue_status(store, issue_id) == "unresolved"
    changes = [a for a in audit_actions(store.engine) if a[1] == "issue.status"]
    assert changes == [(ADMIN, "issue.status", f"issue:{issue_id}")] * 5

    # Refused changes say why and change nothing.
    bad = post(status="closed")
    assert bad.status_code == 400 and "status: “closed” is not one of" in bad.text
    bad = post(status="ignored", ignore="forever-and-a-day")
    assert bad.status_code == 400 and "ignore: “forever-and-a-day” is not one of" in bad.text
    no_release = issue_ids(store)[TYPE_ERROR]
    refused = admin.post(
        f"/errors/{no_release}/status", data={"csrf_token": token, "status": "resolved_next_release"}
    )
    assert refused.status_code == 400 and "the issue has no release yet; resolve it instead" in refused.text
    no_token = admin.post(f"{path}/status", data={"status": "resolved"})
    assert no_token.status_code == 403 and "CSRF token missing or invalid" in no_token.text
    assert (
        admin.post("/errors/999999/status", data={"csrf_token": token, "status": "resolved"}).status_code
        == 404
    )
    assert issue_status(store, issue_id) == "unresolved"


def test_viewers_see_no_buttons_and_cannot_change_the_status(
    server: LiveServer, seeder: Seeder, store: Store, clock: ManualClock
) -> None:
    seed_two_issues(seeder, clock)
    issue_id = issue_ids(store)[KEY_ERROR]
    with store.engine.begin() as conn:
        accounts.create_user(conn, VIEWER, "viewer-password", "viewer", T0)
    with server.client() as client:
        Dashboard(client).login_ok(VIEWER, "viewer-password")
        html = get(client, store, f"/errors/{issue_id}")
        assert "/status" not in html and "<button" not in html.split('id="issue-live"', 1)[1]
        assert "Your role is viewer" in html
        refused = client.post(
            f"/errors/{issue_id}/status", data={"csrf_token": page_token(html), "status": "resolved"}
        )
        assert refused.status_code == 403 and "this needs an admin" in refused.text
    assert issue_status(store, issue_id) == "unresolved"
    assert not [a for a in audit_actions(store.engine) if a[1] == "issue.status"]


def test_ingested_markup_is_shown_as_text(
    admin: httpx.Client, seeder: Seeder, store: Store, server: LiveServer
) -> None:
    payload = sentry_error(value=XSS, tags={XSS_SCRIPT: XSS}, environment="prod")
    payload["request"] = {"url": f"https://shop.example/?q={XSS}", "headers": {"User-Agent": XSS}}
    frames = payload["exception"]["values"][0]["stacktrace"]["frames"]
    frames[1].update(
        filename=f"shop/{XSS}.py", function=XSS_SCRIPT, context_line=XSS, pre_context=[XSS_SCRIPT]
    )
    payload["breadcrumbs"]["values"].append(
        {"message": XSS, "category": XSS_SCRIPT, "data": {XSS: XSS_SCRIPT}}
    )
    seeder.sentry(payload)
    seeder.error(seed_error(message=XSS, stack=None, filename=f"https://x/{XSS}.js"), **{"User-Agent": XSS})
    listing = get(admin, store)
    for html in [listing] + [get(admin, store, f"/errors/{i}") for i in listed(listing)]:
        assert XSS not in html and XSS_SCRIPT not in html
        assert "<script>window" not in html
    sentry_issue = next(i for title, i in issue_ids(store).items() if title.startswith("KeyError"))
    detail = get(admin, store, f"/errors/{sentry_issue}")
    for where in ("stacktrace", "breadcrumbs", "tags", "event"):
        assert escaped(XSS) in section(detail, where) or escaped(XSS_SCRIPT) in section(detail, where), where


def add_project(store: Store, name: str) -> projects.Project:
    with store.engine.begin() as conn:
        return projects.create_project(conn, name, SystemClock().now_ms())


def test_hostile_parameters_get_a_page_not_a_server_error(
    admin: httpx.Client, store: Store, seeder: Seeder
) -> None:
    """NUL and other control characters (PostgreSQL refuses NUL in a query), long values."""
    seeder.sentry(sentry_error())
    issue_id = next(iter(issue_ids(store).values()))
    for params in (
        {"query": "\x00"},
        {"environment": "prod\x00", "release": "\x00" * 300},
        {"status": "\x00", "level": "\x1b[31m", "sort": "\x00", "page": "\x00"},
        {"query": "x" * 10_000, "page": "9" * 50},
    ):
        reply = admin.get("/errors", params={"project": store.project.slug, **params})
        assert reply.status_code == 200, (params, reply.text[:500])
    for event in ("x\x00", "x" * 1000, "../../etc/passwd"):
        reply = admin.get(f"/errors/{issue_id}", params={"event": event})
        assert reply.status_code == 200 and "not one of this issue's stored events" in reply.text
    only_control = admin.get(f"/errors/{issue_id}", params={"event": "\x00"})
    assert only_control.status_code == 200 and "Latest event" in only_control.text
    assert admin.get("/errors/" + "9" * 40).status_code == 404
