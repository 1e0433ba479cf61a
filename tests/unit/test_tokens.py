"""Unit tests for shared.tokens."""

from __future__ import annotations

import hashlib

import pytest

from shared import tokens
from shared.tokens import (
    DEFAULT_ITERATIONS,
    MintedToken,
    dummy_verify,
    hash_secret,
    mint_token,
    needs_rehash,
    parse_token,
    verify_secret,
)

# Low cost keeps the suite fast; one test below exercises the default.
FAST = 1_000


def _secret_of(minted: MintedToken) -> str:
    parsed = parse_token(minted.token)
    assert parsed is not None
    return parsed[1]


def test_round_trip() -> None:
    minted = mint_token(FAST)
    parsed = parse_token(minted.token)
    assert parsed is not None
    key_id, secret = parsed
    assert key_id == minted.key_id
    assert minted.token == f"mca_{key_id}_{secret}"
    assert verify_secret(secret, minted.token_hash)
    assert not needs_rehash(minted.token_hash, FAST)


def test_wrong_secret_with_right_key_id_fails() -> None:
    minted = mint_token(FAST)
    other = mint_token(FAST)
    forged = f"mca_{minted.key_id}_{_secret_of(other)}"
    parsed = parse_token(forged)
    assert parsed is not None
    assert parsed[0] == minted.key_id
    assert not verify_secret(parsed[1], minted.token_hash)
    # The whole token is not what is hashed, so passing it must fail closed.
    assert not verify_secret(minted.token, minted.token_hash)


_VALID = "mca_" + "a1" * 6 + "_" + "0f" * 32


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "mca_",
        "Bearer " + _VALID,
        "mcb" + _VALID[3:],
        "MCA" + _VALID[3:],
        _VALID[:-1],
        _VALID + "0",
        _VALID + "_extra",
        "mca_" + "a1" * 6 + "__" + "0f" * 31 + "0",
        "mca_" + "a1" * 6 + "_" + "0f" * 31 + "_0",
        "mca_" + "A1" * 6 + "_" + "0f" * 32,
        "mca_" + "a1" * 6 + "_" + "0F" * 32,
        "mca_" + "a1" * 6 + "_" + "0g" * 32,
        "mca_" + "a1" * 6 + "-" + "0f" * 32,
        "mca_" + "é1" * 6 + "_" + "0f" * 32,
        "mca_" + "a1" * 6 + "_" + "٠" * 64,
        "x" * 10_240,
        _VALID * 200,
        "mca_" + "a" * 77,
        " " + _VALID[1:],
    ],
)
def test_parse_rejects_malformed(raw: str) -> None:
    assert parse_token(raw) is None


def test_parse_accepts_canonical_form() -> None:
    assert parse_token(_VALID) == ("a1" * 6, "0f" * 32)


def test_parse_is_cheap_and_never_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args: object) -> bytes:
        raise AssertionError("parse_token must not hash")

    # tokens looks pbkdf2_hmac up on the hashlib module at call time.
    monkeypatch.setattr(hashlib, "pbkdf2_hmac", boom)
    assert parse_token("mca_" + "a" * 10_000_000) is None


def test_stored_hash_format_and_old_cost_still_verifies() -> None:
    old = mint_token(FAST)
    algorithm, iterations, salt, digest = old.token_hash.split("$")
    assert (algorithm, iterations) == ("pbkdf2_sha256", str(FAST))
    assert salt
    assert digest
    assert "=" not in old.token_hash
    assert verify_secret(_secret_of(old), old.token_hash)
    assert needs_rehash(old.token_hash)
    assert needs_rehash(old.token_hash, FAST + 1)
    assert not needs_rehash(hash_secret("s", DEFAULT_ITERATIONS + 1))


def test_default_iterations_are_strong() -> None:
    assert DEFAULT_ITERATIONS >= 200_000
    minted = mint_token()
    assert int(minted.token_hash.split("$")[1]) == DEFAULT_ITERATIONS
    assert verify_secret(_secret_of(minted), minted.token_hash)
    assert not needs_rehash(minted.token_hash)


def test_two_mints_differ() -> None:
    a, b = mint_token(FAST), mint_token(FAST)
    assert a.token != b.token
    assert a.key_id != b.key_id
    assert a.token_hash.split("$")[2] != b.token_hash.split("$")[2]
    # Same secret, fresh salt each time: hashes still differ.
    assert hash_secret("same", FAST) != hash_secret("same", FAST)


def test_explicit_salt_is_deterministic() -> None:
    assert hash_secret("s", FAST, b"salt") == hash_secret("s", FAST, b"salt")
    with pytest.raises(ValueError, match="salt"):
        hash_secret("s", FAST, b"")
    with pytest.raises(ValueError, match="iterations"):
        hash_secret("s", 0)


def test_hash_and_repr_never_contain_token() -> None:
    minted = mint_token(FAST)
    secret = _secret_of(minted)
    for fragment in (minted.token, minted.key_id, secret, secret[:6]):
        assert fragment not in minted.token_hash
        assert fragment not in repr(minted)
        assert fragment not in str(minted)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "garbage",
        "pbkdf2_sha1$1000$c2FsdA$" + "A" * 43,
        "pbkdf2_sha256$0$c2FsdA$" + "A" * 43,
        "pbkdf2_sha256$99999999$c2FsdA$" + "A" * 43,
        "pbkdf2_sha256$1000$$" + "A" * 43,
        "pbkdf2_sha256$1000$c2FsdA$AAAA",
        "pbkdf2_sha256$1000$c$" + "A" * 43,
        "pbkdf2_sha256$1000$c2Fsd+$" + "A" * 43,
        "pbkdf2_sha256$1000$c2FsdA$" + "A" * 43 + "$x",
    ],
)
def test_malformed_stored_hash(stored: str) -> None:
    assert verify_secret("anything", stored) is False
    assert needs_rehash(stored)


def test_dummy_verify_always_false() -> None:
    minted = mint_token(FAST)
    assert dummy_verify(_secret_of(minted)) is False
    assert dummy_verify("") is False
    assert not needs_rehash(tokens.dummy_hash())
