"""Fetching an image a person sent, from their platform's own file host only.

Both adapters hand the bytes (or a one-line reason they could not) to the service as a
``bot.chat.ImageFile``; what the bytes are worth is decided there. The bot never follows a URL to
anywhere but the origins it is given (Discord's CDN, Slack's file host, or the API base a test or
proxy configured), never follows redirects, stops reading past MAX_IMAGE_BYTES, and gives up
after a time limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from urllib.parse import urlsplit

import aiohttp

from bot.chat import ImageFile
from generation.media.image import MAX_IMAGE_BYTES

_CHUNK = 64 * 1024


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower-cased; '' when it has none."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


async def fetch_image(
    url: str,
    filename: str,
    *,
    allowed_origins: Collection[str],
    platform: str,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
    size: int | None = None,
    max_bytes: int = MAX_IMAGE_BYTES,
) -> ImageFile:
    """The file at ``url`` as an ImageFile; on any failure an ImageFile whose ``error`` says why in one line.

    ``size`` is what the platform reported, checked before downloading. ``headers`` go only to
    an allowed origin (Slack's bot token, for one).
    """
    shown = repr(" ".join(filename.split())[:60] or "the image")
    limit_mb = max_bytes // 1024 // 1024
    if origin(url) not in allowed_origins:
        return ImageFile(filename, error=f"{shown} is not a file uploaded to {platform}; only those are fetched")
    if size is not None and size > max_bytes:
        return ImageFile(filename, error=f"{shown} is {size / 1024 / 1024:.1f} MB; images may be at most {limit_mb} MB")
    try:
        async with asyncio.timeout(timeout_s):
            async with (
                aiohttp.ClientSession() as session,
                session.get(url, headers=dict(headers or {}), allow_redirects=False) as response,
            ):
                if response.status != 200:
                    return ImageFile(filename, error=f"the download of {shown} failed (HTTP {response.status})")
                if (response.content_length or 0) > max_bytes:
                    return ImageFile(filename, error=f"{shown} is over {limit_mb} MB; images may be at most that")
                data = bytearray()
                async for chunk in response.content.iter_chunked(_CHUNK):
                    data += chunk
                    if len(data) > max_bytes:
                        return ImageFile(filename, error=f"{shown} is over {limit_mb} MB; images may be at most that")
    except TimeoutError:
        return ImageFile(filename, error=f"the download of {shown} timed out after {timeout_s:g} s; try again")
    except aiohttp.ClientError as exc:
        return ImageFile(filename, error=f"the download of {shown} failed ({type(exc).__name__}); try again")
    return ImageFile(filename, bytes(data))
