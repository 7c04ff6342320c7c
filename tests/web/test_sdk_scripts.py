"""The browser SDK's files: /sdk/syncmon.js as written (plain ES2017, small) and
/sdk/web-vitals.js, the vendored web-vitals handed to the SDK without a global; the HTTP
helpers they are served with."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import esprima
import pytest

from syncmon.web import sdk_scripts
from syncmon.web.assets import accepts_gzip, etag_matches, make_asset, without_source_map
from tests.support.live import LiveServer

WEB = Path(sdk_scripts.__file__).parent
SDK = WEB / "static" / "sdk" / "syncmon.js"
WEB_VITALS = WEB / "static" / "vendor" / "vercel" / "web-vitals.attribution.iife.js"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live server for the module: serving files does not touch the store."""
    from syncmon.bootstrap import prepare_store
    from syncmon.clock import SystemClock
    from syncmon.settings import load_settings

    data = tmp_path_factory.mktemp("sdk")
    settings = load_settings(
        {"data_dir": str(data), "admin_password": "x" * 12}, environ={}, config_file=None
    )
    engine = prepare_store(settings, SystemClock(), lambda _: None)
    with LiveServer(settings, engine) as live:
        yield live
    engine.dispose()


def test_syncmon_js_is_served_as_written(server: LiveServer) -> None:
    with server.client() as client:
        reply = client.get("/sdk/syncmon.js")
        revalidated = client.get("/sdk/syncmon.js", headers={"If-None-Match": reply.headers["etag"]})
    assert reply.status_code == 200
    assert reply.content == SDK.read_bytes()
    assert reply.headers["content-type"] == "text/javascript; charset=utf-8"
    assert reply.headers["cache-control"] == "public, max-age=3600"
    assert reply.headers["content-encoding"] == "gzip"
    assert reply.headers["access-control-allow-origin"] == "*"
    assert revalidated.status_code == 304


def test_web_vitals_is_the_vendored_library_without_a_global(server: LiveServer) -> None:
    with server.client() as client:
        reply = client.get("/sdk/web-vitals.js")
    assert reply.status_code == 200
    assert reply.headers["cache-control"] == "public, max-age=86400"
    script = reply.text
    library = without_source_map(WEB_VITALS.read_bytes()).decode().rstrip()
    assert library in script
    assert "sourceMappingURL" not in script
    assert script.startswith(f"/*! web-vitals {sdk_scripts.WEB_VITALS_VERSION} ")
    assert "registry.webVitals = webVitals;" in script
    assert script.rstrip().endswith("})();")  # one function scope: `var webVitals` stays inside
    readme = (WEB_VITALS.parent / "README.md").read_text()
    assert f"`web-vitals` **{sdk_scripts.WEB_VITALS_VERSION}**" in readme


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_web_vitals_wrapper_parses(tmp_path: Path) -> None:
    path = tmp_path / "web-vitals.js"
    path.write_bytes(sdk_scripts.web_vitals_script().body)
    subprocess.run(["node", "--check", str(path)], check=True, timeout=60)


@pytest.mark.parametrize("path", ["/sdk/", "/sdk/other.js", "/sdk/syncmon.min.js", "/sdk/%2e%2e/app.py"])
def test_other_sdk_paths_are_404(server: LiveServer, path: str) -> None:
    with server.client() as client:
        reply = client.get(path)
    assert reply.status_code == 404
    assert reply.json()["error"]


def test_sdk_files_take_only_get(server: LiveServer) -> None:
    with server.client() as client:
        reply = client.post("/sdk/syncmon.js", content=b"{}")
    assert reply.status_code == 405
    assert reply.json() == {"error": "Method not allowed"}


# --- syncmon.js is plain ES2017 and small ---------------------------------------------------------


def _nodes(node: Any) -> Iterator[Any]:
    if isinstance(node, list):
        for item in node:
            yield from _nodes(item)
        return
    if not hasattr(node, "type"):
        return
    yield node
    for value in vars(node).values():
        if isinstance(value, list) or hasattr(value, "type"):
            yield from _nodes(value)


def es2018_and_later(source: str) -> list[str]:
    """What the script uses beyond ES2017. The parser (esprima 4) refuses most later syntax
    outright (for await, async generators, named groups, optional chaining, `??`, catch
    without a binding, class fields, BigInt literals); the ES2018 features it does read
    (object spread and rest, the `s` flag, lookbehind) are looked for in the tree."""
    found = []
    for node in _nodes(esprima.parseScript(source, {"loc": True})):
        line = node.loc.start.line if getattr(node, "loc", None) else "?"
        if node.type == "ObjectExpression" and any(p.type == "SpreadElement" for p in node.properties):
            found.append(f"line {line}: object spread")
        if node.type == "ObjectPattern" and any(p.type == "RestElement" for p in node.properties):
            found.append(f"line {line}: object rest")
        regex = getattr(node, "regex", None)
        if regex is not None and ("s" in regex.flags or "(?<" in regex.pattern or "\\p{" in regex.pattern):
            found.append(f"line {line}: ES2018 regular expression /{regex.pattern}/{regex.flags}")
    return found


def test_syncmon_js_is_es2017() -> None:
    assert es2018_and_later(SDK.read_text()) == []


@pytest.mark.parametrize(
    ("snippet", "finding"),
    [
        ("var a = { ...b };", "object spread"),
        ("var { a, ...rest } = b;", "object rest"),
        ("var r = /a.b/s;", "regular expression"),
        ("var r = /(?<=a)b/;", "regular expression"),
    ],
)
def test_the_es2017_check_finds_later_syntax(snippet: str, finding: str) -> None:
    assert any(finding in item for item in es2018_and_later(snippet)), es2018_and_later(snippet)


@pytest.mark.parametrize(
    "snippet",
    [
        "var a = b?.c;",
        "var a = b ?? c;",
        "try {} catch {}",
        "async function f() { for await (const x of y) {} }",
        "async function* f() {}",
        "var r = /(?<year>[0-9]{4})/;",
        "class A { x = 1 }",
        "var n = 1_000;",
        "var n = 2n;",
    ],
)
def test_the_es2017_check_refuses_later_syntax_outright(snippet: str) -> None:
    with pytest.raises(esprima.Error):
        es2018_and_later(snippet)


def test_syncmon_js_is_small() -> None:
    source = SDK.read_bytes()
    assert len(source) < 40_000, len(source)
    assert len(gzip.compress(source, 9)) < 12_000


# --- the HTTP helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("", False),
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ("*", True),
        ('"abcd"', False),
        ("abc", False),
    ],
)
def test_etag_matches(header: str | None, expected: bool) -> None:
    assert etag_matches(header, '"abc"') is expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("gzip, deflate, br, zstd", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("gzip;q=0", False),
        ("identity", False),
        ("*", True),
        ("*;q=0", False),
        ("*, gzip;q=0", False),
        ("x-gzip", True),
        ("gzip;q=nonsense", False),
    ],
)
def test_accepts_gzip(header: str | None, expected: bool) -> None:
    assert accepts_gzip(header) is expected


def test_small_files_are_not_compressed_and_validators_are_stable() -> None:
    small = make_asset(b"var x = 1;\n")
    assert small.gzipped is None
    big = make_asset(b"console.log('hello');\n" * 200)
    assert big.gzipped is not None and gzip.decompress(big.gzipped) == big.body
    assert make_asset(big.body) == big  # the same bytes on every start (gzip mtime 0)
    assert big.gzip_etag != big.etag


def test_without_source_map() -> None:
    assert without_source_map(b"a();\n//# sourceMappingURL=a.js.map") == b"a();\n"
    assert without_source_map(b"a();\n//# sourceMappingURL=a.js.map\n") == b"a();\n"
    assert (
        without_source_map(b"a(); // sourceMappingURL in a comment\n")
        == b"a(); // sourceMappingURL in a comment\n"
    )
