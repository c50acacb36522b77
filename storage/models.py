"""SQLAlchemy 2 tables: jobs, re-posts of clips, votes, settings, the admin audit log, bans, and moderation (block rules,
channel rules, per-channel safety policy, per-server quotas and roles, reports).

Every type here is portable to PostgreSQL: no SQLite-only behaviour. Times are stored as
UTC-aware datetimes; statuses as their string values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite forgets the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class DeliveryState(enum.StrEnum):
    """How a finished job reached chat: not yet, as a clip (re-encoded to fit), as a text message, or not at all."""

    PENDING = "pending"
    CLIP = "clip"
    CLIP_REENCODED = "clip-reencoded"
    MESSAGE = "message"
    FAILED = "failed"
    WITHHELD = "withheld"  # the safety check flagged it and the channel's policy is block


class SafetyPolicy(enum.StrEnum):
    """What a channel does with a clip the safety check flags."""

    BLOCK = "block"
    SPOILER = "spoiler"
    ALLOW = "allow"


class SafetyDecision(enum.StrEnum):
    """What happened to a finished clip: passed (not flagged, or safety off), or flagged and then
    allowed, spoilered, blocked; an admin may release a blocked one, anyone may reveal a spoilered one."""

    PASSED = "passed"
    ALLOW = "allow"
    SPOILER = "spoiler"
    BLOCK = "block"
    RELEASED = "released"
    REVEALED = "revealed"


@dataclass(frozen=True)
class Tenant:
    """A server: a Discord guild, a Slack workspace, the console, a platform's direct messages
    (``workspace_id`` empty). ``GLOBAL`` (both empty) marks a row the owners set for every server."""

    platform: str
    workspace_id: str

    @property
    def is_global(self) -> bool:
        return not self.platform

    def __str__(self) -> str:
        return "every server" if self.is_global else f"{self.platform}:{self.workspace_id}"


GLOBAL = Tenant("", "")


class Base(DeclarativeBase):
    pass


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    lineage: Mapped[str | None] = mapped_column(String(16))  # reroll | remix
    request_key: Mapped[str | None] = mapped_column(
        String(200), unique=True
    )  # platform request id, de-duplicates retries

    # who and where
    platform: Mapped[str] = mapped_column(String(16))
    workspace_id: Mapped[str] = mapped_column(String(64), default="")
    channel_id: Mapped[str] = mapped_column(String(64), default="")
    thread_id: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(64))  # the parent "queued" message
    clip_message_id: Mapped[str | None] = mapped_column(String(64))
    # Set when the clip was made where not everyone on the server can look (a private channel, a DM): the
    # one channel it may be shown in. None: anywhere on its server.
    private_channel: Mapped[str | None] = mapped_column(String(64))
    user_key: Mapped[str] = mapped_column(String(100), index=True)  # platform:user_id
    user_name: Mapped[str] = mapped_column(String(200), default="")

    # what was asked
    prompt: Mapped[str] = mapped_column(Text)
    negative_prompt: Mapped[str] = mapped_column(Text, default="")
    params: Mapped[dict[str, Any]] = mapped_column(JSON)  # GenerationParams.to_dict()
    steps: Mapped[int] = mapped_column(Integer)
    frames: Mapped[int] = mapped_column(Integer)
    requested_model: Mapped[str | None] = mapped_column(String(300))
    format: Mapped[str] = mapped_column(String(8), default="gif")
    max_bytes: Mapped[int] = mapped_column(BigInteger)
    input_image: Mapped[str | None] = mapped_column(Text)  # image to video: the stored still (media dir)

    # what happened
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED.value, index=True)
    progress_step: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    seed: Mapped[int | None] = mapped_column(BigInteger)
    model_used: Mapped[str | None] = mapped_column(String(300))
    steps_used: Mapped[int | None] = mapped_column(Integer)
    motions_used: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    output_path: Mapped[str | None] = mapped_column(Text)
    output_format: Mapped[str | None] = mapped_column(String(8))
    output_bytes: Mapped[int | None] = mapped_column(BigInteger)
    delivery: Mapped[str] = mapped_column(String(32), default=DeliveryState.PENDING.value)
    deleted: Mapped[bool] = mapped_column(default=False)
    tiny: Mapped[bool] = mapped_column(default=False)
    worker: Mapped[str | None] = mapped_column(String(100))  # the Ray actor (or "local") that made the clip

    # moderation: the channel's age restriction when asked, the NSFW check's result, what delivery did
    age_restricted: Mapped[bool] = mapped_column(default=False)
    safety_score: Mapped[float | None] = mapped_column(Float)  # the highest NSFW probability of the checked frames
    safety_flagged: Mapped[bool | None] = mapped_column()  # None: not checked (safety off)
    safety_decision: Mapped[str | None] = mapped_column(String(16))  # SafetyDecision

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # its clip and still removed (retention)
    load_s: Mapped[float | None] = mapped_column(Float)
    denoise_s: Mapped[float | None] = mapped_column(Float)
    decode_s: Mapped[float | None] = mapped_column(Float)
    encode_s: Mapped[float | None] = mapped_column(Float)
    # A set of takes made in one pass: how many (it counts that many times in the limits), and once made,
    # each take's seed, file, size and safety verdict (None for a single clip: its columns above say it all).
    variant_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    variants: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_jobs_status_user", "status", "user_key", "id"),
        Index("ix_jobs_channel", "platform", "channel_id", "id"),
        Index("ix_jobs_server", "platform", "workspace_id", "id"),  # a server's clips (history, search)
        Index("ix_jobs_user_started", "user_key", "started_at"),  # the queue: a user's last start
        Index("ix_jobs_user_created", "user_key", "created_at"),  # the queue: a user's recent submissions
        Index("ix_jobs_server_user", "platform", "workspace_id", "user_key", "id"),  # the board: one person's clips
    )

    @property
    def job_status(self) -> JobStatus:
        return JobStatus(self.status)


class Repost(Base):
    """``/animate-show`` posted a clip again somewhere: the clip's own message stays its home (Delete,
    votes, reports); Delete removes these too."""

    __tablename__ = "reposts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    workspace_id: Mapped[str] = mapped_column(String(64), default="")
    channel_id: Mapped[str] = mapped_column(String(64))
    thread_id: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(64))
    by: Mapped[str] = mapped_column(String(100), default="")  # who asked for it (user key)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Vote(Base):
    __tablename__ = "votes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    user_key: Mapped[str] = mapped_column(String(100))
    user_name: Mapped[str] = mapped_column(String(200), default="")
    value: Mapped[str] = mapped_column(String(16))  # approve | reject
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("job_id", "user_key", name="uq_votes_job_user"),
        Index("ix_votes_job_value", "job_id", "value"),  # the board: a clip's tally from the index alone
    )


class Setting(Base):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_key: Mapped[str] = mapped_column(String(100))
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    allowed: Mapped[bool] = mapped_column(default=True)
    # the server the action was taken in (empty: the console without a server, or none known)
    platform: Mapped[str] = mapped_column(String(16), default="", server_default="")
    workspace_id: Mapped[str] = mapped_column(String(64), default="", server_default="")


class Ban(Base):
    """A person who may not make clips: in one server, or (platform and workspace empty) everywhere."""

    __tablename__ = "bans"

    user_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16), primary_key=True, default="", server_default="")
    workspace_id: Mapped[str] = mapped_column(String(64), primary_key=True, default="", server_default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    banned_by: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BlockRule(Base):
    """A word, phrase or ``/regular expression/`` that prompts may not contain: in one server's prompts,
    or (platform and workspace empty: an owner's rule) in every server's."""

    __tablename__ = "block_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16), default="", server_default="")
    workspace_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
    pattern: Mapped[str] = mapped_column(String(300))  # as the admin typed it
    created_by: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("platform", "workspace_id", "pattern", name="uq_block_rules_server_pattern"),)


class ChannelRule(Base):
    """One channel on a server's allow list or deny list for /animate."""

    __tablename__ = "channel_rules"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    mode: Mapped[str] = mapped_column(String(8))  # allow | deny
    created_by: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChannelSafety(Base):
    """An admin's NSFW policy for one channel (absent: the platform's default)."""

    __tablename__ = "channel_safety"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    policy: Mapped[str] = mapped_column(String(8))  # SafetyPolicy
    created_by: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ServerRules(Base):
    """Per server (Discord guild, Slack workspace, the console): daily quotas, the roles allowed to animate,
    and what its admins chose within the owners' bounds: a base model from the catalogue, limits, a pause."""

    __tablename__ = "server_rules"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_daily: Mapped[int | None] = mapped_column(Integer)  # clips per person per 24 h; None: no quota
    server_daily: Mapped[int | None] = mapped_column(Integer)  # clips on this server per 24 h; None: no cap
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)  # role ids; empty: everyone
    base_model: Mapped[str | None] = mapped_column(String(300))  # a catalogue alias; None: the owners' default
    limits: Mapped[dict[str, int] | None] = mapped_column(JSON)  # Limits fields; capped by the owners' limits
    paused: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    default_variants: Mapped[int | None] = mapped_column(Integer)  # takes per /animate; None: 1


class Report(Base):
    """Someone flagged a clip; it stays open until an admin closes it."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    reporter_key: Mapped[str] = mapped_column(String(100))
    reporter_name: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), default="open", index=True)  # open | closed
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BoardLink(Base):
    """A one-time sign-in link of the review board that was used: a second use finds its row and fails."""

    __tablename__ = "board_links"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BoardSession(Base):
    """A person signed in to the review board, in one server. ``id`` is a hash of the cookie's value:
    the table alone opens no session."""

    __tablename__ = "board_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_key: Mapped[str] = mapped_column(String(100))
    user_name: Mapped[str] = mapped_column(String(200), default="")
    platform: Mapped[str] = mapped_column(String(16))
    workspace_id: Mapped[str] = mapped_column(String(64), default="")
    is_dm: Mapped[bool] = mapped_column(default=False)  # signed in from a DM: one's own clips only
    owner: Mapped[bool] = mapped_column(default=False)  # may switch servers
    admin: Mapped[bool] = mapped_column(default=False)  # sees the reports
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Preset(Base):
    """A saved set of ``/animate`` options (``key:value`` tokens, no prompt): one person's (``owner_key``) or,
    with ``owner_key`` empty, a server's, in one server (``platform`` + ``workspace_id``)."""

    __tablename__ = "presets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    workspace_id: Mapped[str] = mapped_column(String(64), default="")
    owner_key: Mapped[str] = mapped_column(String(100), default="")  # empty: the server's
    name: Mapped[str] = mapped_column(String(32))
    tokens: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("platform", "workspace_id", "owner_key", "name", name="uq_presets_server_owner_name"),
    )


class PresetDefault(Base):
    """The preset every ``/animate`` of one person starts from, in one server (their own preset or the server's)."""

    __tablename__ = "preset_defaults"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
