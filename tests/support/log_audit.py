"""Suite-wide log audit: no registered secret, nor 6 characters of an agent token, in any log.

Fixtures and factories register the secrets they make (webhook secrets, agent tokens, the
operator token). A handler on the root logger keeps every record's text with the id of the
test that was running, in memory; when the session ends the texts are scanned once and any
leak fails the run, naming the test that logged it. The scan slides fixed-size windows over
the text and looks them up in sets, so it costs one pass over the logs.

Token fragments are checked against the logs of the test that made the token (tokens live
in one test's database) and only fragments holding a letter: an all-digit or cross-test
6-character match is what timestamps, durations and other tests' hex ids give by chance.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import pytest

from shared.logging import JsonFormatter

FRAGMENT = 6  # the contract: no log line holds six consecutive characters of a token
_PREFIX = 8  # secrets are found by their first 8 characters, then compared whole
MIN_SECRET_LENGTH = _PREFIX  # shorter test values ("abc") would match by chance

# Ids that are not secrets but are hex like token secrets: removed before the fragment scan
# so a random 6-hex-digit coincidence with a request id or UUID is not reported.
_IDS = re.compile(
    r"(?<![0-9a-fA-F])(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12}|[0-9a-f]{32}|0x[0-9a-f]+)(?![0-9a-fA-F])"
)
# Loggers raised to DEBUG so what they would log in production at any level is audited.
AUDITED_LOGGERS = ("ingress", "workers", "shared", "cli", "arq")


@dataclass(frozen=True)
class Leak:
    """A secret (or token fragment) found in a log record."""

    test: str
    kind: str
    excerpt: str


class SecretRegistry:
    """The secrets made during the session."""

    def __init__(self) -> None:
        self.by_prefix: dict[str, dict[str, str]] = {}
        self.fragments: dict[str, dict[str, str]] = {}  # test id → fragment → kind

    def secret(self, value: str | None, kind: str) -> None:
        """Remember a secret that must never appear whole in a log."""
        if value and len(value) >= MIN_SECRET_LENGTH:
            self.by_prefix.setdefault(value[:_PREFIX], {})[value] = kind

    def token(self, value: str, test: str, kind: str = "agent token") -> None:
        """Remember a token none of whose 6-character pieces may appear in `test`'s logs."""
        self.secret(value, kind)
        fragments = self.fragments.setdefault(test, {})
        for i in range(len(value) - FRAGMENT + 1):
            fragment = value[i : i + FRAGMENT]
            if not fragment.isdigit():
                fragments[fragment] = kind


def _redact(text: str, start: int, size: int, kind: str) -> str:
    low, high = max(0, start - 60), min(len(text), start + size + 60)
    return f"{text[low:start]}<{kind}>{text[start + size : high]}"


def find_leaks(records: list[tuple[str, str]], registry: SecretRegistry) -> list[Leak]:
    """Every (test, text) record holding a registered secret or a token fragment."""
    leaks: list[Leak] = []
    for test, text in records:
        for start in range(len(text) - _PREFIX + 1):
            candidates = registry.by_prefix.get(text[start : start + _PREFIX])
            for value, kind in (candidates or {}).items():
                if text.startswith(value, start):
                    leaks.append(Leak(test, kind, _redact(text, start, len(value), kind)))
        fragments = registry.fragments.get(test)
        if not fragments:
            continue
        scanned = _IDS.sub("<id>", text)
        for start in range(len(scanned) - FRAGMENT + 1):
            kind_found = fragments.get(scanned[start : start + FRAGMENT])
            if kind_found is not None:
                excerpt = _redact(scanned, start, FRAGMENT, kind_found + " fragment")
                leaks.append(Leak(test, kind_found + " fragment", excerpt))
                break
    return leaks


class _AuditHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[tuple[str, str]] = []
        self.test = "(outside a test)"
        self._json = JsonFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            # The JSON form holds extras and tracebacks; the message is kept raw as well.
            text = f"{record.name}: {record.getMessage()}\n{self._json.format(record)}"
        except Exception:  # a record that cannot be formatted is still scanned as it is
            text = f"{record.name}: {record.msg!r} {record.args!r}"
        self.records.append((self.test, text))


REGISTRY = SecretRegistry()
_HANDLER = _AuditHandler()


def register_secret(value: str | None, kind: str = "secret") -> None:
    """Remember a secret made by a fixture or factory (never to be logged)."""
    REGISTRY.secret(value, kind)


def register_token(value: str, kind: str = "agent token") -> None:
    """Remember an agent token (not even 6 characters of it may be logged)."""
    REGISTRY.token(value, _HANDLER.test, kind)


def _attach() -> None:
    root = logging.getLogger()
    if _HANDLER not in root.handlers:  # in-process setup_logging() replaces root's handlers
        root.addHandler(_HANDLER)
    for name in AUDITED_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Start keeping every log record."""
    _attach()


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    """Attribute the records that follow to this test (setup and teardown included)."""
    _HANDLER.test = nodeid
    _attach()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Scan everything logged during the session; fail the run on any leak."""
    leaks = find_leaks(_HANDLER.records, REGISTRY)
    if not leaks:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", f"secrets in logs: {len(leaks)} record(s)", red=True)
        for leak in leaks[:50]:
            reporter.write_line(f"{leak.test}: {leak.kind}: {leak.excerpt!r}")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
