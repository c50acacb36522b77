"""Typed settings, read once from the environment and ``.env``.

This is the only module that touches the environment. Everything else receives plain values.
Secrets are ``SecretStr``: they never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[tuple[str, ...], NoDecode]

log = logging.getLogger("animatebot.settings")

# Old names of the owner settings, still read for one release: (field, old name, new name).
DEPRECATED_OWNER_NAMES = (
    ("admin_ids", "ANIMATEBOT_ADMIN_IDS", "ANIMATEBOT_OWNER_IDS"),
    ("discord_admin_user_ids", "DISCORD_ADMIN_USER_IDS", "DISCORD_OWNER_USER_IDS"),
    ("slack_admin_user_ids", "SLACK_ADMIN_USER_IDS", "SLACK_OWNER_USER_IDS"),
)


def _split(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.replace(";", ",").split(",") if part.strip())
    return value


class Settings(BaseSettings):
    """Every setting the bot has; `.env.example` documents each one."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True)

    # --- generation -------------------------------------------------------------------------
    pipeline: Literal["real", "tiny"] = Field("real", alias="ANIMATEBOT_PIPELINE")
    base_model: str = Field("epicrealism", alias="ANIMATEBOT_BASE_MODEL")
    device: str | None = Field(None, alias="ANIMATEBOT_DEVICE")
    dtype: Literal["float16", "bfloat16", "float32"] | None = Field(None, alias="ANIMATEBOT_DTYPE")
    compile: bool = Field(False, alias="ANIMATEBOT_COMPILE")
    lightning_source: str | None = Field(None, alias="ANIMATEBOT_LIGHTNING_SOURCE")
    motion_lora_source: str | None = Field(None, alias="ANIMATEBOT_MOTION_LORA_SOURCE")
    cache_dir: str | None = Field(None, alias="ANIMATEBOT_CACHE_DIR")
    job_timeout_s: float = Field(600.0, gt=0, alias="ANIMATEBOT_JOB_TIMEOUT_S")
    max_attempts: int = Field(3, ge=1, alias="ANIMATEBOT_MAX_ATTEMPTS")

    # --- storage ------------------------------------------------------------------------------
    database_url: str = Field("sqlite:///data/animatebot.db", alias="ANIMATEBOT_DATABASE_URL")
    media_dir: Path = Field(Path("data/clips"), alias="ANIMATEBOT_MEDIA_DIR")
    # Clips and input stills older than this many days are removed from disk (their rows stay, "expired"); 0 keeps all.
    keep_days: int = Field(0, ge=0, alias="ANIMATEBOT_KEEP_DAYS")
    # New jobs are refused while the media disk has less than this free (MB); 0 turns the check off.
    min_free_mb: int = Field(500, ge=0, alias="ANIMATEBOT_MIN_FREE_MB")

    # --- limits (defaults; admins change them from chat, the database then wins) --------------
    max_active_per_user: int = Field(2, ge=1, alias="ANIMATEBOT_MAX_ACTIVE_PER_USER")
    max_per_hour: int = Field(20, ge=1, alias="ANIMATEBOT_MAX_PER_HOUR")
    queue_cap: int = Field(100, ge=1, alias="ANIMATEBOT_QUEUE_CAP")
    upload_limit_bytes: int = Field(10 * 1024 * 1024, ge=64 * 1024, alias="ANIMATEBOT_UPLOAD_LIMIT_BYTES")
    # Chat platforms rate-limit message edits; 0 edits on every denoising step (tests, the console).
    progress_every_s: float = Field(2.0, ge=0, alias="ANIMATEBOT_PROGRESS_EVERY_S")

    # --- who owns the bot (every server); server admins come from each platform -----------------
    owner_ids: CommaList = Field((), alias="ANIMATEBOT_OWNER_IDS")
    admin_ids: CommaList = Field((), alias="ANIMATEBOT_ADMIN_IDS")  # deprecated: ANIMATEBOT_OWNER_IDS

    # --- where the bot may be used --------------------------------------------------------------
    # Discord guild ids and Slack team ids; empty: anywhere the bot is added. Elsewhere every command is refused
    # and the bot leaves a Discord guild not on the list.
    allowed_servers: CommaList = Field((), alias="ANIMATEBOT_ALLOWED_SERVERS")
    # Direct messages skip every server's roles, channel rules and quotas, so they are off unless turned on.
    direct_messages: bool = Field(False, alias="ANIMATEBOT_DIRECT_MESSAGES")  # off | on
    dm_daily_per_user: int = Field(10, ge=0, alias="ANIMATEBOT_DM_DAILY_PER_USER")  # clips per person per 24 h; 0: none
    log_level: str = Field("INFO", alias="ANIMATEBOT_LOG_LEVEL")

    # --- Discord --------------------------------------------------------------------------------
    discord_token: SecretStr | None = Field(None, alias="DISCORD_TOKEN")
    discord_guild_ids: CommaList = Field((), alias="DISCORD_GUILD_IDS")
    discord_admin_role_ids: CommaList = Field((), alias="DISCORD_ADMIN_ROLE_IDS")
    discord_owner_user_ids: CommaList = Field((), alias="DISCORD_OWNER_USER_IDS")
    discord_admin_user_ids: CommaList = Field((), alias="DISCORD_ADMIN_USER_IDS")  # deprecated: DISCORD_OWNER_USER_IDS
    discord_api_base_url: str | None = Field(None, alias="DISCORD_API_BASE_URL")
    discord_gateway_url: str | None = Field(None, alias="DISCORD_GATEWAY_URL")

    # --- Slack ------------------------------------------------------------------------------------
    slack_bot_token: SecretStr | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_app_token: SecretStr | None = Field(None, alias="SLACK_APP_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_mode: Literal["socket", "http"] = Field("socket", alias="SLACK_MODE")
    slack_port: int = Field(3000, ge=1, le=65535, alias="SLACK_PORT")
    slack_host: str = Field("0.0.0.0", alias="SLACK_HOST")
    slack_owner_user_ids: CommaList = Field((), alias="SLACK_OWNER_USER_IDS")
    slack_admin_user_ids: CommaList = Field((), alias="SLACK_ADMIN_USER_IDS")  # deprecated: SLACK_OWNER_USER_IDS
    slack_api_base_url: str | None = Field(None, alias="SLACK_API_BASE_URL")

    # --- workers (Ray) ----------------------------------------------------------------------------
    # local: one in-process worker on this machine's GPU. ray: a pool of warm actors, one per GPU by default.
    workers: Literal["local", "ray"] = Field("local", alias="ANIMATEBOT_WORKERS")
    ray_address: str | None = Field(None, alias="RAY_ADDRESS")  # unset: start Ray on this machine
    ray_workers: int | None = Field(None, ge=1, alias="ANIMATEBOT_RAY_WORKERS")  # unset: one per GPU in the cluster
    ray_gpus_per_worker: float = Field(1.0, ge=0, alias="ANIMATEBOT_RAY_GPUS_PER_WORKER")
    ray_auth_token: SecretStr | None = Field(None, alias="RAY_AUTH_TOKEN")  # the cluster's token; local start: made up
    ray_namespace: str = Field("animatebot", min_length=1, alias="ANIMATEBOT_RAY_NAMESPACE")

    # --- images in (issue 11): downloads of images people animate, from the platform's own file hosts
    image_download_timeout_s: float = Field(20.0, gt=0, le=300, alias="ANIMATEBOT_IMAGE_DOWNLOAD_TIMEOUT_S")

    # --- safety (moderation: the NSFW check, report channels, default daily quotas) ---------------
    safety: bool = Field(True, alias="ANIMATEBOT_SAFETY")  # on | off
    safety_model: str = Field("Falconsai/nsfw_image_detection", alias="ANIMATEBOT_SAFETY_MODEL")
    safety_threshold: float = Field(0.7, ge=0.0, le=1.0, alias="ANIMATEBOT_SAFETY_THRESHOLD")
    safety_unavailable: Literal["block", "allow"] = Field("block", alias="ANIMATEBOT_SAFETY_UNAVAILABLE")
    report_channel: str | None = Field(None, alias="ANIMATEBOT_REPORT_CHANNEL")
    discord_report_channel_id: str | None = Field(None, alias="DISCORD_REPORT_CHANNEL_ID")
    slack_report_channel_id: str | None = Field(None, alias="SLACK_REPORT_CHANNEL_ID")
    daily_per_user: int = Field(0, ge=0, alias="ANIMATEBOT_DAILY_PER_USER")  # 0: no quota unless an admin sets one
    daily_per_server: int = Field(0, ge=0, alias="ANIMATEBOT_DAILY_PER_SERVER")

    # --- the review board (issue 23): a web page served by the bot; off unless a port is given -----
    web_port: int | None = Field(None, ge=1, le=65535, alias="ANIMATEBOT_WEB_PORT")
    web_host: str = Field("127.0.0.1", min_length=1, alias="ANIMATEBOT_WEB_HOST")
    web_url: str | None = Field(None, alias="ANIMATEBOT_WEB_URL")  # the public address behind a reverse proxy
    web_secret: SecretStr | None = Field(None, alias="ANIMATEBOT_WEB_SECRET")  # unset: made once, kept in the database
    web_session_hours: float = Field(12.0, gt=0, le=24 * 30, alias="ANIMATEBOT_WEB_SESSION_HOURS")

    # --- GPU tuning (issue 12: settings chosen by benchmarks/bench_pipeline.py --real-size) -----
    # The dtype the VAE decodes in; unset: bfloat16 on CUDA, float32 on CPU (docs/PERFORMANCE.md).
    vae_dtype: Literal["float16", "bfloat16", "float32"] | None = Field(None, alias="ANIMATEBOT_VAE_DTYPE")

    @field_validator(
        "owner_ids",
        "admin_ids",
        "discord_guild_ids",
        "discord_owner_user_ids",
        "slack_owner_user_ids",
        "discord_admin_role_ids",
        "discord_admin_user_ids",
        "slack_admin_user_ids",
        "allowed_servers",
        mode="before",
    )
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _split(value)

    @field_validator(
        "device",
        "dtype",
        "vae_dtype",
        "lightning_source",
        "motion_lora_source",
        "cache_dir",
        "discord_token",
        "discord_api_base_url",
        "discord_gateway_url",
        "slack_bot_token",
        "slack_app_token",
        "slack_signing_secret",
        "slack_api_base_url",
        "ray_address",
        "ray_workers",
        "ray_auth_token",
        "report_channel",
        "discord_report_channel_id",
        "slack_report_channel_id",
        "web_port",
        "web_url",
        "web_secret",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _warn_deprecated(self) -> Settings:
        for name, old, new in DEPRECATED_OWNER_NAMES:
            if getattr(self, name):
                log.warning("%s is deprecated and will be removed in the next release: rename it to %s", old, new)
        return self

    @property
    def discord_enabled(self) -> bool:
        return self.discord_token is not None and bool(self.discord_token.get_secret_value())

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None and bool(self.slack_bot_token.get_secret_value())

    @property
    def web_enabled(self) -> bool:
        return self.web_port is not None

    @property
    def web_public_url(self) -> str:
        """Where people open the board: ANIMATEBOT_WEB_URL, else the address it listens on."""
        if self.web_url:
            return self.web_url.rstrip("/")
        host = "localhost" if self.web_host in ("127.0.0.1", "0.0.0.0", "::") else self.web_host
        return f"http://{host}:{self.web_port}"

    def owner_user_keys(self) -> frozenset[str]:
        """The bot's owners as platform-qualified ids (``discord:123``, ``slack:U123``, ``console:alice``),
        from the owner settings and their deprecated admin-named aliases."""
        keys = {key if ":" in key else f"console:{key}" for key in (*self.owner_ids, *self.admin_ids)}
        keys.update(f"discord:{uid}" for uid in (*self.discord_owner_user_ids, *self.discord_admin_user_ids))
        keys.update(f"slack:{uid}" for uid in (*self.slack_owner_user_ids, *self.slack_admin_user_ids))
        return frozenset(keys)

    def report_channels(self) -> dict[str, str]:
        """Where each platform's reports go: DISCORD_/SLACK_REPORT_CHANNEL_ID, else ANIMATEBOT_REPORT_CHANNEL."""
        channels = {p: self.report_channel for p in ("console", "discord", "slack") if self.report_channel}
        if self.discord_report_channel_id:
            channels["discord"] = self.discord_report_channel_id
        if self.slack_report_channel_id:
            channels["slack"] = self.slack_report_channel_id
        return channels

    def admin_role_keys(self) -> frozenset[str]:
        return frozenset(f"discord:{rid}" for rid in self.discord_admin_role_ids)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment and ``.env``; raises pydantic.ValidationError naming each bad value."""
    return Settings(**overrides)  # type: ignore[arg-type]
