from __future__ import annotations

import ipaddress

import pytest

from syncmon.pipeline.clientip import ClientIPResolver, forwarded_for, parse_address

PROXIES = ["10.0.0.0/8", "192.168.1.1", "2001:db8:ffff::/48", "::1"]


@pytest.fixture
def resolver() -> ClientIPResolver:
    return ClientIPResolver(PROXIES)


# --- addresses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3.4", "1.2.3.4"),
        ("  1.2.3.4  ", "1.2.3.4"),
        ("1.2.3.4:5678", "1.2.3.4"),
        ('"1.2.3.4:5678"', "1.2.3.4"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("[::1]:80", "::1"),
        ('"[2001:db8::1]:4711"', "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("[fe80::1%25eth0]:443", "fe80::1"),
        ("::ffff:1.2.3.4", "1.2.3.4"),
        ("[::ffff:1.2.3.4]:80", "1.2.3.4"),
        ("::ffff:0102:0304", "1.2.3.4"),
    ],
)
def test_parse_address(text: str, expected: str) -> None:
    address = parse_address(text)
    assert address is not None
    assert str(address) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "unknown",
        "_hidden",
        "testclient",
        "1.2.3",
        "1.2.3.4.5",
        "01.2.3.4",
        "[::1",
        "[::1]x",
        "a:b",
    ],
)
def test_parse_address_rejects_non_addresses(text: str) -> None:
    assert parse_address(text) is None


# --- configuration ------------------------------------------------------------------


@pytest.mark.parametrize("entry", ["10.0.0.300", "10.0.0.0/33", "proxy.internal", "", "1.2.3.4:80"])
def test_invalid_trusted_proxy_names_the_entry(entry: str) -> None:
    with pytest.raises(ValueError, match="invalid trusted proxy") as info:
        ClientIPResolver(["10.0.0.1", entry])
    assert repr(entry) in str(info.value)


@pytest.mark.parametrize(
    ("entry", "inside", "outside"),
    [
        ("10.0.0.1", "10.0.0.1", "10.0.0.2"),
        ("10.0.0.0/24", "10.0.0.200", "10.0.1.1"),
        ("10.0.0.7/24", "10.0.0.200", "10.0.1.1"),  # host bits are tolerated
        (" 172.16.0.0/12 ", "172.31.255.255", "172.32.0.0"),
        ("2001:db8::/32", "2001:db8:1::5", "2001:db9::5"),
        ("fe80::1%eth0", "fe80::1", "fe80::2"),
        ("::ffff:10.1.0.0/112", "10.1.2.3", "10.2.0.1"),  # IPv4-mapped ranges match IPv4
        ("::ffff:10.9.9.9", "10.9.9.9", "10.9.9.8"),
    ],
)
def test_trusted_entries(entry: str, inside: str, outside: str) -> None:
    resolver = ClientIPResolver([entry])
    inside_address = parse_address(inside)
    outside_address = parse_address(outside)
    assert inside_address is not None and outside_address is not None
    assert resolver.is_trusted(inside_address)
    assert not resolver.is_trusted(outside_address)


def test_a_single_string_is_one_entry() -> None:
    resolver = ClientIPResolver("10.0.0.1")
    assert resolver.is_trusted(ipaddress.IPv4Address("10.0.0.1"))


# --- resolution ---------------------------------------------------------------------

XFF = "x_forwarded_for"
FWD = "forwarded"

RESOLVE_CASES: list[tuple[str, str | None, dict[str, list[str]], str | None]] = [
    # Untrusted peers: headers are ignored entirely.
    ("no headers", "203.0.113.9", {}, "203.0.113.9"),
    ("spoofed xff from untrusted peer", "203.0.113.9", {XFF: ["1.1.1.1"]}, "203.0.113.9"),
    ("spoofed forwarded from untrusted peer", "203.0.113.9", {FWD: ["for=1.1.1.1"]}, "203.0.113.9"),
    ("untrusted peer is normalised", "::ffff:203.0.113.9", {XFF: ["1.1.1.1"]}, "203.0.113.9"),
    ("untrusted v6 peer is compressed", "2001:0db8::0001", {}, "2001:db8::1"),
    ("peer zone id stripped", "fe80::1%eth0", {}, "fe80::1"),
    # One trusted proxy.
    ("one proxy", "10.0.0.1", {XFF: ["203.0.113.9"]}, "203.0.113.9"),
    ("trusted peer without headers", "10.0.0.1", {}, "10.0.0.1"),
    ("xff port stripped", "10.0.0.1", {XFF: ["203.0.113.9:5678"]}, "203.0.113.9"),
    ("xff bracketed v6 with port", "10.0.0.1", {XFF: ["[2001:db8::9]:80"]}, "2001:db8::9"),
    ("xff mapped v4", "10.0.0.1", {XFF: ["::ffff:203.0.113.9"]}, "203.0.113.9"),
    ("xff whitespace and empties", "10.0.0.1", {XFF: [" , 203.0.113.9 ,, "]}, "203.0.113.9"),
    # A client spoofs the leftmost entry; the proxy appends the real address.
    ("spoofed leftmost", "10.0.0.1", {XFF: ["1.1.1.1, 203.0.113.9"]}, "203.0.113.9"),
    (
        "spoofed trusted-looking leftmost",
        "10.0.0.1",
        {XFF: ["10.0.0.5, 198.51.100.7"]},
        "198.51.100.7",
    ),
    # Several proxies.
    (
        "multi-proxy chain",
        "10.0.0.1",
        {XFF: ["1.1.1.1, 203.0.113.9, 10.0.0.3, 10.0.0.2"]},
        "203.0.113.9",
    ),
    (
        "cidr and single-ip trust",
        "192.168.1.1",
        {XFF: ["203.0.113.9, 10.20.30.40"]},
        "203.0.113.9",
    ),
    (
        "untrusted hop in the middle",
        "10.0.0.1",
        {XFF: ["203.0.113.9, 198.51.100.1"]},
        "198.51.100.1",
    ),
    # Several header lines form one list, in order.
    (
        "multiple xff lines",
        "10.0.0.1",
        {XFF: ["1.1.1.1, 203.0.113.9", "10.0.0.3"]},
        "203.0.113.9",
    ),
    (
        "multiple xff lines, last wins",
        "10.0.0.1",
        {XFF: ["203.0.113.9", "198.51.100.1"]},
        "198.51.100.1",
    ),
    # Every hop trusted: the leftmost valid one.
    ("all trusted", "10.0.0.1", {XFF: ["10.0.0.9, 10.0.0.8"]}, "10.0.0.9"),
    ("all trusted after garbage", "10.0.0.1", {XFF: ["garbage, 10.0.0.9"]}, "10.0.0.9"),
    # Garbage is never returned: the proxy that reported it is.
    ("garbage hop", "10.0.0.1", {XFF: ["<script>"]}, "10.0.0.1"),
    ("unknown hop", "10.0.0.1", {XFF: ["unknown"]}, "10.0.0.1"),
    ("garbage behind second proxy", "10.0.0.1", {XFF: ["1.1.1.1, nonsense, 10.0.0.2"]}, "10.0.0.2"),
    ("empty xff", "10.0.0.1", {XFF: [""]}, "10.0.0.1"),
    # IPv6.
    ("v6 proxy and client", "::1", {XFF: ["2001:db8:1::abcd"]}, "2001:db8:1::abcd"),
    (
        "v6 cidr proxy",
        "2001:db8:ffff::2",
        {XFF: ["2001:db8:1::1, 2001:db8:ffff:1::3"]},
        "2001:db8:1::1",
    ),
    (
        "v6 client uncompressed",
        "::1",
        {XFF: ["2001:0db8:0001:0000:0000:0000:0000:0001"]},
        "2001:db8:1::1",
    ),
    ("mapped trusted peer", "::ffff:10.0.0.1", {XFF: ["203.0.113.9"]}, "203.0.113.9"),
    ("bracketed trusted peer", "[::1]", {XFF: ["203.0.113.9"]}, "203.0.113.9"),
    # RFC 7239 Forwarded.
    ("forwarded", "10.0.0.1", {FWD: ["for=203.0.113.9"]}, "203.0.113.9"),
    ("forwarded quoted v6 port", "10.0.0.1", {FWD: ['for="[2001:db8::1]:4711"']}, "2001:db8::1"),
    ("forwarded quoted v4 port", "10.0.0.1", {FWD: ['for="203.0.113.9:47011"']}, "203.0.113.9"),
    (
        "forwarded case-insensitive",
        "10.0.0.1",
        {FWD: ["For=203.0.113.9;PROTO=https"]},
        "203.0.113.9",
    ),
    (
        "forwarded with other params",
        "10.0.0.1",
        {FWD: ["by=10.0.0.1;for=203.0.113.9;host=example.com;proto=https"]},
        "203.0.113.9",
    ),
    (
        "forwarded several elements",
        "10.0.0.1",
        {FWD: ["for=1.1.1.1, for=203.0.113.9, for=10.0.0.2"]},
        "203.0.113.9",
    ),
    (
        "forwarded several lines",
        "10.0.0.1",
        {FWD: ["for=1.1.1.1, for=203.0.113.9", "for=10.0.0.2;proto=https"]},
        "203.0.113.9",
    ),
    ("forwarded unknown", "10.0.0.1", {FWD: ["for=unknown, for=10.0.0.2"]}, "10.0.0.2"),
    ("forwarded obfuscated", "10.0.0.1", {FWD: ['for="_hidden"']}, "10.0.0.1"),
    ("forwarded obfuscated token", "10.0.0.1", {FWD: ["for=_gazonk, for=10.0.0.3"]}, "10.0.0.3"),
    (
        "forwarded wins over xff",
        "10.0.0.1",
        {FWD: ["for=203.0.113.9"], XFF: ["198.51.100.1"]},
        "203.0.113.9",
    ),
    (
        "forwarded without for falls back to xff",
        "10.0.0.1",
        {FWD: ["proto=https;host=example.com"], XFF: ["198.51.100.1"]},
        "198.51.100.1",
    ),
    (
        "forwarded element without for is not a hop",
        "10.0.0.1",
        {FWD: ["for=203.0.113.9, proto=https"]},
        "203.0.113.9",
    ),
    (
        "forwarded spoofed leftmost",
        "10.0.0.1",
        {FWD: ["for=1.1.1.1, for=203.0.113.9"]},
        "203.0.113.9",
    ),
    ("forwarded garbage", "10.0.0.1", {FWD: ['for="not an ip"']}, "10.0.0.1"),
    ("forwarded unterminated quote", "10.0.0.1", {FWD: ['for="203.0.113.9']}, "203.0.113.9"),
    ("forwarded spaces", "10.0.0.1", {FWD: [" for = 203.0.113.9 ; proto=http "]}, "203.0.113.9"),
    # Peers that are not IPs.
    ("test client peer", "testclient", {XFF: ["203.0.113.9"]}, "testclient"),
    ("no peer", None, {XFF: ["203.0.113.9"]}, None),
    ("empty peer", "", {XFF: ["203.0.113.9"]}, ""),
]


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [case[1:] for case in RESOLVE_CASES],
    ids=[case[0] for case in RESOLVE_CASES],
)
def test_resolve(
    resolver: ClientIPResolver,
    peer: str | None,
    headers: dict[str, list[str]],
    expected: str | None,
) -> None:
    assert (
        resolver.resolve(peer, x_forwarded_for=headers.get(XFF, ()), forwarded=headers.get(FWD, ()))
        == expected
    )


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("testclient", "testclient"),
        (None, None),
    ],
)
def test_without_trusted_proxies_headers_are_ignored(peer: str | None, expected: str | None) -> None:
    resolver = ClientIPResolver([])
    assert resolver.resolve(peer, ["203.0.113.9"], ["for=203.0.113.9"]) == expected


def test_header_values_may_be_given_as_a_single_string(resolver: ClientIPResolver) -> None:
    assert resolver.resolve("10.0.0.1", x_forwarded_for="1.1.1.1, 203.0.113.9") == "203.0.113.9"
    assert resolver.resolve("10.0.0.1", forwarded="for=203.0.113.9") == "203.0.113.9"


def test_headers_can_be_tuples(resolver: ClientIPResolver) -> None:
    assert resolver.resolve("10.0.0.1", ("1.1.1.1", "203.0.113.9")) == "203.0.113.9"


def test_long_spoofed_chain_is_cheap(resolver: ClientIPResolver) -> None:
    spoofed = ", ".join(f"10.0.{i // 256}.{i % 256}" for i in range(5000))
    assert resolver.resolve("10.0.0.1", [f"{spoofed}, 203.0.113.9"]) == "203.0.113.9"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["for=192.0.2.60;proto=http;by=203.0.113.43"], ["192.0.2.60"]),
        (['for="_gazonk"'], ["_gazonk"]),
        (['For="[2001:db8:cafe::17]:4711"'], ["[2001:db8:cafe::17]:4711"]),
        (["for=192.0.2.43, for=198.51.100.17"], ["192.0.2.43", "198.51.100.17"]),
        (["for=192.0.2.43", "for=198.51.100.17"], ["192.0.2.43", "198.51.100.17"]),
        (["for=unknown"], ["unknown"]),
        (['for="a\\"b";proto=https'], ['a"b']),
        (['host="a,b";for=1.2.3.4, for=5.6.7.8'], ["1.2.3.4", "5.6.7.8"]),
        (["for=1.2.3.4;for=5.6.7.8"], ["1.2.3.4"]),  # repeated in one element: the first
        (["proto=https"], []),
        ([""], []),
    ],
)
def test_forwarded_for(lines: list[str], expected: list[str]) -> None:
    assert forwarded_for(lines) == expected
