"""The Slack adapter's outbound side, driving the real slack-sdk client against a local fake Slack."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.chat import (
    Button,
    ChatAdapter,
    Clip,
    Field,
    Message,
    MessageRef,
    NotInChannel,
    Place,
    UploadTooLarge,
    progress_bar,
)
from bot.platforms.slack.adapter import SlackAdapter
from bot.platforms.slack.inbound import COMMANDS
from bot.platforms.slack.render import blocks, fallback_text, mrkdwn
from tests.bot.platforms.slack.harness import adapter_settings
from tests.fakes.slack_server import FakeSlack
from tests.harness import REPO

CHANNEL = Place("slack", "C0000001", "T0000001")


def gif(tmp_path: Path, size: int = 300) -> Clip:
    path = tmp_path / "clip-7.gif"
    path.write_bytes(b"GIF89a" + bytes(range(256)) * (size // 256 + 1))
    return Clip(path, "image/gif", path.stat().st_size)


CLIP_MESSAGE = Message(
    "a smiling girl",
    title="#7",
    fields=(Field("Motion", "zoom-in@0.75"), Field("Review", "no votes yet")),
    buttons=(Button("reroll", 7, "Reroll", "primary"), Button("approve", 7, "Approve", "success")),
    tone="ok",
    footer="requested by ada",
)


async def test_adapter_satisfies_the_chat_protocol(adapter: SlackAdapter) -> None:
    assert isinstance(adapter, ChatAdapter)
    assert adapter.bot_user_id == "UBOT0001"


async def test_post_edit_thread_and_link(adapter: SlackAdapter, fake: FakeSlack) -> None:
    ref = await adapter.post(CHANNEL, Message("queued #7, next in line", progress=None))
    assert ref == MessageRef(CHANNEL, "1700000000.000001")
    assert fake.calls_to("chat.postMessage")[0].token == "xoxb-test-token"

    await adapter.edit(ref, Message("#7 generating", progress=0.5))
    stored = fake.messages[("C0000001", ref.message_id)]
    assert "#7 generating" in stored["text"]
    assert stored["blocks"][1]["elements"][0]["text"] == progress_bar(0.5) == "████████░░░░░░░░ 50%"

    thread = await adapter.start_thread(ref, "#7 a smiling girl")
    assert thread == CHANNEL.in_thread(ref.message_id)
    reply = await adapter.post(thread, Message("in the thread"))
    assert fake.messages[("C0000001", reply.message_id)]["thread_ts"] == ref.message_id
    assert adapter.link(ref) == "https://fake-workspace.slack.com/archives/C0000001/p1700000000000001"
    assert adapter.link(reply) == (
        "https://fake-workspace.slack.com/archives/C0000001/p1700000000000002?thread_ts=1700000000.000001&cid=C0000001"
    )


async def test_post_clip_uploads_in_three_steps_into_the_thread_then_buttons(
    adapter: SlackAdapter, fake: FakeSlack, tmp_path: Path
) -> None:
    parent = await adapter.post(CHANNEL, Message("queued #7"))
    thread = await adapter.start_thread(parent, "#7")
    assert thread is not None
    clip = gif(tmp_path)
    ref = await adapter.post_clip(thread, CLIP_MESSAGE, clip)

    assert fake.methods()[-4:] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
        "chat.postMessage",
    ]
    (upload,) = fake.uploads.values()
    assert upload.data == clip.path.read_bytes()
    assert (upload.filename, upload.channel, upload.thread_ts) == ("clip-7.gif", "C0000001", parent.message_id)
    assert upload.shared and upload.initial_comment == ":white_check_mark: *#7*"

    ts, file_id = ref.message_id.split("/")  # the clip's id names its message and its file (Delete removes both)
    assert file_id == upload.file_id
    buttons_message = fake.messages[("C0000001", ts)]
    assert buttons_message["thread_ts"] == parent.message_id
    (actions,) = [b for b in buttons_message["blocks"] if b["type"] == "actions"]
    assert [(e["action_id"], e["value"], e.get("style")) for e in actions["elements"]] == [
        ("animatebot:reroll", "animatebot:reroll:7", "primary"),
        ("animatebot:approve", "animatebot:approve:7", "primary"),
    ]


async def test_ratelimited_and_5xx_answers_are_retried(adapter: SlackAdapter, fake: FakeSlack) -> None:
    fake.ratelimit_next("chat.postMessage", retry_after=0)
    ref = await adapter.post(CHANNEL, Message("after a 429"))
    assert [c.method for c in fake.calls_to("chat.postMessage")] == ["chat.postMessage"] * 2
    assert ("C0000001", ref.message_id) in fake.messages

    fake.fail_next("chat.update", "internal_error", status=503)
    await adapter.edit(ref, Message("after a 503"))
    assert len(fake.calls_to("chat.update")) == 2
    assert "after a 503" in fake.messages[("C0000001", ref.message_id)]["text"]


async def test_not_in_channel_is_reported_as_such(adapter: SlackAdapter, fake: FakeSlack, tmp_path: Path) -> None:
    private = Place("slack", "GPRIVATE1", "T0000001")
    fake.not_in_channels.add("GPRIVATE1")
    with pytest.raises(NotInChannel):
        await adapter.post(private, Message("hello"))
    with pytest.raises(NotInChannel):
        await adapter.post_ephemeral(private, "U1", Message("only you"))
    with pytest.raises(NotInChannel):
        await adapter.post_clip(private.in_thread("1.2"), CLIP_MESSAGE, gif(tmp_path))
    fake.fail_next("chat.postMessage", "channel_not_found")
    with pytest.raises(NotInChannel):
        await adapter.post(CHANNEL, Message("hello"))


async def test_upload_refused_for_size_raises_upload_too_large(
    adapter: SlackAdapter, fake: FakeSlack, tmp_path: Path
) -> None:
    fake.upload_status = 413
    with pytest.raises(UploadTooLarge):
        await adapter.post_clip(CHANNEL.in_thread("1.2"), CLIP_MESSAGE, gif(tmp_path))
    calls = len(fake.calls)
    huge = Clip(tmp_path / "huge.gif", "image/gif", adapter.max_upload_bytes + 1)
    with pytest.raises(UploadTooLarge):
        await adapter.post_clip(CHANNEL.in_thread("1.2"), CLIP_MESSAGE, huge)
    assert len(fake.calls) == calls  # refused before any request


async def test_notify_is_ephemeral_and_delete_removes(adapter: SlackAdapter, fake: FakeSlack) -> None:
    await adapter.post_ephemeral(CHANNEL.in_thread("1700000000.000009"), "U42", Message("only you see this"))
    (call,) = fake.calls_to("chat.postEphemeral")
    assert (call.args["user"], call.args["thread_ts"]) == ("U42", "1700000000.000009")
    ref = await adapter.post(CHANNEL, Message("to delete"))
    await adapter.delete(ref)
    assert fake.deleted == [("C0000001", ref.message_id)]


async def test_start_says_what_slack_refused_without_the_token(fake: FakeSlack, tmp_path: Path) -> None:
    fake.fail_next("auth.test", "invalid_auth")
    slack = SlackAdapter(None, adapter_settings(fake, tmp_path), host="127.0.0.1", port=0)
    with pytest.raises(RuntimeError, match="invalid_auth") as caught:
        await slack.start()
    assert "xoxb-test-token" not in str(caught.value)
    await slack.close()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"SLACK_BOT_TOKEN": ""}, "SLACK_BOT_TOKEN"),
        ({"SLACK_SIGNING_SECRET": ""}, "SLACK_SIGNING_SECRET"),
        ({"SLACK_MODE": "socket"}, "SLACK_APP_TOKEN"),
        ({"SLACK_MODE": "socket", "SLACK_APP_TOKEN": "xoxb-wrong-kind"}, "xapp-"),
    ],
)
async def test_missing_settings_are_named(fake: FakeSlack, tmp_path: Path, extra: dict[str, str], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        SlackAdapter(None, adapter_settings(fake, tmp_path, **extra))


def test_rendering_escapes_user_text_and_keeps_slack_limits() -> None:
    assert mrkdwn("hi <!channel> & **you** [docs](https://x.io/a)") == (
        "hi &lt;!channel&gt; &amp; *you* <https://x.io/a|docs>"
    )
    long = Message("x" * 5000, title="#1", fields=tuple(Field(f"f{i}", "v") for i in range(14)))
    rendered = blocks(long)
    assert len(rendered[0]["text"]["text"]) == 3000
    assert len(rendered[1]["fields"]) == 10
    assert fallback_text(Message("", title=None)) == " "
    assert fallback_text(Message("queued #3\n> a cat", tone="error")) == ":warning: queued #3\n&gt; a cat"
    assert progress_bar(1.7) == "█" * 16 + " 100%"


def test_manifest_declares_every_command_interactivity_and_the_scopes_used() -> None:
    manifest = yaml.safe_load((REPO / "slack-manifest.yml").read_text())
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert sorted(commands) == sorted(f"/{name}" for name in COMMANDS)
    assert manifest["oauth_config"]["scopes"]["bot"] == [
        "commands",
        "chat:write",
        "files:write",
        "users:read",
        "files:read",
    ]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
