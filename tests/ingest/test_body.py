"""Request bodies: the wire limit, every Content-Encoding, bad data, and decompression bombs."""

from __future__ import annotations

import gzip
import random
import struct
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable, Iterable

import brotli
import pytest
import zstandard

from syncmon.http_errors import ClientError
from syncmon.ingest.body import decompress, read_body, sniff_decompress

MB = 1 << 20
# Compressible JSON lines plus incompressible bytes: large enough to cross many input pieces.
PAYLOAD = b"".join(
    b'{"event":"page_view","n":%d,"path":"/docs/%d"}\n' % (i, i % 97) for i in range(12_000)
) + random.Random(7).randbytes(200_000)

Encoder = Callable[[bytes], bytes]


def gz(data: bytes) -> bytes:
    return gzip.compress(data)


def zlib_deflate(data: bytes) -> bytes:
    return zlib.compress(data)


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def br(data: bytes) -> bytes:
    out: bytes = brotli.compress(data, quality=5)
    return out


def zstd_sized(data: bytes) -> bytes:
    """A one-shot frame, which declares its content size."""
    return zstandard.ZstdCompressor().compress(data)


def zstd_streamed(data: bytes) -> bytes:
    """A streamed frame, whose content size is unknown."""
    compressor = zstandard.ZstdCompressor().compressobj()
    return compressor.compress(data) + compressor.flush()


def gz_members(data: bytes) -> bytes:
    half = len(data) // 2
    return gz(data[:half]) + gz(b"") + gz(data[half:])


def zstd_frames(data: bytes) -> bytes:
    half = len(data) // 2
    skippable = struct.pack("<II", 0x184D2A50, 3) + b"pad"
    return zstd_sized(data[:half]) + skippable + zstd_streamed(data[half:])


CODECS: list[tuple[str, Encoder]] = [
    ("gzip", gz),
    ("deflate", zlib_deflate),
    ("deflate", raw_deflate),
    ("br", br),
    ("zstd", zstd_sized),
    ("zstd", zstd_streamed),
]
CODEC_IDS = ["gzip", "deflate-zlib", "deflate-raw", "br", "zstd-sized", "zstd-streamed"]


def refusal(call: Callable[[], object]) -> ClientError:
    with pytest.raises(ClientError) as info:
        call()
    return info.value


# --- decompress: round trips -------------------------------------------------------------


@pytest.mark.parametrize(("encoding", "encode"), CODECS, ids=CODEC_IDS)
def test_each_coding_round_trips(encoding: str, encode: Encoder) -> None:
    assert decompress(encode(PAYLOAD), encoding, 2 * len(PAYLOAD)) == PAYLOAD


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("x-gzip", gz),
        ("GZIP", gz),
        ("  Br ", br),
        ("gzip", gz_members),
        ("zstd", zstd_frames),
        ("gzip, br", lambda d: br(gz(d))),
        ("br,gzip", lambda d: gz(br(d))),
        ("deflate, zstd", lambda d: zstd_streamed(zlib_deflate(d))),
        ("gzip, identity, zstd", lambda d: zstd_sized(gz(d))),
        ("identity, deflate", raw_deflate),
    ],
)
def test_aliases_members_frames_and_stacks_round_trip(encoding: str, encode: Encoder) -> None:
    assert decompress(encode(PAYLOAD), encoding, len(PAYLOAD)) == PAYLOAD


def test_many_gzip_members_are_one_body() -> None:
    body = b"".join(gz(b"%d," % i) for i in range(2_000))
    assert decompress(body, "gzip", MB) == b"".join(b"%d," % i for i in range(2_000))


@pytest.mark.parametrize("encoding", [None, "", "identity", "IDENTITY", "utf-8", "UTF-8", " , "])
def test_no_coding_returns_the_body(encoding: str | None) -> None:
    assert decompress(PAYLOAD, encoding, len(PAYLOAD)) == PAYLOAD


def test_stacked_codings_are_undone_last_applied_first() -> None:
    error = refusal(lambda: decompress(br(gz(PAYLOAD)), "br, gzip", MB))
    assert (error.status, error.message) == (400, "body is not valid gzip data")


# --- decompress: refusals ----------------------------------------------------------------


@pytest.mark.parametrize(("encoding", "encode"), CODECS, ids=CODEC_IDS)
def test_output_limit_is_exact(encoding: str, encode: Encoder) -> None:
    body = encode(PAYLOAD)
    assert decompress(body, encoding, len(PAYLOAD)) == PAYLOAD
    error = refusal(lambda: decompress(body, encoding, len(PAYLOAD) - 1))
    assert error.status == 413
    assert error.reason == "too_large"
    assert error.message == f"body exceeds {len(PAYLOAD) - 1} bytes after decompression"


def test_uncompressed_body_over_the_output_limit_is_refused() -> None:
    assert refusal(lambda: decompress(b"x" * 11, "identity", 10)).status == 413


@pytest.mark.parametrize(("header", "named"), [("xyz", "xyz"), ("gzip, compress", "compress")])
def test_unknown_coding_is_415(header: str, named: str) -> None:
    error = refusal(lambda: decompress(gz(b"{}"), header, MB))
    assert error.status == 415
    assert error.reason == "bad_encoding"
    assert error.message == f"unsupported Content-Encoding '{named}'"


def test_more_than_three_stacked_codings_is_415() -> None:
    body = gz(gz(gz(gz(b"{}"))))
    assert decompress(gz(gz(gz(b"{}"))), "gzip, gzip, gzip", MB) == b"{}"
    assert refusal(lambda: decompress(body, "gzip, gzip, gzip, gzip", MB)).status == 415


def _corrupt(body: bytes) -> bytes:
    middle = len(body) // 2
    return body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]


@pytest.mark.parametrize(("encoding", "encode"), CODECS, ids=CODEC_IDS)
@pytest.mark.parametrize(
    "damage",
    [
        lambda body: b"definitely not compressed",
        lambda body: b"",
        lambda body: body[: len(body) // 2],
        lambda body: body[:-1],
        lambda body: body + b"trailing junk",
    ],
    ids=["garbage", "empty", "half", "last-byte-missing", "trailing-junk"],
)
def test_damaged_data_is_400(encoding: str, encode: Encoder, damage: Encoder) -> None:
    error = refusal(lambda: decompress(damage(encode(b"hello " * 5_000)), encoding, MB))
    assert error.status == 400
    assert error.reason == "bad_encoding"
    assert error.message == f"body is not valid {encoding} data"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_flipped_byte_fails_the_checksum(encoding: str) -> None:
    body = gz(PAYLOAD) if encoding == "gzip" else zlib_deflate(PAYLOAD)
    assert refusal(lambda: decompress(_corrupt(body), encoding, MB)).status == 400


def with_content_size(frame: bytes, size: int) -> bytes:
    """`frame` with its declared Frame_Content_Size replaced, the rest left as it is."""
    patched = bytearray(frame)
    header = zstandard.frame_header_size(frame)
    assert patched[4] >> 6 == 2  # a 4-byte Frame_Content_Size ends the header
    patched[header - 4 : header] = size.to_bytes(4, "little")
    return bytes(patched)


def test_zstd_frame_lying_about_its_size_is_400() -> None:
    frame = with_content_size(zstd_sized(PAYLOAD), len(PAYLOAD) // 2)
    assert refusal(lambda: decompress(frame, "zstd", MB)).status == 400


def test_zstd_window_over_the_limit_is_413() -> None:
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=27)
    body = zstd_compressobj(params, b"tiny")
    assert zstandard.get_frame_parameters(body).window_size == 1 << 27
    assert refusal(lambda: decompress(body, "zstd", MB)).status == 413


def zstd_compressobj(params: zstandard.ZstdCompressionParameters, data: bytes) -> bytes:
    compressor = zstandard.ZstdCompressor(compression_params=params).compressobj()
    return compressor.compress(data) + compressor.flush()


# --- decompression bombs -----------------------------------------------------------------

BOMB_SIZE = 256 * MB
LIMIT = MB


def _zeros(total: int) -> Iterable[bytes]:
    piece = bytes(MB)
    for _ in range(total // MB):
        yield piece


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """Each body inflates to BOMB_SIZE or more yet is built piecewise, never whole in memory.
    One raw deflate stream is wrapped as gzip and zlib rather than compressed three times."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    brotli_encoder = brotli.Compressor(quality=1)
    zstd_encoder = zstandard.ZstdCompressor().compressobj()
    raw, br_parts, zstd_parts = [], [], []
    crc, adler = 0, 1
    for piece in _zeros(BOMB_SIZE):
        raw.append(deflater.compress(piece))
        crc, adler = zlib.crc32(piece, crc), zlib.adler32(piece, adler)
    for piece in _zeros(4 * BOMB_SIZE):
        br_parts.append(brotli_encoder.process(piece))
        zstd_parts.append(zstd_encoder.compress(piece))
    raw.append(deflater.flush())
    br_parts.append(brotli_encoder.finish())
    zstd_parts.append(zstd_encoder.flush())
    deflated = b"".join(raw)
    gzip_bomb = (
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
        + deflated
        + struct.pack("<II", crc, BOMB_SIZE & 0xFFFFFFFF)
    )
    sized = zstandard.ZstdCompressor().compressobj(size=4 * BOMB_SIZE)
    zstd_sized_bomb = b"".join(sized.compress(piece) for piece in _zeros(4 * BOMB_SIZE))
    one_mb_member = gz(bytes(MB))
    return {
        "gzip": gzip_bomb,
        "gzip-members": one_mb_member * 256,
        "deflate-zlib": b"\x78\xda" + deflated + struct.pack(">I", adler),
        "deflate-raw": deflated,
        "br": b"".join(br_parts),
        "zstd-streamed": b"".join(zstd_parts),
        "zstd-sized": zstd_sized_bomb + sized.flush(),
        "br-of-gzip": br(gzip_bomb),
    }


BOMB_CODINGS = {
    "gzip": "gzip",
    "gzip-members": "gzip",
    "deflate-zlib": "deflate",
    "deflate-raw": "deflate",
    "br": "br",
    "zstd-streamed": "zstd",
    "zstd-sized": "zstd",
    "br-of-gzip": "gzip, br",
}


def _peak_growth(call: Callable[[], object]) -> tuple[ClientError, int]:
    """The refusal `call` raises, and how far traced memory rose above its start meanwhile."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        error = refusal(call)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return error, peak - start


@pytest.mark.parametrize("name", list(BOMB_CODINGS))
def test_bomb_is_refused_without_inflating_it(bombs: dict[str, bytes], name: str) -> None:
    body = bombs[name]
    assert len(body) < 2 * MB  # and it inflates to 256 MiB or more
    error, growth = _peak_growth(lambda: decompress(body, BOMB_CODINGS[name], LIMIT))
    assert (error.status, error.reason) == (413, "too_large")
    assert growth < 4 * LIMIT + 4 * MB


def test_zstd_bomb_declaring_a_small_size_is_stopped_early(bombs: dict[str, bytes]) -> None:
    """A frame that declares a size within the limit is fed without the small pieces of an
    unknown-size frame; libzstd must stop it once it outgrows the size it declared."""
    body = with_content_size(bombs["zstd-sized"], LIMIT // 2)
    error, growth = _peak_growth(lambda: decompress(body, "zstd", LIMIT))
    assert (error.status, error.reason) == (400, "bad_encoding")
    assert growth < 4 * LIMIT + 4 * MB


def test_sniffed_gzip_bomb_is_refused_without_inflating_it(bombs: dict[str, bytes]) -> None:
    error, growth = _peak_growth(lambda: sniff_decompress(bombs["gzip"], LIMIT))
    assert error.status == 413
    assert growth < 4 * LIMIT + 4 * MB


def test_bombs_inflate_to_what_they_claim(bombs: dict[str, bytes]) -> None:
    """The bombs are real: a decoder without a limit would produce all of it."""
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    total = 0
    pending = bombs["gzip"]
    while pending:
        total += len(decoder.decompress(pending, 16 * MB))
        pending = decoder.unconsumed_tail
    assert decoder.eof
    assert total == BOMB_SIZE


# --- sniff_decompress --------------------------------------------------------------------


def test_sniff_gunzips_a_body_with_the_gzip_magic() -> None:
    assert sniff_decompress(gz(PAYLOAD), len(PAYLOAD)) == PAYLOAD


def test_sniff_leaves_other_bodies_alone() -> None:
    body = b'[{"event": "$pageview"}]'
    assert sniff_decompress(body, MB) is body
    assert sniff_decompress(b"", MB) == b""


def test_sniff_refuses_broken_gzip() -> None:
    error = refusal(lambda: sniff_decompress(b"\x1f\x8b not really", MB))
    assert (error.status, error.message) == (400, "body is not valid gzip data")


# --- read_body ---------------------------------------------------------------------------


class Chunks:
    """A request stream that counts how many chunks were taken from it."""

    def __init__(self, parts: Iterable[bytes]) -> None:
        self.parts = list(parts)
        self.taken = 0

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self.taken == len(self.parts):
            raise StopAsyncIteration
        self.taken += 1
        return self.parts[self.taken - 1]


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] + [b""]


async def test_reads_and_decompresses_a_chunked_body() -> None:
    body = gz(PAYLOAD)
    chunks = Chunks(split(body, 1000))
    got = await read_body(
        chunks,
        content_length=str(len(body)),
        content_encoding="gzip",
        max_bytes=len(body),
        max_decompressed=len(PAYLOAD),
    )
    assert got == PAYLOAD
    assert chunks.taken == len(chunks.parts)


async def test_reads_a_body_without_content_length() -> None:
    got = await read_body(
        Chunks(split(PAYLOAD, 4096)),
        content_length=None,
        content_encoding="UTF-8",
        max_bytes=len(PAYLOAD),
        max_decompressed=len(PAYLOAD),
    )
    assert got == PAYLOAD


async def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    chunks = Chunks([b"x" * 101])
    error = await _refusal(chunks, content_length="101", max_bytes=100)
    assert (error.status, error.reason, error.message) == (
        413,
        "too_large",
        "body exceeds 100 bytes",
    )
    assert chunks.taken == 0


async def test_absurd_declared_length_is_413_not_a_crash() -> None:
    chunks = Chunks([b"x"])
    assert (await _refusal(chunks, content_length="9" * 5000, max_bytes=100)).status == 413
    assert chunks.taken == 0


@pytest.mark.parametrize("content_length", ["1000", None])
async def test_body_over_the_limit_is_refused_while_reading(content_length: str | None) -> None:
    chunks = Chunks([b"x" * 64] * 100)  # 6400 bytes, whatever Content-Length claims
    error = await _refusal(chunks, content_length=content_length, max_bytes=1000)
    assert (error.status, error.message) == (413, "body exceeds 1000 bytes")
    assert chunks.taken == 16  # the first chunk past 1000 bytes, and no further


async def test_body_of_exactly_the_limit_is_read() -> None:
    got = await read_body(
        Chunks([b"x" * 500, b"y" * 500]),
        content_length="0001000",
        content_encoding=None,
        max_bytes=1000,
        max_decompressed=1000,
    )
    assert got == b"x" * 500 + b"y" * 500


@pytest.mark.parametrize(
    "content_length", ["abc", "", "-1", "+5", "1.5", "1e3", "0x10", "10, 10", "\u0661\u0662"]
)
async def test_content_length_that_is_not_a_number_is_400(content_length: str) -> None:
    chunks = Chunks([b"{}"])
    error = await _refusal(chunks, content_length=content_length, max_bytes=100)
    assert (error.status, error.reason) == (400, "bad_length")
    assert error.message == "Content-Length is not a number"
    assert chunks.taken == 0


async def test_unsupported_coding_is_refused_before_reading() -> None:
    chunks = Chunks([b"{}"])
    error = await _refusal(chunks, content_length="2", content_encoding="lzma", max_bytes=100)
    assert error.status == 415
    assert chunks.taken == 0


async def test_decompressed_limit_applies() -> None:
    body = gz(PAYLOAD)
    error = await _refusal(
        Chunks(split(body, 8192)),
        content_length=None,
        content_encoding="gzip",
        max_bytes=len(body),
        max_decompressed=len(PAYLOAD) - 1,
    )
    assert error.message == f"body exceeds {len(PAYLOAD) - 1} bytes after decompression"


async def _refusal(
    chunks: Chunks,
    *,
    content_length: str | None,
    max_bytes: int,
    content_encoding: str | None = None,
    max_decompressed: int = MB,
) -> ClientError:
    with pytest.raises(ClientError) as info:
        await read_body(
            chunks,
            content_length=content_length,
            content_encoding=content_encoding,
            max_bytes=max_bytes,
            max_decompressed=max_decompressed,
        )
    return info.value
