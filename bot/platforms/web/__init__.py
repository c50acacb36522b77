"""The review board: a web platform that talks to the service through ``bot.board.BoardHandler``."""

from bot.platforms.web.server import COOKIE, WebOptions, build_web_app, start_web

__all__ = ["COOKIE", "WebOptions", "build_web_app", "start_web"]
