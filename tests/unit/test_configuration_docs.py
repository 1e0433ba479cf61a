"""docs/configuration.md, .env.example and the Settings class cannot drift apart."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CONFIGURATION_DOC = ROOT / "docs" / "configuration.md"
ENV_EXAMPLE = ROOT / ".env.example"
SETTINGS_VARS = frozenset(name.upper() for name in Settings.model_fields)
# compose.yml reads these from .env; the application does not.
COMPOSE_VARS = frozenset(
    {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "GRAFANA_ADMIN_PASSWORD"}
)
# Documented for operators but read by a library or the runtime, and never put in .env.
PROCESS_VARS = frozenset({"PROMETHEUS_MULTIPROC_DIR"})
# .env.example deviates from the Settings default on purpose here.
EXAMPLE_OVERRIDES = {"AUTH_MODE": "local"}
# Secrets: .env.example must leave these empty.
SECRET_VARS = frozenset(
    {"DATABASE_URL", "LOCAL_AUTH_TOKEN", "POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"}
)
_ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|\s*([^|]*?)\s*\|(.*)\|\s*$")


def parse_setting(name: str, raw: str, **others: str) -> Any:
    """The value `raw` gives setting `name`, validated as the environment would be."""
    values = {name.lower(): raw, **{k.lower(): v for k, v in others.items()}}
    return getattr(Settings.model_validate(values), name.lower())


def default_of(name: str) -> Any:
    """The Settings default of the variable `name`."""
    field = Settings.model_fields[name.lower()]
    return field.get_default(call_default_factory=True)


def documented() -> dict[str, tuple[str, str]]:
    """Variable -> (default cell, meaning) of every table row in docs/configuration.md."""
    rows: dict[str, tuple[str, str]] = {}
    for line in CONFIGURATION_DOC.read_text(encoding="utf-8").splitlines():
        if match := _ROW.match(line):
            name, default, meaning = match.groups()
            assert name not in rows, f"{name} is documented twice"
            rows[name] = (default, meaning.strip())
    return rows


def env_example() -> dict[str, str]:
    """Variable -> value of every assignment in .env.example."""
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: not an assignment: {line!r}"
            assert name not in values, f".env.example sets {name} twice"
            values[name.strip()] = value.strip()
    return values


def test_every_setting_is_documented_and_nothing_else_is() -> None:
    rows = documented()
    assert SETTINGS_VARS - set(rows) == set(), "settings missing from docs/configuration.md"
    assert set(rows) - SETTINGS_VARS == COMPOSE_VARS | PROCESS_VARS
    for name, (_, meaning) in rows.items():
        assert len(meaning) > 10, f"{name} has no meaning in docs/configuration.md"


def test_every_setting_is_in_env_example_and_nothing_else_is() -> None:
    names = set(env_example())
    assert SETTINGS_VARS - names == set(), "settings missing from .env.example"
    assert names - SETTINGS_VARS == COMPOSE_VARS


def test_env_example_holds_no_secret() -> None:
    values = env_example()
    for name in SECRET_VARS:
        assert values[name] == "", f".env.example must leave {name} empty"
    for name, value in values.items():
        is_duration = name.endswith("_SECONDS")  # e.g. AGENT_TOKEN_MEMORY_SECONDS
        if any(word in name for word in ("TOKEN", "PASSWORD", "SECRET")) and not is_duration:
            assert value == "", f".env.example must leave {name} empty"


@pytest.mark.parametrize("name", sorted(SETTINGS_VARS))
def test_env_example_value_is_the_default(name: str) -> None:
    raw = env_example()[name]
    if name in EXAMPLE_OVERRIDES:
        assert raw == EXAMPLE_OVERRIDES[name]
        return
    expected = default_of(name)
    if raw == "":
        # An empty value must mean the same as unset for this setting.
        assert expected in (None, "", []) or parse_setting(name, raw) == expected
    else:
        assert parse_setting(name, raw) == expected, f".env.example {name}={raw}"


@pytest.mark.parametrize("name", sorted(SETTINGS_VARS))
def test_documented_default_is_the_default(name: str) -> None:
    cell = documented()[name][0]
    expected = default_of(name)
    if cell == "—":
        assert expected is None, f"{name}: documented as unset, default is {expected!r}"
    elif cell == "*empty*":
        assert expected in ("", []), f"{name}: documented as empty, default is {expected!r}"
    else:
        literal = re.fullmatch(r"`([^`]*)`", cell)
        assert literal, f"{name}: default cell {cell!r} is not `value`, — or *empty*"
        assert parse_setting(name, literal.group(1)) == expected


def test_env_example_with_its_secrets_filled_in_is_valid() -> None:
    values: Mapping[str, str] = {
        name: value for name, value in env_example().items() if name in SETTINGS_VARS
    }
    filled = {**values, "LOCAL_AUTH_TOKEN": secrets.token_urlsafe(48)}
    settings = Settings.model_validate({k.lower(): v for k, v in filled.items()})
    assert settings.auth_mode == "local"
    unfilled = {k.lower(): v for k, v in values.items()}
    with pytest.raises(ValueError, match="LOCAL_AUTH_TOKEN"):
        Settings.model_validate(unfilled)
