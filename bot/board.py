"""The review board's half of the port: what the web platform (``bot/platforms/web/``) calls on the
service, and the neutral types it gets back. Like ``bot.chat.CommandHandler`` for the chat platforms:
the board translates HTTP to these calls and these values to HTML, and decides nothing.

Every call that touches clips takes the ``Viewer`` the session belongs to; what the viewer may not
see comes back exactly as what does not exist (None, or an empty page).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Literal, Protocol

ReviewState = Literal["waiting", "approved", "rejected"]
Order = Literal["new", "top"]
REVIEW_STATES: tuple[ReviewState, ...] = ("waiting", "approved", "rejected")
ORDERS: tuple[Order, ...] = ("new", "top")
PAGE_SIZE = 24
COMPARE_MAX = 4
EXPORT_MAX = 50  # clips in one zip


@dataclass(frozen=True)
class Viewer:
    """A signed-in person in one server (a session); ``csrf`` goes into every form they send back."""

    session_id: str
    user_key: str
    name: str
    platform: str
    workspace_id: str
    server_label: str
    owner: bool = False  # may switch servers
    admin: bool = False  # sees reports
    csrf: str = ""
    own_only: bool = False  # signed in from a direct message: their own clips only


@dataclass(frozen=True)
class ClipFilter:
    channel: str | None = None
    person: str | None = None  # a user key
    state: ReviewState | None = None
    model: str | None = None
    motion: str | None = None
    since: date | None = None
    until: date | None = None  # inclusive
    words: str | None = None
    order: Order = "new"
    after: str | None = None  # the cursor a previous page gave
    limit: int = PAGE_SIZE


@dataclass(frozen=True)
class ClipCard:
    """One clip on the grid."""

    job_id: int
    prompt: str
    person: str
    channel: str
    created_at: datetime
    model: str
    motions: str
    media_type: str  # image/gif, video/mp4, image/webp
    approvals: int
    rejections: int
    hidden: bool = False  # flagged, and its channel shows such clips behind a spoiler: blurred until revealed
    tiny: bool = False


@dataclass(frozen=True)
class ClipPage:
    cards: tuple[ClipCard, ...]
    next_cursor: str | None  # None: the last page


@dataclass(frozen=True)
class Facets:
    """The values the filters offer: the server's channels, people (user key, name) and models."""

    channels: tuple[str, ...] = ()
    people: tuple[tuple[str, str], ...] = ()
    models: tuple[str, ...] = ()


@dataclass(frozen=True)
class VoteLine:
    name: str
    value: str  # approve | reject
    at: datetime


@dataclass(frozen=True)
class Relative:
    """A clip related to another: its parent, or one made from it (reroll, remix, vary, variant, extend)."""

    job_id: int
    lineage: str
    prompt: str


@dataclass(frozen=True)
class ReportLine:
    report_id: int
    reporter: str
    reason: str
    status: str
    at: datetime


@dataclass(frozen=True)
class ClipDetail:
    card: ClipCard
    recipe: str  # the /animate line that makes this clip again
    recipe_fields: tuple[tuple[str, str], ...]
    votes: tuple[VoteLine, ...]
    parent: Relative | None
    children: tuple[Relative, ...]
    reports: tuple[ReportLine, ...] = ()  # admins only
    thread_link: str | None = None
    my_vote: str | None = None


@dataclass(frozen=True)
class Media:
    """A file to send: found by job id on the service's side, never from a path in a URL."""

    path: Path
    mime_type: str


@dataclass(frozen=True)
class ExportItem:
    job_id: int
    media: Media
    recipe: dict[str, object]


@dataclass(frozen=True)
class TallyChange:
    """A vote changed a clip's tally (from chat or the board)."""

    job_id: int
    approvals: int
    rejections: int


@dataclass(frozen=True)
class Health:
    ok: bool
    database: bool
    queue_length: int
    running: int
    paused: bool
    workers: tuple[dict[str, object], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class SignIn:
    """A sign-in link's outcome: a new session's cookie value and viewer, or why not (one line)."""

    cookie: str | None
    viewer: Viewer | None
    error: str | None = None


class TallyChanges(Protocol):
    def __aiter__(self) -> TallyChanges: ...

    async def __anext__(self) -> TallyChange: ...

    async def aclose(self) -> None: ...


class BoardHandler(Protocol):
    """What the web board calls on the service. Every method is safe to call with any input: a bad id,
    a foreign clip or an expired session gives None (or False), never an exception."""

    session_hours: float

    async def sign_in(self, token: str, client: str) -> SignIn:
        """Use a one-time link's token (``client``: who is asking, for rate limits)."""
        ...

    async def viewer(self, cookie: str) -> Viewer | None:
        """The session a cookie opens, None when it is unknown or expired."""
        ...

    async def sign_out(self, viewer: Viewer) -> None: ...

    async def servers(self, viewer: Viewer) -> Sequence[tuple[str, str, str]]:
        """(platform, workspace id, label) of the servers ``viewer`` may switch to (owners only)."""
        ...

    async def switch(self, viewer: Viewer, platform: str, workspace_id: str) -> bool: ...

    async def clips(self, viewer: Viewer, wanted: ClipFilter) -> ClipPage: ...

    async def facets(self, viewer: Viewer) -> Facets: ...

    async def clip(self, viewer: Viewer, job_id: int) -> ClipDetail | None: ...

    async def media(self, viewer: Viewer, job_id: int, kind: Literal["clip", "poster"]) -> Media | None: ...

    async def vote(self, viewer: Viewer, job_id: int, value: str) -> TallyChange | None:
        """Approve or reject as ``viewer``: the same rules and rows as the chat buttons; None when the
        clip cannot be voted on (missing, another server's, not finished)."""
        ...

    async def export(self, viewer: Viewer, job_ids: Sequence[int]) -> list[ExportItem]: ...

    def changes(self, viewer: Viewer) -> TallyChanges:
        """Tally changes of ``viewer``'s server from now on, until the caller closes the iterator."""
        ...

    async def health(self) -> Health: ...

    async def metrics(self) -> bytes:
        """The Prometheus text exposition of the bot's counters."""
        ...
