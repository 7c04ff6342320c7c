"""Sentry envelope parsing: real sentry-sdk 2.x output, hand-written browser-style bodies,
every framing error, size limits, and arbitrary bytes."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sentry_sdk
from sentry_sdk.attachments import Attachment
from sentry_sdk.envelope import Envelope as SdkEnvelope
from sentry_sdk.envelope import Item, PayloadRef
from sentry_sdk.session import Session
from sentry_sdk.transport import Transport, _parse_rate_limits

from syncmon.http_errors import ClientError
from syncmon.ingest.sentry_envelope import (
    DATA_CATEGORIES,
    Envelope,
    EnvelopeItem,
    parse_envelope,
    rate_limits_header,
)

EVENT_ID = "9ec79c33ec9942ab8353589fcb2e04dc"
# Binary on purpose: newlines, CRLF, NUL, invalid UTF-8, and a line that looks like an item header.
BINARY = b'line one\nline two\r\n\x00\xff\xfe{"type":"event"}\n\n'
EVENT = {"event_id": EVENT_ID, "level": "error", "message": "x is undefined", "platform": "python"}
CLIENT_REPORT = {
    "timestamp": 1_700_000_000.0,
    "discarded_events": [{"reason": "sample_rate", "category": "error", "quantity": 3}],
}


def sdk_envelope(**header: Any) -> SdkEnvelope:
    """An envelope built with sentry-sdk: event + binary attachment + client report + session."""
    envelope = SdkEnvelope(headers={"event_id": EVENT_ID, "sent_at": "2024-05-01T12:00:00.000000Z", **header})
    envelope.add_event(EVENT)
    envelope.add_item(Attachment(bytes=BINARY, filename="dump.bin").to_envelope_item())
    envelope.add_item(Item(payload=PayloadRef(json=CLIENT_REPORT), type="client_report"))
    envelope.add_session(Session(release="app@1.2.3", environment="production"))
    return envelope


def parse_error(body: bytes, **limits: int) -> ClientError:
    with pytest.raises(ClientError) as caught:
        parse_envelope(body, **limits)
    return caught.value


# --- real sentry-sdk output -------------------------------------------------------------------


def test_sdk_envelope_with_lengths() -> None:
    sdk = sdk_envelope()
    body = sdk.serialize()
    assert body.endswith(b"\n")  # sentry-python ends every item with a newline

    envelope = parse_envelope(body)

    assert envelope.headers == sdk.headers
    assert envelope.event_id == EVENT_ID
    assert [item.type for item in envelope.items] == ["event", "attachment", "client_report", "session"]
    for ours, theirs in zip(envelope.items, sdk.items, strict=True):
        assert ours.payload == theirs.get_bytes()
        assert ours.headers == {**theirs.headers, "length": len(theirs.get_bytes())}
    event, attachment, report, session = envelope.items
    assert event.json() == EVENT
    assert attachment.payload == BINARY
    assert attachment.headers["filename"] == "dump.bin"
    assert report.json() == CLIENT_REPORT
    assert session.json()["attrs"] == {"release": "app@1.2.3", "environment": "production"}


class _Capture(Transport):
    """A transport that keeps envelopes in memory: the SDK runs as in production, no network."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.envelopes: list[SdkEnvelope] = []

    def capture_envelope(self, envelope: SdkEnvelope) -> None:
        self.envelopes.append(envelope)


def test_envelope_captured_by_the_sdk_client() -> None:
    """An exception with an attachment, captured by a real sentry_sdk.Client."""
    client = sentry_sdk.Client(
        dsn="https://0123456789abcdef0123456789abcdef@monitor.example.com/7",
        transport=_Capture,
        release="app@1.2.3",
        default_integrations=False,
        auto_enabling_integrations=False,
        enable_backpressure_handling=False,
    )
    try:
        with sentry_sdk.new_scope() as scope:
            scope.set_client(client)
            scope.add_attachment(bytes=BINARY, filename="state.bin")
            try:
                raise ZeroDivisionError("division by zero")
            except ZeroDivisionError as exc:
                event_id = sentry_sdk.capture_exception(exc)
        transport = client.transport
        assert isinstance(transport, _Capture)
        body = transport.envelopes[0].serialize()
    finally:
        client.close()

    envelope = parse_envelope(body)

    assert envelope.event_id == event_id
    assert envelope.dsn is None  # sentry-python authenticates with X-Sentry-Auth, not the header
    assert set(envelope.headers) >= {"event_id", "sent_at"}
    assert [item.type for item in envelope.items] == ["event", "attachment"]
    event = envelope.items[0].json()
    assert event["exception"]["values"][0]["type"] == "ZeroDivisionError"
    assert event["release"] == "app@1.2.3"
    assert envelope.items[1].payload == BINARY


def test_sdk_envelope_without_items() -> None:
    body = SdkEnvelope(headers={"event_id": EVENT_ID}).serialize()
    assert parse_envelope(body) == Envelope(headers={"event_id": EVENT_ID}, items=())


def test_agrees_with_the_sdks_own_parser() -> None:
    body = sdk_envelope().serialize()
    theirs = SdkEnvelope.deserialize(body)
    ours = parse_envelope(body)
    assert ours.headers == theirs.headers
    assert [(i.type, i.payload) for i in ours.items] == [(i.type, i.get_bytes()) for i in theirs.items]


# --- browser style: no lengths, no final newline ------------------------------------------------


def browser_body(*items: tuple[dict[str, Any], bytes], header: dict[str, Any] | None = None) -> bytes:
    """Serialised the way @sentry/browser does it: `length` only where the caller put it, and no
    newline after the last payload."""
    parts = [orjson.dumps(header if header is not None else {"event_id": EVENT_ID})]
    for item_header, payload in items:
        parts.append(b"\n" + orjson.dumps(item_header) + b"\n" + payload)
    return b"".join(parts)


def test_items_without_length() -> None:
    body = browser_body(
        ({"type": "event"}, orjson.dumps(EVENT)),
        ({"type": "attachment", "length": len(BINARY), "filename": "a.bin"}, BINARY),
        ({"type": "session"}, b'{"sid":"x","status":"ok"}'),
    )
    envelope = parse_envelope(body)
    assert [(i.type, i.payload) for i in envelope.items] == [
        ("event", orjson.dumps(EVENT)),
        ("attachment", BINARY),
        ("session", b'{"sid":"x","status":"ok"}'),
    ]
    assert "length" not in envelope.items[0].headers
    assert envelope.items[1].headers["length"] == len(BINARY)


@pytest.mark.parametrize("length", [None, 0])
@pytest.mark.parametrize("tail", [b"", b"\n", b"\n\n\n"])
def test_empty_payloads(length: int | None, tail: bytes) -> None:
    header: dict[str, Any] = {"type": "attachment"} if length is None else {"type": "attachment", "length": 0}
    body = b"{}\n" + orjson.dumps(header) + b"\n" + tail
    (item,) = parse_envelope(body).items
    assert item.payload == b""


def test_item_header_at_end_of_body_has_an_empty_payload() -> None:
    (item,) = parse_envelope(b'{}\n{"type":"attachment","length":0}').items
    assert item.payload == b""
    (item,) = parse_envelope(b'{}\n{"type":"session"}').items
    assert item.payload == b""


@pytest.mark.parametrize("style", ["sdk", "browser"])
@pytest.mark.parametrize("tail", [b"", b"\n", b"\n\n", b"\n\n\n\n", b"\r\n", b" \n\t\n"])
def test_trailing_newlines(style: str, tail: bytes) -> None:
    if style == "sdk":
        body = sdk_envelope().serialize()
        expected = 4
    else:
        body = browser_body(({"type": "event"}, orjson.dumps(EVENT)))
        expected = 1
    envelope = parse_envelope(body + tail)
    assert len(envelope.items) == expected
    assert envelope.items[0].json() == EVENT


def test_the_final_newline_of_an_sdk_envelope_is_optional() -> None:
    body = sdk_envelope().serialize()
    assert parse_envelope(body[:-1]) == parse_envelope(body)


def test_blank_lines_between_items_are_skipped() -> None:
    body = (
        b"{}\n\n"
        b'{"type":"event"}\n{"message":"a"}\n\n\n'
        b'{"type":"attachment","length":3}\na\nb\n  \n'
        b'{"type":"client_report"}\n{}\n'
    )
    envelope = parse_envelope(body)
    assert [(i.type, i.payload) for i in envelope.items] == [
        ("event", b'{"message":"a"}'),
        ("attachment", b"a\nb"),
        ("client_report", b"{}"),
    ]


def test_header_only_envelopes_have_no_items() -> None:
    for body in (b"{}", b"{}\n", b"{}\n\n", b'{"event_id":"%s"}\n' % EVENT_ID.encode()):
        assert parse_envelope(body).items == ()


def test_unknown_item_types_are_returned() -> None:
    body = browser_body(
        ({"type": "hologram", "length": 4, "flavour": "mint"}, b"\x00\n\x01\n"),
        ({"type": "event"}, b"{}"),
        ({"type": "statsd"}, b"metric:1|c"),
    )
    envelope = parse_envelope(body)
    assert [i.type for i in envelope.items] == ["hologram", "event", "statsd"]
    assert envelope.items[0].headers == {"type": "hologram", "length": 4, "flavour": "mint"}
    assert envelope.items[0].payload == b"\x00\n\x01\n"
    assert envelope.items[0].data_category == "default"


def test_invalid_json_payload_is_left_to_the_consumer() -> None:
    body = browser_body(({"type": "event"}, b"{not json"), ({"type": "transaction"}, b"\xff\xfe"))
    event, transaction = parse_envelope(body).items
    with pytest.raises(ValueError, match="event item payload is not valid JSON"):
        event.json()
    with pytest.raises(ValueError, match="transaction item payload is not valid JSON"):
        transaction.json()


# --- CRLF: only \n separates (as in Relay) --------------------------------------------------------


def test_crlf_header_lines_parse_and_cr_stays_in_unframed_payloads() -> None:
    body = b'{"event_id":"%s"}\r\n{"type":"event"}\r\n{"a":1}\r\n' % EVENT_ID.encode()
    envelope = parse_envelope(body)
    assert envelope.event_id == EVENT_ID
    (item,) = envelope.items
    assert item.payload == b'{"a":1}\r'  # the \r belongs to the payload...
    assert item.json() == {"a": 1}  # ...and is JSON whitespace


def test_crlf_after_a_length_delimited_payload_is_refused() -> None:
    error = parse_error(b'{}\r\n{"type":"attachment","length":3}\r\nabc\r\n')
    assert (error.status, error.reason) == (400, "bad_envelope")
    assert "envelope item 1: no newline after its 3-byte payload (found byte 0x0d)" in error.message


# --- errors ----------------------------------------------------------------------------------------

BAD = [
    ("empty body", b"", "envelope header is missing"),
    ("only newlines", b"\n\n", "envelope header is missing"),
    ("header not JSON", b"not json\n", "envelope header is not a JSON object"),
    ("header a list", b"[1,2]\n", "envelope header is not a JSON object"),
    ("header a string", b'"event"\n', "envelope header is not a JSON object"),
    (
        "header of two lines",
        b'{\n"event_id":"%s"}\n' % EVENT_ID.encode(),
        "envelope header is not a JSON object",
    ),
    ("event_id not hex", b'{"event_id":"not-a-uuid"}', "envelope header: event_id is not a UUID"),
    (
        "event_id short",
        b'{"event_id":"%s"}' % EVENT_ID[:-1].encode(),
        "envelope header: event_id is not a UUID",
    ),
    ("event_id number", b'{"event_id":12}', "envelope header: event_id is not a UUID"),
    ("event_id empty", b'{"event_id":""}', "envelope header: event_id is not a UUID"),
    (
        "event_id bad dashes",
        b'{"event_id":"9ec79c33ec99-42ab-8353-589fcb2e04dc"}',
        "envelope header: event_id is not a UUID",
    ),
    ("dsn not a string", b'{"dsn":7}', "envelope header: dsn is not a string"),
    ("item header not JSON", b'{}\n{"type":\n', "envelope item 1: header is not valid JSON"),
    (
        "second item header not JSON",
        b'{}\n{"type":"event"}\n{}\nnot json\n',
        "envelope item 2: header is not valid JSON",
    ),
    ("item header a list", b'{}\n["event"]\n{}', "envelope item 1: header is not a JSON object"),
    ("item header a number", b"{}\n42\n{}", "envelope item 1: header is not a JSON object"),
    ("no type", b'{}\n{"length":2}\n{}', "envelope item 1: header has no type"),
    ("type null", b'{}\n{"type":null}\n{}', "envelope item 1: header has no type"),
    ("type a number", b'{}\n{"type":3}\n{}', "envelope item 1: header type is not a non-empty string"),
    ("type empty", b'{}\n{"type":""}\n{}', "envelope item 1: header type is not a non-empty string"),
    ("length negative", b'{}\n{"type":"a","length":-1}\n', "envelope item 1: length is not a non-negative"),
    (
        "length a string",
        b'{}\n{"type":"a","length":"2"}\nab',
        "envelope item 1: length is not a non-negative",
    ),
    ("length a float", b'{}\n{"type":"a","length":2.0}\nab', "envelope item 1: length is not a non-negative"),
    ("length a bool", b'{}\n{"type":"a","length":true}\na', "envelope item 1: length is not a non-negative"),
    (
        "length past end",
        b'{}\n{"type":"a","length":10}\nabc',
        "envelope item 1: truncated: length says 10 bytes, 3 remain",
    ),
    (
        "length past end of a header-only item",
        b'{}\n{"type":"a","length":1}',
        "envelope item 1: truncated: length says 1 bytes, 0 remain",
    ),
    (
        "length too short",
        b'{}\n{"type":"a","length":2}\nabc\n',
        "envelope item 1: no newline after its 2-byte payload",
    ),
    (
        "length too long, more follows",
        b'{}\n{"type":"a","length":5}\nabc\n{"type":"b"}\n{}',
        "envelope item 1: no newline after its 5-byte payload",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"), [(body, message) for _, body, message in BAD], ids=[c[0] for c in BAD]
)
def test_bad_envelopes(body: bytes, message: str) -> None:
    error = parse_error(body)
    assert (error.status, error.reason) == (400, "bad_envelope")
    assert message in error.message


def test_truncated_sdk_envelope() -> None:
    body = sdk_envelope().serialize()
    attachment_end = body.index(BINARY) + len(BINARY)
    error = parse_error(body[: attachment_end - 5])
    assert (error.status, error.reason) == (400, "bad_envelope")
    assert (
        f"envelope item 2: truncated: length says {len(BINARY)} bytes, {len(BINARY) - 5} remain"
        in error.message
    )


def test_wrong_length_in_sdk_envelope() -> None:
    body = sdk_envelope().serialize()
    wrong = body.replace(b'"length":%d' % len(BINARY), b'"length":%d' % (len(BINARY) - 3), 1)
    error = parse_error(wrong)
    assert error.status == 400
    assert "envelope item 2: no newline after" in error.message


def test_event_id_forms() -> None:
    dashed = str(uuid.UUID(EVENT_ID)).upper()
    assert parse_envelope(b'{"event_id":"%s"}' % dashed.encode()).event_id == EVENT_ID
    assert parse_envelope(b'{"event_id":"%s"}' % EVENT_ID.upper().encode()).event_id == EVENT_ID
    assert parse_envelope(b'{"event_id":null}').event_id is None
    assert parse_envelope(b"{}").event_id is None


def test_dsn_property() -> None:
    dsn = "https://0123456789abcdef0123456789abcdef@monitor.example.com/7"
    assert parse_envelope(orjson.dumps({"dsn": dsn})).dsn == dsn
    assert parse_envelope(b'{"dsn":null}').dsn is None
    assert parse_envelope(b"{}").dsn is None


# --- limits ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("framed", [True, False], ids=["with length", "without length"])
def test_item_over_max_item_bytes_is_413(framed: bool) -> None:
    payload = b"x" * 101
    header: dict[str, Any] = {"type": "attachment", "length": 101} if framed else {"type": "attachment"}
    body = browser_body(({"type": "event"}, b"{}"), (header, payload))
    assert parse_envelope(body, max_item_bytes=101).items[1].payload == payload
    error = parse_error(body, max_item_bytes=100)
    assert (error.status, error.reason) == (413, "too_large")
    assert "envelope item 2: payload is 101 bytes, over the limit of 100" in error.message


def test_huge_sdk_attachment_is_413_at_the_default_limit() -> None:
    envelope = SdkEnvelope(headers={"event_id": EVENT_ID})
    envelope.add_item(Attachment(bytes=b"\x00" * (1_048_576 + 1), filename="big.bin").to_envelope_item())
    error = parse_error(envelope.serialize())
    assert (error.status, error.reason) == (413, "too_large")


def test_too_many_items_is_413() -> None:
    items = [({"type": "session"}, b"{}")] * 4
    assert len(parse_envelope(browser_body(*items[:3]), max_items=3).items) == 3
    error = parse_error(browser_body(*items), max_items=3)
    assert (error.status, error.reason) == (413, "too_large")
    assert "more than 3 items" in error.message


def test_blank_lines_do_not_count_as_items() -> None:
    body = b"{}\n" + b'{"type":"session"}\n{}\n\n\n\n' * 3
    assert len(parse_envelope(body, max_items=3).items) == 3


# --- rate limits -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("categories", "retry_after", "reason", "expected"),
    [
        (["error", "transaction"], 60, None, "60:error;transaction:organization"),
        ([], 60, None, "60::organization"),
        (["error"], 0, "project_quota", "0:error:organization:project_quota"),
        (("session", "session", "error"), 5, None, "5:session;error:organization"),
    ],
)
def test_rate_limits_header(
    categories: list[str], retry_after: int, reason: str | None, expected: str
) -> None:
    assert rate_limits_header(categories, retry_after, reason) == expected


def test_rate_limits_header_scope() -> None:
    assert rate_limits_header(["error"], 10, scope="key") == "10:error:key"


def test_sentry_sdk_reads_rate_limits_header() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    some = dict(_parse_rate_limits(rate_limits_header(["error", "transaction"], 60, "quota"), now=now))
    assert some == {"error": now + timedelta(seconds=60), "transaction": now + timedelta(seconds=60)}
    everything = dict(_parse_rate_limits(rate_limits_header([], 30), now=now))
    assert everything == {None: now + timedelta(seconds=30)}  # None: every category
    several = ", ".join([rate_limits_header(["error"], 5), rate_limits_header([], 7)])
    assert dict(_parse_rate_limits(several, now=now)) == {
        "error": now + timedelta(seconds=5),
        None: now + timedelta(seconds=7),
    }


@pytest.mark.parametrize(
    ("categories", "retry_after", "reason"),
    [
        (["error"], -1, None),
        (["error"], True, None),
        (["error"], 1.5, None),
        (["err:or"], 1, None),
        (["error;transaction"], 1, None),
        (["error,x"], 1, None),
        ([""], 1, None),
        (["error"], 1, "a:b"),
        (["error"], 1, ""),
    ],
)
def test_rate_limits_header_refuses_what_would_break_it(
    categories: list[str], retry_after: Any, reason: Any
) -> None:
    with pytest.raises(ValueError):
        rate_limits_header(categories, retry_after, reason)


def test_data_categories_match_sentry_sdk() -> None:
    known = [
        "event",
        "transaction",
        "attachment",
        "session",
        "sessions",
        "client_report",
        "profile",
        "profile_chunk",
        "check_in",
        "span",
        "log",
        "trace_metric",
        "hologram",
    ]
    for item_type in known:
        ours = EnvelopeItem(type=item_type, headers={}, payload=b"").data_category
        assert ours == Item(b"", type=item_type).data_category, item_type
    assert DATA_CATEGORIES["replay_recording"] == "replay"


# --- arbitrary input -------------------------------------------------------------------------


def _mutations(seed: int, count: int) -> list[bytes]:
    """Valid envelopes with bytes flipped, inserted, deleted, or cut off."""
    rng = random.Random(seed)
    bases = [
        sdk_envelope().serialize(),
        browser_body(({"type": "event"}, orjson.dumps(EVENT)), ({"type": "a", "length": 3}, b"a\nb")),
    ]
    out = []
    for _ in range(count):
        body = bytearray(rng.choice(bases))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(body) + 1)
            action = rng.randrange(4)
            if action == 0 and at < len(body):
                body[at] = rng.choice(b'\n\r{}":,0123456789-lengthype\x00\xff')
            elif action == 1:
                body[at:at] = rng.choice(
                    [b"\n", b'"length":', b"-1", b"99999999999999999999", b"\xff", b"[", b"{"]
                )
            elif action == 2:
                del body[at : at + rng.randint(1, 8)]
            else:
                del body[at:]
        out.append(bytes(body))
    return out


def _only_client_errors(body: bytes) -> None:
    try:
        envelope = parse_envelope(body, max_items=50, max_item_bytes=4096)
    except ClientError as exc:
        assert exc.status in (400, 413)
        assert exc.reason in ("bad_envelope", "too_large")
        return
    for item in envelope.items:
        assert isinstance(item.type, str) and item.type
        assert len(item.payload) <= 4096
        assert envelope.event_id is None or len(envelope.event_id) == 32


def test_mutated_envelopes_raise_only_client_errors() -> None:
    for body in _mutations(seed=20240501, count=3000):
        _only_client_errors(body)


def test_arbitrary_bytes_raise_only_client_errors(tmp_path: Path) -> None:
    hypothesis = pytest.importorskip("hypothesis")  # not in the dev extra: skipped where absent
    from hypothesis.configuration import set_hypothesis_home_dir

    st = hypothesis.strategies

    lines = st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.sampled_from([b"{}", b'{"type":"event"}', b'{"type":"a","length":3}', b'{"length":-1}', b""]),
            st.dictionaries(
                st.sampled_from(["type", "length", "event_id", "dsn"]),
                st.one_of(st.integers(-5, 50), st.text(max_size=8), st.none(), st.booleans()),
            ).map(orjson.dumps),
        ),
        max_size=12,
    ).map(b"\n".join)

    @hypothesis.settings(max_examples=400, deadline=None, derandomize=True, database=None)
    @hypothesis.given(st.one_of(st.binary(max_size=300), lines))
    def check(body: bytes) -> None:
        _only_client_errors(body)

    set_hypothesis_home_dir(tmp_path)  # its caches go here, not into the work tree
    try:
        check()
    finally:
        set_hypothesis_home_dir(None)
