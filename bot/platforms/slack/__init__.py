"""Slack on slack-bolt and slack-sdk: slash commands, buttons and the remix dialog in (Socket Mode or
HTTP); messages, thread replies and file uploads out."""

from bot.platforms.slack.adapter import SlackAdapter

__all__ = ["SlackAdapter"]
