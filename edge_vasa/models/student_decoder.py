"""Slim warping decoder (student): the teacher's design cut down for 512x512 at 40 FPS on a laptop CPU.

Same stages as the teacher (warp_decoder.py), distilled from its frames:
1. Thin-plate-spline flow on a 64x64 grid from precomputed spline coefficients (the small linear solve
   runs per frame outside the network; evaluating the spline is matmuls and elementwise ops).
2. A plain-conv U-Net (ReLU, no normalisation: converts and quantizes cleanly) at 64x64 corrects the flow.
3. The full-resolution photo is sampled through the upsampled flow: pixels stay as sharp as the photo.
4. Mouth and eyes are repainted by small plain-conv U-Nets on fixed-size patches. The three RGBA patches
   share one atlas, so placing them into the frame is a single full-resolution ``grid_sample`` instead of
   one per patch (that placement was a fifth of the teacher's time).

The appearance features come from the teacher's encoder, once per identity. Every op is one that ONNX,
OpenVINO and Core ML support (conv, matmul, resize, grid_sample, elementwise).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edge_vasa.core.motion import EYE_L, EYE_R, MOTION_DIM
from edge_vasa.models.shapes import FLOW_SIZE
from edge_vasa.models.warp_decoder import PATCHES, feather, identity_grid, sample, tps_grid

ATLAS_GAP = 2  # empty (alpha 0) pixels around each patch in the atlas, so bilinear reads never bleed


@dataclass
class StudentDecoderConfig:
    feature_dim: int = 16  # appearance feature channels (from the teacher's encoder)
    width: int = 16  # flow network
    paint_width: int = 16  # mouth and eye painters
    motion_dim: int = MOTION_DIM
    max_flow_correction: float = 0.06  # grid units, as the teacher


class ConvReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1):
        super().__init__(nn.Conv2d(cin, cout, kernel, stride, padding=(kernel - 1) // 2), nn.ReLU())


class SlimUNet(nn.Module):
    """Two halvings of plain conv + ReLU; a 1x1 stem squeezes wide inputs; motion is added at the bottom."""

    def __init__(self, cin: int, cout: int, width: int, cond_dim: int):
        super().__init__()
        w1, w2, w3 = width, 2 * width, 4 * width
        self.stem = nn.Sequential(ConvReLU(cin, w1, 1), ConvReLU(w1, w1))
        self.down1 = nn.Sequential(ConvReLU(w1, w2, 3, 2), ConvReLU(w2, w2))
        self.down2 = ConvReLU(w2, w3, 3, 2)
        self.cond = nn.Linear(cond_dim, w3)
        self.mid = ConvReLU(w3, w3)
        self.up2 = ConvReLU(w3, w2)
        self.up1 = ConvReLU(w2, w1)
        self.head = nn.Conv2d(w1, cout, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        s1 = self.stem(x)
        s2 = self.down1(s1)
        x = self.mid(self.down2(s2) + self.cond(cond)[:, :, None, None])
        x = self.up2(F.interpolate(x, scale_factor=2.0, mode="nearest")) + s2
        x = self.up1(F.interpolate(x, scale_factor=2.0, mode="nearest")) + s1
        return self.head(x)


def atlas_layout() -> tuple[int, int, dict[str, tuple[int, int]]]:
    """Patches side by side in one RGBA atlas: (height, width, {name: (x offset, side)})."""
    offsets, x = {}, ATLAS_GAP
    for name, (_, side, _) in PATCHES.items():
        offsets[name] = (x, side)
        x += side + ATLAS_GAP
    height = max(side for _, side, _ in PATCHES.values()) + 2 * ATLAS_GAP
    return height, x, offsets


def axis(size: int, device: torch.device | None = None) -> torch.Tensor:
    """Grid coordinates of the pixel centres along one side (align_corners=False)."""
    return (torch.arange(size, device=device, dtype=torch.float32) + 0.5) / size * 2 - 1


def separable_heatmaps(
    points: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor, sigma: torch.Tensor
) -> torch.Tensor:
    """Gaussian blobs on an axis-aligned grid: (B, K, 2) points, (B, W) / (B, H) grid coordinates, (B,)
    widths -> (B, K, H, W). One outer product per point instead of a distance per pixel."""
    s2 = 2 * sigma[:, None, None] ** 2
    gx = torch.exp(-((xs[:, None] - points[..., :1]) ** 2) / s2)  # (B, K, W)
    gy = torch.exp(-((ys[:, None] - points[..., 1:]) ** 2) / s2)  # (B, K, H)
    return gy[..., :, None] * gx[..., None, :]


class StudentDecoder(nn.Module):
    def __init__(self, cfg: StudentDecoderConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.feature_dim
        self.flow_net = SlimUNet(c + 3 + 2 + 68, 2, cfg.width, cfg.motion_dim)
        self.painters = nn.ModuleDict(
            {
                name: SlimUNet(c + 3 + len(points), 4, cfg.paint_width, cfg.motion_dim)
                for name, (points, _, _) in PATCHES.items()
            }
        )
        for painter in self.painters.values():
            nn.init.constant_(painter.head.bias[3], -3.0)  # paint alpha ~0.05: the warped photo at first

    def forward(
        self,
        features: torch.Tensor,
        image: torch.Tensor,
        small: torch.Tensor,
        coef: torch.Tensor,
        dst: torch.Tensor,
        landmarks: torch.Tensor,
        motion: torch.Tensor,
    ) -> torch.Tensor:
        """Render frames.

        Per identity: features (B, C, 128, 128) appearance; image (B, 3, S, S) the aligned photo in [0, 1]
        (the output has the same size); small (B, 3, 64, 64) the photo at the flow resolution
        (``flow_photo``). Per frame: coef (B, N + 3, 2) spline coefficients from
        ``tps_coefficients(dst, src)``; dst (B, N, 2) the frame's control points and landmarks (B, 68, 2),
        grid coordinates; motion (B, MOTION_DIM). -> (B, 3, S, S) in [0, 1].
        """
        b = motion.shape[0]
        coarse = tps_grid(coef, dst, FLOW_SIZE)
        grid = identity_grid(FLOW_SIZE, coarse.device)[None]
        line = axis(FLOW_SIZE, coarse.device)[None].expand(b, -1)
        iod = (landmarks[:, EYE_L].mean(1) - landmarks[:, EYE_R].mean(1)).norm(dim=-1)
        x = torch.cat(
            [
                sample(features, coarse),
                sample(small, coarse),
                (coarse - grid).permute(0, 3, 1, 2),
                separable_heatmaps(landmarks, line, line, 0.08 * iod),
            ],
            1,
        )
        correction = torch.tanh(self.flow_net(x, motion))
        flow = coarse.permute(0, 3, 1, 2) + self.cfg.max_flow_correction * correction  # (B, 2, 64, 64)
        size = image.shape[-1]
        full = F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
        frame = sample(image, full.permute(0, 2, 3, 1).contiguous())
        return self._paint(frame, features, image, flow, landmarks, motion, iod)

    def _paint(self, frame, features, image, flow, landmarks, motion, iod) -> torch.Tensor:
        """Paint mouth and eye patches, then place all of them with one sample from their atlas.

        Patches are axis-aligned squares, so where each output pixel falls in the atlas is separable: a
        row coordinate times a column coordinate, a few full-resolution ops in all.
        """
        size = frame.shape[-1]
        height, width, offsets = atlas_layout()
        out_line = axis(size, frame.device)[None]  # (1, S)
        empty = -1.0  # the atlas's top-left corner: a gap, alpha 0
        lookup_x = lookup_y = frame.new_full((1, 1, 1), empty)
        blocks = []
        for name, (points, side, half_iods) in PATCHES.items():
            centre = landmarks[:, points].mean(1)  # (B, 2)
            half = half_iods * iod  # (B,)
            patch_line = axis(side, frame.device)[None] * half[:, None]  # (B, side)
            xs, ys = centre[:, :1] + patch_line, centre[:, 1:] + patch_line
            patch_grid = torch.stack(
                [xs[:, None, :].expand(-1, side, -1), ys[:, :, None].expand(-1, -1, side)], -1
            )
            patch_flow = sample(flow, patch_grid).permute(0, 2, 3, 1)
            x = torch.cat(
                [
                    sample(image, patch_flow),
                    sample(features, patch_flow),
                    separable_heatmaps(landmarks[:, points], xs, ys, 3 * half / side),
                ],
                1,
            )
            rgba = self.painters[name](x, motion)
            alpha = torch.sigmoid(rgba[:, 3:]) * feather(side).to(rgba)
            paint = torch.cat([torch.sigmoid(rgba[:, :3]), alpha], 1)
            blocks.append(F.pad(paint, (ATLAS_GAP, 0, ATLAS_GAP, height - ATLAS_GAP - side)))
            x0, _ = offsets[name]
            local_x = (out_line - centre[:, :1]) / half[:, None]  # (B, S): -1..1 across the patch
            local_y = (out_line - centre[:, 1:]) / half[:, None]
            inside = (local_y.abs() < 1).float()[:, :, None] * (local_x.abs() < 1).float()[:, None, :]
            # patch coordinates -> atlas grid coordinates (align_corners=False on both)
            atlas_x = (x0 + (local_x + 1) / 2 * side) / width * 2 - 1
            atlas_y = (ATLAS_GAP + (local_y + 1) / 2 * side) / height * 2 - 1
            lookup_x = lookup_x + inside * (atlas_x[:, None, :] - empty)
            lookup_y = lookup_y + inside * (atlas_y[:, :, None] - empty)
        atlas = F.pad(torch.cat(blocks, -1), (0, ATLAS_GAP))  # (B, 4, height, width), as atlas_layout
        lookup = torch.stack([lookup_x, lookup_y], -1)
        placed = F.grid_sample(atlas, lookup, mode="bilinear", padding_mode="zeros", align_corners=False)
        return torch.lerp(frame, placed[:, :3], placed[:, 3:])


def flow_photo(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S) photo -> (B, 3, 64, 64): what the flow network sees of it (once per identity)."""
    return F.interpolate(image, size=FLOW_SIZE, mode="bilinear", antialias=True, align_corners=False)
