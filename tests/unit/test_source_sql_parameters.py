"""SQL is built only from constants: request values reach the database as $n parameters."""

from __future__ import annotations

import ast
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from shared.queries import boards, tasks, webhooks

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ingress", "shared", "workers", "cli", "migrations")
SQL_METHODS = frozenset({"execute", "executemany", "fetch", "fetchrow", "fetchval"})

# Functions that assemble SQL from pieces, reviewed: every piece is a constant, a `$n`
# placeholder, or a column name checked against the module's list of updatable columns
# (tests below send a hostile column name to each). function → why it is safe.
REVIEWED: dict[tuple[str, str], str] = {
    ("shared/migrate.py", "apply_migrations"): "the SQL of a migration file shipped in migrations/",
    ("shared/queries/boards.py", "update_board"): "columns checked against BOARD_UPDATABLE",
    ("shared/queries/tasks.py", "update_task"): "columns checked against UPDATABLE",
    ("shared/queries/webhooks.py", "update_webhook"): "columns checked against WEBHOOK_UPDATABLE",
    ("shared/queries/tasks.py", "list_tasks"): "WHERE of constant clauses with $n placeholders",
    ("shared/queries/tasks.py", "task_page_json"): "as list_tasks; constant JSON column list",
    ("shared/queries/memory.py", "list_memory"): "WHERE of constant clauses with $n placeholders",
    ("shared/queries/deliveries.py", "list_deliveries"): "`where` is a string literal",
    ("shared/queries/replay.py", "count_matching"): "ReplayFilter.where: constant templates, $n",
    ("shared/queries/replay.py", "matching_page"): "ReplayFilter.where plus $n keyset bounds",
}


def source_files() -> Iterator[Path]:
    """Every Python module of the service."""
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def module_constants(tree: ast.Module) -> set[str]:
    """UPPER_CASE names assigned at module level."""
    names: set[str] = set()
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        names |= {t.id for t in targets if isinstance(t, ast.Name) and t.id.isupper()}
    return names


def is_constant_sql(node: ast.expr, constants: set[str]) -> bool:
    """A literal, a module constant, or an f-string / `+` of those only."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Name):
        return node.id in constants
    if isinstance(node, ast.JoinedStr):
        return all(
            isinstance(part, ast.Constant)
            or (isinstance(part, ast.FormattedValue) and is_constant_sql(part.value, constants))
            for part in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return is_constant_sql(node.left, constants) and is_constant_sql(node.right, constants)
    return False


def relative(path: Path) -> str:
    """`path` from the repository root (as given when outside it)."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def dynamic_sql_calls(path: Path) -> Iterator[tuple[str, str]]:
    """(function, call) of each `conn.execute(...)`-style call not built from constants."""
    tree = ast.parse(path.read_text(), filename=str(path))
    constants = module_constants(tree)
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    for function in functions:
        for node in ast.walk(function):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SQL_METHODS
            ):
                continue
            if not node.args:  # no SQL argument: not a query (e.g. a Redis pipeline's execute)
                continue
            if not is_constant_sql(node.args[0], constants):
                yield function.name, f"{node.lineno}: {ast.unparse(node)[:120]}"


def test_every_query_is_built_from_constants() -> None:
    found = [
        f"{relative(path)}:{call}"
        for path in source_files()
        for function, call in dynamic_sql_calls(path)
        if (relative(path), function) not in REVIEWED
    ]
    assert found == [], "SQL must be constant; pass values as $n parameters:\n" + "\n".join(found)


def test_every_reviewed_function_still_builds_sql() -> None:
    found = {(relative(p), f) for p in source_files() for f, _ in dynamic_sql_calls(p)}
    assert set(REVIEWED) <= found


@pytest.mark.parametrize(
    ("update", "args"),
    [
        (boards.update_board, (uuid.uuid4(),)),
        (tasks.update_task, (uuid.uuid4(),)),
        (webhooks.update_webhook, (uuid.uuid4(), uuid.uuid4())),
    ],
)
async def test_updates_refuse_a_column_name_they_do_not_know(
    update: Callable[..., Awaitable[object]], args: tuple[object, ...]
) -> None:
    hostile = {"name = 'x', secret = NULL --": "x"}
    # Refused before any SQL is sent: no connection is needed to prove it.
    with pytest.raises(ValueError, match="not updatable"):
        await update(cast(Any, None), *args, hostile)


def test_the_check_finds_interpolated_values(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text(
        "COLUMNS = 'id, name'\n"
        "async def good(conn, board_id):\n"
        "    await conn.fetch(f'SELECT {COLUMNS} FROM boards WHERE id = $1', board_id)\n"
        "    await conn.execute('DELETE FROM boards WHERE id = $1' + ' AND true', board_id)\n"
        "async def bad(conn, name):\n"
        "    await conn.fetch(f'SELECT * FROM boards WHERE name = {name!r}')\n"
        "    await conn.execute('DELETE FROM boards WHERE name = ' + name)\n"
        "    await conn.fetchval(query)\n"
    )
    found = [(function, call.split(":")[0]) for function, call in dynamic_sql_calls(module)]
    assert found == [("bad", "6"), ("bad", "7"), ("bad", "8")]
