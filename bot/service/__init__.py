"""The use cases, neutral to platform: access rules, clips (animate, reroll, remix, cancel, delete,
vote, show, history, review), admin, replies (all user-facing wording) and delivery (job events
-> edits and uploads). Platforms reach it only through ``bot.chat.CommandHandler``.
"""

from bot.service.access import Access
from bot.service.admin import Admin
from bot.service.clips import Service
from bot.service.delivery import Delivery
from bot.service.where import Where

__all__ = ["Access", "Admin", "Delivery", "Service", "Where"]
