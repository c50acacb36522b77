"""What a person may see through the bot from where they are, and which safety policy a place has.

A person sees only what the chat shows them: the current server's clips, those of a private channel
only there, their own in a direct message (``storage.scope.Scope``). Something of another server
answers exactly as a missing thing does.
"""

from __future__ import annotations

from bot.chat import Place
from storage.models import SafetyPolicy
from storage.moderation import ModerationStore
from storage.scope import Scope


def scope_of(place: Place, user_key: str) -> Scope:
    """The clips that may be seen, listed or acted on from ``place``: its server's, less other channels'
    private ones; in a DM, ``user_key``'s own (the person asking, or the owner of a clip posted there)."""
    if place.is_dm:
        return Scope.person(user_key)
    return Scope.server(place.platform, place.workspace_id, *place.viewing_channels)


def private_channel(place: Place, parent_private: str | None) -> str | None:
    """The one channel a clip made in ``place`` may be shown in (None: anywhere on its server). A clip made
    from a private one (a reroll, a remix) stays private: it could only be asked for where its parent is seen."""
    return place.private_channel_id or parent_private


def place_policy(moderation: ModerationStore, place: Place) -> SafetyPolicy:
    """What ``place`` does with a clip the safety check flagged: an admin's choice for its channel, else the
    platform's default (Discord: allow in age-restricted channels, block elsewhere; Slack, the console: block).
    On the database thread."""
    stored = moderation.channel_policy(place.platform, place.workspace_id, place.rules_channel_id)
    return SafetyPolicy(stored) if stored is not None else default_policy(place.platform, place.age_restricted)


def default_policy(platform: str, age_restricted: bool) -> SafetyPolicy:
    """A channel's policy where no admin chose one: Discord allows flagged clips in age-restricted channels and
    blocks them elsewhere; Slack and the console block them."""
    return SafetyPolicy.ALLOW if platform == "discord" and age_restricted else SafetyPolicy.BLOCK
