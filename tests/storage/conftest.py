"""A repository on a fresh database: each test runs on SQLite and on the session's PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage.db import Database
from storage.repository import Repository


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.close()


@pytest.fixture
def repo(db: Database) -> Repository:
    return Repository(db)
