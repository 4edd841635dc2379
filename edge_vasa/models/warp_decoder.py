"""Warping decoder (teacher): cached appearance + one frame of motion -> frame at the photo's resolution.

1. Keypoints: the identity's canonical control points (``src``) and where the motion puts them in the
   output frame (``dst``) give a thin-plate-spline backward flow on a 64x64 grid (closed form, no
   weights): already right for every pixel that exists in the photo.
2. A U-Net at 64x64 sees the appearance features and the photo moved by that flow, the flow itself and
   heatmaps of the frame's 68 landmarks, with the motion vector added at its bottleneck, and corrects
   the flow (bounded: the keypoints lead).
3. The full-resolution photo is sampled through the upsampled flow with 2-D ``grid_sample``: pixels stay
   as sharp as the photo. Only 2-D flow: 3-D warping volumes are what keep peers off edge hardware.
4. What a warp cannot show (mouth interior, teeth, tongue, eyelids) is painted by one small U-Net per
   patch (mouth, each eye): a square around the part, at a fixed pixel size, sees the photo and features
   sampled through the flow plus the part's landmark heatmaps, and returns RGB + alpha that is blended
   into the frame with feathered edges. The compute goes where the detail is.

Everything is deterministic given (appearance, motion), so the same mouth shape always shows the same
teeth, across closings and reopenings.

Coordinates are grid_sample's (align_corners=False): -1 and 1 are the outer edges of the image, so
keypoints, flows and patches mean the same thing at every resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edge_vasa.core.motion import EYE_L, EYE_R, MOTION_DIM, MOUTH_INNER, MOUTH_OUTER
from edge_vasa.models.appearance_encoder import ResBlock
from edge_vasa.models.shapes import FLOW_SIZE, TPS_REGULARIZATION


@dataclass
class WarpDecoderConfig:
    feature_dim: int = 16  # appearance feature channels (AppearanceEncoderConfig.feature_dim)
    width: int = 16  # flow network
    paint_width: int = 24  # mouth and eye painters
    motion_dim: int = MOTION_DIM
    max_flow_correction: float = 0.06  # grid units (3 % of the image side): the U-Net refines, TPS leads


def pixels_to_grid(points: torch.Tensor, size: int) -> torch.Tensor:
    """Pixel coordinates (pixel centres at integers) in a size x size image -> grid_sample coordinates."""
    return (points + 0.5) / size * 2 - 1


def identity_grid(size: int, device: torch.device | None = None) -> torch.Tensor:
    """(size, size, 2) grid_sample coordinates of every pixel centre, x first."""
    axis = (torch.arange(size, device=device, dtype=torch.float32) + 0.5) / size * 2 - 1
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([gx, gy], -1)


def _tps_kernel(d2: torch.Tensor) -> torch.Tensor:
    return d2 * torch.log(d2.clamp_min(1e-12))


def tps_coefficients(dst: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    """Thin-plate spline through (B, N, 2) control points, mapping ``dst`` (output frame) to ``src`` (photo).

    Returns (B, N + 3, 2) float32: N kernel weights, then the affine part (constant, x, y). Solved in
    float64 (the system is badly conditioned when lips close). This is the only step that needs a linear
    solve; it is tiny (N ~ 120) and runs per frame outside the exported networks.
    """
    b, n, _ = dst.shape
    p = dst.double()
    k = _tps_kernel(torch.cdist(p, p) ** 2) + TPS_REGULARIZATION * torch.eye(
        n, dtype=p.dtype, device=p.device
    )
    ones = torch.ones(b, n, 1, dtype=p.dtype, device=p.device)
    a = torch.zeros(b, n + 3, n + 3, dtype=p.dtype, device=p.device)
    a[:, :n, :n] = k
    a[:, :n, n : n + 1] = ones
    a[:, n : n + 1, :n] = ones.transpose(1, 2)
    a[:, :n, n + 1 :] = p
    a[:, n + 1 :, :n] = p.transpose(1, 2)
    rhs = torch.zeros(b, n + 3, 2, dtype=p.dtype, device=p.device)
    rhs[:, :n] = src.double()
    return torch.linalg.solve(a, rhs).float()


def tps_grid(coef: torch.Tensor, dst: torch.Tensor, size: int = FLOW_SIZE) -> torch.Tensor:
    """Evaluate the spline of ``tps_coefficients`` on a size x size grid -> (B, size, size, 2) backward flow:
    for every output pixel, where to sample the photo. Only matmuls and elementwise ops (exportable)."""
    b, n, _ = dst.shape
    g = identity_grid(size, dst.device).reshape(1, -1, 2)
    d2 = (g**2).sum(-1, keepdim=True) + (dst**2).sum(-1)[:, None] - 2 * g @ dst.transpose(1, 2)
    u = _tps_kernel(d2.clamp_min(0))  # (B, size^2, N)
    mapped = u @ coef[:, :n] + coef[:, n : n + 1] + g @ coef[:, n + 1 :]
    return mapped.reshape(b, size, size, 2)


def tps_flow(dst: torch.Tensor, src: torch.Tensor, size: int = FLOW_SIZE) -> torch.Tensor:
    """Backward map of a thin-plate spline through (B, N, 2) control points, grid coordinates.

    Returns (B, size, size, 2): for every output pixel, where to sample the photo (``src`` side).
    """
    return tps_grid(tps_coefficients(dst, src), dst, size)


def sample(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Bilinear grid_sample of ``image`` at the (B, H, W, 2) positions of ``flow``: output is H x W."""
    return F.grid_sample(image, flow, mode="bilinear", padding_mode="border", align_corners=False)


def upsample_flow(flow: torch.Tensor, size: int) -> torch.Tensor:
    """(B, h, h, 2) flow -> (B, size, size, 2); grid coordinates need no rescaling."""
    if flow.shape[1] == size:
        return flow
    up = F.interpolate(flow.permute(0, 3, 1, 2), size=size, mode="bilinear", align_corners=False)
    return up.permute(0, 2, 3, 1)


def heatmaps(points: torch.Tensor, grid: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Gaussian blobs: (B, K, 2) points on a (B or 1, H, W, 2) grid, (B,) widths -> (B, K, H, W)."""
    d2 = ((grid[:, None] - points[:, :, None, None]) ** 2).sum(-1)
    return torch.exp(-d2 / (2 * sigma[:, None, None, None] ** 2))


def feather(size: int, margin: float = 0.15) -> torch.Tensor:
    """(size, size) weight: 1 inside a patch, falling linearly to 0 over its outer ``margin``."""
    axis = (torch.arange(size) + 0.5) / size * 2 - 1
    ramp = ((1 - axis.abs()) / margin).clamp(0, 1)
    return ramp[:, None] * ramp[None, :]


class Up(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class UNet(nn.Module):
    """Small U-Net: ``depth`` halvings with a residual block each, the motion added at the bottom."""

    def __init__(self, cin: int, cout: int, width: int, depth: int, cond_dim: int):
        super().__init__()
        widths = [width * min(2**i, 4) for i in range(depth + 1)]
        self.stem = nn.Sequential(nn.Conv2d(cin, width, 3, padding=1), ResBlock(width))
        self.downs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(a, b, 4, stride=2, padding=1), ResBlock(b))
            for a, b in zip(widths, widths[1:])
        )
        self.cond = nn.Sequential(
            nn.Linear(cond_dim, widths[-1]), nn.SiLU(), nn.Linear(widths[-1], widths[-1])
        )
        self.mid = ResBlock(widths[-1])
        self.ups = nn.ModuleList(Up(b, a) for a, b in zip(widths, widths[1:]))
        self.dec = nn.ModuleList(ResBlock(a) for a in widths[:-1])
        self.head = nn.Conv2d(width, cout, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        x = self.mid(skips.pop() + self.cond(cond)[:, :, None, None])
        for up, dec in zip(reversed(self.ups), reversed(self.dec)):
            x = dec(up(x) + skips.pop())
        return self.head(x)


# patches repainted at their own resolution: (landmark indices, side in pixels, half-width in IODs)
PATCHES = {
    "mouth": (MOUTH_OUTER + MOUTH_INNER, 96, 0.7),
    "eye_right": (EYE_R, 48, 0.32),
    "eye_left": (EYE_L, 48, 0.32),
}


class WarpDecoder(nn.Module):
    def __init__(self, cfg: WarpDecoderConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.feature_dim
        self.flow_net = UNet(c + 3 + 2 + 68, 2, cfg.width, depth=3, cond_dim=cfg.motion_dim)
        self.painters = nn.ModuleDict(
            {
                name: UNet(c + 3 + len(points), 4, cfg.paint_width, depth=2, cond_dim=cfg.motion_dim)
                for name, (points, _, _) in PATCHES.items()
            }
        )
        for painter in self.painters.values():
            nn.init.constant_(painter.head.bias[3], -3.0)  # paint alpha ~0.05: the warped photo at first

    def forward(
        self,
        features: torch.Tensor,
        image: torch.Tensor,
        src: torch.Tensor,
        dst: torch.Tensor,
        landmarks: torch.Tensor,
        motion: torch.Tensor,
    ) -> torch.Tensor:
        """Render frames.

        features (B, C, 128, 128) appearance; image (B, 3, S, S) the aligned photo in [0, 1] (any S: the
        output has the same size); src/dst (B, N, 2) warp control points in grid coordinates (photo /
        frame); landmarks (B, 68, 2) the frame's landmarks (with blinks) in grid coordinates;
        motion (B, MOTION_DIM). -> (B, 3, S, S) in [0, 1].
        """
        coarse = tps_flow(dst, src, FLOW_SIZE)  # (B, 64, 64, 2)
        grid = identity_grid(FLOW_SIZE, coarse.device)[None]
        small = F.interpolate(image, size=FLOW_SIZE, mode="bilinear", antialias=True, align_corners=False)
        iod = (landmarks[:, EYE_L].mean(1) - landmarks[:, EYE_R].mean(1)).norm(dim=-1)  # (B,) grid units
        x = torch.cat(
            [
                sample(features, coarse),
                sample(small, coarse),
                (coarse - grid).permute(0, 3, 1, 2),
                heatmaps(landmarks, grid, 0.08 * iod),
            ],
            1,
        )
        flow = coarse + self.cfg.max_flow_correction * torch.tanh(self.flow_net(x, motion)).permute(
            0, 2, 3, 1
        )
        size = image.shape[-1]
        frame = sample(image, upsample_flow(flow, size))
        out_grid = identity_grid(size, image.device)[None]
        flow_channels = flow.permute(0, 3, 1, 2)
        for name, (points, side, half_iods) in PATCHES.items():
            centre = landmarks[:, points].mean(1)[:, None, None]  # (B, 1, 1, 2)
            half = (half_iods * iod)[:, None, None, None]
            patch_grid = centre + half * identity_grid(side, image.device)[None]
            patch_flow = sample(flow_channels, patch_grid).permute(0, 2, 3, 1)
            x = torch.cat(
                [
                    sample(image, patch_flow),
                    sample(features, patch_flow),
                    heatmaps(landmarks[:, points], patch_grid, 3 * half[:, 0, 0, 0] / side),
                ],
                1,
            )
            rgba = self.painters[name](x, motion)
            alpha = torch.sigmoid(rgba[:, 3:]) * feather(side).to(rgba)
            paint = torch.cat([torch.sigmoid(rgba[:, :3]), alpha], 1)
            placed = F.grid_sample(paint, (out_grid - centre) / half, align_corners=False)  # zeros outside
            a = placed[:, 3:]
            frame = frame * (1 - a) + placed[:, :3] * a
        return frame
