"""Discord on discord.py 2.x: slash commands, buttons and the remix form in; messages, threads and clips out."""

from bot.platforms.discord.adapter import DiscordAdapter

__all__ = ["DiscordAdapter"]
