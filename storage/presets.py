"""Presets: saved ``/animate`` options, a person's own or their server's, and each person's default one.

Every call is its own short transaction, scoped to one server (``Tenant``): another server's presets are
never read, listed, changed or deleted. Rows come back as plain values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from storage.db import Database
from storage.models import Preset, PresetDefault, Tenant

SERVER = ""  # the owner_key of a server preset


@dataclass(frozen=True)
class SavedPreset:
    name: str
    tokens: str
    server: bool  # a server preset (everyone on the server may use it)


def _of(tenant: Tenant) -> tuple[Any, ...]:
    return Preset.platform == tenant.platform, Preset.workspace_id == tenant.workspace_id


def _saved(row: Preset) -> SavedPreset:
    return SavedPreset(row.name, row.tokens, row.owner_key == SERVER)


class PresetStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, tenant: Tenant, owner_key: str, name: str, tokens: str, by: str) -> bool:
        """Store ``name`` for ``owner_key`` (``SERVER``: the server's); True when it is new, False when replaced."""
        with self.db.session() as s:
            row = s.scalars(
                select(Preset).where(*_of(tenant), Preset.owner_key == owner_key, Preset.name == name)
            ).first()
            if row is not None:
                row.tokens, row.created_by = tokens, by
                return False
            s.add(
                Preset(
                    platform=tenant.platform,
                    workspace_id=tenant.workspace_id,
                    owner_key=owner_key,
                    name=name,
                    tokens=tokens,
                    created_by=by,
                )
            )
            return True

    def find(self, tenant: Tenant, user_key: str, name: str) -> SavedPreset | None:
        """The preset ``name`` as ``user_key`` sees it on ``tenant``'s server: their own, else the server's."""
        with self.db.session() as s:
            rows = s.scalars(
                select(Preset).where(*_of(tenant), Preset.owner_key.in_((user_key, SERVER)), Preset.name == name)
            ).all()
            mine = [r for r in rows if r.owner_key == user_key]
            return _saved((mine or list(rows))[0]) if rows else None

    def listed(self, tenant: Tenant, user_key: str) -> list[SavedPreset]:
        """``user_key``'s presets, then the server's, each by name."""
        with self.db.session() as s:
            rows = s.scalars(
                select(Preset)
                .where(*_of(tenant), Preset.owner_key.in_((user_key, SERVER)))
                .order_by(Preset.owner_key == SERVER, Preset.name)
            ).all()
            return [_saved(r) for r in rows]

    def delete(self, tenant: Tenant, owner_key: str, name: str) -> bool:
        """Remove ``owner_key``'s (``SERVER``: the server's) preset ``name``; False when there was none."""
        with self.db.session() as s:
            result = s.execute(delete(Preset).where(*_of(tenant), Preset.owner_key == owner_key, Preset.name == name))
            return bool(getattr(result, "rowcount", 0))

    def default_name(self, tenant: Tenant, user_key: str) -> str | None:
        with self.db.session() as s:
            row = s.get(PresetDefault, (tenant.platform, tenant.workspace_id, user_key))
            return row.name if row is not None else None

    def set_default(self, tenant: Tenant, user_key: str, name: str | None) -> None:
        """Make ``name`` the preset ``user_key``'s every /animate starts from on ``tenant``'s server (None: none)."""
        with self.db.session() as s:
            row = s.get(PresetDefault, (tenant.platform, tenant.workspace_id, user_key))
            if name is None:
                if row is not None:
                    s.delete(row)
                return
            if row is None:
                s.add(
                    PresetDefault(
                        platform=tenant.platform, workspace_id=tenant.workspace_id, user_key=user_key, name=name
                    )
                )
            else:
                row.name = name

    def starting_tokens(self, tenant: Tenant, user_key: str, name: str | None) -> tuple[str, str | None]:
        """The tokens an /animate starts from (``name``'s when given, else the person's default preset's) and
        the name of a preset that was asked for by name but is not there; in one hop on the database thread."""
        if name is None:
            default = self.default_name(tenant, user_key)
            found = self.find(tenant, user_key, default) if default else None
            return (found.tokens if found else ""), None
        found = self.find(tenant, user_key, name)
        return (found.tokens, None) if found else ("", name)
