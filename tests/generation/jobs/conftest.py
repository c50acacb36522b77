"""Fixtures for the job tests: a repository on a fresh database (SQLite, and PostgreSQL when available)."""

from __future__ import annotations

import pytest

from storage.db import Database
from storage.repository import Repository


@pytest.fixture
def repo(database_url: str) -> Repository:
    db = Database(database_url)
    yield Repository(db)  # type: ignore[misc]
    db.close()
