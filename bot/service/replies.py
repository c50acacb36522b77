"""How jobs look in chat: every user-facing wording of the service, as neutral chat.Messages.

Adapters turn these into embeds, Block Kit or plain text; nothing here knows a platform.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bot.chat import Button, Field, Message, Tone, shorten
from generation.catalog import BASE_MODELS, find_base_model
from generation.jobs.backend import WorkerState
from generation.jobs.ratelimit import Limits
from generation.params import VARY_BLENDS, GenerationParams, smoothed_length
from storage.models import Job, JobStatus
from storage.repository import Tally

TINY_NOTE = "made by the tiny test model (random weights): the frames are noise"


def seconds(value: float | None) -> str:
    if value is None:
        return "?"
    if value < 90:
        return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"
    return f"{math.ceil(value / 60)} min"


def excerpt(text: str, limit: int = 60) -> str:
    return shorten(" ".join(text.split()), limit)


def thread_name(job: Job) -> str:
    return excerpt(f"#{job.id} {job.prompt}", 90)


def _params(job: Job) -> GenerationParams:
    return GenerationParams.from_dict(job.params)


def _size(p: GenerationParams) -> str:
    if p.upscale == 1:
        return f"{p.width}x{p.height} ({p.aspect})"
    width, height = p.output_size
    return f"{width}x{height} ({p.aspect}, upscaled x{p.upscale:g} from {p.width}x{p.height})"


def describe(job: Job) -> tuple[Field, ...]:
    """The parameters of a clip as it was made (or as asked, before it ran)."""
    p = _params(job)
    motions = job.motions_used or p.motion_text
    model = job.model_used or job.requested_model or "active model"
    frames = f"{job.frames} @ {p.fps} fps"
    if p.loop == "pingpong":
        frames = f"{job.frames}, ping-pong loop of {p.output_frames} @ {p.output_fps} fps"
    if p.smooth > 1:
        frames = f"{job.frames}, smoothed x{p.smooth} to {smoothed_length(job.frames, p.smooth)}" + (
            f", ping-pong loop of {p.output_frames}" if p.loop == "pingpong" else ""
        )
        frames += f" @ {p.output_fps} fps"
    fields = [
        Field("Motion", motions),
        Field("Steps", str(job.steps_used or job.steps)),
        Field("Frames", frames),
        Field("Seed", str(job.seed) if job.seed is not None else "random"),
        Field("Model", model),
        Field("Size", _size(p)),
    ]
    if p.loop != "none":
        fields.append(Field("Loop", "ping-pong: forward, then back, seamless"))
    if p.image is not None:
        fields.append(Field("Image", f"animated from the image, strength {p.strength:g}"))
    scenes = p.scenes
    if len(scenes) > 1:
        fields.append(Field("Scenes", " → ".join(excerpt(s, 60) for s in scenes), inline=False))
    if p.guidance != 1.0:
        fields.append(Field("Guidance", f"{p.guidance:g}"))
    if p.negative_prompt:
        fields.append(Field("Negative", excerpt(p.negative_prompt, 100), inline=False))
    if (job.variant_count or 1) > 1:
        fields.append(
            Field("Takes", f"{job.variant_count}, seeds {job.seed}..{(job.seed or 0) + job.variant_count - 1}")
        )
    if p.vary_seed is not None:
        fields.append(Field("Varied", f"seed {p.seed} blended {p.vary_blend:g} towards seed {p.vary_seed}"))
    if job.denoise_s is not None:
        total = (job.load_s or 0) + job.denoise_s + (job.decode_s or 0) + (job.encode_s or 0)
        fields.append(Field("Time", seconds(total)))
    return tuple(fields)


def queued(job: Job, position: int, eta_s: float, notes: Sequence[str] = (), paused: bool = False) -> Message:
    where = "next in line" if position <= 1 else f"position {position}"
    text = f"queued #{job.id}, {where}, about {seconds(eta_s)}"
    if paused:
        text += " (the queue is paused by an admin; it starts when they resume it)"
    lines = [text, f"> {excerpt(job.prompt, 200)}", *(f"note: {n}" for n in notes)]
    return Message("\n".join(lines), tone="info")


def running(job: Job, step: int, total: int) -> Message:
    # The bar itself is drawn by each adapter from ``progress``, natively where it can.
    fraction = step / total if total else 0.0
    return Message(f"#{job.id} generating: step {step}/{total}\n> {excerpt(job.prompt, 200)}", progress=fraction)


def finished_parent(job: Job, link: str | None) -> Message:
    """The parent message once a job has ended."""
    status = job.job_status
    where = f" — {link}" if link else ""
    tone: Tone
    if status is JobStatus.SUCCEEDED:
        text = f"done #{job.id}: clip posted{where}"
        tone = "ok"
    elif status is JobStatus.CANCELLED:
        text, tone = f"cancelled #{job.id}", "info"
    else:
        text, tone = f"failed #{job.id}: {job.error or 'unknown error'}", "error"
    return Message(f"{text}\n> {excerpt(job.prompt, 200)}", tone=tone)


def buttons(job_id: int, *, remix: bool = True) -> tuple[Button, ...]:
    items = [Button("reroll", job_id, "Reroll", "primary")]
    if remix:
        items.append(Button("remix", job_id, "Remix", "secondary"))
    items += [
        Button("approve", job_id, "Approve", "success"),
        Button("reject", job_id, "Reject", "danger"),
        Button("delete", job_id, "Delete", "secondary"),
        Button("report", job_id, "Report", "secondary"),
    ]
    if remix:  # it asks for a name in a form, as Remix asks for a prompt
        items.append(Button("preset", job_id, "Save as preset", "secondary"))
    items += [
        Button("vary-subtle", job_id, "Vary (subtle)", "secondary"),
        Button("vary-strong", job_id, "Vary (strong)", "secondary"),
        Button("smooth", job_id, "Smooth", "secondary"),
        Button("upscale", job_id, "Upscale", "secondary"),
        Button("extend", job_id, "Extend", "secondary"),
    ]
    return tuple(items)


def set_buttons(job_id: int, takes: int) -> tuple[Button, ...]:
    """A row per take (Pick, Vary subtle, Vary strong), then Reroll for the whole set, Delete and Report."""
    items: list[Button] = []
    for take in range(1, takes + 1):
        items += [
            Button("pick", job_id, f"Pick {take}", "primary", variant=take),
            Button("vary-subtle", job_id, f"Vary {take} (subtle)", "secondary", variant=take),
            Button("vary-strong", job_id, f"Vary {take} (strong)", "secondary", variant=take),
        ]
    items += [
        Button("reroll", job_id, "Reroll all", "primary"),
        Button("delete", job_id, "Delete", "secondary"),
        Button("report", job_id, "Report", "secondary"),
    ]
    return tuple(items)


def takes(job: Job) -> list[dict[str, object]]:
    """A set's takes as recorded (empty for a single clip, or a set not made yet)."""
    return list(job.variants or ()) if (job.variant_count or 1) > 1 else []


def made_from(job: Job) -> str:
    """How a clip came from its parent: "varied from #3 (subtle)", "take 2 of #3", "reroll of #3"."""
    if job.parent_id is None:
        return ""
    p = _params(job)
    if job.lineage == "vary":
        names = [name for name, blend in VARY_BLENDS.items() if blend == p.vary_blend]
        return f"varied from #{job.parent_id} ({names[0] if names else f'blend {p.vary_blend:g}'})"
    if job.lineage == "pick":
        return f"picked from #{job.parent_id}"
    return f"{job.lineage} of #{job.parent_id}"


def variant_set(job: Job, *, lineage: bool = True) -> Message:
    """The one message that carries a set's takes, each with its seed and its own row of buttons."""
    made = f" ({made_from(job)})" if job.parent_id and lineage else ""
    seeds = " · ".join(f"{i}: seed {t['seed']}" for i, t in enumerate(takes(job), start=1))
    notes = [n for n in (job.notes or "").splitlines() if n]
    if job.tiny and not any("tiny test model" in n for n in notes):
        notes.insert(0, TINY_NOTE)
    footer = f"requested by {job.user_name or job.user_key}" + (" · " + " · ".join(notes) if notes else "")
    return Message(
        f"{excerpt(job.prompt, 300)}\npick a take to post it as a clip, or vary one",
        title=f"#{job.id}{made}: {len(takes(job))} takes",
        fields=(*describe(job), Field("Takes", seeds, inline=False)),
        buttons=set_buttons(job.id, len(takes(job))),
        tone="ok",
        footer=footer,
    )


def clip(job: Job, tally: Tally, *, remix: bool = True, lineage: bool = True) -> Message:
    """The message that carries the clip, with its parameters, review tally and actions.

    ``lineage``: name the clip it was made from (only where that clip may be seen)."""
    made = f" ({made_from(job)})" if job.parent_id and lineage else ""
    fields = [*describe(job), Field("Review", review_text(tally))]
    notes = [n for n in (job.notes or "").splitlines() if n]
    if job.tiny and not any("tiny test model" in n for n in notes):
        notes.insert(0, TINY_NOTE)
    footer = f"requested by {job.user_name or job.user_key}" + (" · " + " · ".join(notes) if notes else "")
    return Message(
        excerpt(job.prompt, 300),
        title=f"#{job.id}{made}",
        fields=tuple(fields),
        buttons=buttons(job.id, remix=remix),
        tone="ok",
        footer=footer,
    )


def review_text(tally: Tally) -> str:
    if not tally.decided:
        return "awaiting review"
    approvals = "approval" if tally.approve == 1 else "approvals"
    rejections = "rejection" if tally.reject == 1 else "rejections"
    return f"✅ {tally.approve} {approvals} · ❌ {tally.reject} {rejections}"


BOARD_OFF = "the review board is off on this bot (its operator sets ANIMATEBOT_WEB_PORT to turn it on)"
BOARD_TOO_OFTEN = "you asked for several sign-in links just now; use the last one, or wait 10 minutes"


def board_link(link: str) -> Message:
    """The private answer to /animate-board: a one-time sign-in link."""
    return Message(
        f"{link}\nThis link signs you in to the review board once, within 10 minutes. Do not share it.",
        title="Your review board link",
        tone="ok",
    )


def job_line(job: Job) -> str:
    status = job.status
    if job.status == JobStatus.SUCCEEDED.value and job.output_bytes:
        status = f"{job.output_format} {job.output_bytes / 1024:.0f} KiB"
    if job.expired_at is not None:
        status = f"{job.status}, expired"
    who = job.user_name or job.user_key
    kind = f" {job.variant_count} takes" if (job.variant_count or 1) > 1 else ""
    origin = f" ({made_from(job)})" if job.parent_id and job.lineage in ("pick", "vary") else ""
    return f"#{job.id} [{status}{kind}] {excerpt(job.prompt, 50)}{origin} — {who}, {job.created_at:%Y-%m-%d %H:%M} UTC"


def queue_view(
    running_jobs: Sequence[Job], progress: dict[int, int], waiting: Sequence[tuple[Job, float]], paused: bool
) -> Message:
    lines = []
    if paused:
        lines.append("The queue is paused: nothing new starts until an admin resumes it.")
    for job in running_jobs:
        lines.append(
            f"▶ #{job.id} step {progress.get(job.id, 0)}/{job.steps} {excerpt(job.prompt, 50)} — {job.user_name}"
        )
    for position, (job, eta) in enumerate(waiting, start=1):
        lines.append(f"{position}. #{job.id} {excerpt(job.prompt, 50)} — {job.user_name}, about {seconds(eta)}")
    if not lines:
        lines.append("The queue is empty: /animate something!")
    return Message("\n".join(lines), title=f"Queue: {len(running_jobs)} running, {len(waiting)} waiting")


def history(jobs: Sequence[Job], title: str) -> Message:
    if not jobs:
        return Message("No clips found.", title=title)
    return Message("\n".join(job_line(j) for j in jobs), title=title)


def job_detail(job: Job, tally: Tally) -> Message:
    lines = [excerpt(job.prompt, 300), f"status: {job.status}"]
    if job.error:
        lines.append(f"error: {job.error}")
    if job.expired_at is not None:
        lines.append(
            f"expired {job.expired_at:%Y-%m-%d}: its file was removed; a reroll makes it again from this recipe"
        )
    elif job.output_path and job.status == JobStatus.SUCCEEDED.value:
        lines.append(f"file: {job.output_path}")
    for number, take in enumerate(takes(job), start=1):
        if number > 1:
            lines.append(f"take {number}: seed {take['seed']}, file {take['path']}")
    if job.parent_id and job.lineage in ("pick", "vary"):
        lines.append(made_from(job))
    return Message("\n".join(lines), title=f"#{job.id}", fields=(*describe(job), Field("Review", review_text(tally))))


def models(active: str, is_tiny: bool) -> Message:
    lines = []
    for m in BASE_MODELS:
        mark = "▶" if find_base_model(active) is m else "·"
        lines.append(f"{mark} {m.alias} — {m.title} ({m.style}), {m.repo_id}")
    if find_base_model(active) is None:
        lines.append(f"▶ {active} (custom)")
    if is_tiny:
        lines.append("(this bot runs the tiny test model: every choice makes noise)")
    return Message("\n".join(lines), title="Base models")


def worker_line(state: WorkerState) -> str:
    """One worker for people: name, host, GPU, model, idle/busy, jobs done, last error."""
    if not state.alive:
        status = "down"
    elif state.job_id is not None:
        status = f"busy (#{state.job_id})"
    else:
        status = "idle"
    gpus = ",".join(state.gpus) if state.gpus else "none"
    line = (
        f"{state.name} on {state.host}, GPU {gpus}, model {state.model or '?'}: {status}, {state.jobs_done} jobs done"
    )
    if state.restarts:
        line += f", restarted {state.restarts} time{'s' if state.restarts != 1 else ''}"
    if state.last_error:
        line += f"; last error: {excerpt(state.last_error, 120)}"
    return line


def workers(states: Sequence[WorkerState]) -> Message:
    if not states:
        return Message("no workers are running", title="Workers")
    return Message("\n".join(worker_line(s) for s in states), title=f"Workers ({len(states)})")


def limits(current: Limits) -> Message:
    return Message(
        f"per_user:{current.max_active_per_user} per_hour:{current.max_per_hour} queue_cap:{current.queue_cap}\n"
        f"({current.describe()}; admins are exempt)",
        title="Limits",
    )


def error(text: str) -> Message:
    return Message(text, tone="error")


def info(text: str, title: str | None = None) -> Message:
    return Message(text, title=title)


# --- moderation ---------------------------------------------------------------------------------


def channel_mention(platform: str, channel_id: str) -> str:
    return f"<#{channel_id}>" if platform == "discord" else f"#{channel_id}"


def role_mention(platform: str, role_id: str) -> str:
    return f"<@&{role_id}>" if platform == "discord" else role_id


def prompt_refused(where: str) -> Message:
    # Never the matched word: the refusal may be seen, and the rule list is the admins' business.
    return error(f"this {where} is not allowed by this server's content rules; please rephrase it")


def channel_refused(platform: str, channels: Sequence[str], *, allow_list: bool) -> Message:
    names = ", ".join(channel_mention(platform, c) for c in channels)
    if allow_list:
        return error(f"/animate works only in {names} on this server")
    return error(f"/animate does not work in this channel; it works in every channel except {names}")


def roles_refused(platform: str, roles: Sequence[str]) -> Message:
    names = ", ".join(role_mention(platform, r) for r in roles)
    return error(f"/animate is for members with one of these roles here: {names}; ask an admin")


def withheld_parent(job: Job) -> Message:
    return Message(
        f"#{job.id} was withheld: the safety check flagged it for this channel. An admin can release it "
        f"with /animate-admin release {job.id}\n> {excerpt(job.prompt, 200)}",
        tone="error",
    )


def withheld_note(job: Job, link: str | None) -> Message:
    where = f" ({link})" if link else ""
    return Message(
        f"your clip #{job.id}{where} was withheld: the safety check flagged it for that channel. "
        "Only an admin can release it; you could try a different prompt or seed.",
        tone="error",
    )


def spoiler_warning(job: Job) -> Message:
    return Message(
        f"#{job.id} may not be safe for work (the safety check flagged it); click Reveal to show it.",
        title=f"#{job.id} (hidden)",
        buttons=(Button("reveal", job.id, "Reveal", "danger"),),
        tone="error",
        footer=f"requested by {job.user_name or job.user_key}",
    )


def report_notice(job: Job, reporter: str, reason: str, link: str | None, report_id: int) -> Message:
    lines = [f"{reporter} reported clip #{job.id}: {reason or '(no reason given)'}"]
    if link:
        lines.append(link)
    lines.append(f"> {excerpt(job.prompt, 200)}")
    return Message(
        "\n".join(lines),
        title=f"Report #{report_id}",
        fields=(Field("Requested by", job.user_name or job.user_key), Field("Channel", job.channel_id)),
        footer="act with the clip's Delete button or /animate-admin ban",
        tone="error",
    )


def reports_view(rows: Sequence[tuple[int, int, str, str, str | None]]) -> Message:
    """``rows``: (report id, job id, reporter, reason, link)."""
    if not rows:
        return Message("No open reports.", title="Reports")
    lines = [f"report #{rid}: clip #{job} by {who}: {excerpt(reason or '-', 80)}" + (f" {link}" if link else "")
             for rid, job, who, reason, link in rows]  # fmt: skip
    return Message("\n".join(lines), title=f"Open reports: {len(rows)}")


# --- where the bot may be used (bot/service/where.py) -------------------------------------------------------


def _server_word(platform: str) -> str:
    return "workspace" if platform == "slack" else "server"


def direct_messages_off(platform: str) -> Message:
    return error(
        f"this bot does not take direct messages; use /animate in a channel of a {_server_word(platform)} it is in"
    )


def server_not_allowed(platform: str) -> Message:
    word = _server_word(platform)
    return error(f"this bot is not available in this {word}; its owner allows it only in the {word}s they chose")


# --- presets ------------------------------------------------------------------------------------


def preset_missing(name: str) -> str:
    return f"there is no preset {name!r} here; /animate-preset list shows yours and this server's"


def preset_saved(name: str, tokens: str, *, server: bool, new: bool) -> Message:
    whose = "server preset" if server else "preset"
    verb = "saved" if new else "replaced"
    return Message(f"{whose} {name} {verb}: {tokens}\nuse it with /animate <prompt> preset:{name}", tone="ok")


def preset_default(name: str | None) -> Message:
    if name is None:
        return info("no default preset: your /animate starts from the usual defaults")
    return Message(f"preset {name} is now your default: every /animate of yours starts from it", tone="ok")


def preset_list(presets: list[Any], default: str | None) -> Message:
    """``presets``: SavedPreset rows (name, tokens, server), the person's first."""
    if not presets:
        return info("no presets yet; save one with /animate-preset save windy motion:pan-left frames:8", "Presets")
    lines = [
        f"{p.name}{' (server)' if p.server else ''}{' (your default)' if p.name == default else ''}: {p.tokens}"
        for p in presets
    ]
    return info("\n".join(lines), "Presets")
