"""Which errors are the same issue: a table of event pairs that must (not) group, plus unit tests."""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, replace

import pytest

from syncmon.errors.frames import MAX_FRAMES, ExceptionInfo, Frame, exceptions_from_sentry, frames_from_sentry
from syncmon.errors.grouping import (
    Grouping,
    GroupingInput,
    culprit_for,
    group,
    hash_components,
    title_for,
)
from syncmon.errors.jsstack import parse_js_error_header, parse_js_stack

# --- builders -------------------------------------------------------------------------


def py(
    function: str,
    module: str | None,
    filename: str | None = None,
    *,
    line: int = 10,
    in_app: bool | None = True,
    abs_path: str | None = None,
    context: str | None = None,
) -> Frame:
    if filename is None and module is not None:
        filename = module.replace(".", "/") + ".py"
    return Frame(function, module, filename, abs_path or filename, line, None, in_app, context)


def js(function: str | None, url: str, *, line: int = 1, col: int = 1, in_app: bool | None = True) -> Frame:
    return Frame(function, None, url, url, line, col, in_app)


def exc(error_type: str | None, value: str | None, *frames: Frame) -> ExceptionInfo:
    return ExceptionInfo(error_type, value, None, tuple(frames))


def event(
    *exceptions: ExceptionInfo,
    message: str | None = None,
    fingerprint: tuple[str, ...] | None = None,
    platform: str | None = None,
) -> GroupingInput:
    return GroupingInput(
        exceptions=tuple(exceptions), message=message, fingerprint=fingerprint, platform=platform
    )


def py_event(*frames: Frame, error_type: str = "ValueError", value: str = "bad value") -> GroupingInput:
    return event(exc(error_type, value, *frames), platform="python")


def js_event(*frames: Frame, error_type: str = "TypeError", value: str = "x is undefined") -> GroupingInput:
    return event(exc(error_type, value, *frames), platform="javascript")


def moved(frames: tuple[Frame, ...], delta: int) -> tuple[Frame, ...]:
    """The same frames after an unrelated edit shifted every line and column."""
    return tuple(
        replace(f, lineno=(f.lineno or 0) + delta, colno=None if f.colno is None else f.colno + 3 * delta)
        for f in frames
    )


# --- shared stacks ----------------------------------------------------------------------

DJANGO_LIB = (
    py("inner", "django.core.handlers.exception", in_app=False, line=55),
    py("_get_response", "django.core.handlers.base", in_app=False, line=197),
)
PY_APP = (
    py("dispatch", "shop.views", line=40),
    py("get_order", "shop.orders", line=88),
    py("load", "shop.db", line=12),
)
MAIN_A = "https://shop.example.com/static/js/main.3f2a1b9c.js"
MAIN_B = "https://shop.example.com/static/js/main.9e8d7c6b.js"
VENDOR = "https://shop.example.com/static/js/vendors~main.8e7d6c5b.chunk.js"
JS_APP_A = (js("onClick", MAIN_A, line=2, col=15012), js("loadUser", MAIN_A, col=13877), js("render", MAIN_A))
READING_ID = "Cannot read properties of undefined (reading 'id')"
READING_NAME = "Cannot read properties of undefined (reading 'name')"

CHROME_STACK = """TypeError: Cannot read properties of undefined (reading 'id')
    at renderProfile (https://shop.example.com/static/js/main.8f3a2b1c.js:2:14051)
    at loadUser (https://shop.example.com/static/js/main.8f3a2b1c.js:2:13877)
    at async onClick (https://shop.example.com/static/js/main.8f3a2b1c.js:2:15012)"""
FIREFOX_STACK = """renderProfile@https://shop.example.com/static/js/main.8f3a2b1c.js:2:14051
loadUser@https://shop.example.com/static/js/main.8f3a2b1c.js:2:13877
async*onClick@https://shop.example.com/static/js/main.8f3a2b1c.js:2:15012"""
SAFARI_STACK = """renderProfile@https://shop.example.com/static/js/main.8f3a2b1c.js:2:14055
loadUser@https://shop.example.com/static/js/main.8f3a2b1c.js:2:13880
onClick@https://shop.example.com/static/js/main.8f3a2b1c.js:2:15016"""
MINIFIED_BUILD_1 = """TypeError: Cannot read properties of undefined (reading 'id')
    at t (https://shop.example.com/static/js/main.3f2a1b9c.js:2:14051)
    at Xe (https://shop.example.com/static/js/main.3f2a1b9c.js:2:9811)
    at HTMLButtonElement.n (https://shop.example.com/static/js/main.3f2a1b9c.js:2:1201)"""
MINIFIED_BUILD_2 = """TypeError: Cannot read properties of undefined (reading 'id')
    at e (https://shop.example.com/static/js/main.9e8d7c6b.js:2:15110)
    at Ke (https://shop.example.com/static/js/main.9e8d7c6b.js:2:10102)
    at HTMLButtonElement.r (https://shop.example.com/static/js/main.9e8d7c6b.js:2:1187)"""


def from_stack(stack: str, value: str | None = None, error_type: str | None = None) -> GroupingInput:
    header_type, header_value = parse_js_error_header(stack)
    return event(
        exc(error_type or header_type, value or header_value, *parse_js_stack(stack)), platform="javascript"
    )


def sentry_sdk_event(frames: list[dict[str, object]], error_type: str, value: str) -> GroupingInput:
    """As @sentry/browser sends it: full URLs in filename and abs_path, in_app set, oldest first."""
    raw = {"values": [{"type": error_type, "value": value, "stacktrace": {"frames": frames}}]}
    return GroupingInput(exceptions=exceptions_from_sentry(raw), platform="javascript")


SDK_FRAMES: list[dict[str, object]] = [
    {
        "function": "onClick",
        "filename": "https://shop.example.com/static/js/main.8f3a2b1c.js",
        "abs_path": "https://shop.example.com/static/js/main.8f3a2b1c.js",
        "lineno": 2,
        "colno": 15012,
        "in_app": True,
    },
    {
        "function": "loadUser",
        "filename": "https://shop.example.com/static/js/main.8f3a2b1c.js",
        "abs_path": "https://shop.example.com/static/js/main.8f3a2b1c.js",
        "lineno": 2,
        "colno": 13877,
        "in_app": True,
    },
    {
        "function": "renderProfile",
        "filename": "https://shop.example.com/static/js/main.8f3a2b1c.js",
        "abs_path": "https://shop.example.com/static/js/main.8f3a2b1c.js",
        "lineno": 2,
        "colno": 14051,
        "in_app": True,
    },
]


@dataclass(frozen=True)
class Case:
    id: str
    a: GroupingInput
    b: GroupingInput
    same: bool


CASES: list[Case] = [
    # --- Python ----------------------------------------------------------------------
    Case(
        "py-line-numbers-moved",
        py_event(*DJANGO_LIB, *PY_APP),
        py_event(*moved(DJANGO_LIB + PY_APP, 7)),
        True,
    ),
    Case(
        "py-context-line-changed",
        py_event(py("load", "shop.db", context="row = rows[0]")),
        py_event(py("load", "shop.db", context="row = rows[0]  # first row")),
        True,
    ),
    Case(
        "py-message-data-differs",
        py_event(*PY_APP, error_type="KeyError", value="'order 42 for bob@example.com'"),
        py_event(*PY_APP, error_type="KeyError", value="'order 97 for eve@example.org'"),
        True,
    ),
    Case(
        "py-different-type-same-place",
        py_event(*PY_APP, error_type="KeyError"),
        py_event(*PY_APP, error_type="AttributeError"),
        False,
    ),
    Case(
        "py-different-call-path",
        py_event(py("dispatch", "shop.views"), py("get_order", "shop.orders")),
        py_event(py("dispatch", "shop.views"), py("get_invoice", "shop.invoices")),
        False,
    ),
    Case(
        "py-library-frames-differ-app-equal",
        py_event(*DJANGO_LIB, *PY_APP),
        py_event(
            py("view", "rest_framework.views", in_app=False),
            py("wrapper", "sentry_sdk.x", in_app=False),
            *PY_APP,
        ),
        True,
    ),
    Case(
        "py-two-virtualenvs-library-only",
        py_event(
            Frame(
                "get_response",
                None,
                "/home/deploy/.venv/lib/python3.11/site-packages/django/core/handlers/base.py",
                "/home/deploy/.venv/lib/python3.11/site-packages/django/core/handlers/base.py",
                197,
                None,
                None,
            ),
            Frame(
                "execute",
                None,
                "/home/deploy/.venv/lib/python3.11/site-packages/django/db/backends/utils.py",
                None,
                89,
                None,
                None,
            ),
        ),
        py_event(
            Frame(
                "get_response",
                None,
                "/opt/shop/venv/lib/python3.12/site-packages/django/core/handlers/base.py",
                "/opt/shop/venv/lib/python3.12/site-packages/django/core/handlers/base.py",
                204,
                None,
                None,
            ),
            Frame(
                "execute",
                None,
                "C:\\shop\\venv\\Lib\\site-packages\\django\\db\\backends\\utils.py",
                None,
                91,
                None,
                None,
            ),
        ),
        True,
    ),
    Case(
        "py-in-app-unset-site-packages-excluded",
        py_event(
            py("load", None, "shop/db.py", in_app=None, abs_path="/srv/a/shop/db.py"),
            py("execute", None, "/srv/a/venv/lib/python3.11/site-packages/psycopg/cursor.py", in_app=None),
        ),
        py_event(
            py("load", None, "shop/db.py", in_app=None, abs_path="/srv/b/shop/db.py"),
            py("execute", None, "/srv/b/venv/lib/python3.11/site-packages/psycopg/_cursor.py", in_app=None),
        ),
        True,
    ),
    Case(
        "py-frozen-importlib-frames-ignored",
        py_event(
            py("_call_with_frames_removed", None, "<frozen importlib._bootstrap>", in_app=None), *PY_APP
        ),
        py_event(py("_find_and_load", None, "<frozen importlib._bootstrap>", in_app=None), *PY_APP),
        True,
    ),
    Case(
        "py-two-deployments-module-wins",
        py_event(py("load", "shop.db", "shop/db.py", abs_path="/srv/releases/20240101/shop/db.py")),
        py_event(py("load", "shop.db", "db.py", abs_path="/home/ci/build/shop/db.py")),
        True,
    ),
    Case(
        "py-qualname-differs",
        py_event(py("OrderForm.clean", "shop.forms")),
        py_event(py("InvoiceForm.clean", "shop.forms")),
        False,
    ),
    Case(
        "py-recursion-depth-differs",
        py_event(py("main", "shop.tree"), *[py("walk", "shop.tree", line=5)] * 5),
        py_event(py("main", "shop.tree"), *[py("walk", "shop.tree", line=5)] * 40),
        True,
    ),
    Case(
        "py-chained-same-lines-moved",
        event(exc("KeyError", "'id'", *PY_APP), exc("ValueError", "bad", py("handle", "shop.api"))),
        event(
            exc("KeyError", "'id'", *moved(PY_APP, 3)),
            exc("ValueError", "bad", py("handle", "shop.api", line=99)),
        ),
        True,
    ),
    Case(
        "py-chained-different-cause",
        event(exc("KeyError", "'id'", *PY_APP), exc("ValueError", "bad", py("handle", "shop.api"))),
        event(exc("TimeoutError", "'id'", *PY_APP), exc("ValueError", "bad", py("handle", "shop.api"))),
        False,
    ),
    Case(
        "py-chained-vs-unchained",
        event(exc("KeyError", "'id'", *PY_APP), exc("ValueError", "bad", py("handle", "shop.api"))),
        event(exc("ValueError", "bad", py("handle", "shop.api"))),
        False,
    ),
    Case(
        "py-no-stack-ids-differ",
        event(
            exc(
                "DoesNotExist",
                "Order 1234 matching query does not exist (tenant 3f2a1b9c-1234-4abc-8def-0123456789ab)",
            )
        ),
        event(
            exc(
                "DoesNotExist",
                "Order 98 matching query does not exist (tenant 0a1b2c3d-4e5f-4a6b-8c7d-9e8f7a6b5c4d)",
            )
        ),
        True,
    ),
    Case(
        "py-no-stack-different-messages",
        event(exc("DoesNotExist", "Order matching query does not exist")),
        event(exc("DoesNotExist", "Invoice matching query does not exist")),
        False,
    ),
    Case(
        "py-no-stack-different-types",
        event(exc("ConnectionError", "connection refused")),
        event(exc("TimeoutError", "connection refused")),
        False,
    ),
    # --- JavaScript ------------------------------------------------------------------
    Case("js-line-col-moved", js_event(*JS_APP_A), js_event(*moved(JS_APP_A, 120)), True),
    Case(
        "js-redeploy-chunk-hash",
        js_event(*JS_APP_A),
        js_event(*(replace(f, filename=MAIN_B, abs_path=MAIN_B) for f in JS_APP_A)),
        True,
    ),
    Case(
        "js-next-page-chunk-hash",
        js_event(
            js("handleSubmit", "https://x.example.com/_next/static/chunks/pages/checkout-0a1b2c3d4e5f6a7b.js")
        ),
        js_event(
            js("handleSubmit", "https://x.example.com/_next/static/chunks/pages/checkout-9f8e7d6c5b4a3921.js")
        ),
        True,
    ),
    Case(
        "js-vite-asset-hash",
        js_event(js("submitOrder", "https://x.example.com/assets/index-BxT3a9Zq.js")),
        js_event(js("submitOrder", "https://x.example.com/assets/index-D2f-j_Kq.js")),
        True,
    ),
    Case(
        "js-cache-buster-query",
        js_event(js("init", "https://x.example.com/js/app.js?v=101")),
        js_event(js("init", "https://x.example.com/js/app.js?v=102")),
        True,
    ),
    Case(
        "js-staging-vs-production-origin",
        js_event(js("init", "https://staging.example.com/src/app.js")),
        js_event(js("init", "https://www.example.com/src/app.js")),
        True,
    ),
    Case(
        "js-minified-names-change-across-builds",
        from_stack(MINIFIED_BUILD_1),
        from_stack(MINIFIED_BUILD_2),
        True,
    ),
    Case(
        "js-minified-reading-id-vs-name",
        from_stack(MINIFIED_BUILD_1),
        from_stack(MINIFIED_BUILD_2, value=READING_NAME),
        False,
    ),
    Case(
        "js-minified-different-type",
        from_stack(MINIFIED_BUILD_1),
        from_stack(MINIFIED_BUILD_2, error_type="RangeError"),
        False,
    ),
    Case(
        "js-minified-mixed-with-named-frames",
        js_event(js("a", MAIN_A), js("handleCheckout", MAIN_A), js("t", MAIN_A)),
        js_event(js("Ke", MAIN_B), js("handleCheckout", MAIN_B), js("n", MAIN_B)),
        True,
    ),
    Case(
        "js-anonymous-in-source-files-differ",
        js_event(js("<anonymous>", "/srv/app/src/routes/users.js"), value=READING_ID),
        js_event(js("<anonymous>", "/srv/app/src/routes/orders.js"), value=READING_ID),
        False,
    ),
    Case(
        "js-no-stack-reading-id-vs-name",
        event(exc("TypeError", READING_ID), platform="javascript"),
        event(exc("TypeError", READING_NAME), platform="javascript"),
        False,
    ),
    Case(
        "js-stack-reading-id-vs-name-same-frames",
        js_event(*JS_APP_A, value=READING_ID),
        js_event(*JS_APP_A, value=READING_NAME),
        True,
    ),
    Case(
        "js-different-type-same-place",
        js_event(*JS_APP_A, error_type="TypeError"),
        js_event(*JS_APP_A, error_type="RangeError"),
        False,
    ),
    Case(
        "js-different-call-path",
        js_event(js("onClick", MAIN_A), js("loadUser", MAIN_A)),
        js_event(js("onSubmit", MAIN_A), js("loadUser", MAIN_A)),
        False,
    ),
    Case(
        "js-library-frames-differ-app-equal",
        js_event(js("renderWithHooks", VENDOR, in_app=False), *JS_APP_A),
        js_event(
            js("callCallback", "https://x.example.com/node_modules/react-dom/index.js", in_app=None),
            js("dispatch", "chrome-extension://abc/content.js", in_app=None),
            *JS_APP_A,
        ),
        True,
    ),
    Case(
        "js-node-internals-differ",
        from_stack(
            "Error: ENOENT: no such file or directory, open '/tmp/a.json'\n"
            "    at Object.openSync (node:fs:601:3)\n"
            "    at loadConfig (/srv/app/src/config.js:12:18)\n"
            "    at Module._compile (node:internal/modules/cjs/loader:1256:14)"
        ),
        from_stack(
            "Error: ENOENT: no such file or directory, open '/tmp/b.json'\n"
            "    at Object.readFileSync (node:fs:469:35)\n"
            "    at loadConfig (/srv/app/src/config.js:14:2)\n"
            "    at Module.load (node:internal/modules/cjs/loader:1119:32)"
        ),
        True,
    ),
    Case(
        "js-receiver-prefix-differs",
        js_event(js("Object.handleClick", MAIN_A)),
        js_event(js("HTMLButtonElement.handleClick", MAIN_A)),
        True,
    ),
    Case(
        "js-parsed-stack-vs-sentry-sdk-frames",
        from_stack(CHROME_STACK),
        sentry_sdk_event(SDK_FRAMES, "TypeError", READING_ID),
        True,
    ),
    Case(
        "js-chrome-vs-firefox",
        from_stack(CHROME_STACK),
        from_stack(FIREFOX_STACK, error_type="TypeError"),
        True,
    ),
    Case(
        "js-chrome-vs-safari",
        from_stack(CHROME_STACK),
        from_stack(SAFARI_STACK, "undefined is not an object (evaluating 'user.id')", "TypeError"),
        True,
    ),
    Case(
        "js-no-stack-chunk-numbers",
        event(
            exc("ChunkLoadError", "Loading chunk 123 failed. (error: https://x.example.com/123.a1b2c3d4.js)")
        ),
        event(
            exc("ChunkLoadError", "Loading chunk 456 failed. (error: https://x.example.com/456.e5f6a7b8.js)")
        ),
        True,
    ),
    Case(
        "js-no-stack-url-differs",
        event(exc("Error", "Failed to fetch https://api.example.com/users/42")),
        event(exc("Error", "Failed to fetch https://api.example.com/users/43?retry=1")),
        True,
    ),
    # --- messages and fallback ---------------------------------------------------------
    Case(
        "message-ids-emails-dates-amounts",
        event(
            message="Payment 3f2a1b9c-1234-4abc-8def-0123456789ab of $19.99 for bob@example.com"
            " failed at 2024-01-15T10:00:00Z"
        ),
        event(
            message="Payment 0a1b2c3d-4e5f-4a6b-8c7d-9e8f7a6b5c4d of $5.00 for eve@example.org"
            " failed at 2025-06-30T23:59:59Z"
        ),
        True,
    ),
    Case("message-different-text", event(message="Cache warmed"), event(message="Cache flushed"), False),
    Case(
        "message-ip-and-counts",
        event(message="Rejected 12 requests from 10.0.0.7"),
        event(message="Rejected 3 requests from 192.168.1.20"),
        True,
    ),
    Case("fallback-both-empty", event(), event(exc(None, None)), True),
    Case("message-vs-fallback", event(message="something"), event(), False),
    # --- fingerprints ------------------------------------------------------------------
    Case(
        "fp-equal-different-stacks",
        event(exc("TypeError", "a", *JS_APP_A), fingerprint=("payments", "stripe-timeout")),
        event(exc("KeyError", "b", *PY_APP), fingerprint=("payments", "stripe-timeout")),
        True,
    ),
    Case(
        "fp-different-same-stack",
        event(exc("TypeError", "a", *JS_APP_A), fingerprint=("payments",)),
        event(exc("TypeError", "a", *JS_APP_A), fingerprint=("checkout",)),
        False,
    ),
    Case(
        "fp-default-plus-tenant-splits",
        event(exc("KeyError", "x", *PY_APP), fingerprint=("{{ default }}", "tenant-a")),
        event(exc("KeyError", "x", *PY_APP), fingerprint=("{{ default }}", "tenant-b")),
        False,
    ),
    Case(
        "fp-default-plus-same-tenant",
        event(exc("KeyError", "x", *PY_APP), fingerprint=("{{ default }}", "tenant-a")),
        event(exc("KeyError", "y", *moved(PY_APP, 4)), fingerprint=("{{default}}", "tenant-a")),
        True,
    ),
    Case(
        "fp-default-plus-tenant-different-bugs",
        event(exc("KeyError", "x", *PY_APP), fingerprint=("{{ default }}", "tenant-a")),
        event(exc("TypeError", "x", *PY_APP), fingerprint=("{{ default }}", "tenant-a")),
        False,
    ),
    Case(
        "fp-default-alone-is-default",
        event(exc("KeyError", "x", *PY_APP), fingerprint=("{{ default }}",)),
        event(exc("KeyError", "x", *PY_APP)),
        True,
    ),
    Case(
        "fp-empty-is-default",
        event(exc("KeyError", "x", *PY_APP), fingerprint=()),
        event(exc("KeyError", "x", *PY_APP)),
        True,
    ),
    Case(
        "fp-custom-vs-none",
        event(exc("KeyError", "x", *PY_APP), fingerprint=("orders",)),
        event(exc("KeyError", "x", *PY_APP)),
        False,
    ),
]


def test_case_table_is_large_and_ids_are_unique() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    assert any(c.same for c in CASES) and any(not c.same for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_grouping_pairs(case: Case) -> None:
    first, second = group(case.a), group(case.b)
    assert (first.hash == second.hash) is case.same, (first, second)
    # Determinism: the same input always gives the same grouping.
    assert group(case.a) == first


# --- methods and components ------------------------------------------------------------


def test_stacktrace_components_explain_the_grouping() -> None:
    grouping = group(py_event(*DJANGO_LIB, *PY_APP, error_type="KeyError"))
    assert grouping.method == "stacktrace"
    assert grouping.components == (
        "type:KeyError",
        "frame:shop.views in dispatch",
        "frame:shop.orders in get_order",
        "frame:shop.db in load",
    )
    assert grouping.hash == hash_components(grouping.components)


def test_js_components_use_the_normalized_path_and_bare_function() -> None:
    grouping = group(from_stack(CHROME_STACK))
    assert grouping.components == (
        "type:TypeError",
        "frame:static/js/main.<hash>.js in onClick",
        "frame:static/js/main.<hash>.js in loadUser",
        "frame:static/js/main.<hash>.js in renderProfile",
    )


def test_minified_bundle_falls_through_to_exception_type_and_value() -> None:
    grouping = group(from_stack(MINIFIED_BUILD_1))
    assert grouping.method == "exception"
    assert grouping.components == ("type:TypeError", "value:" + READING_ID)


def test_minified_names_in_stable_files_keep_the_stack() -> None:
    grouping = group(js_event(js("t", "/srv/app/src/util.js"), js("<anonymous>", "/srv/app/src/main.js")))
    assert grouping.method == "stacktrace"
    assert grouping.components == ("type:TypeError", "frame:srv/app/src/util.js", "frame:srv/app/src/main.js")


def test_no_usable_frames_falls_through() -> None:
    grouping = group(js_event(js(None, ""), error_type="Error", value="boom 42"))
    assert grouping.method == "exception"
    assert grouping.components == ("type:Error", "value:boom <int>")


def test_all_library_frames_are_used_when_none_are_in_app() -> None:
    grouping = group(py_event(*DJANGO_LIB))
    assert grouping.method == "stacktrace"
    assert grouping.components[1:] == (
        "frame:django.core.handlers.exception in inner",
        "frame:django.core.handlers.base in _get_response",
    )


def test_message_and_fallback_methods() -> None:
    assert group(event(message="User 7 logged in")).components == ("message:User <int> logged in",)
    assert group(event(message="User 7 logged in")).method == "message"
    assert group(event(message="   ")).method == "fallback"
    assert group(event()).method == "fallback"


def test_fingerprint_default_expansion_components() -> None:
    base = event(exc("KeyError", "x", *PY_APP))
    split = group(replace(base, fingerprint=("{{ default }}", "tenant-a")))
    assert split.method == "fingerprint"
    assert split.components == (*group(base).components, "tenant-a")
    literal = group(replace(base, fingerprint=("checkout", "{{ stack.function }}")))
    assert literal.components == ("checkout", "{{ stack.function }}")


def test_hash_is_32_lowercase_hex_and_length_prefixed() -> None:
    for case in CASES:
        for data in (case.a, case.b):
            assert re.fullmatch(r"[0-9a-f]{32}", group(data).hash)
    assert hash_components(["ab", "c"]) != hash_components(["a", "bc"])
    assert hash_components([]) != hash_components([""])


def test_grouping_is_a_frozen_value() -> None:
    grouping = group(event(message="x"))
    assert isinstance(grouping, Grouping)
    with pytest.raises(AttributeError):
        grouping.hash = "0" * 32  # type: ignore[misc]


def test_frames_beyond_the_last_50_are_ignored() -> None:
    deep = [py(f"f{i}", "shop.deep") for i in range(80)]
    a = py_event(py("entry_a", "shop.cli"), *deep)
    b = py_event(py("entry_b", "shop.cli"), *deep)
    assert group(a).hash == group(b).hash
    assert sum(c.startswith("frame:") for c in group(a).components) == 50


# --- line and column numbers never matter -----------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        py_event(*DJANGO_LIB, *PY_APP),
        js_event(*JS_APP_A),
        from_stack(MINIFIED_BUILD_1),
        event(
            exc("KeyError", "x", *PY_APP),
            exc("ValueError", "y", py("h", "shop.api")),
            fingerprint=("{{ default }}", "t"),
        ),
    ],
    ids=["python", "javascript", "minified", "chained-fingerprint"],
)
def test_lineno_colno_and_context_never_change_the_hash(data: GroupingInput) -> None:
    expected = group(data).hash
    rng = random.Random(20240115)
    for _ in range(300):
        exceptions = tuple(
            replace(
                e,
                frames=tuple(
                    replace(
                        f,
                        lineno=rng.choice([None, 0, 1, rng.randrange(1, 10**6)]),
                        colno=rng.choice([None, 0, rng.randrange(1, 10**6)]),
                        context_line=rng.choice([None, "", f"x = {rng.random()}"]),
                    )
                    for f in e.frames
                ),
            )
            for e in data.exceptions
        )
        assert group(replace(data, exceptions=exceptions)).hash == expected


def test_parsed_stack_line_numbers_never_change_the_hash() -> None:
    expected = group(from_stack(CHROME_STACK)).hash
    rng = random.Random(7)
    for _ in range(200):
        stack = re.sub(
            r":\d+:\d+\)", lambda _m: f":{rng.randrange(1, 99999)}:{rng.randrange(1, 99999)})", CHROME_STACK
        )
        assert group(from_stack(stack)).hash == expected


# --- title and culprit -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (event(exc("TypeError", READING_ID)), "TypeError: " + READING_ID),
        (
            event(exc("KeyError", "'id'"), exc("ValueError", "bad input\nmore detail")),
            "ValueError: bad input",
        ),
        (event(exc("KeyError", None)), "KeyError"),
        (event(exc(None, "something broke")), "something broke"),
        (event(message="\n  first   line\nsecond"), "first line"),
        (event(exc(None, None), message="fallback message"), "fallback message"),
        (event(), "<unlabeled event>"),
        (event(message="   "), "<unlabeled event>"),
    ],
)
def test_title_for(data: GroupingInput, expected: str) -> None:
    assert title_for(data) == expected


def test_title_is_capped_at_200_chars() -> None:
    title = title_for(event(exc("ValueError", "x" * 5000)))
    assert len(title) == 200
    assert title.startswith("ValueError: xxx") and title.endswith("…")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (py_event(*DJANGO_LIB, *PY_APP), "shop.db in load"),
        (py_event(*PY_APP, *DJANGO_LIB), "shop.db in load"),
        (from_stack(CHROME_STACK), "/static/js/main.8f3a2b1c.js in renderProfile"),
        (sentry_sdk_event(SDK_FRAMES, "TypeError", "x"), "/static/js/main.8f3a2b1c.js in renderProfile"),
        (py_event(*DJANGO_LIB), "django.core.handlers.base in _get_response"),
        (js_event(js(None, "https://x.example.com/app.js")), "/app.js in ?"),
        (
            event(exc("KeyError", "x", *PY_APP), exc("ValueError", "y", py("handle", "shop.api"))),
            "shop.api in handle",
        ),
        (event(exc("KeyError", "x", *PY_APP), exc("ValueError", "y")), "shop.db in load"),
        (event(exc("KeyError", "x")), None),
        (event(message="m"), None),
    ],
)
def test_culprit_for(data: GroupingInput, expected: str | None) -> None:
    assert culprit_for(data) == expected


# --- reading Sentry payloads leniently ---------------------------------------------------


def test_frames_from_sentry_is_lenient() -> None:
    raw = {
        "frames": [
            "not a frame",
            None,
            {
                "function": 5,
                "module": ["x"],
                "filename": "a.py",
                "lineno": "10",
                "colno": True,
                "in_app": "yes",
            },
            {"function": "f", "lineno": 3.0, "colno": 2.5, "in_app": False, "context_line": "x" * 5000},
        ]
    }
    frames = frames_from_sentry(raw)
    assert frames == (
        Frame(None, None, "a.py", None, None, None, None),
        Frame("f", None, None, None, 3, None, False, "x" * 1024),
    )
    bad_inputs: list[object] = [None, [], "x", {"frames": "x"}, {"frames": None}, {}]
    for bad in bad_inputs:
        assert frames_from_sentry(bad) == ()


def test_frames_from_sentry_keeps_the_crash_end() -> None:
    raw = {"frames": [{"function": f"f{i}"} for i in range(1000)]}
    frames = frames_from_sentry(raw)
    assert len(frames) == MAX_FRAMES
    assert frames[-1].function == "f999"
    assert frames[0].function == f"f{1000 - MAX_FRAMES}"


def test_exceptions_from_sentry() -> None:
    raw = {
        "values": [
            {"type": "KeyError", "value": "'id'", "stacktrace": {"frames": [{"function": "a"}]}},
            "junk",
            {
                "type": "ValueError",
                "value": 3,
                "module": "builtins",
                "raw_stacktrace": {"frames": [{"function": "b"}]},
            },
        ]
    }
    chain = exceptions_from_sentry(raw)
    assert [(e.type, e.value, e.module) for e in chain] == [
        ("KeyError", "'id'", None),
        ("ValueError", None, "builtins"),
    ]
    assert [f.function for e in chain for f in e.frames] == ["a", "b"]
    assert exceptions_from_sentry(None) == ()
    assert exceptions_from_sentry({"values": "x"}) == ()


# --- speed and hostile input -----------------------------------------------------------


def test_thirty_frame_event_is_fast() -> None:
    frames = tuple(
        js(f"handler{i}", MAIN_A, line=i, col=i)
        if i % 2
        else py(f"step{i}", f"shop.mod{i}", in_app=i % 3 != 0)
        for i in range(30)
    )
    data = event(exc("TypeError", READING_ID + " user 42", *frames))
    group(data)
    runs = 2000
    start = time.perf_counter()
    for _ in range(runs):
        group(data)
        title_for(data)
        culprit_for(data)
    per_event = (time.perf_counter() - start) / runs
    assert per_event < 500e-6, per_event  # typically ~30 µs; generous for slow CI machines


def test_hostile_event_is_bounded() -> None:
    huge = "9" * 100_000
    frames = tuple(Frame(huge + str(i), huge, huge, huge, i, i, None, huge) for i in range(MAX_FRAMES * 4))
    data = GroupingInput(
        exceptions=tuple(exc(huge, huge, *frames) for _ in range(100)),
        message=huge,
        fingerprint=tuple(huge for _ in range(1000)),
    )
    start = time.perf_counter()
    for fingerprint in (data.fingerprint, ("{{ default }}", "x"), None):
        grouping = group(replace(data, fingerprint=fingerprint))
        assert all(len(c) <= 2200 for c in grouping.components)
    assert len(title_for(data)) <= 200
    assert culprit_for(data) is not None
    assert time.perf_counter() - start < 2.0
