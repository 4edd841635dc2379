"""Appearance encoder: aligned face crop -> appearance features + canonical keypoints (once per identity).

The features are a (C, 128, 128) map of the photo that the warping decoder moves with the face and turns
into the pixels a plain warp cannot give (mouth interior, eyelids). The canonical keypoints are the
identity's warp control points at rest (68 landmarks, the head ring, eye centres, neck and crop border;
see ``render.Renderer.controls``), in grid_sample coordinates: they come from the landmark fit, not from
the network, because the motion space is explicit (DESIGN.md) and the fit already places them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edge_vasa.models.shapes import ENCODE_SIZE


@dataclass
class AppearanceEncoderConfig:
    width: int = 32
    feature_dim: int = 16


class ResBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(8, channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.GroupNorm(8, channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class AppearanceEncoder(nn.Module):
    def __init__(self, cfg: AppearanceEncoderConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.net = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1),  # 256
            nn.SiLU(),
            nn.Conv2d(w, w, 4, stride=2, padding=1),  # 128
            ResBlock(w),
            ResBlock(w),
            nn.GroupNorm(8, w),
            nn.SiLU(),
            nn.Conv2d(w, cfg.feature_dim, 1),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) RGB in [0, 1], any S -> (B, feature_dim, 128, 128) appearance features."""
        if image.shape[-1] != ENCODE_SIZE:
            image = F.interpolate(
                image, size=ENCODE_SIZE, mode="bilinear", antialias=True, align_corners=False
            )
        return self.net(image * 2 - 1)
