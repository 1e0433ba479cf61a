"""Task lists report the full total on every page, including a page past the end."""

from __future__ import annotations

from shared.settings import Settings
from tests.support.factories import Factory
from tests.support.http import Client


async def test_total_is_right_on_every_page(
    client: Client, factory: Factory, settings: Settings
) -> None:
    board = await factory.board()
    headers = {"Authorization": f"Bearer {settings.local_auth_token}"}
    path = f"/api/v1/boards/{board}/tasks"
    for i in range(5):
        created = await client.post(path, json={"title": f"task {i}"}, headers=headers)
        assert created.status == 201
    for offset, expected_items in ((0, 2), (4, 1), (10, 0)):
        response = await client.get(f"{path}?limit=2&offset={offset}", headers=headers)
        body = await response.json()
        assert (len(body["items"]), body["total"]) == (expected_items, 5), offset
        assert all("total_matching" not in item for item in body["items"])
    empty = await factory.board("empty")
    response = await client.get(f"/api/v1/boards/{empty}/tasks", headers=headers)
    assert (await response.json())["total"] == 0
