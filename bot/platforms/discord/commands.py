"""The slash commands Discord shows, as discord.py ``app_commands``, made from the one command table.

Each command only gathers its native options into the grammar's keys and hands them to a runner (the
adapter); parsing, validation and every decision happen in the service. Typed ``key:value`` tokens inside
``/animate``'s prompt keep working because the prompt is passed on as the command's text. Nothing here
names a command or an option: they come from :data:`bot.commands.COMMANDS`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Optional

import discord
from discord import app_commands

from bot.commands import COMMANDS, Option, Spec

log = logging.getLogger("animatebot.discord")

CommandRunner = Callable[[discord.Interaction, str, str, Mapping[str, object]], Awaitable[None]]
ModelChoices = Callable[[str], list[tuple[str, str]]]
MessageRunner = Callable[[discord.Interaction, discord.Message], Awaitable[None]]
ANIMATE_IMAGE_MENU = "Animate image"

CHOICES_MAX = 25  # Discord shows at most 25 autocomplete choices

_TYPES: dict[str, Any] = {
    "text": str,
    "int": int,
    "float": float,
    "bool": bool,
    "user": discord.User,
    "channel": app_commands.AppCommandChannel,
    "role": discord.Role,
    "file": discord.Attachment,
}


def motion_option(motion: str | None, motion2: str | None, strength: float | None) -> str | None:
    """Discord's motion, motion2 and motion_strength options as one grammar value.

    ``("zoom-in", "pan-left", 0.8)`` -> ``"zoom-in@0.8+pan-left@0.8"``; no motion -> None
    (a strength without a motion has nothing to apply to).
    """
    names = [name for name in (motion, motion2) if name]
    if not names:
        return None
    suffix = f"@{strength:g}" if strength is not None else ""
    return "+".join(name + suffix for name in names)


def _value(value: object) -> object:
    """A native value as the grammar reads it: people, channels and roles as their mentions."""
    if isinstance(value, discord.Role):
        return f"<@&{value.id}>"
    if isinstance(value, discord.abc.User):
        return f"<@{value.id}>"
    if isinstance(value, app_commands.AppCommandChannel | app_commands.AppCommandThread):
        return f"<#{value.id}>"
    return value


def gather(values: Mapping[str, object]) -> dict[str, object]:
    """Native values by grammar key -> the options the grammar reads. Discord splits two things the grammar
    holds in one value: the motions with their strength (``motion``, ``motion2``, ``motion_strength``), and
    ``showcase off`` (a switch beside the channel)."""
    given = {key: _value(value) for key, value in values.items() if value is not None}
    if {"motion", "motion2", "motion_strength"} & set(given):
        strength = given.pop("motion_strength", None)
        combined = motion_option(given.pop("motion", None), given.pop("motion2", None), strength)  # type: ignore[arg-type]
        if combined is not None:
            given["motion"] = combined
    if given.pop("off", False) is True:
        given["channel"] = "off"
    return given


def _annotation(option: Option) -> Any:
    kind: Any = _TYPES[option.kind]
    if option.choices:
        pass  # the choices bound the value
    elif option.kind == "int" and option.low is not None and option.high is not None:
        kind = app_commands.Range[int, int(option.low), int(option.high)]
    elif option.kind == "float" and option.low is not None and option.high is not None:
        kind = app_commands.Range[float, float(option.low), float(option.high)]
    elif option.kind == "text" and option.low is not None and option.high is not None:
        kind = app_commands.Range[str, int(option.low), int(option.high)]
    return kind if option.required else Optional[kind]  # noqa: UP045  discord.py reads typing.Optional


def _native(spec: Spec) -> list[Option]:
    # Discord wants the required options first.
    offered = [o for o in spec.options if o.offered]
    return sorted(offered, key=lambda o: not o.required)


def _command(
    spec: Spec, command_name: str, action: str | None, run: CommandRunner, model_choices: ModelChoices
) -> app_commands.Command[Any, ..., None]:
    """One application command (or subcommand) for ``spec``: its options, their limits, choices and help."""
    options = _native(spec)
    by_native = {o.native_name: o for o in options}

    async def callback(interaction: discord.Interaction, **native: object) -> None:
        text = ""
        values: dict[str, object] = {"action": action} if action else {}
        for name, value in native.items():
            option = by_native[name]
            if option.is_text:
                text = str(value or "")
            else:
                values[option.key] = value
        await run(interaction, command_name, text, gather(values))

    parameters = [
        inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction)
    ]
    for option in options:
        default = inspect.Parameter.empty if option.required else None
        parameters.append(
            inspect.Parameter(
                option.native_name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=default,
                annotation=_annotation(option),
            )
        )
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    described = app_commands.describe(**{o.native_name: o.help[:100] for o in options})(callback)
    choices = {
        o.native_name: [app_commands.Choice(name=label[:100], value=value) for label, value in o.choices]
        for o in options
        if o.choices
    }
    if choices:
        described = app_commands.choices(**choices)(described)
    command: app_commands.Command[Any, ..., None] = app_commands.Command(
        name=spec.name, description=spec.help[:100], callback=described
    )
    for option in options:
        if option.autocomplete:
            command.autocomplete(option.native_name)(_autocomplete(model_choices))
    return command


def _autocomplete(
    model_choices: ModelChoices,
) -> Callable[[discord.Interaction, str], Coroutine[Any, Any, list[app_commands.Choice[str]]]]:
    async def complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        try:
            choices = model_choices(current)
        except Exception:  # an autocomplete that fails just shows nothing
            log.exception("model autocomplete failed")
            return []
        return [app_commands.Choice(name=label[:100], value=value[:100]) for label, value in choices[:CHOICES_MAX]]

    return complete


def _group(spec: Spec, run: CommandRunner, model_choices: ModelChoices) -> app_commands.Group:
    # default_permissions only hides an admin group from members without Manage Server (and server
    # admins can change that); the service checks again on every call.
    group = app_commands.Group(
        name=spec.name,
        description=spec.help[:100],
        default_permissions=discord.Permissions(manage_guild=True) if spec.admin else None,
        guild_only=spec.admin,
    )
    for sub in spec.subcommands:
        group.add_command(_command(sub, spec.name, sub.name, run, model_choices))
    return group


def build_tree(
    client: discord.Client,
    run: CommandRunner,
    model_choices: ModelChoices,
    animate_image: MessageRunner | None = None,
) -> app_commands.CommandTree:
    """A CommandTree on ``client`` with /animate, /animate-* and the /animate-admin group.

    Every command calls ``run(interaction, name, text, options)`` with the grammar's option keys
    (``image`` is the discord.Attachment itself, for the adapter to fetch); the admin model option
    autocompletes from ``model_choices(current)``. With ``animate_image``, the message menu
    "Animate image" calls ``animate_image(interaction, message)``.
    """
    tree = app_commands.CommandTree(client)
    for spec in COMMANDS:
        if spec.subcommands:
            tree.add_command(_group(spec, run, model_choices))
        else:
            tree.add_command(_command(spec, spec.name, None, run, model_choices))
    if animate_image is not None:

        @tree.context_menu(name=ANIMATE_IMAGE_MENU)
        async def animate_image_menu(interaction: discord.Interaction, message: discord.Message) -> None:
            await animate_image(interaction, message)

    return tree
