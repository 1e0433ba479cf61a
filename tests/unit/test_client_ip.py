"""Client address resolution behind (and not behind) trusted proxies."""

from __future__ import annotations

import ipaddress

import pytest

from shared.client_ip import forwarded_for_chain, resolve_client_ip

PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32")]


def resolve(peer: str, xff: str | None = None, forwarded: str | None = None) -> str:
    return resolve_client_ip(peer, forwarded=forwarded, x_forwarded_for=xff, trusted=PROXIES)


def test_untrusted_peer_is_the_client_whatever_it_claims() -> None:
    assert resolve("203.0.113.9", xff="198.51.100.1") == "203.0.113.9"


def test_no_trusted_proxies_configured_ignores_headers() -> None:
    address = resolve_client_ip(
        "203.0.113.9", forwarded=None, x_forwarded_for="198.51.100.1", trusted=[]
    )
    assert address == "203.0.113.9"


def test_trusted_peer_yields_the_forwarded_client() -> None:
    assert resolve("10.0.0.2", xff="198.51.100.1") == "198.51.100.1"


def test_spoofed_leftmost_entry_is_ignored() -> None:
    # The client sent "X-Forwarded-For: 1.2.3.4"; the proxy appended the real address.
    assert resolve("10.0.0.2", xff="1.2.3.4, 198.51.100.1") == "198.51.100.1"


def test_chain_of_trusted_proxies_is_walked_from_the_right() -> None:
    assert resolve("10.0.0.2", xff="1.2.3.4, 198.51.100.1, 10.0.0.7, 10.0.0.9") == "198.51.100.1"


def test_all_hops_trusted_gives_the_leftmost() -> None:
    assert resolve("10.0.0.2", xff="10.0.0.5, 10.0.0.6") == "10.0.0.5"


def test_garbage_hop_stops_the_walk_at_the_last_trusted_address() -> None:
    assert resolve("10.0.0.2", xff="198.51.100.1, nonsense") == "10.0.0.2"


def test_trusted_peer_without_headers_is_the_client() -> None:
    assert resolve("10.0.0.2") == "10.0.0.2"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("for=198.51.100.17", "198.51.100.17"),
        ('for="[2001:db9::17]:4711"', "2001:db9::17"),
        ("for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
        ("for=1.2.3.4, for=198.51.100.3:8080", "198.51.100.3"),
    ],
)
def test_forwarded_header(header: str, expected: str) -> None:
    assert resolve("10.0.0.2", forwarded=header) == expected


def test_forwarded_wins_over_x_forwarded_for() -> None:
    assert resolve("10.0.0.2", xff="198.51.100.1", forwarded="for=198.51.100.2") == "198.51.100.2"


def test_ipv6_proxy_and_port_forms() -> None:
    assert resolve("2001:db8::1", xff="198.51.100.4:5555") == "198.51.100.4"
    assert forwarded_for_chain('for="_hidden", for=unknown') == ['"_hidden"', "unknown"]
