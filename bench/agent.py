"""(f) Agent polling: GET the agent task list with a remembered token, against the bare handler.

The agent's token is hashed at the production PBKDF2 cost and verified once by a warm-up
request before anything is timed, so the measured window holds only remembered-token requests;
the ingress's own counters, read just before and after the window, show that (a verification
inside the window would show as a PBKDF2 run, and the rate would collapse).
"""

from __future__ import annotations

import asyncio
import http.client
import os
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from prometheus_client.parser import text_string_to_metric_families

from bench.env import Target, World
from bench.phases import WRK_CONNECTIONS, start_server, wrk_rounds
from bench.wrk import run_wrk, write_script
from shared.queries.agents import create_agent
from shared.queries.boards import create_board
from shared.queries.tasks import create_task
from shared.settings import Settings
from shared.tokens import mint_token

TASKS = 10
# Far above anything wrk can send: only verifications count against it, and there is one.
AGENT_ENV = {"AGENT_AUTH_RATE_LIMIT": "100000000/60"}


@dataclass(frozen=True)
class AgentBoard:
    """A board with a handful of tasks and its lead agent's token."""

    board_id: uuid.UUID
    token: str = field(repr=False)

    @property
    def path(self) -> str:
        """The polled path: the agent's first page of ten tasks."""
        return f"/api/v1/agent/boards/{self.board_id}/tasks?limit=10"


async def create_agent_board(database_url: str, tasks: int = TASKS) -> AgentBoard:
    """A fresh board (so other phases' tasks do not count), its lead agent and `tasks` tasks."""
    minted = mint_token()  # production PBKDF2 cost: one verification, in the warm-up
    conn = await asyncpg.connect(database_url)
    try:
        board = await create_board(conn, "bench-agent")
        await create_agent(
            conn,
            board_id=board["id"],
            name="poller",
            is_board_lead=True,
            token_key_id=minted.key_id,
            token_hash=minted.token_hash,
        )
        for number in range(tasks):
            await create_task(conn, board["id"], title=f"bench task {number}")
    finally:
        await conn.close()
    return AgentBoard(board["id"], minted.token)


def auth_counters(port: int) -> dict[str, float]:
    """The ingress's agent-auth outcome counters and PBKDF2 runs, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    counters: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mc_agent_auth_total":
                counters[sample.labels["outcome"]] = sample.value
            elif sample.name == "mc_agent_auth_pbkdf2_runs_total":
                counters["pbkdf2_runs"] = sample.value
    return counters


def _warm(port: int, board: AgentBoard) -> dict[str, Any]:
    """One request that verifies the token (PBKDF2) and fills the memory; checks the answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.perf_counter()
    try:
        conn.request("GET", board.path, headers={"X-Agent-Token": board.token})
        answer = conn.getresponse()
        raw = answer.read()
    finally:
        conn.close()
    seconds = time.perf_counter() - started
    if answer.status != 200:
        raise RuntimeError(f"agent poll warm-up answered {answer.status}: {raw[:200]!r}")
    body = orjson.loads(raw)
    if len(body["items"]) != TASKS:
        raise RuntimeError(f"agent poll returned {len(body['items'])} tasks, expected {TASKS}")
    return {"seconds": round(seconds, 3), "items": len(body["items"]), "total": body["total"]}


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, int]:
    return {k: int(after.get(k, 0) - before.get(k, 0)) for k in sorted(after.keys() | before)}


def agent_phase(
    world: World,
    target: Target,
    seconds: float,
    warmup: float,
    bare: dict[str, Any] | None,
) -> dict[str, Any]:
    """(f) wrk against the agent task list with a remembered token; ratio to (a)'s bare rps."""
    board = asyncio.run(create_agent_board(world.database_url))
    bare_source = "phase (a) of this run"
    if bare is None:
        bare = wrk_rounds(world, target, seconds, warmup, rounds=1)["bare"][0]
        bare_source = "measured in this phase"
    default = Settings.model_fields["agent_token_memory_seconds"].default
    memory_seconds = float(os.environ.get("AGENT_TOKEN_MEMORY_SECONDS", default))
    script = write_script(
        world.folder, None, {"X-Agent-Token": board.token}, method="GET", name="agent.lua"
    )
    proc, port = start_server(world, "ingress", **AGENT_ENV)
    url = f"http://127.0.0.1:{port}{board.path}"
    try:
        verified_at = time.monotonic()
        warm = _warm(port, board)
        run_wrk(url, script, seconds=warmup, connections=WRK_CONNECTIONS)
        before = auth_counters(port)
        measured = run_wrk(url, script, seconds=seconds, connections=WRK_CONNECTIONS)
        after = auth_counters(port)
        window_end = time.monotonic() - verified_at
    finally:
        world.stop(proc)
    return {
        "path": "/api/v1/agent/boards/{board_id}/tasks?limit=10",
        "tasks_on_board": TASKS,
        "warm_request": warm,
        "max": measured,
        "auth_in_window": _delta(before, after),
        "seconds_from_verification_to_window_end": round(window_end, 1),
        "token_memory_seconds": memory_seconds,
        "memory_covers_window": window_end < memory_seconds,
        "agent_auth_rate_limit": AGENT_ENV["AGENT_AUTH_RATE_LIMIT"],
        "bare": {"source": bare_source, "rps": bare["rps"]},
        "ratio_rps": round(measured["rps"] / bare["rps"], 3),
    }
