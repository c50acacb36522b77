"""The moderation actions of ``/animate-admin``: their arguments as a validated ``Command``.

``block add|remove|test <text>``, ``block list``; ``channels allow|deny [channel ...]``,
``channels clear|list``; ``safety [show]``, ``safety block|spoiler|allow|default [channel]``;
``quota [user:<n>] [server:<n>]``; ``roles add|remove <role ...>``, ``roles clear|list``;
``release <job>``; ``reports [close <n>]``. Channels default to the one the command is typed in (``here``).
"""

from __future__ import annotations

import re

from bot.commands.grammar import CommandError, _int, _one_line, _one_of, _show
from bot.commands.table import BLOCK_OPS, CHANNEL_OPS, QUOTA_MAX, ROLE_OPS, SAFETY_OPS

MODERATION_ACTIONS: tuple[str, ...] = ("block", "channels", "safety", "quota", "roles", "release", "reports")
MODERATION_OPTIONS: tuple[str, ...] = (
    "op",
    "text",
    "channel",
    "policy",
    "user_daily",
    "server_daily",
    "role",
    "job",
    "close",
)
HERE = "here"

_CHANNEL_RE = re.compile(r"<#([A-Za-z0-9]+)(?:\|[^>]*)?>|#?([A-Za-z0-9]{1,40})", re.ASCII)
_ROLE_RE = re.compile(r"<@&([0-9]+)>|@?([0-9]{1,25})|<!subteam\^([A-Za-z0-9]+)(?:\|[^>]*)?>", re.ASCII)
_JOB_RE = re.compile(r"#?(\d{1,19})", re.ASCII)


def _op(action: str, words: list[str], options: dict[str, str], allowed: tuple[str, ...], default: str | None) -> str:
    given = options.get("op")
    if given is None:
        given = words.pop(0) if words else default
    if given is None or given.lower() not in allowed:
        got = f" (got {_show(given)})" if given else ""
        raise CommandError(f"/animate-admin {action} needs one of: {_one_of(allowed)}{got}")
    return given.lower()


def parse_channel(text: str) -> str:
    """``<#123>``, ``<#C123|general>``, ``#C123``, ``123`` or ``here`` -> the channel id (or ``here``)."""
    if text.lower() == HERE:
        return HERE
    match = _CHANNEL_RE.fullmatch(text.strip())
    if match is None:
        raise CommandError(f"a channel must be a channel mention like #general, an id, or here (got {_show(text)})")
    return match.group(1) or match.group(2)


def parse_role(text: str) -> str:
    match = _ROLE_RE.fullmatch(text.strip())
    if match is None:
        raise CommandError(f"a role must be a role mention like @artists or a role id (got {_show(text)})")
    return next(g for g in match.groups() if g)


def _channels(words: list[str], options: dict[str, str]) -> str:
    refs = [*words, *options.get("channel", "").split()]
    return " ".join(dict.fromkeys(parse_channel(r) for r in refs)) or HERE


def parse_moderation(
    action: str, text: str, words: list[str], options: dict[str, str]
) -> tuple[dict[str, str], int | None]:
    """The admin_args (and job id) of one moderation action; raises CommandError naming what is wrong."""
    stray = set(options) - {"action", *MODERATION_OPTIONS}
    if stray:
        raise CommandError(f"/animate-admin {action} has no option {_show(sorted(stray)[0])}")
    if action == "reports":
        close = options.get("close")
        if close is None and words[:1] and words[0].lower() == "close":
            close = words[1] if len(words) == 2 else ""
        elif words:
            raise CommandError(
                f"/animate-admin reports does not take {_show(' '.join(words))}; usage: reports [close <n>]"
            )
        if close is None:
            return {}, None
        match = _JOB_RE.fullmatch(close)
        if match is None or int(match.group(1)) < 1:
            raise CommandError("/animate-admin reports close needs one report number, e.g. reports close 3")
        return {"close": match.group(1)}, None
    if action == "release":
        job_text = options.get("job") or (words[0] if words else None)
        match = _JOB_RE.fullmatch(job_text or "")
        if match is None or int(match.group(1)) < 1 or len(words) > 1:
            raise CommandError("/animate-admin release needs one job number, e.g. /animate-admin release 12")
        return {}, int(match.group(1))
    if action == "block":
        op = _op(action, words, options, BLOCK_OPS, None)
        rule = _one_line(options.get("text") or " ".join(words))
        if op != "list" and not rule:
            raise CommandError(f"/animate-admin block {op} needs a word, a phrase or a /regular expression/")
        if op == "list" and rule:
            raise CommandError(f"/animate-admin block list does not take {_show(rule)}")
        return {"op": op, "text": rule} if rule else {"op": op}, None
    if action == "channels":
        op = _op(action, words, options, CHANNEL_OPS, "list")
        if op in ("clear", "list"):
            if words or options.get("channel"):
                raise CommandError(f"/animate-admin channels {op} takes no channel")
            return {"op": op}, None
        return {"op": op, "channel": _channels(words, options)}, None
    if action == "safety":
        op = _op(action, words, {"op": options["policy"]} if "policy" in options else options, SAFETY_OPS, "show")
        if op == "show":
            if words or options.get("channel"):
                raise CommandError("/animate-admin safety show takes no channel")
            return {"op": op}, None
        if len(words) + len(options.get("channel", "").split()) > 1:
            raise CommandError(f"/animate-admin safety {op} takes one channel (default: this one)")
        return {"op": op, "channel": _channels(words, options)}, None
    if action == "quota":
        values: dict[str, str] = {}
        keys = {
            "user": "user_daily",
            "user_daily": "user_daily",
            "server": "server_daily",
            "server_daily": "server_daily",
        }
        for word in words:
            key, colon, value = word.partition(":")
            name = keys.get(key.lower())
            if not colon or name is None:
                raise CommandError(f"unknown quota {_show(word)}; allowed: user:<n> server:<n> (0 turns it off)")
            values[name] = value
        for name in ("user_daily", "server_daily"):
            if name in options:
                values[name] = options[name]
        return {k: str(_int(v, k, 0, QUOTA_MAX)) for k, v in values.items()}, None
    # roles
    op = _op(action, words, options, ROLE_OPS, "list")
    refs = [*words, *options.get("role", "").split()]
    if op in ("clear", "list"):
        if refs:
            raise CommandError(f"/animate-admin roles {op} takes no role")
        return {"op": op}, None
    if not refs:
        raise CommandError(f"/animate-admin roles {op} needs a role, e.g. /animate-admin roles {op} @artists")
    return {"op": op, "role": " ".join(dict.fromkeys(parse_role(r) for r in refs))}, None
