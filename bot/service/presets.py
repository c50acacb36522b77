"""Presets: ``/animate-preset save|list|delete|default``, ``preset:<name>`` and a person's default preset in
``/animate``, and a clip's **Save as preset**. A person's presets and their server's live in that server only:
from another server they answer as missing ones do.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.chat import Invocation, Message
from bot.commands import Command, CommandError, check_preset, format_options, preset_name
from bot.service import replies as render
from bot.service.access import Access, Authority, tenant_of
from generation.params import GenerationParams
from storage.db import Database
from storage.presets import SERVER, PresetStore


@dataclass
class Presets:
    db: Database
    access: Access

    def __post_init__(self) -> None:
        self.store = PresetStore(self.db)

    async def starting_tokens(self, inv: Invocation, name: str | None) -> str:
        """The tokens ``inv``'s /animate starts from: preset ``name``'s, else the person's default preset's.
        Raises CommandError when ``name`` is not a preset there."""
        tokens, missing = await self.db.offload(self.store.starting_tokens, tenant_of(inv.place), inv.actor.key, name)
        if missing is not None:
            raise CommandError(render.preset_missing(missing))
        return tokens

    async def run(self, inv: Invocation, command: Command) -> Message:
        """One ``/animate-preset`` command; the answer to show its author."""
        tenant, user = tenant_of(inv.place), inv.actor.key
        name = command.args.get("name")
        server = command.args.get("server") == "yes"
        if server and await self.db.offload(self.access.authority, inv.actor, inv.place) < Authority.SERVER_ADMIN:
            return render.error("only this server's admins may save or delete server presets")
        owner = SERVER if server else user
        if command.action == "save" and name is not None:
            return await self.save(inv, owner, name, command.args["tokens"])
        if command.action == "delete" and name is not None:
            if not await self.db.offload(self.store.delete, tenant, owner, name):
                return render.error(render.preset_missing(name))
            return render.info(f"preset {name} deleted")
        if command.action == "default":
            if name is not None and await self.db.offload(self.store.find, tenant, user, name) is None:
                return render.error(render.preset_missing(name))
            await self.db.offload(self.store.set_default, tenant, user, name)
            return render.preset_default(name)
        presets = await self.db.offload(self.store.listed, tenant, user)
        return render.preset_list(presets, await self.db.offload(self.store.default_name, tenant, user))

    async def save(self, inv: Invocation, owner: str, name: str, tokens: str) -> Message:
        new = await self.db.offload(self.store.save, tenant_of(inv.place), owner, name, tokens, inv.actor.key)
        return render.preset_saved(name, tokens, server=owner == SERVER, new=new)

    async def save_clip(self, inv: Invocation, params: GenerationParams, name_text: str) -> Message:
        """**Save as preset** on a clip: its options (not its prompt, seed or image) under ``name_text``."""
        try:
            name = preset_name(name_text)
            tokens = format_options(params.with_changes(seed=None, image=None))
            check_preset(tokens)
        except CommandError as exc:
            return render.error(str(exc))
        return await self.save(inv, inv.actor.key, name, tokens)
