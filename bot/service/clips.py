"""The use cases, neutral to platform: animate, reroll, remix, cancel, delete, queue, history,
show, review, admin. Adapters hand in an ``Invocation`` and a command; replies go back through
the invocation's responder and the platform's ``ChatAdapter``.

Who is an admin is decided here (configured ids plus what the platform reports), never by
what a chat client shows or hides.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bot.chat import ChatAdapter, Form, Invocation, Message, MessageRef, NotInChannel, Place, Precheck, parse_button
from bot.commands import (
    REPORT_REASON_MAX,
    Command,
    CommandError,
    form_for,
    help_text,
    parse_animate,
    parse_command,
)
from bot.service import replies as render
from bot.service.access import Access, Authority, tenant_of
from bot.service.actions import ActionRefused, action_params
from bot.service.admin import Admin
from bot.service.delivery import Delivery, place_of
from bot.service.images import ImageRefused, take_image
from bot.service.presets import Presets
from bot.service.scope import private_channel, scope_of
from bot.service.where import Where
from generation.catalog import BASE_MODELS, find_base_model
from generation.jobs.backend import Backend
from generation.jobs.events import EventKind, JobEvent
from generation.jobs.queue import Accepted, CancelOutcome, JobQueue, Refused, Submission
from generation.params import ACTIONS as AFTER_ACTIONS
from generation.params import EXTEND_TIMES, SEED_MAX, VARY_BLENDS, GenerationParams
from storage.models import DeliveryState, Job, JobStatus, SafetyDecision
from storage.repository import DuplicateRequest, Repository, Tally
from storage.scope import Scope

log = logging.getLogger("animatebot.service")

HISTORY_LIMIT = 10


@dataclass
class Service:
    """The ``CommandHandler`` every platform calls; built by ``bot.app`` from its parts."""

    repo: Repository
    queue: JobQueue
    worker: Backend
    access: Access
    admin: Admin
    delivery: Delivery
    upload_limit_bytes: int = 10 * 1024 * 1024
    report_channels: dict[str, str] = field(default_factory=dict)  # platform -> channel where admins see reports
    where: Where = field(default_factory=Where)  # allowed servers, direct messages on or off
    # Told of every vote after its row and the chat card (the review board's live tallies, the showcase).
    vote_listeners: list[Callable[[Job, Tally], Awaitable[None]]] = field(default_factory=list)
    board: Any = None  # the review board (bot.service.board.Board) when ANIMATEBOT_WEB_PORT is set
    presets: Presets = field(init=False)

    def __post_init__(self) -> None:
        self.presets = Presets(self.repo.db, self.access)

    # --- wiring ----------------------------------------------------------------------------------------
    @property
    def adapters(self) -> dict[str, ChatAdapter]:
        return self.delivery.adapters

    def add_adapter(self, adapter: ChatAdapter) -> None:
        """``adapter`` is up (started): replies and clips of its platform go through it from now on."""
        self.delivery.add_adapter(adapter)

    @property
    def active_model(self) -> str:
        return self.admin.model.get()

    async def start(self) -> None:
        """Recover the queue after a restart, start the worker, finish deliveries cut short."""
        _requeued, ended = await self.repo.db.offload(self.queue.recover)
        for job_id in ended:
            self.delivery.submit(JobEvent(EventKind.FAILED, job_id))
        await self.worker.start()
        for job in await self.repo.db.offload(self.repo.undelivered):
            self.delivery.submit(JobEvent(EventKind.ended(job.status), job.id))

    async def stop(self, grace_s: float = 30.0) -> None:
        await self.worker.stop(grace_s)
        await self.delivery.drain()

    async def wait_idle(self) -> None:
        """Return when every accepted job has ended and its outcome has been delivered."""
        while True:
            await self.worker.wait_idle()
            await self.delivery.drain()
            if not self.queue.has_active() and not self.delivery.pending:
                return

    # --- entry points for adapters ------------------------------------------------------------------------------
    async def precheck(
        self, inv: Invocation, name: str, text: str = "", options: Mapping[str, object] | None = None
    ) -> Precheck:
        """A parse error or refusal to show privately at once (None when the command will go ahead),
        and whether the command answers privately. Writes nothing."""
        refused = self.where.refusal(inv.place)
        if refused is not None:
            return Precheck(refused, private=True)
        try:
            command = await self._parse(inv, name, text, options)
        except CommandError as exc:
            return Precheck(render.error(str(exc)), private=True)
        if command.name != "animate" or command.animate is None:
            return Precheck(None, command.private)
        refusal = await self.repo.db.offload(self.access.animate_refusal, inv.actor, command.animate.params, inv.place)
        return Precheck(refusal, command.private)

    async def handle_command(
        self, inv: Invocation, name: str, text: str = "", options: Mapping[str, object] | None = None
    ) -> None:
        """Run one command and answer through ``inv.responder``. Never raises."""
        if await self._refused_here(inv):
            return
        try:
            command = await self._parse(inv, name, text, options)
        except CommandError as exc:
            await self._reply(inv, render.error(str(exc)), ephemeral=True)
            return
        try:
            await self._dispatch(inv, command)
        except Exception:
            log.exception("command %s failed", command.name)
            await self._reply(inv, render.error("something went wrong on our side; it has been logged"), ephemeral=True)

    async def handle_button(self, inv: Invocation, custom_id: str) -> None:
        if await self._refused_here(inv):
            return
        parsed = parse_button(custom_id)
        if parsed is None:
            await self._reply(inv, render.error("this button is not one of ours"), ephemeral=True)
            return
        action, job_id, take = parsed
        job = await self._live_clip(inv, job_id)
        if job is None:
            return
        try:
            if action == "reroll":
                params = _fresh(GenerationParams.from_dict(job.params))
                await self._animate(inv, params, (), parent=job, lineage="reroll")
            elif action in ("approve", "reject"):
                await self._vote(inv, job, action)
            elif action == "delete":
                await self._delete(inv, job)
            elif action == "remix":
                prompt, motion = _remix_defaults(job)
                await self.handle_remix(inv, job_id, prompt, motion)
            elif action == "report":
                await self.handle_report(inv, job_id, "")  # a click without the form: no reason given
            elif action == "reveal":
                await self._reveal(inv, job)
            elif action == "preset":  # a click without the form: the console types the name after the job
                await self._reply(inv, render.error(f"name the preset, e.g. preset {job.id} windy"), ephemeral=True)
            elif action == "pick":
                await self._pick(inv, job, take)
            elif action in ("vary-subtle", "vary-strong"):
                await self._vary(inv, job, take, action.removeprefix("vary-"))
            elif action in AFTER_ACTIONS:
                await self._act(inv, job, action)
        except Exception:
            log.exception("button %s failed", custom_id)
            await self._reply(inv, render.error("something went wrong on our side; it has been logged"), ephemeral=True)

    async def _act(
        self, inv: Invocation, parent: Job, action: str, *, prompt: str | None = None, frames: int | None = None
    ) -> None:
        """Smooth, Upscale or Extend ``parent``: a new job in the same queue, made from its clip's file."""
        if parent.status != JobStatus.SUCCEEDED or not parent.output_path:
            await self._reply(
                inv,
                render.error(f"clip #{parent.id} is not finished; {action} works on a finished clip"),
                ephemeral=True,
            )
            return
        extensions = await self.repo.db.offload(self._extensions, parent) if action == "extend" else 0
        try:
            params = action_params(
                GenerationParams.from_dict(parent.params),
                action=action,
                source=parent.output_path,
                seed=parent.seed,
                prompt=prompt,
                frames=frames,
                extensions=extensions,
            )
        except ActionRefused as exc:
            await self._reply(inv, render.error(str(exc)), ephemeral=True)
            return
        await self._animate(inv, params, (), parent=parent, lineage=action)

    def _extensions(self, job: Job) -> int:
        """On the database thread: how many Extends in a row made ``job`` (at most EXTEND_TIMES + 1 reads)."""
        count, current = 0, job
        while current.lineage == "extend" and current.parent_id is not None and count <= EXTEND_TIMES:
            count += 1
            parent = self.repo.job(current.parent_id)
            if parent is None:
                break
            current = parent
        return count

    async def handle_remix(self, inv: Invocation, job_id: int, prompt: str, motion: str | None = None) -> None:
        """A new job from a parent's parameters with an edited prompt and/or motion (and any tokens typed)."""
        if await self._refused_here(inv):
            return
        parent = await self._live_clip(inv, job_id)
        if parent is None:
            return
        base = GenerationParams.from_dict(parent.params)
        text = prompt.strip()
        if motion is not None and motion.strip() and "motion:" not in text.lower():
            text += f" motion:{motion.strip()}"
        if motion is not None and not motion.strip():
            base = base.with_changes(motions=())
        try:
            request = parse_animate(text, base=_fresh(base))
        except CommandError as exc:
            await self._reply(inv, render.error(str(exc)), ephemeral=True)
            return
        await self._animate(inv, request.params, request.notes, parent=parent, lineage="remix", image=request.image)

    async def handle_report(self, inv: Invocation, job_id: int, reason: str) -> None:
        """Record that ``inv.actor`` reported a clip and why, and tell the admins in the report channel.

        Hides nothing by itself: admins act with the clip's Delete button or a ban.
        """
        if await self._refused_here(inv):
            return
        job = await self._live_clip(inv, job_id)
        if job is None:
            return
        reason = " ".join(reason.split())[:REPORT_REASON_MAX]
        adapter = self.adapters.get(job.platform)
        link = None
        if adapter is not None and job.clip_message_id:
            link = adapter.link(MessageRef(place_of(job, thread=True), job.clip_message_id))
        report = await self.repo.db.offload(
            self.access.moderation.add_report, job.id, inv.actor.key, inv.actor.name, reason, link
        )
        await self.repo.db.offload(
            self.repo.audit,
            inv.actor.key,
            inv.actor.name,
            "report",
            f"job={job.id} report={report.id} {reason}",
            allowed=True,
            tenant=tenant_of(inv.place),
        )
        channel = self.report_channels.get(job.platform)
        notice = render.report_notice(job, inv.actor.name, reason, link, report.id)
        if channel and adapter is not None:
            try:
                await adapter.post(Place(job.platform, channel, job.workspace_id), notice)
            except Exception:
                log.exception("could not post report #%s in the report channel %s", report.id, channel)
        else:
            log.warning("report #%s on clip #%s (no report channel set): %s", report.id, job.id, reason)
        await self._reply(inv, render.info(f"thanks: clip #{job.id} is reported to the admins"), ephemeral=True)

    async def _reveal(self, inv: Invocation, job: Job) -> None:
        """Post a clip hidden behind a warning (the spoiler policy where the platform has no spoiler files)."""
        adapter = self.adapters.get(job.platform)
        if job.safety_decision != SafetyDecision.SPOILER.value or adapter is None:
            await self._reply(inv, render.error(f"#{job.id} is not hidden"), ephemeral=True)
            return
        await self.repo.db.offload(self.repo.update_job, job.id, safety_decision=SafetyDecision.REVEALED.value)
        if job.clip_message_id:  # the warning with the Reveal button
            with contextlib.suppress(Exception):
                await adapter.delete(MessageRef(place_of(job, thread=True), job.clip_message_id))
        await self.delivery.post_clip(adapter, place_of(job, thread=True), job)
        await self._reply(inv, render.info(f"#{job.id} revealed by {inv.actor.name}"))

    async def _pick(self, inv: Invocation, job: Job, take: int | None) -> None:
        """Post take ``take`` of a set as a clip of its own, with the review buttons, in the set's thread: a new
        job (lineage "pick", the set its parent) whose file is a copy of that take's; it made nothing new, so it
        counts nothing against the limits."""
        takes = render.takes(job)
        if job.status != JobStatus.SUCCEEDED.value or not takes:
            await self._reply(inv, render.error(f"#{job.id} is not a set of takes to pick from"), ephemeral=True)
            return
        if take is None or not 1 <= take <= len(takes):
            await self._reply(inv, render.error(f"#{job.id} has takes 1 to {len(takes)}; pick one of them"), True)
            return
        chosen = takes[take - 1]
        try:
            picked = await asyncio.to_thread(_copy_take, str(chosen["path"]), take)
        except OSError as exc:
            await self._reply(inv, render.error(f"take {take} of #{job.id} is gone from the bot's host ({exc})"), True)
            return
        params = GenerationParams.from_dict(job.params).with_changes(variants=1, seed=int(str(chosen["seed"])))
        row = await self.repo.db.offload(
            self.repo.insert_pick, job, inv.actor.key, inv.actor.name, params, picked, take
        )
        self.delivery.attached(row.id)
        self.delivery.submit(JobEvent(EventKind.SUCCEEDED, row.id))
        await self._reply(inv, render.info(f"#{row.id}: take {take} of #{job.id}, picked by {inv.actor.name}"))

    async def _vary(self, inv: Invocation, job: Job, take: int | None, how: str) -> None:
        """A new job from a clip (or one take of a set): its starting noise blended with a new seed's."""
        takes = render.takes(job)
        if job.status != JobStatus.SUCCEEDED.value or job.seed is None:
            await self._reply(inv, render.error(f"#{job.id} has no clip to vary ({job.status})"), ephemeral=True)
            return
        if take is not None and not 1 <= take <= max(1, len(takes)):
            await self._reply(inv, render.error(f"#{job.id} has takes 1 to {max(1, len(takes))}"), ephemeral=True)
            return
        params = GenerationParams.from_dict(job.params)
        if params.image is not None:
            await self._reply(inv, render.error("vary works on text clips; reroll an image clip instead"), True)
            return
        seed = int(str(takes[take - 1]["seed"])) if takes and take else job.seed
        if params.vary_seed is not None:
            # A varied clip's own noise is already a blend: varying it again starts from that blend's seeds.
            params = params.with_changes(vary_seed=None, vary_blend=0.0)
        params = params.with_changes(
            seed=seed, variants=1, vary_seed=secrets.randbelow(SEED_MAX + 1), vary_blend=VARY_BLENDS[how]
        )
        await self._animate(inv, params, (), parent=job, lineage="vary")

    async def _live_clip(self, inv: Invocation, job_id: int) -> Job | None:
        """Clip ``job_id`` as seen from where ``inv`` was made, or None once the person is told it no longer exists
        (deleted, never made, or another server's: the same words for all three)."""
        job = await self.repo.db.offload(self.repo.visible_job, scope_of(inv.place, inv.actor.key), job_id)
        if job is None or job.deleted:
            await self._reply(inv, render.error(f"clip #{job_id} no longer exists"), ephemeral=True)
            return None
        return job

    async def remix_defaults(self, inv: Invocation, job_id: int) -> tuple[str, str] | None:
        job = await self.repo.db.offload(self.repo.visible_job, scope_of(inv.place, inv.actor.key), job_id)
        return None if job is None or job.deleted else _remix_defaults(job)

    def model_choices(self, current: str) -> list[tuple[str, str]]:
        needle = current.strip().lower()
        return [
            (f"{m.alias} — {m.title}", m.alias)
            for m in BASE_MODELS
            if not needle or needle in m.alias or needle in m.title.lower() or needle in m.repo_id.lower()
        ]

    async def open_form(self, inv: Invocation, action: str, job_id: int) -> Form | None:
        if action == "remix":
            defaults = await self.remix_defaults(inv, job_id)
            return None if defaults is None else form_for(action, job_id, prompt=defaults[0], motion=defaults[1])
        return form_for(action, job_id)

    async def submit_form(self, inv: Invocation, action: str, job_id: int, values: Mapping[str, str]) -> None:
        if action == "remix":
            await self.handle_remix(inv, job_id, values.get("prompt", ""), values.get("motion"))
        elif action == "report":
            await self.handle_report(inv, job_id, values.get("reason", ""))
        elif action == "preset":
            await self.handle_preset_form(inv, job_id, values.get("name", ""))
        else:
            await self._reply(inv, render.error("this form is not one of ours"), ephemeral=True)

    async def handle_preset_form(self, inv: Invocation, job_id: int, name: str) -> None:
        """The **Save as preset** form of clip ``job_id`` was sent with ``name``."""
        if await self._refused_here(inv):
            return
        job = await self._live_clip(inv, job_id)
        if job is None:
            return
        answer = await self.presets.save_clip(inv, GenerationParams.from_dict(job.params), name)
        await self._reply(inv, answer, ephemeral=True)

    # --- commands -----------------------------------------------------------------------------------------------------
    async def _parse(self, inv: Invocation, name: str, text: str, options: Mapping[str, object] | None) -> Command:
        """``parse_command``; an /animate starts from its preset (preset:<name>, else the person's default)."""
        command = parse_command(name, text, options)
        if command.animate is None:
            return command
        tokens = await self.presets.starting_tokens(inv, command.animate.preset)
        return parse_command(name, text, options, preset_tokens=tokens) if tokens else command

    async def _dispatch(self, inv: Invocation, command: Command) -> None:
        if command.name == "animate":
            assert command.animate is not None
            request = command.animate
            await self._animate(
                inv, request.params, request.notes, image=request.image, server_takes="variants" not in request.keys
            )
        elif command.name == "queue":
            view = await self.repo.db.offload(self._queue_view, scope_of(inv.place, inv.actor.key))
            await self._reply(inv, view, ephemeral=True)
        elif command.name == "cancel":
            await self._cancel(inv, command.job_id)
        elif command.name == "history":
            await self._history(inv, command)
        elif command.name == "show":
            await self._show(inv, command.job_id)
        elif command.name == "review":
            scope = scope_of(inv.place, inv.actor.key)
            jobs = await self.repo.db.offload(self.repo.awaiting_review, scope, inv.place.channel_id)
            await self._reply(inv, render.history(jobs, "Clips awaiting review in this channel"), ephemeral=True)
        elif command.name == "board":
            await self._board_link(inv)
        elif command.name == "preset":
            await self._reply(inv, await self.presets.run(inv, command), ephemeral=True)
        elif command.name == "help":
            await self._reply(inv, render.info(help_text(), "animatebot"), ephemeral=True)
        elif command.name == "admin":
            await self.admin.run(inv, command)
        elif command.name == "extend":
            assert command.job_id is not None
            parent = await self._live_clip(inv, command.job_id)
            if parent is None:
                return
            await self._act(inv, parent, "extend", prompt=command.prompt, frames=command.frames)

    async def _animate(
        self,
        inv: Invocation,
        params: GenerationParams,
        notes: tuple[str, ...],
        *,
        parent: Job | None = None,
        lineage: str | None = None,
        image: object | None = None,
        server_takes: bool = False,
    ) -> None:
        """Queue a job for ``params``; ``server_takes``: no variants were asked for, so the server's default
        number of takes applies."""
        original = params  # the access rules judge what was asked
        if image is not None:
            # Refusals first (nothing to store for them), then the still is checked and stored before
            # the job row exists: a bad image queues nothing.
            refusal = await self.repo.db.offload(self.access.animate_refusal, inv.actor, original, inv.place)
            if refusal is not None:
                await self._reply(inv, refusal, ephemeral=True)
                return
            try:
                stored, image_notes = await asyncio.to_thread(
                    take_image, image, inv.place.platform, self.worker.media_dir
                )
            except ImageRefused as exc:
                await self._reply(inv, render.error(str(exc)), ephemeral=True)
                return
            params = params.with_changes(image=stored)
            notes = (*notes, *image_notes)
        if params.model:
            entry = find_base_model(params.model)
            params = params.with_changes(model=entry.alias if entry else params.model)
        adapter = self.adapters.get(inv.place.platform)
        limit = min(inv.upload_limit or self.upload_limit_bytes, self.upload_limit_bytes)
        if adapter is not None:
            limit = min(limit, adapter.max_upload_bytes)
        submission = Submission(
            params=params,
            user_key=inv.actor.key,
            user_name=inv.actor.name,
            platform=inv.place.platform,
            channel_id=inv.place.channel_id,
            workspace_id=inv.place.workspace_id,
            thread_id=inv.place.thread_id,
            max_bytes=limit,
            parent_id=parent.id if parent else None,
            lineage=lineage,
            request_key=inv.request_id,
            tiny=self.worker.is_tiny,
            # A reroll inside its parent's thread (Discord says nothing of a thread's age restriction) follows
            # the parent; one from a re-post elsewhere follows the place it was clicked in.
            age_restricted=inv.place.age_restricted
            or bool(
                parent and parent.age_restricted and inv.place.thread_id and inv.place.thread_id == parent.thread_id
            ),
            private_channel=private_channel(inv.place, parent.private_channel if parent else None),
        )

        def admit() -> Message | Accepted:
            """On the database thread, in one hop: the access rules, the server's base model (a job that
            names none runs on the one its server chose, so the worker switches and the pool routes by it),
            then the queue's limits and row."""
            asked = self.access.with_server_variants(tenant, original) if server_takes else original
            refusal = self.access.animate_refusal(inv.actor, asked, inv.place)
            if refusal is not None:
                return refusal
            # A set's takes are posted in one message, and Discord's limit counts the whole request (25 MB of
            # form body, every attachment together), not each file: each take gets its share of the budget.
            sub = replace(
                submission,
                params=submission.params.with_changes(variants=asked.variants),
                max_bytes=submission.max_bytes // asked.variants,
            )
            server_model = self.access.server_model(tenant) if sub.params.model is None else None
            if server_model:
                sub = replace(sub, params=sub.params.with_changes(model=server_model))
            authority = self.access.authority(inv.actor, inv.place)
            server_limits = None if authority >= Authority.SERVER_ADMIN else self.access.server_limits(tenant)
            return self.queue.accept(sub, exempt=authority >= Authority.OWNER, server_limits=server_limits)

        tenant = tenant_of(inv.place)
        try:
            admitted = await self.repo.db.offload(admit)
        except Refused as exc:
            await self._reply(inv, render.error(str(exc)), ephemeral=True)
            return
        except DuplicateRequest as exc:
            log.info("ignored a repeated request for job #%s", exc.job.id)
            return
        if isinstance(admitted, Message):
            await self._reply(inv, admitted, ephemeral=True)
            return
        accepted = admitted
        job = accepted.job
        self.delivery.expect(job.id)  # events wait until the parent message is known
        all_notes = list(notes)
        if job.tiny:
            all_notes.append(render.TINY_NOTE)
        paused = self.queue.paused or self.queue.server_paused(tenant)
        message = render.queued(job, accepted.position, accepted.eta_s, all_notes, paused=paused)
        ref = await self._reply(inv, message)
        if ref is None:
            # The platform would not take the answer (the bot is not in the channel, say): nobody
            # could ever see this clip, so drop the job rather than run it for no one.
            await self.repo.db.offload(self.queue.cancel, job.id)
            await self.repo.db.offload(
                self.repo.update_job,
                job.id,
                error="the bot could not post in this channel",
                delivery=DeliveryState.FAILED,
            )
            self.delivery.attached(job.id)
            return
        await self._attach(job, ref, adapter)

    async def _attach(self, job: Job, ref: MessageRef, adapter: ChatAdapter | None) -> None:
        """Remember the job's parent message and open its thread (unless we are in one already)."""
        thread_id = ref.place.thread_id
        if thread_id is None and adapter is not None:
            try:
                thread = await adapter.start_thread(ref, render.thread_name(job))
            except Exception:
                log.warning("could not start a thread for job #%s; replying in the channel", job.id, exc_info=True)
                thread = None
            thread_id = thread.thread_id if thread else None
        where = {
            "channel_id": ref.place.channel_id,
            "workspace_id": ref.place.workspace_id,
            "message_id": ref.message_id,
            "thread_id": thread_id,
        }
        await self.repo.db.offload(self.queue.set_place, job.id, **where)
        self.delivery.attached(job.id, **where)

    async def _cancel(self, inv: Invocation, job_id: int | None) -> None:
        if job_id is not None:
            job = await self.repo.db.offload(self.repo.visible_job, scope_of(inv.place, inv.actor.key), job_id)
        else:
            job = await self.repo.db.offload(self.repo.latest_active_job, inv.actor.key)
        if job is None or not self.access.sees(inv.actor, inv.place, job):  # another server's: as if missing
            text = f"there is no job #{job_id}" if job_id is not None else "you have nothing queued or running"
            await self._reply(inv, render.error(text), ephemeral=True)
            return
        if not self.access.may_act_on(inv.actor, inv.place, job):
            await self._reply(
                inv, render.error(f"#{job.id} is not yours; only its owner or an admin can cancel it"), True
            )
            return
        outcome = await self.repo.db.offload(self.queue.cancel, job.id)
        if outcome is CancelOutcome.CANCELLED:
            self.delivery.submit(JobEvent(EventKind.CANCELLED, job.id))
            text = f"cancelled #{job.id}"
        elif outcome is CancelOutcome.STOPPING:
            text = f"#{job.id} is running; it stops after the current step"
        else:
            text = f"#{job.id} has already {job.status}"
        await self._reply(inv, render.info(text), ephemeral=True)

    async def _history(self, inv: Invocation, command: Command) -> None:
        user_key, title = None, "Recent clips in this channel"
        channel: str | None = inv.place.channel_id
        if command.user in ("me", "mine"):
            user_key, title, channel = inv.actor.key, "Your recent clips", None
        elif command.user:
            user = command.user
            user_key = user if ":" in user else f"{inv.place.platform}:{user}"
            title, channel = f"Recent clips by {user}", None
        if command.search:
            title += f" matching “{command.search}”"
        jobs = await self.repo.db.offload(
            self.repo.history,
            scope_of(inv.place, inv.actor.key),
            user_key=user_key,
            channel_id=channel,
            search=command.search,
            limit=HISTORY_LIMIT,
        )
        await self._reply(inv, render.history(jobs, title), ephemeral=True)

    async def _show(self, inv: Invocation, job_id: int | None) -> None:
        """Post a clip again here, within what this place may see, under this channel's safety policy;
        recorded as a re-post (the clip's own message keeps its Delete, votes and reports)."""
        scope = scope_of(inv.place, inv.actor.key)
        job = await self.repo.db.offload(self.repo.visible_job, scope, job_id) if job_id is not None else None
        if job is None or job.deleted:
            await self._reply(inv, render.error(f"there is no clip #{job_id}"), ephemeral=True)
            return
        adapter = self.adapters.get(inv.place.platform)
        if (
            job.status != JobStatus.SUCCEEDED.value
            or not job.output_path
            or job.expired_at is not None
            or adapter is None
        ):
            tally = await self.repo.db.offload(self.repo.tally, job.id)
            await self._reply(inv, render.job_detail(job, tally), ephemeral=True)
            return
        spoiler = await self.delivery.repost_spoiler(adapter, inv.place, job, self.access.moderation)
        if spoiler is None:
            await self._reply(inv, render.error(f"#{job.id} is withheld in this channel by the safety check"), True)
            return
        ref = await self.delivery.repost(adapter, inv.place, job, spoiler=spoiler, by=inv.actor.key)
        text = f"#{job.id} posted again" if ref is not None else f"#{job.id} could not be posted here"
        await self._reply(inv, render.info(text), ephemeral=True)

    def _queue_view(self, scope: Scope) -> Message:
        """The queue as ``scope`` sees it: its jobs only, numbered in the order they will run."""
        jobs = self.repo.active_jobs(scope)
        running = [job for job in jobs if job.status == JobStatus.RUNNING.value]
        standing = {job.id: self.queue.standing(job.id) for job in jobs if job.status == JobStatus.QUEUED.value}
        order = sorted((job for job in jobs if job.id in standing), key=lambda j: (standing[j.id][0] or 0, j.id))
        waiting = [(job, standing[job.id][1]) for job in order]
        return render.queue_view(running, self.queue.progress, waiting, self.queue.paused)

    # --- review -----------------------------------------------------------------------------------------------------------------
    async def _vote(self, inv: Invocation, job: Job, value: str) -> None:
        if job.status != JobStatus.SUCCEEDED.value:
            await self._reply(inv, render.error(f"#{job.id} has no clip to review ({job.status})"), ephemeral=True)
            return
        tally = await self.record_vote(inv.actor.key, inv.actor.name, job, value)
        await self._reply(inv, render.info(f"you {value}d #{job.id}: {render.review_text(tally)}"), ephemeral=True)

    async def record_vote(self, user_key: str, user_name: str, job: Job, value: str) -> Tally:
        """The one vote path (chat buttons and the review board): the row, the chat card redrawn, then the
        listeners. The caller has checked that the clip is seen and finished."""
        tally = await self.repo.db.offload(self.repo.vote, job.id, user_key, user_name, value)
        await self.delivery.refresh_clip(job.id)
        for listener in list(self.vote_listeners):
            try:
                await listener(job, tally)
            except Exception:
                log.exception("a vote listener failed on #%s", job.id)
        return tally

    async def _board_link(self, inv: Invocation) -> None:
        if self.board is None:
            await self._reply(inv, render.error(render.BOARD_OFF), ephemeral=True)
            return
        link = await self.board.link(inv.actor, inv.place)
        message = render.board_link(link) if link else render.error(render.BOARD_TOO_OFTEN)
        await self._reply(inv, message, ephemeral=True)

    async def _delete(self, inv: Invocation, job: Job) -> None:
        if not self.access.may_act_on(inv.actor, inv.place, job):
            await self._reply(inv, render.error(f"only the owner of #{job.id} or an admin can delete it"), True)
            return
        if job.status in (JobStatus.QUEUED.value, JobStatus.RUNNING.value):
            await self.repo.db.offload(self.queue.cancel, job.id)
        await self.delivery.delete_clip(job, by=inv.actor.name)
        # a deleted clip leaves nothing to look at
        await self.repo.db.offload(self.access.moderation.close_reports, tenant=None, job_id=job.id)
        await self._reply(inv, render.info(f"deleted #{job.id}"), ephemeral=True)

    # --- helpers -----------------------------------------------------------------------------------------------------------------
    async def _refused_here(self, inv: Invocation) -> bool:
        """Whether the bot may not be used where ``inv`` happened (then it has answered privately, storing nothing)."""
        refused = self.where.refusal(inv.place)
        if refused is None:
            return False
        log.info("refused %s in %s: %s", inv.actor.key, inv.place, refused.text)
        await self._reply(inv, refused, ephemeral=True)
        return True

    async def _reply(self, inv: Invocation, message: Message, ephemeral: bool = False) -> MessageRef | None:
        try:
            return await inv.responder.reply(message, ephemeral=ephemeral)
        except NotInChannel:
            log.info("not allowed to post in %s (the adapter told %s how to fix it)", inv.place, inv.actor.key)
        except Exception:
            log.exception("could not answer %s in %s", inv.actor.key, inv.place)
        return None


def _fresh(params: GenerationParams) -> GenerationParams:
    """A parent's parameters for a new take of it (reroll, remix): a new seed, and none of Vary's blend."""
    return params.with_changes(seed=None, vary_seed=None, vary_blend=0.0)


def _copy_take(path: str, take: int) -> str:
    """A picked take's own file beside the set's (deleting one never removes the other's)."""
    source = Path(path)
    target = source.with_name(f"{source.stem}-pick{take}{source.suffix}")
    shutil.copyfile(source, target)
    return str(target)


def _remix_defaults(job: Job) -> tuple[str, str]:
    """The prompt and motion a remix form of ``job`` starts from."""
    params = GenerationParams.from_dict(job.params)
    return params.prompt, "+".join(str(m) for m in params.motions)
