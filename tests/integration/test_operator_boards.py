"""Operator API: user auth on every route, boards CRUD, paging and body validation."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import pytest

from tests.support.operator_api import Client, OperatorApi

B = "/api/v1/boards/{b}"
W = B + "/webhooks/{w}"
A = B + "/agents/{a}"
OPERATOR_ROUTES = [
    ("POST", "/api/v1/boards"),
    ("GET", "/api/v1/boards"),
    ("GET", B),
    ("PATCH", B),
    ("DELETE", B),
    ("POST", B + "/agents"),
    ("GET", B + "/agents"),
    ("GET", A),
    ("DELETE", A),
    ("POST", A + "/token"),
    ("POST", B + "/webhooks"),
    ("GET", B + "/webhooks"),
    ("GET", W),
    ("PATCH", W),
    ("DELETE", W),
    ("POST", W + "/rotate-secret"),
    ("GET", W + "/payloads"),
    ("GET", W + "/payloads/{p}"),
]


@pytest.fixture
def api(client: Client, local_token: str) -> OperatorApi:
    return OperatorApi(client, local_token)


def _error_fields(body: dict[str, Any]) -> set[str]:
    return {e["loc"][-1] for e in body["errors"]}


@pytest.mark.parametrize(("method", "template"), OPERATOR_ROUTES)
async def test_every_operator_route_requires_a_user(
    client: Client, local_token: str, method: str, template: str
) -> None:
    board = await OperatorApi(client, local_token).board()
    path = template.format(b=board["id"], w=uuid.uuid4(), a=uuid.uuid4(), p=uuid.uuid4())
    attempts: list[dict[str, str]] = [
        {},
        {"Authorization": f"Bearer {secrets.token_urlsafe(48)}"},
        {"Authorization": f"Basic {local_token}"},
        # Even with the right bearer, a request that carries an agent token is not a user's.
        {"Authorization": f"Bearer {local_token}", "X-Agent-Token": secrets.token_hex(8)},
    ]
    for headers in attempts:
        response = await client.request(method, path, json={"name": "x"}, headers=headers)
        assert response.status == 401, (headers.keys(), await response.text())
        body = await response.json()
        assert body["detail"] == "Not authenticated."
        assert body["request_id"] == response.headers["X-Request-Id"]
    # The board is still there: nothing ran past the auth check.
    reply = await OperatorApi(client, local_token).call("GET", B.format(b=board["id"]))
    assert reply.status == 200


async def test_board_crud(api: OperatorApi) -> None:
    created = await api.call("POST", "/api/v1/boards", {"name": "Ops", "description": "pager"})
    assert created.status == 201
    board = created.body
    assert set(board) == {"id", "name", "description", "created_at", "updated_at"}
    assert (board["name"], board["description"]) == ("Ops", "pager")
    path = f"/api/v1/boards/{board['id']}"

    assert (await api.call("GET", path)).body == board
    patched = await api.call("PATCH", path, {"description": "on call"})
    assert patched.status == 200
    assert (patched.body["name"], patched.body["description"]) == ("Ops", "on call")
    assert patched.body["updated_at"] >= board["updated_at"]
    renamed = await api.call("PATCH", path, {"name": "Ops 2"})
    assert (renamed.body["name"], renamed.body["description"]) == ("Ops 2", "on call")

    deleted = await api.call("DELETE", path)
    assert (deleted.status, deleted.body) == (204, None)
    assert (await api.call("GET", path)).status == 404
    assert (await api.call("PATCH", path, {"name": "x"})).status == 404
    assert (await api.call("DELETE", path)).status == 404


@pytest.mark.parametrize("board_id", [str(uuid.uuid4()), "not-a-uuid", "1"])
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_unknown_or_malformed_board_is_404(
    api: OperatorApi, board_id: str, method: str
) -> None:
    reply = await api.call(method, f"/api/v1/boards/{board_id}", {"name": "x"})
    assert reply.status == 404
    assert reply.body["detail"] in {"Board not found.", "Not found."}


async def test_board_list_pages(api: OperatorApi) -> None:
    names = [f"board {i}" for i in range(5)]
    for name in names:
        await api.board(name)
    first = await api.call("GET", "/api/v1/boards")
    assert first.status == 200
    assert (first.body["total"], first.body["limit"], first.body["offset"]) == (5, 50, 0)
    assert [b["name"] for b in first.body["items"]] == names
    page = await api.call("GET", "/api/v1/boards?limit=2&offset=2")
    assert (page.body["total"], page.body["limit"], page.body["offset"]) == (5, 2, 2)
    assert [b["name"] for b in page.body["items"]] == names[2:4]
    past_end = await api.call("GET", "/api/v1/boards?offset=10")
    assert (past_end.body["items"], past_end.body["total"]) == ([], 5)
    edges = await api.call("GET", "/api/v1/boards?limit=200")
    assert edges.status == 200
    assert (await api.call("GET", "/api/v1/boards?limit=1")).body["limit"] == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=-1", "limit"),
        ("limit=abc", "limit"),
        ("limit=1.5", "limit"),
        ("offset=-1", "offset"),
        ("offset=abc", "offset"),
    ],
)
async def test_board_list_paging_out_of_range_is_422(
    api: OperatorApi, query: str, field: str
) -> None:
    reply = await api.call("GET", f"/api/v1/boards?{query}")
    assert reply.status == 422
    assert reply.body["errors"][0]["loc"] == ["query", field]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": 123}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "ok", "description": 5}, "description"),
        ({"name": "ok", "colour": "red"}, "colour"),
        # PostgreSQL text cannot hold NUL: a 422, never a failed insert (500).
        ({"name": "a\x00b"}, "name"),
        ({"name": "ok", "description": "\x00"}, "description"),
    ],
)
async def test_bad_board_bodies_are_422_with_field_details(
    api: OperatorApi, body: dict[str, Any], field: str
) -> None:
    reply = await api.call("POST", "/api/v1/boards", body)
    assert reply.status == 422, reply
    assert field in _error_fields(reply.body)
    assert all({"loc", "msg", "type"} <= set(e) for e in reply.body["errors"])


@pytest.mark.parametrize("raw", [b"{", b"not json", b"[]", b'"name"', b"null", b"\xff\xfe"])
async def test_malformed_bodies_are_422_not_500(api: OperatorApi, raw: bytes) -> None:
    assert (await api.call("POST", "/api/v1/boards", raw=raw)).status == 422
    board = await api.board()
    assert (await api.call("PATCH", f"/api/v1/boards/{board['id']}", raw=raw)).status == 422


async def test_patch_refuses_null_and_unknown_fields(api: OperatorApi) -> None:
    board = await api.board("keep")
    path = f"/api/v1/boards/{board['id']}"
    for body in ({"name": None}, {"description": None}, {"id": str(uuid.uuid4())}):
        reply = await api.call("PATCH", path, body)
        assert reply.status == 422, body
    assert (await api.call("GET", path)).body == board
    assert (await api.call("PATCH", path, {})).body == board
