"""Reading PostHog request bodies: every encoding posthog-js and posthog-python have used.

The gateway has already undone any Content-Encoding and enforced the size limits on the
wire; what is left is PostHog's own layering, which clients do not always label:

- raw gzip (`1f 8b`), sent as `text/plain` with no `compression` parameter since
  posthog-js 1.398.2, so it is detected by its magic bytes whatever the label says;
- a form `data=<base64 JSON>` (`compression=base64`, beacons and very old clients), also
  recognised when the Content-Type is missing or wrong;
- `compression=lz64`: LZString's `compressToBase64`, from very old clients, decoded here
  with its output bounded (see `lz_decompress_base64`);
- plain JSON, or base64 of JSON without any label (PostHog tries base64 too).

Anything that is none of these is a 400 with a message saying what was expected.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from urllib.parse import parse_qsl

import orjson

from syncmon.http_errors import ClientError
from syncmon.ingest.body import sniff_decompress

FORM_TYPE = "application/x-www-form-urlencoded"
# A PostHog form carries `data` and perhaps `compression` and `ver`; more fields than this
# is no client, and parse_qsl refuses them before building a list of them.
_MAX_FORM_FIELDS = 16
_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_B64 = re.compile(r"[^A-Za-z0-9+/=]")
# Each base64 character as the six bits LZString reads from it, most significant first.
# "=" is index 64 of LZString's alphabet, of which it only ever reads the low six bits.
_SIX_BITS = str.maketrans({c: format(i, "06b") for i, c in enumerate(_B64_ALPHABET)} | {"=": "000000"})
_LZ_NAMES = frozenset({"lz64", "lz-string", "lzstring"})


def decode_payload(raw: bytes, *, content_type: str, compression: str | None, max_size: int) -> Any:
    """The JSON document a PostHog client sent, however it was packed."""
    compression = (compression or "").strip().lower()
    data: bytes | str = raw
    if content_type == FORM_TYPE or raw.startswith(b"data="):
        data, form_compression = _read_form(raw)
        compression = form_compression or compression
    if isinstance(data, bytes):
        # gzip is recognised by its magic bytes alone, as posthog-js since 1.398.2 sends it
        # unlabelled; a `compression=gzip-js` label on a body that is not gzip is ignored.
        data = sniff_decompress(data, max_size)
    if compression in _LZ_NAMES:
        data = lz_decompress_base64(_ascii(data), max_size)
    return _json_or_base64_json(data, force_base64=compression == "base64")


def query_payload(data: str, compression: str | None, max_size: int) -> Any:
    """A GET request's `?data=` (the image transport of old posthog-js)."""
    compression = (compression or "").strip().lower()
    text: bytes | str = data
    if compression in _LZ_NAMES:
        text = lz_decompress_base64(data, max_size)
    return _json_or_base64_json(text, force_base64=compression == "base64")


def _read_form(raw: bytes) -> tuple[str, str | None]:
    try:
        fields = dict(
            parse_qsl(
                raw.decode("utf-8", "replace"),
                keep_blank_values=True,
                max_num_fields=_MAX_FORM_FIELDS,
            )
        )
    except ValueError:
        raise ClientError(
            400, f"form body has more than {_MAX_FORM_FIELDS} fields", reason="bad_payload"
        ) from None
    data = fields.get("data")
    if not data:
        raise ClientError(400, "form body has no data field; expected data=<base64 JSON>", reason="empty")
    return data, fields.get("compression")


def _ascii(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise ClientError(400, "lz64 body is not base64 text", reason="bad_encoding") from None


def _json_or_base64_json(data: bytes | str, *, force_base64: bool) -> Any:
    """JSON, or base64 of JSON. A `compression=base64` label is only a hint, as in PostHog:
    a labelled body that is plain JSON is read as JSON."""
    stripped = data.strip()
    if not stripped:
        raise ClientError(400, "body is empty; expected a PostHog event payload", reason="empty")
    if stripped in ("undefined", b"undefined"):
        raise ClientError(400, "body is the literal string 'undefined'", reason="bad_payload")
    if stripped[:1] in ("{", "[", b"{", b"["):
        return _loads(stripped, "body is not valid JSON")
    decoded = _base64(stripped)
    if decoded is not None:
        try:
            return orjson.loads(decoded)
        except orjson.JSONDecodeError:
            pass
    try:
        return orjson.loads(stripped)  # a JSON scalar: refused later as no event
    except orjson.JSONDecodeError:
        pass
    if force_base64:
        raise ClientError(400, "body is not valid base64 JSON (compression=base64)", reason="bad_encoding")
    raise ClientError(
        400, "body is neither JSON nor base64 JSON (nor gzip, form data= or lz64)", reason="bad_json"
    )


def _loads(data: bytes | str, what: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ClientError(400, f"{what}: {exc}", reason="bad_json") from None


def _base64(data: bytes | str) -> bytes | None:
    """Standard base64 (a form decoder may have turned '+' into ' '), or None."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    text = text.replace(" ", "+").replace("\n", "").replace("\r", "")
    if _NOT_B64.search(text) or len(text) % 4 == 1:
        return None
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def lz_decompress_base64(text: str, max_chars: int) -> str:
    """LZString.decompressFromBase64 (lz-string 1.5.0), refusing output over `max_chars`.

    The stream is LZW over UTF-16 code units, read a few bits at a time, least significant
    bit first. Every dictionary entry is an earlier output plus one code unit, so bounding
    the output bounds the dictionary; the input is at most `max_body_bytes`, so the number
    of steps is bounded too. Where the JavaScript returns "" or null (truncated stream,
    a reference past the dictionary), this raises a 400.
    """
    text = text.strip().replace(" ", "+")
    if not text or _NOT_B64.search(text):
        raise ClientError(400, "lz64 body is not LZString base64 text", reason="bad_encoding")
    bits = text.translate(_SIX_BITS)
    total_bits = len(bits)
    pos = 0

    def read(count: int) -> int:
        nonlocal pos
        chunk = bits[pos : pos + count]
        pos += count
        # Past the end the JavaScript reads zeros; an empty chunk is 0 as well.
        return int(chunk[::-1], 2) if chunk else 0

    def invalid(why: str) -> ClientError:
        return ClientError(400, f"lz64 body is not valid LZString data ({why})", reason="bad_encoding")

    first = read(2)
    if first == 2:
        raise invalid("empty stream")
    if first not in (0, 1):
        raise invalid("bad first code")
    char = chr(read(8 if first == 0 else 16))
    dictionary: list[str] = ["", "", "", char]
    previous = char
    output = [char]
    produced = 1
    enlarge_in, num_bits = 4, 3
    while True:
        if pos >= total_bits:
            raise invalid("truncated")
        code = read(num_bits)
        if code in (0, 1):
            dictionary.append(chr(read(8 if code == 0 else 16)))
            code = len(dictionary) - 1
            enlarge_in -= 1
        elif code == 2:
            break
        if enlarge_in == 0:
            enlarge_in, num_bits = 1 << num_bits, num_bits + 1
        if code < len(dictionary):
            entry = dictionary[code]
        elif code == len(dictionary):
            entry = previous + previous[0]
        else:
            raise invalid("reference past the dictionary")
        produced += len(entry)
        if produced > max_chars:
            raise ClientError(
                413, f"body exceeds {max_chars} characters after lz64 decompression", reason="too_large"
            )
        output.append(entry)
        dictionary.append(previous + entry[0])
        enlarge_in -= 1
        previous = entry
        if enlarge_in == 0:
            enlarge_in, num_bits = 1 << num_bits, num_bits + 1
    try:
        # Code units to text: surrogate pairs become one character, a lone one is an error.
        return "".join(output).encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeError:
        raise invalid("unpaired surrogate") from None
