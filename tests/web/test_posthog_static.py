"""posthog-js's bundles at /static/: the vendored files are the npm package's own, only they
are served, with caching and CORS that posthog-js's lazy loading needs, and anything else
(unknown names, other versions, traversal attempts) is a 404 with a JSON message."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncmon.web import posthog_static
from tests.support.live import LiveServer

VENDOR = Path(posthog_static.__file__).parent / "static" / "vendor" / "posthog-js"
VERSION = posthog_static.vendored_version()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live server for the module: serving files does not touch the store."""
    from syncmon.bootstrap import prepare_store
    from syncmon.clock import SystemClock
    from syncmon.settings import load_settings

    data = tmp_path_factory.mktemp("static")
    settings = load_settings(
        {"data_dir": str(data), "admin_password": "x" * 12}, environ={}, config_file=None
    )
    engine = prepare_store(settings, SystemClock(), lambda _: None)
    with LiveServer(settings, engine) as live:
        yield live
    engine.dispose()


def test_vendored_bundles_are_the_packages_own() -> None:
    integrity = json.loads((VENDOR / "integrity.json").read_text())
    assert integrity["version"] == VERSION
    bundles = sorted(path.name for path in VENDOR.glob("*.js"))
    assert len(bundles) == 28, bundles
    for name in bundles:
        digest = base64.b64encode(hashlib.sha384((VENDOR / name).read_bytes()).digest()).decode()
        assert integrity["files"][name] == f"sha384-{digest}", name
    assert posthog_static.served_files() == frozenset(bundles)
    readme = (VENDOR / "README.md").read_text()
    assert f"**{VERSION}**" in readme and f"posthog-js-{VERSION}.tgz" in readme
    assert "Apache License" in (VENDOR / "LICENSE").read_text()


@pytest.mark.parametrize("name", ["array.js", "exception-autocapture.js", "web-vitals-with-attribution.js"])
def test_bundles_are_served(server: LiveServer, name: str) -> None:
    with server.client() as client:
        reply = client.get(f"/static/{name}", headers={"Origin": "https://app.example"})
    assert reply.status_code == 200
    assert reply.content == (VENDOR / name).read_bytes()
    assert reply.headers["content-type"] == "text/javascript; charset=utf-8"
    assert reply.headers["content-encoding"] == "gzip"  # httpx asks for it and decodes it
    assert reply.headers["cache-control"] == "public, max-age=3600"
    assert reply.headers["access-control-allow-origin"] == "*"  # posthog-js uses crossorigin=anonymous
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["etag"].startswith('"')


def test_the_vendored_version_may_be_cached_for_good(server: LiveServer) -> None:
    with server.client() as client:
        by_query = client.get("/static/surveys.js", params={"v": VERSION})
        by_path = client.get(f"/static/{VERSION}/surveys.js")
        other_version = client.get("/static/surveys.js", params={"v": "1.0.0"})
    for reply in (by_query, by_path):
        assert reply.status_code == 200
        assert reply.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert reply.content == (VENDOR / "surveys.js").read_bytes()
    assert other_version.status_code == 200
    assert other_version.headers["cache-control"] == "public, max-age=3600"


def test_revalidation_and_head(server: LiveServer) -> None:
    with server.client() as client:
        plain = client.get("/static/logs.js", headers={"Accept-Encoding": "identity"})
        gzipped = client.get("/static/logs.js")
        assert plain.headers["etag"] != gzipped.headers["etag"]  # one validator per representation
        assert "content-encoding" not in plain.headers
        again = client.get(
            "/static/logs.js", headers={"Accept-Encoding": "identity", "If-None-Match": plain.headers["etag"]}
        )
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == plain.headers["etag"]
        stale = client.get("/static/logs.js", headers={"If-None-Match": '"something-else"'})
        assert stale.status_code == 200
        head = client.head("/static/logs.js", headers={"Accept-Encoding": "identity"})
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == (VENDOR / "logs.js").stat().st_size


NOT_SERVED = [
    "/static/toolbar.js",  # posthog-js's toolbar is hosted by PostHog, not in the npm package
    "/static/nope.js",
    "/static/README.md",
    "/static/VERSION",
    "/static/LICENSE",
    "/static/integrity.json",
    "/static/array.js.map",
    "/static/.array.js",
    "/static/ARRAY.JS",
    "/static/array.js%00.txt",
    "/static/1.0.0/array.js",  # another version than the vendored one
    f"/static/{VERSION}/README.md",
    "/static/" + "a" * 300 + ".js",
    "/static/vendor%2Fposthog-js%2Farray.js",
    "/static/..%2F..%2Fapp.py",
    "/static/%2e%2e/%2e%2e/app.py",
    "/static/..%5C..%5Capp.py",
    "/static/",
]


@pytest.mark.parametrize("path", NOT_SERVED)
def test_anything_else_is_a_404_with_a_message(server: LiveServer, path: str) -> None:
    with server.client() as client:
        reply = client.get(path)
    assert reply.status_code == 404, (path, reply.text[:200])
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json()["error"]


@pytest.mark.parametrize(
    "raw_path",
    [
        "/static/../pyproject.toml",
        "/static/../../syncmon/app.py",
        "/static/./array.js/../../../etc/passwd",
        "/static/../static/../web/assets.py",
    ],
)
def test_traversal_in_the_raw_request_line_is_a_404(server: LiveServer, raw_path: str) -> None:
    """Sent byte for byte (HTTP clients would remove the dot segments first)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"GET {raw_path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"404", head
    assert json.loads(body)["error"]


def test_other_methods_are_refused(server: LiveServer) -> None:
    with server.client() as client:
        reply = client.post("/static/array.js", content=b"x")
    assert reply.status_code == 405
    assert reply.json() == {"error": "Method not allowed"}
