"""The suite-wide log audit finds what it must and nothing else."""

from __future__ import annotations

import logging
import secrets
import uuid

import pytest

from shared.tokens import mint_token
from tests.support import log_audit
from tests.support.log_audit import SecretRegistry, find_leaks


def test_a_whole_secret_is_found_and_named_by_test() -> None:
    registry = SecretRegistry()
    secret = secrets.token_hex(16)
    registry.secret(secret, "webhook secret")
    leaks = find_leaks([("t::a", "fine"), ("t::b", f"rotated to {secret} ok")], registry)
    assert [(leak.test, leak.kind) for leak in leaks] == [("t::b", "webhook secret")]
    assert secret not in leaks[0].excerpt


def test_six_characters_of_a_token_in_its_tests_logs_are_found() -> None:
    registry = SecretRegistry()
    token = mint_token(1).token
    registry.token(token, "t::a")
    piece = token[30:36] if not token[30:36].isdigit() else token[4:10]
    leaks = find_leaks([("t::a", f"agent auth failed for ...{piece}...")], registry)
    assert [(leak.test, leak.kind) for leak in leaks] == [("t::a", "agent token fragment")]


def test_ids_short_values_and_other_tests_do_not_count() -> None:
    registry = SecretRegistry()
    registry.secret("abc", "webhook secret")  # too short to audit by substring
    token = mint_token(1).token
    registry.token(token, "t::a")
    ids = f"{uuid.uuid4()} {uuid.uuid4().hex} 0x{token[17:29]} abc"
    assert find_leaks([("t::a", ids), ("t::b", f"{token[20:40]}")], registry) == []


def test_records_of_the_running_test_are_kept(request: pytest.FixtureRequest) -> None:
    marker = secrets.token_hex(8)
    logging.getLogger("ingress.audit_check").debug("audit %s", marker)
    assert (request.node.nodeid, f"ingress.audit_check: audit {marker}") in [
        (test, text.split("\n", 1)[0]) for test, text in log_audit._HANDLER.records
    ]
