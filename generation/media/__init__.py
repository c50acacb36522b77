"""Frames -> GIF / MP4 / WebP within a byte budget (GIF: a local colour table per frame, generation/media/gif.py), and back."""

from generation.media.decode import read_clip
from generation.media.encode import DEFAULT_MAX_BYTES, EncodedClip, EncodeError, clip_palette, encode_clip
from generation.media.poster import write_poster

__all__ = [
    "DEFAULT_MAX_BYTES",
    "EncodeError",
    "EncodedClip",
    "clip_palette",
    "encode_clip",
    "read_clip",
    "write_poster",
]
