"""Which address a request came from, believing forwarding headers only from trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from shared.settings import Network

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse_address(raw: str) -> IPAddress | None:
    value = raw.strip().strip('"')
    if value.startswith("["):  # "[2001:db8::1]:4711" or "[2001:db8::1]"
        value = value[1 : value.find("]")] if "]" in value else ""
    elif value.count(":") == 1:  # "192.0.2.1:8080"
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def forwarded_for_chain(forwarded: str) -> list[str]:
    """The `for=` values of an RFC 7239 `Forwarded` header, left to right."""
    chain: list[str] = []
    for element in forwarded.split(","):
        for pair in element.split(";"):
            key, sep, value = pair.partition("=")
            if sep and key.strip().lower() == "for":
                chain.append(value.strip())
    return chain


def _is_trusted(address: IPAddress, trusted: Sequence[Network]) -> bool:
    return any(address in network for network in trusted)


def resolve_client_ip(
    peer: str | None,
    *,
    forwarded: str | None,
    x_forwarded_for: str | None,
    trusted: Sequence[Network],
) -> str:
    """The client's address: the peer, or with a trusted peer the right-most untrusted hop."""
    peer_address = _parse_address(peer) if peer else None
    if peer_address is None:
        return peer or "unknown"
    if not trusted or not _is_trusted(peer_address, trusted):
        return str(peer_address)
    if forwarded:
        chain = forwarded_for_chain(forwarded)
    elif x_forwarded_for:
        chain = x_forwarded_for.split(",")
    else:
        return str(peer_address)
    # Walk from the right: every hop a trusted proxy appended is believed; the first hop
    # that is not a trusted proxy is the client. Anything further left is the client's own
    # claim and may be forged.
    client = peer_address
    for raw in reversed(chain):
        hop = _parse_address(raw)
        if hop is None:
            break
        client = hop
        if not _is_trusted(hop, trusted):
            break
    return str(client)
