"""Translation to and from each chat platform: Discord, Slack and the console.

Adapters import ``bot.chat`` (the neutral types and the ``CommandHandler`` port), the grammar's
option lists from ``bot.commands`` and ``bot.settings``; never the service or storage.
"""
