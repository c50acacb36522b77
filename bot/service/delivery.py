"""Getting job outcomes into chat: progress edits, the clip upload, the parent's final state.

Every job event becomes a small task; a per-job lock keeps one job's edits in order while
different jobs deliver side by side. A started or progress event that comes after its job's end
was reported is dropped unread (it could only find the job no longer running). Database reads and writes run on the database thread. Nothing here decides policy: it renders and retries.
A reply is never lost: an upload refused for size is re-encoded smaller, any other failure
falls back to a plain message, and the job row records what was delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from bot.chat import ChatAdapter, Clip, Message, MessageRef, NotInChannel, Place, UploadTooLarge
from bot.service import replies as render
from bot.service.scope import place_policy, scope_of
from generation.jobs.events import JobEvent
from generation.media import EncodeError, encode_clip, read_clip
from storage.models import DeliveryState, Job, JobStatus, Repost, SafetyDecision, SafetyPolicy
from storage.moderation import ModerationStore
from storage.repository import Repository, Tally, columns_of, detached

log = logging.getLogger("animatebot.delivery")

PROGRESS_EVERY_S = 2.0  # the default gap between progress edits of one job (platform rate limits)
ATTACH_WAIT_S = 30.0
REENCODE_TRIES = 3

_T = TypeVar("_T")


def place_of(job: Job, *, thread: bool) -> Place:
    return Place(job.platform, job.channel_id, job.workspace_id, job.thread_id if thread else None)


def parent_ref(job: Job) -> MessageRef | None:
    return MessageRef(place_of(job, thread=False), job.message_id) if job.message_id else None


class Delivery:
    def __init__(
        self,
        repo: Repository,
        adapters: dict[str, ChatAdapter],
        *,
        progress_every_s: float = PROGRESS_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        safety_policy: Callable[[Job], SafetyPolicy] | None = None,
    ) -> None:
        self.repo = repo
        self.safety_policy = safety_policy  # what a job's channel does with a flagged clip (Access.safety_policy)
        self.adapters = adapters
        self.progress_every_s = progress_every_s
        self.clock = clock
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._ready: dict[int, asyncio.Event] = {}
        self._last_edit: dict[int, float] = {}
        self._ended: set[int] = set()  # jobs whose end has been reported and not delivered yet
        self._parents: dict[int, dict[str, str | None]] = {}  # job id -> where its parent message is (attached)
        self._tasks: set[asyncio.Task[None]] = set()
        self._unposted: defaultdict[str, dict[int, JobEvent]] = defaultdict(dict)  # platform not up yet -> its ends

    def add_adapter(self, adapter: ChatAdapter) -> None:
        """``adapter`` is up: deliver from now on through it, starting with the ends of jobs that finished while
        its platform was not connected yet (the bot starts its platforms one after the other, and recovered jobs
        run from the start)."""
        self.adapters[adapter.platform] = adapter
        for job_id, event in self._unposted.pop(adapter.platform, {}).items():
            self.submit(JobEvent(event.kind, job_id))  # read again: the row is the truth by now

    async def _db(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """A repository call, on the database thread (never on the event loop), after any command waiting there."""
        return await self.repo.db.offload_later(fn, *args, **kwargs)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def expect(self, job_id: int) -> None:
        """The parent message of ``job_id`` is being posted: hold its events until ``attached``."""
        self._ready[job_id] = asyncio.Event()

    def attached(self, job_id: int, **where: str | None) -> None:
        """The parent message of ``job_id`` is posted (``where``: the place columns just recorded for it)."""
        if where:
            self._parents[job_id] = where
        event = self._ready.pop(job_id, None)
        if event is not None:
            event.set()

    async def on_event(self, event: JobEvent) -> None:
        """The worker back end's event sink: chat work is started, not waited for."""
        self.submit(event)

    def submit(self, event: JobEvent) -> None:
        if event.kind == "progress" and self._throttled(event.job_id):
            return  # no task for a progress edit that would be skipped (checked again when it runs)
        if event.kind not in ("started", "progress"):
            self._ended.add(event.job_id)
        task = asyncio.get_running_loop().create_task(self._handle(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _handle(self, event: JobEvent) -> None:
        ready = self._ready.get(event.job_id)
        if ready is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), ATTACH_WAIT_S)
        async with self._locks[event.job_id]:
            try:
                if event.kind in ("started", "progress") and event.job_id in self._ended:
                    return  # the job has ended: a running-state edit would be stale
                await self._deliver(event)
            except Exception:
                log.exception("delivering %s failed", event)
            finally:
                if event.kind not in ("started", "progress"):
                    self._ended.discard(event.job_id)
        if event.kind not in ("started", "progress"):
            self._locks.pop(event.job_id, None)
            self._last_edit.pop(event.job_id, None)
            self._parents.pop(event.job_id, None)

    def _throttled(self, job_id: int) -> bool:
        return self.clock() - self._last_edit.get(job_id, -math.inf) < self.progress_every_s

    async def _deliver(self, event: JobEvent) -> None:
        if event.kind == "progress" and self._throttled(event.job_id):
            return  # throttled before touching the database: progress comes every step
        job = event.job  # the back end's snapshot spares a read, once it knows the parent message
        if job is not None and job.message_id is None and event.job_id in self._parents:
            job = detached(Job, {**columns_of(job), **self._parents[event.job_id]})  # claimed before attached
        if job is None or job.message_id is None:
            job = await self._db(self.repo.job, event.job_id)
        if job is None:
            return
        adapter = self.adapters.get(job.platform)
        if adapter is None:
            if event.kind not in ("started", "progress"):
                self._unposted[job.platform][job.id] = event  # delivered once that platform is up (add_adapter)
            return
        if event.kind in ("started", "progress"):
            await self._progress(adapter, job, event)
        elif job.status in (JobStatus.QUEUED.value, JobStatus.RUNNING.value) or job.delivery != "pending":
            return  # stale, or delivered already
        elif job.status == JobStatus.SUCCEEDED.value and not job.deleted:
            if _just_ended_and_passed(event, job):
                decision, tally = SafetyDecision.PASSED, Tally()  # nobody can have reviewed a clip never posted
            else:
                decision, tally = await self._db(self._decide_and_tally, job)
            if decision is SafetyDecision.BLOCK:
                await self._withhold(adapter, job)
                return
            if decision is SafetyDecision.SPOILER and not getattr(adapter, "supports_spoiler", False):
                ref = await self._post_warning(adapter, job)
            else:
                ref = await self.post_clip(adapter, place_of(job, thread=True), job, tally=tally)
            await self._finish_parent(adapter, job, ref)
        else:
            await self._finish_parent(adapter, job, None)

    # --- the safety check's outcome --------------------------------------------------------------------
    def _decide_and_tally(self, job: Job) -> tuple[SafetyDecision, Tally]:
        """On the database thread, in one hop: ``_decide``, and the review tally the clip's message shows."""
        return self._decide(job), self.repo.tally(job.id)

    def _decide(self, job: Job) -> SafetyDecision:
        """What to do with a finished clip, from the check's verdict and its channel's policy; stored on the job."""
        if job.safety_decision in (SafetyDecision.RELEASED.value, SafetyDecision.REVEALED.value):
            return SafetyDecision(job.safety_decision)
        if not job.safety_flagged or self.safety_policy is None:
            decision = SafetyDecision.PASSED
        else:
            decision = SafetyDecision(self.safety_policy(job).value)
        if job.safety_decision != decision.value:
            self.repo.update_job(job.id, safety_decision=decision.value)
            job.safety_decision = decision.value
        return decision

    async def _withhold(self, adapter: ChatAdapter, job: Job) -> None:
        """Keep a flagged clip out of the channel: the parent says so, the requester hears privately."""
        ref = parent_ref(job)
        try:
            if ref is not None:
                await adapter.edit(ref, render.withheld_parent(job))
            else:
                await adapter.post(place_of(job, thread=True), render.withheld_parent(job))
        except Exception:
            log.exception("could not mark #%s as withheld", job.id)
        user_id = job.user_key.split(":", 1)[-1]
        try:
            await adapter.notify(
                place_of(job, thread=False), user_id, render.withheld_note(job, adapter.link(ref) if ref else None)
            )
        except Exception:
            log.exception("could not tell %s that #%s was withheld", job.user_key, job.id)
        await self._db(self.repo.update_job, job.id, delivery=DeliveryState.WITHHELD)
        log.info("withheld #%s (safety score %s)", job.id, job.safety_score)

    async def _post_warning(self, adapter: ChatAdapter, job: Job) -> MessageRef | None:
        """The spoiler policy where files cannot be spoilers: a warning with a Reveal button, the clip on click."""
        try:
            ref = await adapter.post(place_of(job, thread=True), render.spoiler_warning(job))
        except Exception:
            log.exception("could not post the warning for #%s", job.id)
            await self._db(self.repo.update_job, job.id, delivery=DeliveryState.FAILED)
            return None
        await self._db(self.repo.update_job, job.id, clip_message_id=ref.message_id, delivery=DeliveryState.MESSAGE)
        return ref

    async def release(self, job: Job, *, by: str) -> None:
        """An admin let a withheld clip through: post it in its thread and update the parent."""
        await self._db(self.repo.update_job, job.id, safety_decision=SafetyDecision.RELEASED.value)
        adapter = self.adapters.get(job.platform)
        if adapter is None:
            return
        fresh = await self._db(self.repo.job, job.id)
        fresh = fresh or job
        ref = await self.post_clip(adapter, place_of(fresh, thread=True), fresh)
        posted = await self._db(self.repo.job, job.id)
        await self._finish_parent(adapter, posted or fresh, ref)
        log.info("#%s released by %s", job.id, by)

    async def _progress(self, adapter: ChatAdapter, job: Job, event: JobEvent) -> None:
        ref = parent_ref(job)
        if ref is None or job.status != JobStatus.RUNNING.value:
            return
        self._last_edit[job.id] = self.clock()
        try:
            await adapter.edit(ref, render.running(job, event.step, event.total or job.steps))
        except Exception as exc:  # progress is best effort; the outcome is not
            log.warning("progress edit for #%s failed: %s", job.id, exc)

    async def _finish_parent(self, adapter: ChatAdapter, job: Job, clip_ref: MessageRef | None) -> None:
        link = adapter.link(clip_ref) if clip_ref else None
        message = render.finished_parent(job, link)
        ref = parent_ref(job)
        delivered = (
            job.delivery
            if job.delivery not in (DeliveryState.PENDING, DeliveryState.WITHHELD)
            else DeliveryState.MESSAGE
        )
        try:
            if ref is not None:
                await adapter.edit(ref, message)
            elif clip_ref is None:
                await adapter.post(place_of(job, thread=True), message)
        except Exception:
            log.exception("could not report the end of #%s", job.id)
            if clip_ref is None:
                delivered = DeliveryState.FAILED
        if delivered != job.delivery:  # a clip posted has recorded its delivery already
            await self._db(self.repo.update_job, job.id, delivery=delivered)

    async def repost(
        self, adapter: ChatAdapter, place: Place, job: Job, *, spoiler: bool, by: str
    ) -> MessageRef | None:
        """Post ``job``'s clip again in ``place`` (``/animate-show``), recorded as a re-post: the clip's own
        message stays where it is, and Delete removes this one too. None when it could not be posted."""
        return await self.post_clip(adapter, place, job, spoiler=spoiler, repost_by=by)

    async def post_clip(
        self,
        adapter: ChatAdapter,
        place: Place,
        job: Job,
        *,
        tally: Tally | None = None,
        spoiler: bool | None = None,
        repost_by: str | None = None,
    ) -> MessageRef | None:
        """Upload ``job``'s clip with its buttons; re-encode smaller when refused for size; fall back to text.

        ``tally``: the job's review tally when the caller has just read it. ``spoiler``: hide the file
        (default: as the clip's safety decision says). ``repost_by``: a re-post asked for by that person,
        recorded apart from the clip's own message (no text fallback for it).
        """
        if render.takes(job):
            return await self._post_set(adapter, place, job, spoiler=spoiler, repost_by=repost_by)
        path = Path(job.output_path or "")
        how = DeliveryState.CLIP
        original = job  # the caller's snapshot: it learns how the clip was delivered, as stored
        if job.expired_at is not None:  # retention removed its file: say so rather than try an upload
            return None if repost_by is not None else await self._fallback(adapter, place, job)
        lineage = await self._lineage_seen(place, job)
        for attempt in range(REENCODE_TRIES + 2):
            if tally is None:
                tally = await self._db(self.repo.tally, job.id)
            message = render.clip(job, tally, remix=adapter.supports_remix, lineage=lineage)
            tally = None  # a retry reads it again
            hidden = job.safety_decision == SafetyDecision.SPOILER.value if spoiler is None else spoiler
            # The size the job recorded with its file (a system call on the loop costs more than it seems:
            # the loop gives up the interpreter for it and waits to get it back).
            size = job.output_bytes if job.output_bytes is not None else _size(path)
            clip = Clip(path, _mime(path), size or 0, spoiler=hidden)
            try:
                if size is None:
                    raise FileNotFoundError(f"the clip file {path} is missing")
                if clip.size > adapter.max_upload_bytes:
                    raise UploadTooLarge(adapter.max_upload_bytes)
                ref = await adapter.post_clip(place, message, clip)
            except UploadTooLarge as exc:
                if attempt >= REENCODE_TRIES:
                    break
                smaller = await self._shrink(job, path, exc.limit or adapter.max_upload_bytes)
                if smaller is None:
                    break
                job, path, how = smaller, Path(smaller.output_path or ""), DeliveryState.CLIP_REENCODED
                continue
            except NotInChannel:
                break
            except Exception as exc:
                log.warning("uploading #%s failed (try %d): %s", job.id, attempt + 1, exc)
                if attempt == 0:
                    await asyncio.sleep(1.0)
                    continue
                break
            return await self._record_post(job.id, place, ref, how, repost_by, original)
        if repost_by is not None:
            return None  # the clip's own message and delivery stay as they were
        fallback = await self._fallback(adapter, place, job)
        original.delivery = job.delivery
        return fallback

    async def _post_set(
        self, adapter: ChatAdapter, place: Place, job: Job, *, spoiler: bool | None, repost_by: str | None
    ) -> MessageRef | None:
        """A set's takes in one message, each file within its share of the upload budget (the service split it
        when the job was accepted), each take hidden where its own safety verdict flagged it and the channel
        hides flagged clips. No re-encoding: a refused set falls back to text naming its files."""
        message = render.variant_set(job, lineage=await self._lineage_seen(place, job))
        hiding = job.safety_decision == SafetyDecision.SPOILER.value if spoiler is None else spoiler
        clips = []
        for take in render.takes(job):
            path = Path(str(take["path"]))
            clips.append(
                Clip(path, _mime(path), int(str(take["bytes"])), spoiler=hiding and bool(take["safety_flagged"]))
            )
        for attempt in range(2):
            try:
                if sum(c.size for c in clips) > adapter.max_upload_bytes:
                    raise UploadTooLarge(adapter.max_upload_bytes)
                ref = await adapter.post_clips(place, message, clips)
            except (UploadTooLarge, NotInChannel) as exc:
                log.warning("the takes of #%s could not be uploaded: %s", job.id, exc)
                break
            except Exception as exc:
                log.warning("uploading the takes of #%s failed (try %d): %s", job.id, attempt + 1, exc)
                if attempt == 0:
                    await asyncio.sleep(1.0)
                    continue
                break
            return await self._record_post(job.id, place, ref, DeliveryState.CLIP, repost_by, job)
        return None if repost_by is not None else await self._fallback(adapter, place, job)

    async def _record_post(
        self, job_id: int, place: Place, ref: MessageRef, how: DeliveryState, repost_by: str | None, snapshot: Job
    ) -> MessageRef:
        """Store where a clip was just posted: a re-post's own row (the clip's card stays its own), or the clip's
        message and how it was delivered (also on ``snapshot``, the caller's copy of the row)."""
        if repost_by is not None:
            await self._db(self.repo.add_repost, job_id, _where(place), ref.message_id, repost_by)
            return ref
        await self._db(self.repo.update_job, job_id, clip_message_id=ref.message_id, delivery=how)
        snapshot.clip_message_id, snapshot.delivery = ref.message_id, how
        return ref

    async def repost_spoiler(
        self, adapter: ChatAdapter, place: Place, job: Job, moderation: ModerationStore
    ) -> bool | None:
        """How ``job`` may be posted again in ``place``, by that channel's safety policy: False plainly, True
        behind a spoiler, None not at all (the channel withholds flagged clips, or wants a spoiler the platform
        cannot show)."""
        if not job.safety_flagged:
            return False
        policy = await self._db(place_policy, moderation, place)
        if policy is SafetyPolicy.BLOCK:
            return None
        if policy is SafetyPolicy.SPOILER:
            return True if getattr(adapter, "supports_spoiler", False) else None
        return False

    async def _lineage_seen(self, place: Place, job: Job) -> bool:
        """Whether a clip's card in ``place`` may name the clip it was made from (seen from there)."""
        if job.parent_id is None:
            return False
        scope = scope_of(place, job.user_key)
        if job.private_channel and scope.user_key is None:  # a private clip's cards are all where it may be seen
            scope = replace(scope, channels=(*scope.channels, job.private_channel))
        return await self._db(self.repo.visible_job, scope, job.parent_id) is not None

    async def _shrink(self, job: Job, path: Path, limit: int) -> Job | None:
        budget = int(min(limit, job.output_bytes or limit) * 0.8)
        try:
            frames, fps = await asyncio.to_thread(read_clip, path)
            clip = await asyncio.to_thread(
                encode_clip, frames, format=job.output_format or "gif", fps=fps, max_bytes=budget
            )
        except (EncodeError, OSError, ValueError) as exc:
            log.warning("could not re-encode #%s under %d bytes: %s", job.id, budget, exc)
            return None
        await asyncio.to_thread(path.write_bytes, clip.data)
        notes = "\n".join(
            [*(job.notes or "").splitlines(), f"re-encoded to fit the upload limit: {', '.join(clip.changes)}"]
        )
        await self._db(self.repo.update_job, job.id, output_bytes=clip.size, notes=notes)
        log.info("re-encoded #%s to %d bytes to fit %d", job.id, clip.size, limit)
        return await self._db(self.repo.job, job.id)

    async def _fallback(self, adapter: ChatAdapter, place: Place, job: Job) -> MessageRef | None:
        text = f"#{job.id} is ready, but the clip could not be uploaded here; it is kept on the bot's host as {job.output_path}"
        if job.expired_at is not None:
            text = f"#{job.id} has expired: its clip was removed from the bot's disk; Reroll makes it again"
        try:
            ref = await adapter.post(
                place, Message(text, title=f"#{job.id}", fields=render.describe(job), tone="error")
            )
        except Exception:
            log.exception("could not even post a message for #%s", job.id)
            await self._db(self.repo.update_job, job.id, delivery=DeliveryState.FAILED)
            job.delivery = DeliveryState.FAILED
            return None
        await self._db(self.repo.update_job, job.id, delivery=DeliveryState.MESSAGE)
        job.delivery = DeliveryState.MESSAGE
        return ref

    async def refresh_clip(self, job_id: int) -> None:
        """Redraw a clip's message and its re-posts (the review tally changed)."""
        job = await self._db(self.repo.job, job_id)
        adapter = self.adapters.get(job.platform) if job else None
        if job is None or adapter is None:
            return
        tally, reposts = await self._db(lambda: (self.repo.tally(job_id), self.repo.reposts(job_id)))
        cards = [MessageRef(place_of(job, thread=True), job.clip_message_id)] if job.clip_message_id else []
        cards += [MessageRef(_place_of_repost(r), r.message_id) for r in reposts]
        for ref in cards:
            lineage = await self._lineage_seen(ref.place, job)
            card = (
                render.variant_set(job, lineage=lineage)
                if render.takes(job)
                else render.clip(job, tally, remix=adapter.supports_remix, lineage=lineage)
            )
            try:
                await adapter.edit(ref, card)
            except Exception as exc:
                log.warning("could not update a clip message of #%s: %s", job.id, exc)

    async def delete_clip(self, job: Job, *, by: str) -> None:
        await self._db(self.repo.update_job, job.id, deleted=True)
        files = [job.output_path] if job.output_path else []
        files += [str(take["path"]) for take in render.takes(job)]  # a set's other takes
        await asyncio.to_thread(_unlink_all, files)  # the disk, off the event loop
        adapter = self.adapters.get(job.platform)
        if adapter is None:
            return
        reposts = await self._db(self.repo.reposts, job.id)
        copies = [MessageRef(place_of(job, thread=True), job.clip_message_id)] if job.clip_message_id else []
        copies += [MessageRef(_place_of_repost(r), r.message_id) for r in reposts]
        for copy in copies:
            try:
                await adapter.delete(copy)
            except Exception as exc:
                log.warning("could not delete a clip message of #%s: %s", job.id, exc)
        if reposts:
            await self._db(self.repo.drop_reposts, job.id)
        ref = parent_ref(job)
        if ref is not None:
            with contextlib.suppress(Exception):
                await adapter.edit(ref, Message(f"#{job.id} was deleted by {by}", tone="info"))


def _unlink_all(paths: list[str]) -> None:
    for path in paths:
        Path(path).unlink(missing_ok=True)


def _where(place: Place) -> dict[str, str | None]:
    return {
        "platform": place.platform,
        "workspace_id": place.workspace_id,
        "channel_id": place.channel_id,
        "thread_id": place.thread_id,
    }


def _place_of_repost(repost: Repost) -> Place:
    return Place(repost.platform, repost.channel_id, repost.workspace_id, repost.thread_id)


def _just_ended_and_passed(event: JobEvent, job: Job) -> bool:
    """The back end's snapshot of a job it has just ended, passed by the safety check when it ended and
    never posted: its clip's message needs no read (no decision to make, no review yet to show)."""
    return (
        event.kind == "succeeded"
        and event.job is not None
        and job.safety_decision == SafetyDecision.PASSED.value
        and job.clip_message_id is None
    )


def _size(path: Path) -> int | None:
    """The file's size; None when it does not exist (one system call)."""
    try:
        return path.stat().st_size
    except (FileNotFoundError, NotADirectoryError):
        return None


def _mime(path: Path) -> str:
    return {".gif": "image/gif", ".mp4": "video/mp4", ".webp": "image/webp"}.get(
        path.suffix, "application/octet-stream"
    )
