"""Migration 0004 gives jobs the input_image column the models declare."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.db import make_engine, upgrade
from storage.models import Base


def test_upgrade_adds_input_image_and_matches_the_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    columns = {c["name"]: c for c in sa.inspect(engine).get_columns("jobs")}
    assert columns["input_image"]["nullable"] is True
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert not [d for d in diffs if "input_image" in str(d)]
