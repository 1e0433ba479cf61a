"""RESP command encoding and Redis URL parsing for the pipelined connection."""

from __future__ import annotations

import hiredis
import pytest

from shared.resp import RedisAddress, encode_command


def test_a_command_is_an_array_of_bulk_strings() -> None:
    assert encode_command(["SET", b"k", 5]) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n5\r\n"
    assert encode_command(("PING",)) == b"*1\r\n$4\r\nPING\r\n"


def test_lengths_count_bytes_not_characters() -> None:
    assert encode_command(["ECHO", "é€"]) == b"*2\r\n$4\r\nECHO\r\n$5\r\n\xc3\xa9\xe2\x82\xac\r\n"


def test_ints_are_decimal_text_and_empty_or_binary_values_pass_unchanged() -> None:
    assert encode_command([-12, 0]) == b"*2\r\n$3\r\n-12\r\n$1\r\n0\r\n"
    assert encode_command(["", b""]) == b"*2\r\n$0\r\n\r\n$0\r\n\r\n"
    assert encode_command([b"a\r\nb\x00"]) == b"*1\r\n$5\r\na\r\nb\x00\r\n"


@pytest.mark.parametrize(
    "args",
    [
        ("SET", "key", "value"),
        ("EVALSHA", "a" * 40, 0, "queue", 86400, 10**15),
        ("ECHO", b"\x00\xff\r\n", "ünïcode", -1),
        ("X",),
    ],
)
def test_encoding_matches_the_hiredis_packer(args: tuple[str | bytes | int, ...]) -> None:
    packed = hiredis.pack_command(args)  # type: ignore[arg-type]  # its stub wants 1-tuples
    assert encode_command(args) == packed
    assert encode_command(list(args)) == packed


def test_plain_url_defaults() -> None:
    address = RedisAddress("redis://cache.internal")
    assert (address.host, address.port, address.db, address.tls) == (
        "cache.internal",
        6379,
        0,
        False,
    )
    assert address.path is None
    assert address.username is None
    assert address.password is None


def test_url_with_port_db_and_credentials() -> None:
    address = RedisAddress("redis://alice:s3cret@10.0.0.5:6380/2")
    assert (address.host, address.port, address.db) == ("10.0.0.5", 6380, 2)
    assert (address.username, address.password) == ("alice", "s3cret")


def test_password_only_url() -> None:
    address = RedisAddress("redis://:pw-only@localhost:6379/0")
    assert address.username is None
    assert address.password == "pw-only"
    assert address.db == 0


def test_credentials_are_percent_decoded() -> None:
    address = RedisAddress("redis://us%40er:p%40ss%3Aw%2Frd%25x@host/1")
    assert address.username == "us@er"
    assert address.password == "p@ss:w/rd%x"
    assert address.host == "host"
    assert address.db == 1


def test_query_db_wins_over_path_and_empty_path_is_db_zero() -> None:
    assert RedisAddress("redis://host/3?db=5").db == 5
    assert RedisAddress("redis://host/").db == 0
    assert RedisAddress("redis://host:7000").port == 7000


def test_rediss_means_tls() -> None:
    address = RedisAddress("rediss://:pw@redis.example.com:6380/4")
    assert address.tls is True
    assert (address.host, address.port, address.db, address.password) == (
        "redis.example.com",
        6380,
        4,
        "pw",
    )


def test_unix_socket_url_with_db_and_password() -> None:
    address = RedisAddress("unix:///var/run/redis/redis%20x.sock?db=3")
    assert address.path == "/var/run/redis/redis x.sock"
    assert address.db == 3
    assert address.tls is False
    plain = RedisAddress("unix:///tmp/redis.sock")
    assert plain.path == "/tmp/redis.sock"
    assert plain.db == 0  # the socket path is not a db number
    secured = RedisAddress("unix://:pw@/tmp/redis.sock?db=1")
    assert (secured.path, secured.password, secured.db) == ("/tmp/redis.sock", "pw", 1)


def test_ipv6_host() -> None:
    address = RedisAddress("redis://[::1]:6390/0")
    assert (address.host, address.port) == ("::1", 6390)


@pytest.mark.parametrize("url", ["http://host:6379", "rediss+sentinel://h", "localhost:6379", ""])
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="scheme"):
        RedisAddress(url)


def test_a_non_numeric_db_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        RedisAddress("redis://host/zero")
