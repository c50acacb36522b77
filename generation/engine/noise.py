"""Starting noise: what the pipeline would draw for a seed, and Vary's blend of two seeds' noise.

Spherical interpolation keeps a blend of two Gaussian noises at the norm of Gaussian noise; a straight
line between them would shrink it (at 0.5 to about 0.71 of it) and wash the clip out.
"""

from __future__ import annotations

import torch


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """The point ``t`` (0 gives ``a``, 1 gives ``b``) of the way along the great circle from ``a`` to ``b``,
    each sample of the batch (dimension 0) on its own; computed in float64, returned in ``a``'s dtype."""
    x, y = a.double().flatten(1), b.double().flatten(1)
    cos = (x * y).sum(1) / (x.norm(dim=1) * y.norm(dim=1))
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    sin = torch.sin(omega)
    straight = sin.abs() < 1e-6  # (nearly) the same direction: the line is the arc
    safe = torch.where(straight, torch.ones_like(sin), sin)
    wa = torch.where(straight, torch.full_like(sin, 1 - t), torch.sin((1 - t) * omega) / safe)
    wb = torch.where(straight, torch.full_like(sin, t), torch.sin(t * omega) / safe)
    out = wa[:, None] * x + wb[:, None] * y
    return out.reshape(a.shape).to(a.dtype)
