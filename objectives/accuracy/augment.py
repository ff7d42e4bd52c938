"""Batched input preparation on the training device: resize, normalise, augment.

Images stay uint8 on the device; each batch is turned into model input here in one go
(per-image random crop, flip and cutout draw from torch's global generator, which the
evaluator seeds), so loading is never the bottleneck (timm's per-image PIL transforms would be).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from accelsearch.core.errors import EvaluationError


def prepare_batch(
    x_u8: torch.Tensor,
    t: dict[str, torch.Tensor],
    res: int,
    in_chans: int,
    fmt: torch.memory_format,
    augment: Sequence[str] = (),
) -> torch.Tensor:
    """uint8 images -> normalised float input of ``res``×``res`` and ``in_chans`` channels
    (``t`` holds the dataset's ``mean`` and ``std``), augmented by ``augment``."""
    x = x_u8.float().div_(255.0)
    if x.shape[-1] != res or x.shape[-2] != res:
        x = F.interpolate(x, size=(res, res), mode="bilinear", align_corners=False)
    x = (x - t["mean"]) / t["std"]
    if x.shape[1] != in_chans:
        if x.shape[1] == 1:
            x = x.expand(-1, in_chans, -1, -1)
        else:
            raise EvaluationError(
                f"dataset images have {x.shape[1]} channels but the arch takes {in_chans}"
            )
    if "crop" in augment:
        x = random_crop(x, max(1, res // 8))
    if "flip" in augment:
        flip = torch.rand(x.shape[0], device=x.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if "cutout" in augment:
        x = cutout(x, max(1, res // 4))
    return x.contiguous(memory_format=fmt)


def random_crop(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Per-image random crop of ``x`` (B×C×H×W) after reflect-padding by ``pad``."""
    b, _, h, w = x.shape
    p = min(pad, h - 1, w - 1)
    if p < 1:
        return x
    xp = F.pad(x, (p, p, p, p), mode="reflect")
    i = torch.randint(0, 2 * p + 1, (b, 1), device=x.device)
    j = torch.randint(0, 2 * p + 1, (b, 1), device=x.device)
    rows = i + torch.arange(h, device=x.device)  # B×H
    cols = j + torch.arange(w, device=x.device)  # B×W
    bidx = torch.arange(b, device=x.device)[:, None, None]
    out = xp[bidx, :, rows[:, :, None], cols[:, None, :]]  # B×H×W×C
    return out.permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, size: int) -> torch.Tensor:
    """Zero one ``size``×``size`` square (clipped at the border) at a random place per image."""
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b, 1, 1), device=x.device)
    cx = torch.randint(0, w, (b, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    half = size // 2
    inside = ((ys - cy).abs() <= half) & ((xs - cx).abs() <= half)  # B×H×W
    return x * (~inside)[:, None].to(x.dtype)
