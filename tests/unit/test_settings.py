"""Settings: defaults, parsing, and one clear line naming the variable on a bad value."""

from __future__ import annotations

import ipaddress
import secrets

import pytest

from shared.settings import RateLimit, Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in ("DATABASE_URL", "AUTH_MODE", "LOCAL_AUTH_TOKEN", "RATE_LIMIT_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))  # no stray .env


def test_defaults_follow_the_contract() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.rq_redis_url == "redis://localhost:6379/0"
    assert settings.webhook_max_payload_bytes == 1_048_576
    assert settings.rate_limit_backend == "memory"
    assert settings.webhook_rate_limit == RateLimit(60, 60)
    assert settings.agent_auth_rate_limit == RateLimit(20, 60)
    assert settings.request_log_slow_ms == 1000
    assert settings.worker_metrics_port == 9100
    assert settings.webhook_dedup_ttl_seconds == 86400
    assert (settings.log_level, settings.log_format) == ("INFO", "text")
    assert settings.cors_origins == []
    assert settings.security_header_x_content_type_options == "nosniff"
    assert settings.security_header_x_frame_options == "DENY"
    assert settings.security_header_referrer_policy == "strict-origin-when-cross-origin"
    assert settings.security_header_permissions_policy == ""


def test_environment_values_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/16")
    monkeypatch.setenv("WEBHOOK_RATE_LIMIT", "5/10")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("RQ_REDIS_URL", "redis://queue:6379/1")
    settings = load_settings()
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.trusted_proxies == [
        ipaddress.ip_network("10.0.0.1/32"),
        ipaddress.ip_network("192.168.0.0/16"),
    ]
    assert settings.webhook_rate_limit == RateLimit(5, 10.0)
    assert settings.log_level == "DEBUG"
    assert settings.effective_rate_limit_redis_url == "redis://queue:6379/1"
    monkeypatch.setenv("RATE_LIMIT_REDIS_URL", "redis://limits:6379/0")
    assert load_settings().effective_rate_limit_redis_url == "redis://limits:6379/0"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEBHOOK_MAX_PAYLOAD_BYTES", "lots"),
        ("WEBHOOK_MAX_PAYLOAD_BYTES", "0"),
        ("RATE_LIMIT_BACKEND", "memcached"),
        ("WEBHOOK_RATE_LIMIT", "sixty"),
        ("AGENT_AUTH_RATE_LIMIT", "0/60"),
        ("TRUSTED_PROXIES", "not-an-ip"),
        ("LOG_FORMAT", "xml"),
        ("AUTH_MODE", "ldap"),
        ("BASE_URL", "example.com"),
        ("REQUEST_LOG_SLOW_MS", "-1"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert name in message
    assert "\n" not in message


@pytest.mark.parametrize("token", ["change-me", "changeme", "replace-me", "short"])
def test_local_mode_refuses_weak_tokens(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    monkeypatch.setenv("AUTH_MODE", "local")
    monkeypatch.setenv("LOCAL_AUTH_TOKEN", token)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "LOCAL_AUTH_TOKEN" in str(caught.value)
    assert token not in str(caught.value)


def test_local_mode_accepts_a_long_random_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_MODE", "local")
    monkeypatch.setenv("LOCAL_AUTH_TOKEN", secrets.token_urlsafe(48))
    assert load_settings().auth_mode == "local"


def test_the_token_never_appears_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    token = secrets.token_urlsafe(48)
    monkeypatch.setenv("AUTH_MODE", "local")
    monkeypatch.setenv("LOCAL_AUTH_TOKEN", token)
    assert token not in repr(load_settings())
