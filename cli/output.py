"""What the CLI tells its user on stdout/stderr (logs go through logging)."""

from __future__ import annotations

import sys


def say(text: str = "") -> None:
    """A line of output for the user."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def fail(text: str, code: int = 2) -> SystemExit:
    """One clear error line on stderr; raise the returned SystemExit."""
    sys.stderr.write(f"error: {text}\n")
    sys.stderr.flush()
    return SystemExit(code)
