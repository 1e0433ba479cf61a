"""The service's real processes (ingress, workers), started and stopped like an operator would."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]


class ServiceProcess:
    """One `python -m cli.main <command>` child process with its own log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process (appending to its log)."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", *self.args],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    @property
    def pid(self) -> int | None:
        """The running process's pid."""
        return self.process.pid if self.process and self.process.poll() is None else None

    def signal(self, signum: int) -> None:
        """Send a signal if it runs."""
        if self.pid:
            os.kill(self.pid, signum)

    def wait(self, timeout: float) -> int | None:
        """Wait for exit; kill after `timeout`. The exit code, or None if it never ran."""
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM and wait (graceful), killing if it hangs."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def rss_bytes(self) -> int:
        """Resident memory of the process (0 when not running)."""
        if not self.pid:
            return 0
        try:
            fields = Path(f"/proc/{self.pid}/statm").read_text().split()
        except OSError:
            return 0
        return int(fields[1]) * os.sysconf("SC_PAGE_SIZE")


async def wait_ready(url: str, timeout: float = 30) -> None:
    """Wait until `url` answers 200."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} did not become ready")
