"""The slash commands Discord shows, as discord.py ``app_commands``.

Each command only gathers its native options into the shared grammar's keys and hands them to a
runner (the adapter); parsing, validation and every decision happen in the service. Typed
``key:value`` tokens inside ``/animate``'s prompt keep working because the prompt is passed on as
the command's text.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

import discord
from discord import app_commands

from bot.commands import LIMIT_MAX, MAX_REASON_CHARS, SHOWCASE_MAX
from bot.commands.moderation import BLOCK_OPS, CHANNEL_OPS, QUOTA_MAX, ROLE_OPS, SAFETY_OPS
from generation.catalog import ALLOWED_STEPS, MOTIONS, STEP_CHECKPOINTS
from generation.params import (
    ASPECTS,
    DEFAULT_MOTION_STRENGTH,
    FORMATS,
    FRAMES_MAX,
    FRAMES_MIN,
    GUIDANCE_MAX,
    GUIDANCE_MIN,
    LOOPS,
    SEED_MAX,
    STRENGTH_MAX,
    STRENGTH_MIN,
)

log = logging.getLogger("animatebot.discord")

CommandRunner = Callable[[discord.Interaction, str, str, Mapping[str, object]], Awaitable[None]]
ModelChoices = Callable[[str], list[tuple[str, str]]]
MessageRunner = Callable[[discord.Interaction, discord.Message], Awaitable[None]]
ANIMATE_IMAGE_MENU = "Animate image"

JOB_MAX = 2**53  # Discord integer options stop here
CHOICES_MAX = 25  # Discord shows at most 25 autocomplete choices

MOTION_CHOICES: list[app_commands.Choice[str]] = [
    app_commands.Choice(name=f"{m.name}: {m.description}", value=m.name) for m in MOTIONS
]
STEP_CHOICES: list[app_commands.Choice[int]] = [
    app_commands.Choice(name=f"{s}: {STEP_CHECKPOINTS[s].note}"[:100], value=s) for s in ALLOWED_STEPS
]
ASPECT_CHOICES: list[app_commands.Choice[str]] = [
    app_commands.Choice(name=f"{a} ({w}x{h})", value=a) for a, (w, h) in ASPECTS.items()
]
FORMAT_CHOICES: list[app_commands.Choice[str]] = [app_commands.Choice(name=f, value=f) for f in FORMATS]
LOOP_CHOICES: list[app_commands.Choice[str]] = [app_commands.Choice(name=loop, value=loop) for loop in LOOPS]


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


def _given(options: Mapping[str, object | None]) -> dict[str, object]:
    return {key: value for key, value in options.items() if value is not None}


def _mention(user: discord.abc.User | None) -> str | None:
    return f"<@{user.id}>" if user is not None else None


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

    @tree.command(name="animate", description="Turn a line of text into a short animated clip")
    @app_commands.describe(
        prompt="What to animate; key:value tokens such as motion:zoom-in steps:8 work here too",
        motion="Camera motion (MotionLoRA)",
        motion2="A second camera motion to combine with the first",
        motion_strength=f"Strength of the motion(s), 0 to 1 (default {DEFAULT_MOTION_STRENGTH:g})",
        steps="AnimateDiff-Lightning checkpoint: fewer steps are faster",
        frames=f"Clip length in frames ({FRAMES_MIN}-{FRAMES_MAX})",
        seed="Same seed and settings give the same clip",
        negative="What to avoid (acts when guidance > 1)",
        guidance="How hard to follow the prompt (Lightning is made for 1)",
        aspect="Shape of the clip",
        format="File type",
        loop="pingpong plays forward then back: a seamless loop",
        image="A picture to animate (PNG, JPEG, WebP, GIF; up to 20 MB)",
        strength="With an image: how far the clip may move away from it, 0.1 to 1 (default 0.6)",
    )
    @app_commands.choices(motion=MOTION_CHOICES, motion2=MOTION_CHOICES, aspect=ASPECT_CHOICES, format=FORMAT_CHOICES)
    @app_commands.choices(loop=LOOP_CHOICES)
    @app_commands.choices(steps=STEP_CHOICES)
    async def animate(
        interaction: discord.Interaction,
        prompt: str,
        motion: str | None = None,
        motion2: str | None = None,
        motion_strength: app_commands.Range[float, 0.0, 1.0] | None = None,
        steps: int | None = None,
        frames: app_commands.Range[int, FRAMES_MIN, FRAMES_MAX] | None = None,
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
        negative: str | None = None,
        guidance: app_commands.Range[float, GUIDANCE_MIN, GUIDANCE_MAX] | None = None,
        aspect: str | None = None,
        format: str | None = None,
        loop: str | None = None,
        image: discord.Attachment | None = None,
        strength: app_commands.Range[float, STRENGTH_MIN, STRENGTH_MAX] | None = None,
    ) -> None:
        options = _given(
            {
                "motion": motion_option(motion, motion2, motion_strength),
                "steps": steps,
                "frames": frames,
                "seed": seed,
                "neg": negative,
                "guidance": guidance,
                "aspect": aspect,
                "format": format,
                "loop": loop,
                "image": image,
                "strength": strength,
            }
        )
        await run(interaction, "animate", prompt, options)

    if animate_image is not None:

        @tree.context_menu(name=ANIMATE_IMAGE_MENU)
        async def animate_image_menu(interaction: discord.Interaction, message: discord.Message) -> None:
            await animate_image(interaction, message)

    @tree.command(name="animate-queue", description="The clips waiting and running")
    async def queue(interaction: discord.Interaction) -> None:
        await run(interaction, "animate-queue", "", {})

    @tree.command(name="animate-cancel", description="Cancel a job of yours (default: your latest)")
    @app_commands.describe(job="Job number, e.g. 12")
    async def cancel(interaction: discord.Interaction, job: app_commands.Range[int, 1, JOB_MAX] | None = None) -> None:
        await run(interaction, "animate-cancel", "", _given({"job": job}))

    @tree.command(name="animate-history", description="Past clips, optionally one person's or matching words")
    @app_commands.describe(user="Whose clips", search="Words in the prompt")
    async def history(
        interaction: discord.Interaction, user: discord.User | None = None, search: str | None = None
    ) -> None:
        await run(interaction, "animate-history", "", _given({"user": _mention(user), "search": search}))

    @tree.command(name="animate-show", description="One job and its clip")
    @app_commands.describe(job="Job number, e.g. 12")
    async def show(interaction: discord.Interaction, job: app_commands.Range[int, 1, JOB_MAX]) -> None:
        await run(interaction, "animate-show", "", {"job": job})

    @tree.command(name="animate-review", description="Review clips with the team in their threads")
    @app_commands.describe(job="Job number (default: the clips waiting for review)")
    async def review(interaction: discord.Interaction, job: app_commands.Range[int, 1, JOB_MAX] | None = None) -> None:
        await run(interaction, "animate-review", "", _given({"job": job}))

    @tree.command(name="animate-board", description="A private one-time link to the team's review board (web)")
    async def board(interaction: discord.Interaction) -> None:
        await run(interaction, "animate-board", "", {})

    @tree.command(name="animate-help", description="How to use animatebot: commands, options, motions, models")
    async def help_(interaction: discord.Interaction) -> None:
        await run(interaction, "animate-help", "", {})

    @tree.command(name="animate-extend", description="Continue a clip: more frames, the prompt going on")
    @app_commands.describe(
        job="Job number of the clip, e.g. 12",
        prompt="What happens next (default: the clip's prompt)",
        frames=f"Frames to add ({FRAMES_MIN}-{FRAMES_MAX}, default 16)",
    )
    async def extend(
        interaction: discord.Interaction,
        job: app_commands.Range[int, 1, JOB_MAX],
        prompt: str | None = None,
        frames: app_commands.Range[int, FRAMES_MIN, FRAMES_MAX] | None = None,
    ) -> None:
        await run(interaction, "animate-extend", "", _given({"job": job, "prompt": prompt, "frames": frames}))

    tree.add_command(_admin_group(run, model_choices))
    return tree


def _admin_group(run: CommandRunner, model_choices: ModelChoices) -> app_commands.Group:
    # default_permissions only hides the group from members without Manage Server (and server
    # admins can change that); the service checks again on every call.
    admin = app_commands.Group(
        name="animate-admin",
        description="Admins: base model, pause/resume, limits, bans, moderation",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )

    async def run_admin(interaction: discord.Interaction, action: str, **options: object) -> None:
        await run(interaction, "animate-admin", "", _given({"action": action, **options}))

    @admin.command(name="model", description="Switch the base model")
    @app_commands.describe(name="A catalog alias or a Hugging Face repo id owner/name")
    async def model(interaction: discord.Interaction, name: app_commands.Range[str, 1, 200]) -> None:
        await run_admin(interaction, "model", model=name)

    @model.autocomplete("name")
    async def model_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        try:
            choices = model_choices(current)
        except Exception:  # an autocomplete that fails just shows nothing
            log.exception("model autocomplete failed")
            return []
        return [app_commands.Choice(name=label[:100], value=value[:100]) for label, value in choices[:CHOICES_MAX]]

    @admin.command(name="models", description="List the base models")
    async def models(interaction: discord.Interaction) -> None:
        await run_admin(interaction, "models")

    @admin.command(name="pause", description="Stop starting new jobs (running ones finish)")
    async def pause(interaction: discord.Interaction) -> None:
        await run_admin(interaction, "pause")

    @admin.command(name="resume", description="Start jobs again")
    async def resume(interaction: discord.Interaction) -> None:
        await run_admin(interaction, "resume")

    @admin.command(name="workers", description="Each worker: host, GPU, model, idle or busy, jobs done")
    async def workers(interaction: discord.Interaction) -> None:
        await run_admin(interaction, "workers")

    @admin.command(name="limits", description="Show or change the limits")
    @app_commands.describe(
        per_user="Active jobs one person may have",
        per_hour="Jobs per person per hour",
        queue_cap="Jobs waiting at most",
    )
    async def limits(
        interaction: discord.Interaction,
        per_user: app_commands.Range[int, 1, LIMIT_MAX] | None = None,
        per_hour: app_commands.Range[int, 1, LIMIT_MAX] | None = None,
        queue_cap: app_commands.Range[int, 1, LIMIT_MAX] | None = None,
    ) -> None:
        await run_admin(interaction, "limits", per_user=per_user, per_hour=per_hour, queue_cap=queue_cap)

    @admin.command(name="ban", description="Stop someone from queueing clips")
    @app_commands.describe(user="Who", reason="Why (shown to them)")
    async def ban(
        interaction: discord.Interaction,
        user: discord.User,
        reason: app_commands.Range[str, 1, MAX_REASON_CHARS] | None = None,
    ) -> None:
        await run_admin(interaction, "ban", user=_mention(user), reason=reason)

    @admin.command(name="showcase", description="Where clips with enough approvals are posted (once each)")
    @app_commands.describe(
        channel="The showcase channel (none: show the setting)",
        approvals="Approvals needed (default 3)",
        off="Turn the showcase off",
    )
    async def showcase(
        interaction: discord.Interaction,
        channel: app_commands.AppCommandChannel | None = None,
        approvals: app_commands.Range[int, 1, SHOWCASE_MAX] | None = None,
        off: bool = False,
    ) -> None:
        target = "off" if off else _channel_ref(channel)
        await run_admin(interaction, "showcase", channel=target, approvals=approvals)

    @admin.command(name="unban", description="Let someone queue clips again")
    @app_commands.describe(user="A mention or a user id (they may have left the server)")
    async def unban(interaction: discord.Interaction, user: app_commands.Range[str, 1, 100]) -> None:
        await run_admin(interaction, "unban", user=user)

    _moderation_commands(admin, run_admin)
    return admin


def _choices(values: tuple[str, ...]) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=v, value=v) for v in values]


def _channel_ref(channel: app_commands.AppCommandChannel | None) -> str | None:
    return f"<#{channel.id}>" if channel is not None else None


def _moderation_commands(admin: app_commands.Group, run_admin: Callable[..., Awaitable[None]]) -> None:
    """The moderation subcommands; each gathers its options into the grammar's keys (see bot.commands.moderation)."""

    @admin.command(name="block", description="Prompt rules: words, phrases or /regular expressions/")
    @app_commands.describe(op="What to do", text="A word, phrase or /regex/ (add, remove), or a prompt (test)")
    @app_commands.choices(op=_choices(BLOCK_OPS))
    async def block(
        interaction: discord.Interaction, op: str, text: app_commands.Range[str, 1, 200] | None = None
    ) -> None:
        await run_admin(interaction, "block", op=op, text=text)

    @admin.command(name="channels", description="Where /animate works: every channel, an allow list or a deny list")
    @app_commands.describe(op="What to do", channel="Which channel (default: this one)")
    @app_commands.choices(op=_choices(CHANNEL_OPS))
    async def channels(
        interaction: discord.Interaction, op: str, channel: app_commands.AppCommandChannel | None = None
    ) -> None:
        await run_admin(interaction, "channels", op=op, channel=_channel_ref(channel))

    @admin.command(name="safety", description="What a channel does with clips the NSFW check flags")
    @app_commands.describe(policy="show, or the policy to set", channel="Which channel (default: this one)")
    @app_commands.choices(policy=_choices(SAFETY_OPS))
    async def safety(
        interaction: discord.Interaction, policy: str = "show", channel: app_commands.AppCommandChannel | None = None
    ) -> None:
        await run_admin(interaction, "safety", policy=policy, channel=_channel_ref(channel))

    @admin.command(name="quota", description="Show or set the clips per 24 hours (0 = none)")
    @app_commands.describe(user_daily="Clips per person per 24 h", server_daily="Clips on this server per 24 h")
    async def quota(
        interaction: discord.Interaction,
        user_daily: app_commands.Range[int, 0, QUOTA_MAX] | None = None,
        server_daily: app_commands.Range[int, 0, QUOTA_MAX] | None = None,
    ) -> None:
        await run_admin(interaction, "quota", user_daily=user_daily, server_daily=server_daily)

    @admin.command(name="roles", description="Roles allowed to use /animate (none = everyone)")
    @app_commands.describe(op="What to do", role="Which role (add, remove)")
    @app_commands.choices(op=_choices(ROLE_OPS))
    async def roles(interaction: discord.Interaction, op: str, role: discord.Role | None = None) -> None:
        await run_admin(interaction, "roles", op=op, role=f"<@&{role.id}>" if role is not None else None)

    @admin.command(name="release", description="Post a clip the safety check withheld")
    @app_commands.describe(job="Job number, e.g. 12")
    async def release(interaction: discord.Interaction, job: app_commands.Range[int, 1, JOB_MAX]) -> None:
        await run_admin(interaction, "release", job=job)

    @admin.command(name="reports", description="The open reports on clips, or close one")
    @app_commands.describe(close="A report number to close")
    async def reports(
        interaction: discord.Interaction, close: app_commands.Range[int, 1, JOB_MAX] | None = None
    ) -> None:
        await run_admin(interaction, "reports", close=close)
