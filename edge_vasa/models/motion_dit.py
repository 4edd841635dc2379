"""Motion generator: a diffusion transformer over a window of motion frames (the teacher).

Tokens are the ``past`` context frames (clean motion already generated) followed by the ``window`` frames
being denoised; each token adds the audio feature of its frame. The diffusion time and the controls
(emotion, gaze, head distance, head-motion amplitude) modulate every block through adaptive layer norm.
The network predicts the clean motion (x0), which keeps sampling simple and suits later distillation.
Classifier-free guidance: audio and controls are dropped independently in training, so sampling can
mix three predictions (none, audio only, audio + controls) with separate scales. A distilled student
(``guidance=True``, see distill_motion.py) instead takes the two scales as an input, so one forward pass
gives the guided result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edge_vasa.core.motion import EMOTIONS, MOTION_DIM

N_CONTROLS = 4  # gaze_x, gaze_y, head distance (scale), head-motion amplitude


@dataclass
class MotionGeneratorConfig:
    motion_dim: int = MOTION_DIM
    audio_dim: int = 128
    dim: int = 192
    depth: int = 4
    heads: int = 4
    window: int = 50  # frames denoised per call: 2 s at 25 Hz
    past: int = 10  # frames of already-generated motion the window continues from
    guidance: bool = False  # the guidance scales (audio, controls) are an input: a distilled student


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) diffusion times in [0, 1] -> (B, dim) sinusoidal features."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    args = 1000.0 * t[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class Block(nn.Module):
    """Pre-norm transformer block with adaLN-Zero modulation from the conditioning vector."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False)
        self.mlp = nn.Sequential(
            nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim)
        )
        self.modulation = nn.Linear(dim, 6 * dim)
        nn.init.zeros_(self.modulation.weight)  # every block starts as the identity
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """x (B, N, dim), c (B, dim) -> (B, N, dim)."""
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(F.silu(c))[:, None].chunk(6, dim=-1)
        h = self.norm1(x) * (1 + scale1) + shift1
        b, n, d = h.shape
        q, k, v = self.qkv(h).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        h = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
        x = x + gate1 * self.proj(h)
        h = self.norm2(x) * (1 + scale2) + shift2
        return x + gate2 * self.mlp(h)


class MotionDiT(nn.Module):
    def __init__(self, cfg: MotionGeneratorConfig):
        super().__init__()
        self.cfg = cfg
        d, n = cfg.dim, cfg.past + cfg.window
        self.motion_in = nn.Linear(cfg.motion_dim, d)
        self.audio_in = nn.Linear(cfg.audio_dim, d)
        self.null_audio = nn.Parameter(torch.zeros(cfg.audio_dim))
        self.position = nn.Parameter(0.02 * torch.randn(1, n, d))
        self.segment = nn.Parameter(0.02 * torch.randn(2, d))  # 0: past context, 1: frames being denoised
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.emotion = nn.Embedding(len(EMOTIONS) + 1, d)  # the last row means "no emotion given"
        self.control_mlp = nn.Sequential(nn.Linear(N_CONTROLS, d), nn.SiLU(), nn.Linear(d, d))
        if cfg.guidance:
            self.guidance_mlp = nn.Sequential(nn.Linear(2, d), nn.SiLU(), nn.Linear(d, d))
            nn.init.zeros_(self.guidance_mlp[-1].weight)  # starts as the teacher's conditioning
            nn.init.zeros_(self.guidance_mlp[-1].bias)
        self.blocks = nn.ModuleList(Block(d, cfg.heads) for _ in range(cfg.depth))
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False)
        self.out_modulation = nn.Linear(d, 2 * d)
        self.motion_out = nn.Linear(d, cfg.motion_dim)
        nn.init.zeros_(self.out_modulation.weight)
        nn.init.zeros_(self.out_modulation.bias)
        # motion statistics of the training data: the network sees standardised motion
        self.register_buffer("motion_mean", torch.zeros(cfg.motion_dim))
        self.register_buffer("motion_std", torch.ones(cfg.motion_dim))

    def normalize(self, motion: torch.Tensor) -> torch.Tensor:
        return (motion - self.motion_mean) / self.motion_std

    def denormalize(self, motion: torch.Tensor) -> torch.Tensor:
        return motion * self.motion_std + self.motion_mean

    def forward(
        self,
        noisy: torch.Tensor,
        past: torch.Tensor,
        audio: torch.Tensor,
        t: torch.Tensor,
        emotion: torch.Tensor,
        controls: torch.Tensor,
        use_audio: torch.Tensor,
        use_controls: torch.Tensor,
        guidance: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict the clean window (all motion standardised).

        noisy (B, W, D), past (B, P, D), audio (B, P + W, A) features, t (B,) in [0, 1], emotion (B,) index,
        controls (B, 4), use_audio / use_controls (B,) bool (False = dropped, for guidance), guidance (B, 2)
        scales (cfg_audio, cfg_control; only with ``cfg.guidance``) -> (B, W, D).
        """
        p = past.shape[1]
        audio = torch.where(use_audio[:, None, None], audio, self.null_audio.to(audio.dtype))
        tokens = torch.cat(
            [self.motion_in(past) + self.segment[0], self.motion_in(noisy) + self.segment[1]], 1
        )
        x = tokens + self.audio_in(audio) + self.position[:, : tokens.shape[1]]
        null_emotion = torch.full_like(emotion, len(EMOTIONS))
        emotion = torch.where(use_controls, emotion, null_emotion)
        controls = controls * use_controls[:, None].to(controls.dtype)
        c = (
            self.time_mlp(timestep_embedding(t, self.cfg.dim))
            + self.emotion(emotion)
            + self.control_mlp(controls)
        )
        if self.cfg.guidance:
            c = c + self.guidance_mlp(guidance)
        for block in self.blocks:
            x = block(x, c)
        shift, scale = self.out_modulation(F.silu(c))[:, None].chunk(2, dim=-1)
        return self.motion_out(self.norm_out(x[:, p:]) * (1 + scale) + shift)


def alpha_bar(t: torch.Tensor) -> torch.Tensor:
    """Cosine noise schedule: the share of signal power left at diffusion time t in [0, 1]."""
    return torch.cos(0.5 * math.pi * t.clamp(0, 0.999)) ** 2
