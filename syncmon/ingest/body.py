"""Reading an ingest request body without letting the client choose how much memory it costs.

Two limits apply: `max_bytes` on the bytes on the wire, checked before and while reading,
and `max_decompressed` on what they inflate to, checked while inflating. Every decoder
produces output in bounded steps and stops one step past the limit, so a decompression bomb
(a few KB that inflate to gigabytes) costs about the limit in memory, never its full size.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import AsyncIterator, Callable

import brotli
import zstandard

from syncmon.http_errors import ClientError

# Content-Encoding values that mean "not compressed". Some Sentry SDKs send "utf-8".
_NO_CODING = frozenset({"", "identity", "utf-8"})
# More stacked codings than this is no client we know, only a way to multiply our CPU time.
_MAX_CODINGS = 3

# Input is handed to decoders in pieces growing from the first to the largest size: a
# decoder copies what follows the end of a gzip member or zstd frame (`unused_data`), and
# small first pieces keep that copy proportional to the member, not to the whole body.
_FIRST_PIECE = 1 << 10
_LARGEST_PIECE = 1 << 16
# Brotli may return up to about twice its output_buffer_limit per call.
_BROTLI_STEP = 1 << 18
# A zstd frame of unknown size is fed so little input per call that even the densest data,
# a 4-byte RLE block per 128 KiB block, cannot overshoot the budget by more than a few blocks.
_ZSTD_DENSEST = 4
_ZSTD_SMALLEST_PIECE = 4 * _ZSTD_DENSEST
# The largest zstd window we accept when max_size is smaller: streaming compressors up to
# level 19 use at most 8 MiB. Beyond max_size the decoder would allocate memory for nothing.
_ZSTD_WINDOW_FLOOR = 1 << 23
_ZSTD_WINDOW_CEILING = 1 << 31


async def read_body(
    chunks: AsyncIterator[bytes],
    *,
    content_length: str | None,
    content_encoding: str | None,
    max_bytes: int,
    max_decompressed: int,
) -> bytes:
    """The request body, decompressed; refused as soon as it is known to be too large, so an
    oversized upload is never read in full."""
    if content_length is not None and _declared_length(content_length) > max_bytes:
        raise _too_large(f"body exceeds {max_bytes} bytes")
    codings = _codings(content_encoding)  # an unsupported coding is refused before reading
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:  # no Content-Length, or one that lied
            raise _too_large(f"body exceeds {max_bytes} bytes")
        parts.append(chunk)
    return _undo(b"".join(parts), codings, max_decompressed)


def decompress(data: bytes, content_encoding: str | None, max_size: int) -> bytes:
    """Undo every coding in a Content-Encoding header, refusing output over `max_size`."""
    return _undo(data, _codings(content_encoding), max_size)


def sniff_decompress(data: bytes, max_size: int) -> bytes:
    """Gunzip a body that starts with the gzip magic bytes, else return it unchanged: some
    clients (PostHog) gzip without saying so in Content-Encoding."""
    if data.startswith(b"\x1f\x8b"):
        return _undo(data, ["gzip"], max_size)
    return data


def _declared_length(value: str) -> int:
    text = value.strip(" \t")
    if not (text.isascii() and text.isdigit()):
        raise ClientError(400, "Content-Length is not a number", reason="bad_length")
    digits = text.lstrip("0")
    # Over 18 digits is over any limit; clamping avoids parsing an arbitrarily long number.
    return int(digits or "0") if len(digits) <= 18 else sys.maxsize


def _codings(header: str | None) -> list[str]:
    """The codings to undo, in the order to undo them: the header lists them as applied."""
    codings: list[str] = []
    for token in (header or "").split(","):
        name = token.strip().lower()
        if name in _NO_CODING:
            continue
        if name not in _DECODERS:
            raise ClientError(
                415, f"unsupported Content-Encoding {token.strip()[:64]!r}", reason="bad_encoding"
            )
        codings.append(name)
    if len(codings) > _MAX_CODINGS:
        raise ClientError(
            415,
            f"at most {_MAX_CODINGS} stacked Content-Encodings are supported",
            reason="bad_encoding",
        )
    return codings[::-1]


def _undo(data: bytes, codings: list[str], max_size: int) -> bytes:
    for name in codings:
        data = _DECODERS[name](data, max_size)
    if len(data) > max_size:  # reachable only without any coding
        raise _too_large(f"body exceeds {max_size} bytes after decompression")
    return data


class _Output:
    """Decoded chunks under a ceiling: raises the moment the total passes `max_size`."""

    def __init__(self, max_size: int) -> None:
        self._max_size = max_size
        self._chunks: list[bytes] = []
        self._total = 0

    @property
    def room(self) -> int:
        """Bytes a decoder may still produce, one past the limit so that passing it shows."""
        return self._max_size - self._total + 1

    def add(self, chunk: bytes) -> None:
        self._total += len(chunk)
        if self._total > self._max_size:
            raise _too_large(f"body exceeds {self._max_size} bytes after decompression")
        if chunk:
            self._chunks.append(chunk)

    def result(self) -> bytes:
        return self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)


class _Input:
    """Compressed bytes handed out in pieces; `rewind` takes back what a decoder left unused
    at the end of a member or frame, where the next one starts."""

    def __init__(self, data: bytes) -> None:
        self._view = memoryview(data)
        self._pos = 0
        self._step = _FIRST_PIECE

    @property
    def exhausted(self) -> bool:
        return self._pos >= len(self._view)

    def rest(self) -> memoryview:
        return self._view[self._pos :]

    def take(self, most: int = _LARGEST_PIECE) -> memoryview:
        piece = self._view[self._pos : self._pos + min(self._step, most)]
        self._pos += len(piece)
        self._step = min(2 * self._step, _LARGEST_PIECE)
        return piece

    def rewind(self, unused: int) -> None:
        self._pos -= unused
        self._step = _FIRST_PIECE


def _gunzip(data: bytes, max_size: int) -> bytes:
    return _inflate(data, 16 + zlib.MAX_WBITS, max_size, "gzip", members=True)


def _inflate_deflate(data: bytes, max_size: int) -> bytes:
    # "deflate" means zlib-wrapped (RFC 9110), but some clients send raw deflate. A raw
    # stream from a real encoder never starts like a zlib header: that would take a
    # non-final stored block with nonzero padding bits.
    wbits = zlib.MAX_WBITS if _has_zlib_header(data) else -zlib.MAX_WBITS
    return _inflate(data, wbits, max_size, "deflate", members=False)


def _has_zlib_header(data: bytes) -> bool:
    """RFC 1950: method 8 (deflate), a window of at most 32 KiB, and the header checksum."""
    return len(data) >= 2 and data[0] & 0x0F == 8 and data[0] >> 4 <= 7 and (data[0] << 8 | data[1]) % 31 == 0


def _inflate(data: bytes, wbits: int, max_size: int, name: str, *, members: bool) -> bytes:
    """zlib with max_length: a call stops at the budget, so output never passes max_size + 1.
    With `members`, concatenated gzip members are one body, as gunzip reads them."""
    source, output = _Input(data), _Output(max_size)
    try:
        while True:
            decoder = zlib.decompressobj(wbits)
            while not decoder.eof:
                if source.exhausted:
                    raise _invalid(name)  # truncated
                # Short of the budget a call consumes its whole piece, so nothing is pending.
                output.add(decoder.decompress(source.take(), output.room))
            source.rewind(len(decoder.unused_data))
            if source.exhausted:
                return output.result()
            if not members:
                raise _invalid(name)  # trailing bytes
    except zlib.error as exc:
        raise _invalid(name) from exc


def _unbrotli(data: bytes, max_size: int) -> bytes:
    """Brotli with output_buffer_limit. The decoder may hold back input it has no room to
    decode yet (can_accept_more_data() is False) and output it has not flushed yet; calls
    with empty input drain both."""
    source, output = _Input(data), _Output(max_size)
    decoder = brotli.Decompressor()
    try:
        while not decoder.is_finished():
            if not decoder.can_accept_more_data():
                output.add(decoder.process(b"", output_buffer_limit=_BROTLI_STEP))
            elif not source.exhausted:
                output.add(decoder.process(source.take(), output_buffer_limit=_BROTLI_STEP))
            else:
                chunk = decoder.process(b"", output_buffer_limit=_BROTLI_STEP)
                if not chunk and not decoder.is_finished():
                    raise _invalid("br")  # truncated
                output.add(chunk)
    except brotli.error as exc:
        raise _invalid("br") from exc
    if not source.exhausted:
        raise _invalid("br")  # trailing bytes
    return output.result()


def _unzstd(data: bytes, max_size: int) -> bytes:
    """zstd, frame by frame. A frame that declares its size is refused up front if too large
    and otherwise fed freely: libzstd stops a frame that outgrows its declared size. A frame
    of unknown size is fed in pieces small enough that no piece can inflate past the budget.
    (zstandard's stream_reader bounds output too, but silently accepts a truncated frame.)"""
    window_limit = min(max(max_size, _ZSTD_WINDOW_FLOOR), _ZSTD_WINDOW_CEILING)
    context = zstandard.ZstdDecompressor(max_window_size=window_limit)
    source, output = _Input(data), _Output(max_size)
    try:
        while True:
            frame = zstandard.get_frame_parameters(source.rest())
            if frame.window_size > window_limit:
                raise _too_large(f"zstd window of {frame.window_size} bytes exceeds {window_limit}")
            declared = frame.content_size != zstandard.CONTENTSIZE_UNKNOWN
            if declared and frame.content_size >= output.room:
                raise _too_large(f"body exceeds {max_size} bytes after decompression")
            decoder = context.decompressobj()
            while not decoder.eof:
                if source.exhausted:
                    raise _invalid("zstd")  # truncated
                most = _LARGEST_PIECE if declared else _zstd_piece(output.room)
                output.add(decoder.decompress(source.take(most)))
            source.rewind(len(decoder.unused_data))
            if source.exhausted:
                return output.result()
    except zstandard.ZstdError as exc:
        raise _invalid("zstd") from exc


def _zstd_piece(room: int) -> int:
    """The most input that decodes to at most about `room` bytes plus a few blocks."""
    blocks = room // zstandard.BLOCKSIZE_MAX
    return min(max(_ZSTD_SMALLEST_PIECE, _ZSTD_DENSEST * blocks), _LARGEST_PIECE)


_DECODERS: dict[str, Callable[[bytes, int], bytes]] = {
    "gzip": _gunzip,
    "x-gzip": _gunzip,
    "deflate": _inflate_deflate,
    "br": _unbrotli,
    "zstd": _unzstd,
}


def _too_large(message: str) -> ClientError:
    return ClientError(413, message, reason="too_large")


def _invalid(name: str) -> ClientError:
    return ClientError(400, f"body is not valid {name} data", reason="bad_encoding")
