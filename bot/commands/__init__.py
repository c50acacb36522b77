"""The one command grammar: text and native options -> a validated ``Command``, or a
``CommandError`` whose one line names the bad value and what is allowed; the help text.
No torch: parsing imports only the plain-data catalog and params.
"""

from bot.commands.command import (
    ADMIN_ACTIONS,
    COMMAND_NAMES,
    LIMIT_KEYS,
    LIMIT_MAX,
    MAX_JOB_ID,
    MAX_REASON_CHARS,
    Command,
    help_text,
    parse_command,
    parse_line,
    parse_user_ref,
)
from bot.commands.grammar import (
    ANIMATE_KEYS,
    KEY_ALIASES,
    MAX_PROMPT_CHARS,
    MAX_PROMPT_TOKENS,
    USABLE_PROMPT_TOKENS,
    AnimateRequest,
    CommandError,
    estimate_tokens,
    format_animate,
    normalize_model,
    parse_animate,
)

__all__ = [
    "ADMIN_ACTIONS",
    "ANIMATE_KEYS",
    "COMMAND_NAMES",
    "KEY_ALIASES",
    "LIMIT_KEYS",
    "LIMIT_MAX",
    "MAX_JOB_ID",
    "MAX_PROMPT_CHARS",
    "MAX_PROMPT_TOKENS",
    "MAX_REASON_CHARS",
    "USABLE_PROMPT_TOKENS",
    "AnimateRequest",
    "Command",
    "CommandError",
    "estimate_tokens",
    "format_animate",
    "help_text",
    "normalize_model",
    "parse_animate",
    "parse_command",
    "parse_line",
    "parse_user_ref",
]
