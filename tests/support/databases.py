"""Throwaway PostgreSQL databases: one per test run, and private ones that tests may break."""

from __future__ import annotations

import os
import secrets

import asyncpg

from shared.migrate import migrate

ADMIN_URL = os.environ.get(
    "TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def database_url_for(name: str) -> str:
    """The URL of database `name` on the admin URL's server."""
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


class PrivateDatabase:
    """A database of one test's own, which the test may make unavailable."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.url = database_url_for(name)

    async def block(self) -> None:
        """Refuse new connections and end the open ones, as an outage would."""
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            await conn.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                self.name,
            )
        finally:
            await conn.close()

    async def unblock(self) -> None:
        """Take connections again."""
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            await conn.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')
        finally:
            await conn.close()

    @classmethod
    async def create(cls, label: str) -> PrivateDatabase:
        """Create and migrate a new database."""
        name = f"mc_test_{secrets.token_hex(6)}_{label}"
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        database = cls(name)
        await migrate(database.url)
        return database

    async def drop(self) -> None:
        """Drop it, whoever is connected."""
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await conn.close()
