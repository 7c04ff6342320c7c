"""Parsing JavaScript `Error.stack` strings from V8, SpiderMonkey and JavaScriptCore."""

from __future__ import annotations

import time

import pytest

from syncmon.errors.frames import MAX_FRAMES, Frame
from syncmon.errors.jsstack import MAX_STACK, parse_js_error_header, parse_js_stack

# The same bug (user is undefined in renderProfile) in three browsers, as each engine prints it.
CHROME = """TypeError: Cannot read properties of undefined (reading 'id')
    at renderProfile (https://shop.example.com/static/js/main.8f3a2b1c.js:2:14051)
    at loadUser (https://shop.example.com/static/js/main.8f3a2b1c.js:2:13877)
    at async onClick (https://shop.example.com/static/js/main.8f3a2b1c.js:2:15012)"""

FIREFOX = """renderProfile@https://shop.example.com/static/js/main.8f3a2b1c.js:2:14051
loadUser@https://shop.example.com/static/js/main.8f3a2b1c.js:2:13877
async*onClick@https://shop.example.com/static/js/main.8f3a2b1c.js:2:15012
"""

SAFARI = """renderProfile@https://shop.example.com/static/js/main.8f3a2b1c.js:2:14055
loadUser@https://shop.example.com/static/js/main.8f3a2b1c.js:2:13880
onClick@https://shop.example.com/static/js/main.8f3a2b1c.js:2:15016"""

NODE = """Error: ENOENT: no such file or directory, open '/tmp/missing.json'
    at Object.openSync (node:fs:601:3)
    at Object.readFileSync (node:fs:469:35)
    at loadConfig (/srv/app/src/config.js:12:18)
    at Object.<anonymous> (/srv/app/src/index.js:3:1)
    at Module._compile (node:internal/modules/cjs/loader:1256:14)
    at Module.load (node:internal/modules/cjs/loader:1119:32)"""

CHROME_LIBRARY = """TypeError: Cannot read properties of null (reading 'map')
    at ProductList (webpack-internal:///./src/components/ProductList.jsx:14:22)
    at renderWithHooks (webpack-internal:///./node_modules/react-dom/cjs/react-dom.development.js:16305:18)
    at mountIndeterminateComponent (webpack-internal:///./node_modules/react-dom/cjs/react-dom.development.js:20074:13)
    at HTMLUnknownElement.callCallback (https://x.example.com/_next/static/chunks/framework-2c79e2a64abdb08b.js:1:1)
    at inject (chrome-extension://abcdefghijklmnopabcdefghijklmnop/content.js:1:2)
    at Array.map (<anonymous>)
    at fn (native)
    at https://x.example.com/app.js?v=3#frag:10:5"""

CHROME_EVAL = (
    "Error: boom\n"
    "    at eval (eval at runSnippet (https://x.example.com/app.js:5:10), <anonymous>:1:7)\n"
    "    at eval (eval at outer (eval at runSnippet (https://x.example.com/app.js:9:3), <anonymous>:1:1),"
    " <anonymous>:2:2)\n"
    "    at runSnippet (https://x.example.com/app.js:5:10)"
)

FIREFOX_EVAL = """@https://x.example.com/app.js line 5 > eval:1:7
anonymous@https://x.example.com/app.js line 9 > Function:1:1
runSnippet@https://x.example.com/app.js:5:10
"""

SAFARI_NATIVE = """eval code@
eval@[native code]
forEach@[native code]
[native code]
global code@https://x.example.com/app.js:1:1
module code@https://x.example.com/mod.js:3:4"""

FIREFOX_ANONYMOUS = """fetchAll/<@https://x.example.com/app.js:10:5
gen*@https://x.example.com/app.js:20:3
@https://x.example.com/app.js:30:1"""

CHROME_ASYNC = """Error: timeout
    at wait (https://x.example.com/app.js:1:10)
    at async Promise.all (index 0)
    at async https://x.example.com/app.js:4:3
    at new Loader (https://x.example.com/app.js:7:9)
    at Loader.start [as run] (https://x.example.com/app.js:8:1)"""


def names(frames: tuple[Frame, ...]) -> list[str | None]:
    return [f.function for f in frames]


def test_chrome_frames_are_oldest_first_with_url_path_and_full_url() -> None:
    frames = parse_js_stack(CHROME)
    assert names(frames) == ["onClick", "loadUser", "renderProfile"]
    crash = frames[-1]
    assert crash == Frame(
        function="renderProfile",
        module=None,
        filename="/static/js/main.8f3a2b1c.js",
        abs_path="https://shop.example.com/static/js/main.8f3a2b1c.js",
        lineno=2,
        colno=14051,
        in_app=True,
    )


@pytest.mark.parametrize("stack", [CHROME, FIREFOX, SAFARI], ids=["chrome", "firefox", "safari"])
def test_same_error_in_three_browsers_gives_the_same_functions_and_files(stack: str) -> None:
    frames = parse_js_stack(stack)
    assert names(frames) == ["onClick", "loadUser", "renderProfile"]
    assert {f.filename for f in frames} == {"/static/js/main.8f3a2b1c.js"}
    assert all(f.in_app for f in frames)
    assert all(f.lineno == 2 for f in frames)


def test_chrome_header_is_not_a_frame_and_is_parsed() -> None:
    assert parse_js_error_header(CHROME) == (
        "TypeError",
        "Cannot read properties of undefined (reading 'id')",
    )
    assert len(parse_js_stack(CHROME)) == 3


def test_node_frames_and_in_app() -> None:
    frames = parse_js_stack(NODE)
    got = [(f.function, f.filename, f.in_app) for f in frames]
    assert got == [
        ("Module.load", "node:internal/modules/cjs/loader", False),
        ("Module._compile", "node:internal/modules/cjs/loader", False),
        ("Object.<anonymous>", "/srv/app/src/index.js", True),
        ("loadConfig", "/srv/app/src/config.js", True),
        ("Object.readFileSync", "node:fs", False),
        ("Object.openSync", "node:fs", False),
    ]
    assert parse_js_error_header(NODE) == (
        "Error",
        "ENOENT: no such file or directory, open '/tmp/missing.json'",
    )


def test_library_extension_native_and_framework_frames_are_not_in_app() -> None:
    frames = list(reversed(parse_js_stack(CHROME_LIBRARY)))  # text order
    got = [(f.function, f.filename, f.in_app) for f in frames]
    assert got == [
        ("ProductList", "/./src/components/ProductList.jsx", True),
        ("renderWithHooks", "/./node_modules/react-dom/cjs/react-dom.development.js", False),
        ("mountIndeterminateComponent", "/./node_modules/react-dom/cjs/react-dom.development.js", False),
        ("HTMLUnknownElement.callCallback", "/_next/static/chunks/framework-2c79e2a64abdb08b.js", False),
        ("inject", "/content.js", False),
        ("Array.map", "<anonymous>", False),
        ("fn", "native", False),
        (None, "/app.js", True),
    ]
    assert frames[0].abs_path == "webpack-internal:///./src/components/ProductList.jsx"
    assert frames[4].abs_path == "chrome-extension://abcdefghijklmnopabcdefghijklmnop/content.js"
    assert frames[-1].abs_path == "https://x.example.com/app.js?v=3#frag"
    assert (frames[-1].lineno, frames[-1].colno) == (10, 5)


def test_async_new_and_alias_frames() -> None:
    frames = list(reversed(parse_js_stack(CHROME_ASYNC)))
    got = [(f.function, f.filename, f.lineno, f.in_app) for f in frames]
    assert got == [
        ("wait", "/app.js", 1, True),
        ("Promise.all", "native", None, False),
        (None, "/app.js", 4, True),
        ("new Loader", "/app.js", 7, True),
        ("Loader.start [as run]", "/app.js", 8, True),
    ]


def test_chrome_eval_frames_point_at_the_innermost_real_location() -> None:
    frames = list(reversed(parse_js_stack(CHROME_EVAL)))
    got = [(f.function, f.abs_path, f.lineno, f.colno, f.in_app) for f in frames]
    assert got == [
        ("eval", "https://x.example.com/app.js", 5, 10, True),
        ("eval", "https://x.example.com/app.js", 9, 3, True),
        ("runSnippet", "https://x.example.com/app.js", 5, 10, True),
    ]


def test_firefox_eval_and_function_frames() -> None:
    frames = list(reversed(parse_js_stack(FIREFOX_EVAL)))
    got = [(f.function, f.abs_path, f.lineno, f.colno) for f in frames]
    assert got == [
        (None, "https://x.example.com/app.js", 5, None),
        ("anonymous", "https://x.example.com/app.js", 9, None),
        ("runSnippet", "https://x.example.com/app.js", 5, 10),
    ]


def test_safari_native_global_and_module_code() -> None:
    frames = list(reversed(parse_js_stack(SAFARI_NATIVE)))
    got = [(f.function, f.filename, f.in_app) for f in frames]
    assert got == [
        ("eval code", None, False),
        ("eval", "[native code]", False),
        ("forEach", "[native code]", False),
        (None, "[native code]", False),
        ("global code", "/app.js", True),
        ("module code", "/mod.js", True),
    ]
    assert parse_js_error_header(SAFARI_NATIVE) == (None, None)


def test_firefox_anonymous_and_generator_names_are_kept_raw() -> None:
    frames = list(reversed(parse_js_stack(FIREFOX_ANONYMOUS)))
    assert names(tuple(frames)) == ["fetchAll/<", "gen*", None]
    assert [f.lineno for f in frames] == [10, 20, 30]


def test_garbage_lines_are_skipped() -> None:
    stack = "\n".join(
        [
            "TypeError: x is not a function",
            "",
            "   ",
            "random words here",
            "    at least one of these lines is prose",
            "    at foo (bar)",
            "    at",
            "    at (",
            "    at good (https://x.example.com/a.js:1:2)",
            "@",
            "\x00\x01\x02",
            "    at also.good (/srv/app/b.js:3)",
        ]
    )
    frames = parse_js_stack(stack)
    assert [(f.function, f.filename, f.lineno, f.colno) for f in frames] == [
        ("also.good", "/srv/app/b.js", 3, None),
        ("good", "/a.js", 1, 2),
    ]


def test_gecko_mode_skips_lines_that_are_not_locations() -> None:
    stack = "Error: mail bob@example.com failed\nfoo@https://x.example.com/a.js:1:2\nbar@nowhere\n"
    frames = parse_js_stack(stack)
    assert [(f.function, f.filename) for f in frames] == [("foo", "/a.js")]


def test_crlf_line_endings() -> None:
    frames = parse_js_stack(CHROME.replace("\n", "\r\n"))
    assert names(frames) == ["onClick", "loadUser", "renderProfile"]
    assert frames[-1].colno == 14051


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        ("TypeError: x is undefined\n    at f (https://x/a.js:1:1)", ("TypeError", "x is undefined")),
        ("Error\n    at f (https://x/a.js:1:1)", ("Error", None)),
        ("Error: \n    at f (https://x/a.js:1:1)", ("Error", None)),
        ("Uncaught RangeError: Invalid array length", ("RangeError", "Invalid array length")),
        ("DOMException: The operation was aborted.", ("DOMException", "The operation was aborted.")),
        ("Error: line one\nline two\n    at f (https://x/a.js:1:1)", ("Error", "line one\nline two")),
        ("Error: just a message\nfoo@https://x/a.js:1:1", ("Error", "just a message")),
        ("    at f (https://x/a.js:1:1)", (None, None)),
        ("f@https://x/a.js:1:1\n@https://x/a.js:2:2", (None, None)),
        ("", (None, None)),
        ("not an error header at all", (None, None)),
        ("Something", (None, None)),
    ],
)
def test_parse_js_error_header(stack: str, expected: tuple[str | None, str | None]) -> None:
    assert parse_js_error_header(stack) == expected


def test_frame_cap_keeps_the_crash_end() -> None:
    lines = ["Error: deep"] + [f"    at f{i} (https://x.example.com/a.js:{i + 1}:1)" for i in range(1000)]
    frames = parse_js_stack("\n".join(lines))
    assert len(frames) == MAX_FRAMES
    assert frames[-1].function == "f0"  # the crashing frame (first in the text) is kept, last in the tuple
    assert frames[0].function == f"f{MAX_FRAMES - 1}"


@pytest.mark.parametrize(
    "hostile",
    [
        "    at " + "(" * (MAX_STACK - 7),
        "    at f (" + "1:" * (MAX_STACK // 2) + ")",
        "a@" * (MAX_STACK // 2),
        ":1" * (MAX_STACK // 2),
        "    at f (eval at " * (MAX_STACK // 18),
        "x@https://x/a.js line " + "1 > eval" * (MAX_STACK // 8),
        "\n" * MAX_STACK,
        "    at f (https://x/a.js:1:1)\n" * (MAX_STACK // 28),
        "Error: " + "x" * (4 * MAX_STACK),
        "1" * MAX_STACK,
        "    at " + " " * MAX_STACK + "x",
    ],
    ids=[
        "parens",
        "colon-digits",
        "at-signs",
        "colon-runs",
        "nested-eval",
        "firefox-eval",
        "newlines",
        "many-frames",
        "oversized-message",
        "digits",
        "spaces",
    ],
)
def test_hostile_64k_stack_is_fast_and_bounded(hostile: str) -> None:
    start = time.perf_counter()
    frames = parse_js_stack(hostile)
    header = parse_js_error_header(hostile)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.25, elapsed
    assert len(frames) <= MAX_FRAMES
    for frame in frames:
        for text in (frame.function, frame.filename, frame.abs_path):
            assert text is None or len(text) <= 1024
    assert header[1] is None or len(header[1]) <= 1024


def test_non_ascii_and_surrogates_do_not_crash() -> None:
    stack = "Error: ünïcödé \ud800\n    at f\u00e9 (https://x.example.com/ä.js:1:2)"
    frames = parse_js_stack(stack)
    assert frames[0].function == "f\u00e9"
    assert frames[0].filename == "/ä.js"
