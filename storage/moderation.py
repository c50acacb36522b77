"""The moderation queries: block rules, channel rules, channel safety policies, server quotas and roles,
reports, and the counts daily quotas need. Each call is its own short transaction; rows come back
detached, as in ``storage.repository``. The reads every ``/animate`` makes (block rules, a server's
channel rules and quotas, a channel's safety policy) run on the driver's cursor like the job path's, once:
the rows are remembered until this store changes any of them (the bot is their only writer).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select, update

from storage.db import Database
from storage.models import GLOBAL, BlockRule, ChannelRule, ChannelSafety, Job, Report, ServerRules, Tenant, utcnow
from storage.repository import detached

_BLOCK_RULES = cast(Table, BlockRule.__table__)
_CHANNEL_RULES = cast(Table, ChannelRule.__table__)
_CHANNEL_SAFETY = cast(Table, ChannelSafety.__table__)
_SERVER_RULES = cast(Table, ServerRules.__table__)


def _of_server(table: Table, *more: str) -> Any:
    """SELECT * FROM table WHERE platform = :platform AND workspace_id = :workspace_id [AND more = :more]."""
    keys = ("platform", "workspace_id", *more)
    return select(table).where(*(table.c[key] == bindparam(key, type_=table.c[key].type) for key in keys))


def _rule_of(tenant: Tenant) -> tuple[Any, ...]:
    return BlockRule.platform == tenant.platform, BlockRule.workspace_id == tenant.workspace_id


def _reports_of(tenant: Tenant | None) -> tuple[Any, ...]:
    """Reports on the clips of ``tenant``'s server; None: every server's (the owners')."""
    if tenant is None:
        return ()
    jobs = select(Job.id).where(Job.platform == tenant.platform, Job.workspace_id == tenant.workspace_id)
    return (Report.job_id.in_(jobs),)


class ModerationStore:
    """The moderation rows. The rules every ``/animate`` reads are remembered (``Database.remembered``)
    and forgotten after each change made here, once it is committed."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- block rules ---------------------------------------------------------------------------------
    def block_rules(self, tenant: Tenant, *, with_global: bool = True) -> list[BlockRule]:
        """The rules ``tenant``'s prompts are checked against: the owners' (global) ones, then its own.
        ``with_global=False``: its own alone. ``GLOBAL``: the owners' rules."""
        rules = self.db.remembered(("block_rules", tenant), lambda: self._block_rules(tenant))
        if with_global or tenant.is_global:
            return rules
        return [r for r in rules if (r.platform, r.workspace_id) == (tenant.platform, tenant.workspace_id)]

    def _block_rules(self, tenant: Tenant) -> list[BlockRule]:
        prepared = self.db.prepare(
            "block_rules.of",
            lambda: _of_server(_BLOCK_RULES).order_by(_BLOCK_RULES.c.platform, _BLOCK_RULES.c.id),
        )
        found = []
        for server in dict.fromkeys((GLOBAL, tenant)):
            params = {"platform": server.platform, "workspace_id": server.workspace_id}
            found += [detached(BlockRule, row) for row in self.db.run(prepared, params)[1]]
        return found

    def add_block_rule(self, pattern: str, by: str, tenant: Tenant) -> tuple[BlockRule, bool]:
        """``tenant``'s rule for ``pattern`` and whether it is new (an existing one is returned unchanged)."""
        with self.db.changing(), self.db.session() as s:
            existing = s.scalars(select(BlockRule).where(*_rule_of(tenant), BlockRule.pattern == pattern)).first()
            if existing is not None:
                return existing, False
            rule = BlockRule(pattern=pattern, created_by=by, platform=tenant.platform, workspace_id=tenant.workspace_id)
            s.add(rule)
            s.flush()
            return rule, True

    def remove_block_rule(self, pattern: str, tenant: Tenant) -> bool:
        """Remove ``tenant``'s own rule for ``pattern`` (another server's rule is not touched)."""
        with self.db.changing(), self.db.session() as s:
            result = s.execute(delete(BlockRule).where(*_rule_of(tenant), BlockRule.pattern == pattern))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    # --- channel rules ----------------------------------------------------------------------------------
    def channel_rules(self, platform: str, workspace_id: str) -> list[ChannelRule]:
        return self.db.remembered(
            ("channel_rules", platform, workspace_id), lambda: self._channel_rules(platform, workspace_id)
        )

    def _channel_rules(self, platform: str, workspace_id: str) -> list[ChannelRule]:
        prepared = self.db.prepare(
            "channel_rules.of",
            lambda: _of_server(_CHANNEL_RULES).order_by(_CHANNEL_RULES.c.at, _CHANNEL_RULES.c.channel_id),
        )
        rows = self.db.run(prepared, {"platform": platform, "workspace_id": workspace_id})[1]
        return [detached(ChannelRule, row) for row in rows]

    def add_channel_rules(self, platform: str, workspace_id: str, mode: str, channels: Sequence[str], by: str) -> int:
        """Put ``channels`` on the ``mode`` list (allow | deny); the other list is dropped, since a server
        has one or the other. Returns how many rows of the other list were dropped."""
        with self.db.changing(), self.db.session() as s:
            where = (ChannelRule.platform == platform, ChannelRule.workspace_id == workspace_id)
            dropped = s.execute(delete(ChannelRule).where(*where, ChannelRule.mode != mode))
            for channel in channels:
                row = s.get(ChannelRule, (platform, workspace_id, channel))
                if row is None:
                    s.add(ChannelRule(platform=platform, workspace_id=workspace_id, channel_id=channel, mode=mode,
                                      created_by=by))  # fmt: skip
            return int(dropped.rowcount or 0)  # type: ignore[attr-defined]

    def clear_channel_rules(self, platform: str, workspace_id: str) -> int:
        with self.db.changing(), self.db.session() as s:
            where = (ChannelRule.platform == platform, ChannelRule.workspace_id == workspace_id)
            return int(s.execute(delete(ChannelRule).where(*where)).rowcount or 0)  # type: ignore[attr-defined]

    # --- channel safety policies ---------------------------------------------------------------------------
    def channel_policy(self, platform: str, workspace_id: str, channel_id: str) -> str | None:
        key = ("channel_policy", platform, workspace_id, channel_id)
        return self.db.remembered(key, lambda: self._channel_policy(platform, workspace_id, channel_id))

    def _channel_policy(self, platform: str, workspace_id: str, channel_id: str) -> str | None:
        prepared = self.db.prepare("channel_safety.of", lambda: _of_server(_CHANNEL_SAFETY, "channel_id"))
        rows = self.db.run(prepared, {"platform": platform, "workspace_id": workspace_id, "channel_id": channel_id})[1]
        return str(rows[0]["policy"]) if rows else None

    def channel_policies(self, platform: str, workspace_id: str) -> list[ChannelSafety]:
        with self.db.session() as s:
            stmt = select(ChannelSafety).where(
                ChannelSafety.platform == platform, ChannelSafety.workspace_id == workspace_id
            )
            return list(s.scalars(stmt.order_by(ChannelSafety.channel_id)))

    def set_channel_policy(
        self, platform: str, workspace_id: str, channel_id: str, policy: str | None, by: str
    ) -> None:
        """Set a channel's policy; None goes back to the platform default."""
        with self.db.changing(), self.db.session() as s:
            row = s.get(ChannelSafety, (platform, workspace_id, channel_id))
            if policy is None:
                if row is not None:
                    s.delete(row)
            elif row is None:
                s.add(ChannelSafety(platform=platform, workspace_id=workspace_id, channel_id=channel_id, policy=policy,
                                    created_by=by))  # fmt: skip
            else:
                row.policy, row.created_by, row.at = policy, by, utcnow()

    # --- quotas and roles --------------------------------------------------------------------------------------
    def server_rules(self, platform: str, workspace_id: str) -> ServerRules | None:
        return self.db.remembered(
            ("server_rules", platform, workspace_id), lambda: self._server_rules(platform, workspace_id)
        )

    def _server_rules(self, platform: str, workspace_id: str) -> ServerRules | None:
        prepared = self.db.prepare("server_rules.of", lambda: _of_server(_SERVER_RULES))
        rows = self.db.run(prepared, {"platform": platform, "workspace_id": workspace_id})[1]
        return detached(ServerRules, rows[0]) if rows else None

    def update_server_rules(self, platform: str, workspace_id: str, **values: object) -> ServerRules:
        """Change some of ``user_daily``, ``server_daily``, ``roles``; returns the row as stored."""
        with self.db.changing(), self.db.session() as s:
            row = s.get(ServerRules, (platform, workspace_id))
            if row is None:
                row = ServerRules(platform=platform, workspace_id=workspace_id, roles=[])
                s.add(row)
            for key, value in values.items():
                setattr(row, key, value)
            row.at = utcnow()
            s.flush()
            return row

    def user_jobs_since(
        self, user_key: str, since: datetime, channel_id: str | None = None
    ) -> list[tuple[datetime, int, int]]:
        """When ``user_key``'s jobs (on any server, or in ``channel_id`` only) were accepted since ``since``,
        with their frame counts and takes."""
        with self.db.session() as s:
            stmt = select(Job.created_at, Job.frames, Job.variant_count).where(
                Job.user_key == user_key, Job.created_at >= since
            )
            if channel_id is not None:
                stmt = stmt.where(Job.channel_id == channel_id)
            return [(row[0], row[1], row[2]) for row in s.execute(stmt)]

    def server_jobs_since(self, platform: str, workspace_id: str, since: datetime) -> list[tuple[datetime, int, int]]:
        """When the jobs of a server were accepted since ``since``, with their frame counts and takes."""
        with self.db.session() as s:
            stmt = select(Job.created_at, Job.frames, Job.variant_count).where(
                Job.platform == platform, Job.workspace_id == workspace_id, Job.created_at >= since
            )
            return [(row[0], row[1], row[2]) for row in s.execute(stmt)]

    # --- reports ------------------------------------------------------------------------------------------------
    def add_report(self, job_id: int, reporter_key: str, reporter_name: str, reason: str, link: str | None) -> Report:
        with self.db.session() as s:
            report = Report(job_id=job_id, reporter_key=reporter_key, reporter_name=reporter_name, reason=reason,
                            link=link)  # fmt: skip
            s.add(report)
            s.flush()
            return report

    def open_reports(self, tenant: Tenant | None, limit: int = 20) -> list[Report]:
        """The open reports on ``tenant``'s clips (None: every server's, for the owners)."""
        with self.db.session() as s:
            stmt = select(Report).where(Report.status == "open", *_reports_of(tenant)).order_by(Report.id).limit(limit)
            return list(s.scalars(stmt))

    def close_reports(self, *, tenant: Tenant | None, report_id: int | None = None, job_id: int | None = None) -> int:
        """Close one open report, or every open report on a job, among ``tenant``'s (None: any server's);
        returns how many were closed."""
        stmt = update(Report).where(Report.status == "open", *_reports_of(tenant))
        if report_id is not None:
            stmt = stmt.where(Report.id == report_id)
        if job_id is not None:
            stmt = stmt.where(Report.job_id == job_id)
        with self.db.session() as s:
            return int(s.execute(stmt.values(status="closed")).rowcount or 0)  # type: ignore[attr-defined]
