"""The address of the client behind the monitor's own reverse proxies.

Forwarding headers are written by whoever sends the request, so only the entries added
by proxies we trust mean anything. The hop list is walked from the right (the end our
own proxies append to): trusted proxies are skipped and the first untrusted hop is the
client. The leftmost entry is never taken on faith, since a client can put any address
there. When the peer itself is not a trusted proxy the headers are ignored outright.

When given both, ``Forwarded`` takes precedence over ``X-Forwarded-For``; the server
passes only the one header its `proxy_header` setting names, so a client cannot smuggle
the other past a proxy that does not rewrite it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# One "name=value" pair of a Forwarded element (the value a token or a quoted string,
# possibly unterminated), or the comma between two elements.
_FORWARDED_PART: Final = re.compile(
    r'([^=;,"\s]+)\s*=\s*("(?:[^"\\]|\\.)*"?|[^;,\s]*)|(,)',
)
_QUOTED_PAIR: Final = re.compile(r"\\(.)")
_MAPPED_V4: Final = ipaddress.IPv6Network("::ffff:0:0/96")


def parse_address(text: str) -> IPAddress | None:
    """The IP address in a peer or forwarding-header value, or None if there is none.

    Accepts quotes, ``[v6]`` brackets, ports (``1.2.3.4:5678``, ``[::1]:80``) and zone
    ids, and returns IPv4-mapped IPv6 addresses as IPv4.
    """
    host = text.strip().strip('"').strip()
    if host.startswith("["):
        close = host.find("]")
        if close < 0 or (close + 1 < len(host) and host[close + 1] != ":"):
            return None
        host = host[1:close]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    host = host.partition("%")[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _parse_network(entry: str) -> IPNetwork:
    text = entry.strip()
    try:
        if "/" in text:
            network = ipaddress.ip_network(text, strict=False)
        else:
            network = ipaddress.ip_network(ipaddress.ip_address(text.partition("%")[0]))
    except ValueError as exc:
        raise ValueError(f"invalid trusted proxy {entry!r}") from exc
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED_V4):
        base = ipaddress.IPv4Address(int(network.network_address) & 0xFFFFFFFF)
        return ipaddress.IPv4Network((base, network.prefixlen - 96))
    return network


def _lines(values: Sequence[str]) -> Sequence[str]:
    """A lone string is one header value, not a sequence of one-character values."""
    return (values,) if isinstance(values, str) else values


def _unquote(value: str) -> str:
    if value.startswith('"'):
        value = value[1:-1] if len(value) > 1 and value.endswith('"') else value[1:]
        return _QUOTED_PAIR.sub(r"\1", value)
    return value


def forwarded_for(lines: Sequence[str]) -> list[str]:
    """The ``for=`` values of RFC 7239 ``Forwarded`` header lines, leftmost first.

    Parameter names are case-insensitive; elements without ``for=`` name no hop and are
    left out. Values are returned unquoted but otherwise raw (``unknown``, ``_hidden``,
    ``[2001:db8::1]:4711``).
    """
    hops: list[str] = []
    for line in _lines(lines):
        found = False
        for match in _FORWARDED_PART.finditer(line):
            name, value, comma = match.groups()
            if comma:
                found = False
            elif not found and name.lower() == "for":
                hops.append(_unquote(value))
                found = True
    return hops


def _x_forwarded_for_reversed(lines: Sequence[str]) -> Iterator[str]:
    for line in reversed(_lines(lines)):
        for item in reversed(line.split(",")):
            if item := item.strip():
                yield item


class ClientIPResolver:
    """Finds the client address given the proxies (IPs or CIDRs) allowed to forward."""

    def __init__(self, trusted_proxies: Sequence[str]) -> None:
        networks = [_parse_network(entry) for entry in _lines(trusted_proxies)]
        self._v4 = tuple(n for n in networks if isinstance(n, ipaddress.IPv4Network))
        self._v6 = tuple(n for n in networks if isinstance(n, ipaddress.IPv6Network))

    def is_trusted(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv4Address):
            return any(address in network for network in self._v4)
        return any(address in network for network in self._v6)

    def resolve(
        self,
        peer: str | None,
        x_forwarded_for: Sequence[str] = (),
        forwarded: Sequence[str] = (),
    ) -> str | None:
        """The client address, normalised; a peer that is not an IP comes back as given.

        ``x_forwarded_for`` and ``forwarded`` hold every line of the respective header.
        A hop that is not an address (``unknown``, an obfuscated ``_hidden`` name,
        garbage) cannot be the answer: the proxy that reported it is returned instead.
        """
        if peer is None:
            return None
        peer_address = parse_address(peer)
        if peer_address is None:
            return peer
        if not self.is_trusted(peer_address):
            return str(peer_address)
        for_values = forwarded_for(forwarded) if forwarded else []
        hops: Iterator[str] = (
            reversed(for_values) if for_values else _x_forwarded_for_reversed(x_forwarded_for)
        )
        client = peer_address
        for hop in hops:
            address = parse_address(hop)
            if address is None:
                break
            client = address
            if not self.is_trusted(address):
                break
        return str(client)
