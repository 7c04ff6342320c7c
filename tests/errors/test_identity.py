"""One bug, one issue: the seed's ErrorMonitoring payload from three browsers and the same error
sent by a Sentry browser SDK must all get the same identity."""

from __future__ import annotations

from typing import Any

import pytest

from syncmon.errors.frames import exceptions_from_sentry
from syncmon.errors.grouping import GroupingInput
from syncmon.errors.identity import (
    ErrorIdentity,
    browser_error_input,
    exception_as_sentry,
    frame_as_sentry,
    identify,
)
from syncmon.events import Event
from syncmon.ingest import native, sentry_items
from syncmon.pipeline.normalize import IngestContext
from syncmon.pipeline.scrub import Scrubber

BUNDLE = "https://shop.example.com/static/js/main.8f3a2b1c.js"
NEXT_BUILD = "https://shop.example.com/static/js/main.77d01e4f.js"

# `user` is undefined in renderProfile, as each engine writes `error.stack`...
CHROME_STACK = f"""TypeError: Cannot read properties of undefined (reading 'id')
    at renderProfile ({BUNDLE}:2:14051)
    at loadUser ({BUNDLE}:2:13877)
    at async onClick ({BUNDLE}:2:15012)"""
FIREFOX_STACK = f"""renderProfile@{BUNDLE}:2:14051
loadUser@{BUNDLE}:2:13877
async*onClick@{BUNDLE}:2:15012
"""
SAFARI_STACK = f"""renderProfile@{BUNDLE}:2:14055
loadUser@{BUNDLE}:2:13880
onClick@{BUNDLE}:2:15016"""

# ...and as each writes window.onerror's ErrorEvent.message, which the seed sends as `message`.
BROWSERS: dict[str, tuple[str, str]] = {
    "chrome": ("Uncaught TypeError: Cannot read properties of undefined (reading 'id')", CHROME_STACK),
    "firefox": ('TypeError: can\'t access property "id", user is undefined', FIREFOX_STACK),
    "safari": ("TypeError: undefined is not an object (evaluating 'user.id')", SAFARI_STACK),
}
TYPE_VALUES = {
    "chrome": "Cannot read properties of undefined (reading 'id')",
    "firefox": 'can\'t access property "id", user is undefined',
    "safari": "undefined is not an object (evaluating 'user.id')",
}


def seed_payload(browser: str, **overrides: Any) -> dict[str, Any]:
    """What the seed's ErrorMonitoring.trackError posts from a window error event."""
    message, stack = BROWSERS[browser]
    payload = {
        "type": "javascript_error",
        "message": message,
        "filename": BUNDLE,
        "lineno": 2,
        "colno": 14051,
        "stack": stack,
        "timestamp": "2026-11-28T05:00:00.000Z",
    }
    payload.update(overrides)
    return payload


def seed_identity(browser: str, **overrides: Any) -> ErrorIdentity:
    p = seed_payload(browser, **overrides)
    return identify(
        browser_error_input(p["type"], p["message"], p["stack"], p["filename"], p["lineno"], p["colno"])
    )


def sentry_browser_event(
    function_names: tuple[str, str, str] = ("onClick", "loadUser", "renderProfile"), *, bundle: str = BUNDLE
) -> dict[str, Any]:
    """The same error as @sentry/browser sends it: structured frames, oldest first, the full URL
    as `filename`, every frame in_app, no `module`, no `abs_path` (Relay would add that)."""
    columns = (15012, 13877, 14051)
    return {
        "event_id": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        "platform": "javascript",
        "level": "error",
        "timestamp": 1795842000.0,
        "sdk": {"name": "sentry.javascript.browser", "version": "8.40.0"},
        "exception": {
            "values": [
                {
                    "type": "TypeError",
                    "value": "Cannot read properties of undefined (reading 'id')",
                    "mechanism": {"type": "onerror", "handled": False},
                    "stacktrace": {
                        "frames": [
                            {"filename": bundle, "function": name, "in_app": True, "lineno": 2, "colno": col}
                            for name, col in zip(function_names, columns, strict=True)
                        ]
                    },
                }
            ]
        },
        "request": {
            "url": "https://shop.example.com/profile",
            "headers": {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.0.0 Safari/537.36"},
        },
    }


def sentry_identity(event: dict[str, Any]) -> ErrorIdentity:
    return identify(
        GroupingInput(exceptions=exceptions_from_sentry(event["exception"]), platform=event["platform"])
    )


def context() -> IngestContext:
    return IngestContext(
        project_id=1,
        trusted=False,
        client_ip="198.51.100.4",
        user_agent=None,
        received_ms=1_795_842_000_000,
        scrubber=Scrubber(),
    )


# --- the seed's payload from three browsers --------------------------------------------


def test_three_browsers_group_together() -> None:
    identities = {browser: seed_identity(browser) for browser in BROWSERS}
    assert len({i.fingerprint for i in identities.values()}) == 1, {
        b: i.components for b, i in identities.items()
    }
    assert {i.method for i in identities.values()} == {"stacktrace"}
    assert identities["chrome"].components == (
        "type:TypeError",
        "frame:static/js/main.<hash>.js in onClick",
        "frame:static/js/main.<hash>.js in loadUser",
        "frame:static/js/main.<hash>.js in renderProfile",
    )


@pytest.mark.parametrize("browser", list(BROWSERS))
def test_title_is_the_type_and_the_browsers_own_words(browser: str) -> None:
    identity = seed_identity(browser)
    assert identity.title == f"TypeError: {TYPE_VALUES[browser]}"
    assert identity.culprit == "/static/js/main.8f3a2b1c.js in renderProfile"


@pytest.mark.parametrize("browser", list(BROWSERS))
def test_a_new_build_and_moved_lines_stay_one_issue(browser: str) -> None:
    stack = BROWSERS[browser][1]
    moved = stack.replace(BUNDLE, NEXT_BUILD).replace(":2:", ":3:")
    assert seed_identity(browser).fingerprint == seed_identity(browser, stack=moved).fingerprint


def test_a_different_crash_site_or_type_is_a_different_issue() -> None:
    base = seed_identity("chrome").fingerprint
    other_function = seed_identity("chrome", stack=CHROME_STACK.replace("renderProfile", "renderAvatar"))
    other_type = seed_identity(
        "chrome",
        message="Uncaught RangeError: Invalid array length",
        stack=CHROME_STACK.replace(
            "TypeError: Cannot read properties of undefined (reading 'id')",
            "RangeError: Invalid array length",
        ),
    )
    firefox_other_type = seed_identity("firefox", message="RangeError: invalid array length")
    assert len({base, other_function.fingerprint, other_type.fingerprint}) == 3
    assert firefox_other_type.fingerprint == other_type.fingerprint


@pytest.mark.parametrize(
    ("message", "stack", "error_type", "value"),
    [
        # the type in the message, written by the browser (no header in the stack)
        ("Uncaught TypeError: x is undefined", FIREFOX_STACK, "TypeError", "x is undefined"),
        ("TypeError: x is undefined", SAFARI_STACK, "TypeError", "x is undefined"),
        (
            "Uncaught DOMException: The operation is insecure.",
            None,
            "DOMException",
            "The operation is insecure.",
        ),
        # no type to be read: the payload's `type` stays, the message is the value
        ("Script error.", None, "javascript_error", "Script error."),
        ("Network: offline", None, "javascript_error", "Network: offline"),
        ("user 42 not found", FIREFOX_STACK, "javascript_error", "user 42 not found"),
        # the stack's header wins; a message without a prefix is kept whole
        (
            "Cannot read properties of undefined",
            CHROME_STACK,
            "TypeError",
            "Cannot read properties of undefined",
        ),
        (None, CHROME_STACK, "TypeError", "Cannot read properties of undefined (reading 'id')"),
        # a message naming another type than the stack's is not cut
        ("Uncaught RangeError: x", CHROME_STACK, "TypeError", "Uncaught RangeError: x"),
    ],
)
def test_type_and_value_of_a_seed_error(
    message: str | None, stack: str | None, error_type: str, value: str
) -> None:
    data = browser_error_input("javascript_error", message, stack, BUNDLE, 2, 5)
    (exception,) = data.exceptions
    assert (exception.type, exception.value) == (error_type, value)
    assert data.platform == "javascript"


def test_without_a_stack_the_filename_is_the_one_frame() -> None:
    data = browser_error_input("javascript_error", "Script error.", None, BUNDLE, 2, 5)
    (frame,) = data.exceptions[0].frames
    assert (frame.filename, frame.lineno, frame.colno, frame.function) == (BUNDLE, 2, 5, None)
    bare = browser_error_input("javascript_error", "Script error.", None, None, None, None)
    assert bare.exceptions[0].frames == ()


def test_a_custom_fingerprint_decides() -> None:
    a = browser_error_input("javascript_error", "a", CHROME_STACK, None, None, None, ("checkout",))
    b = browser_error_input("javascript_error", "b", FIREFOX_STACK, None, None, None, ("checkout",))
    assert identify(a).fingerprint == identify(b).fingerprint
    assert identify(a).method == "fingerprint"


# --- the same error from a Sentry browser SDK -----------------------------------------


@pytest.mark.parametrize(
    "function_names",
    [
        ("onClick", "loadUser", "renderProfile"),
        ("async*onClick", "loadUser", "renderProfile"),
        ("async onClick", "loadUser", "renderProfile"),
    ],
    ids=["plain", "gecko-async", "v8-async"],
)
def test_sentry_browser_event_groups_with_the_seed_payload(function_names: tuple[str, str, str]) -> None:
    from_sentry = sentry_identity(sentry_browser_event(function_names))
    for browser in BROWSERS:
        from_seed = seed_identity(browser)
        assert from_sentry.fingerprint == from_seed.fingerprint, (
            browser,
            from_sentry.components,
            from_seed.components,
        )
    assert from_sentry.title == "TypeError: Cannot read properties of undefined (reading 'id')"
    assert from_sentry.culprit == seed_identity("chrome").culprit


def test_sentry_browser_event_of_the_next_build_groups_too() -> None:
    assert (
        sentry_identity(sentry_browser_event(bundle=NEXT_BUILD)).fingerprint
        == seed_identity("safari").fingerprint
    )


def test_the_stored_sentry_shape_of_a_seed_error_regroups_the_same() -> None:
    """The browser path stores its parsed stack in Sentry's shape; grouping that again agrees."""
    for browser in BROWSERS:
        p = seed_payload(browser)
        data = browser_error_input(p["type"], p["message"], p["stack"], p["filename"], 2, 14051)
        shaped = exception_as_sentry(data)
        again = identify(GroupingInput(exceptions=exceptions_from_sentry(shaped), platform="javascript"))
        assert again.fingerprint == identify(data).fingerprint
        frames = shaped["values"][0]["stacktrace"]["frames"]
        assert [f["function"] for f in frames] == ["onClick", "loadUser", "renderProfile"]
        assert frames[-1] == frame_as_sentry(data.exceptions[0].frames[-1])
        assert None not in frames[-1].values()


def test_both_receivers_give_the_event_the_same_fingerprint_and_title() -> None:
    """Through the receivers' own translation (scrubbing, annotations) rather than identify()."""
    seeds: list[Event] = [native.error_event(seed_payload(b), context()) for b in BROWSERS]
    sentry_event = sentry_items.error_event(sentry_browser_event(), context(), None)
    fingerprints = {e.fingerprint for e in [*seeds, sentry_event]}
    assert len(fingerprints) == 1 and None not in fingerprints
    assert sentry_event.message == "TypeError: Cannot read properties of undefined (reading 'id')"
    assert [e.message for e in seeds] == [f"TypeError: {TYPE_VALUES[b]}" for b in BROWSERS]
    assert {e.data["culprit"] for e in [*seeds, sentry_event]} == {
        "/static/js/main.8f3a2b1c.js in renderProfile"
    }
    assert {e.data["_grouping"]["method"] for e in [*seeds, sentry_event]} == {"stacktrace"}
    assert sentry_event.id == "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    assert sentry_event.name == "TypeError" and seeds[0].name == "javascript_error"


def test_annotate_records_grouping_for_the_issue_page() -> None:
    identity = seed_identity("chrome")
    data: dict[str, Any] = {}
    identity.annotate(data)
    assert data == {
        "culprit": "/static/js/main.8f3a2b1c.js in renderProfile",
        "_grouping": {"method": "stacktrace", "components": list(identity.components)},
    }
