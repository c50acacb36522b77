"""Writes ``slack-manifest.yml`` from the command table: ``python -m bot.commands.manifest [path]``.

The slash commands (name, description, usage hint, whether Slack escapes mentions) come from
:data:`bot.commands.table.COMMANDS`; the rest of the manifest (scopes, interactivity, the message shortcut) is
the fixed text below. A test fails when the checked-in file differs from what this writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bot.commands.table import COMMANDS, Spec

MANIFEST = Path(__file__).resolve().parents[2] / "slack-manifest.yml"

_HEAD = """\
# Generated from bot/commands/table.py by `python -m bot.commands.manifest`: edit the table, then run it.
# Slack app manifest for animatebot: https://api.slack.com/apps -> Create New App -> From a manifest.
#
# As written it uses Socket Mode (no public URL needed; set SLACK_APP_TOKEN). For HTTP mode
# (SLACK_MODE=http) set socket_mode_enabled to false and give every slash command, and
# interactivity, the URL of your bot: https://<your-host>/slack/events (the lines marked "HTTP mode").
display_information:
  name: animatebot
  description: Turns a line of text into a short animated clip (AnimateDiff-Lightning)
  long_description: >-
    /animate a smiling girl motion:zoom-in queues a clip; a fair queue feeds one GPU; the clip arrives
    in a thread under your request with Reroll, Remix, Approve, Reject and Delete buttons.
    /animate-help lists every command and option. Admins switch the base model with /animate-admin.
  background_color: "#1d1c2b"

features:
  app_home:
    home_tab_enabled: false
    # Lets people use the commands in a direct message with the bot.
    messages_tab_enabled: true
    messages_tab_read_only_enabled: false
  bot_user:
    display_name: animatebot
    always_online: true
  slash_commands:
    # should_escape: false keeps prompts exactly as typed; true turns @someone into a user id,
    # which is what the commands naming a person need.
"""

_TAIL = """\
  shortcuts:
    # On any message with an image file: a dialog asks for the prompt and motion, then the image is
    # animated like /animate (the clip arrives in a thread in that channel). Arrives as interactivity.
    - name: Animate this image
      type: message
      callback_id: animatebot_animate_image
      description: Turn the image in this message into a short animated clip

oauth_config:
  scopes:
    bot:
      # The slash commands above.
      - commands
      # chat.postMessage (the request's parent message and the clip's buttons in its thread),
      # chat.update (progress and the outcome), chat.delete (Delete button), chat.postEphemeral.
      - chat:write
      # files.getUploadURLExternal + files.completeUploadExternal: the clip into the thread.
      - files:write
      # users.info: whether the person is a workspace admin or owner, and their display name.
      - users:read
      # The "Animate this image" shortcut: downloading the message's image from its url_private
      # (files.slack.com) with the bot token. Nothing else is ever fetched.
      - files:read
      # Not requested, on purpose:
      #   chat:write.public  uploads need the bot in the channel anyway, so one rule for everything:
      #                      invite the bot (/invite @animatebot); it tells people so when it is missing.
      #   channels:read etc. the bot never lists conversations.

settings:
  interactivity:
    # Buttons (Reroll, Remix, Approve, Reject, Delete, Report, Save as preset), their dialogs, and the
    # "Animate this image" message shortcut with its dialog.
    is_enabled: true
    # request_url: https://<your-host>/slack/events   # HTTP mode
  org_deploy_enabled: false
  # true: Socket Mode (SLACK_APP_TOKEN, an app-level token with connections:write). false: HTTP mode.
  socket_mode_enabled: true
  token_rotation_enabled: false
"""


def _command(spec: Spec) -> str:
    # json.dumps quotes as YAML does (YAML is a superset of JSON), so colons and brackets stay text.
    lines = [f"    - command: /{spec.name}", f"      description: {json.dumps(spec.slack_help or spec.help)}"]
    if spec.usage:
        lines.append(f"      usage_hint: {json.dumps(spec.usage)}")
    lines += [
        f"      should_escape: {'true' if spec.slack_escape else 'false'}",
        "      # url: https://<your-host>/slack/events   # HTTP mode",
    ]
    return "\n".join(lines) + "\n"


def manifest() -> str:
    """The whole manifest text."""
    return _HEAD + "".join(_command(spec) for spec in COMMANDS) + _TAIL


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else MANIFEST
    target.write_text(manifest(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
