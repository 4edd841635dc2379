"""Audio encoder: log-mel at 100 Hz -> one feature vector per 25 Hz video frame.

Two 'same' convolutions mix about 90 ms of spectral context, then a stride-4 convolution folds each
group of four 10 ms mel frames into the video frame they belong to, so feature k describes exactly the
audio of frame k (samples [640 k, 640 (k + 1)) at 16 kHz). Wider context is the motion generator's job.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from edge_vasa.core.audio import MEL_FRAMES_PER_VIDEO_FRAME, N_MELS


@dataclass
class AudioEncoderConfig:
    n_mels: int = N_MELS
    width: int = 128
    dim: int = 128  # output feature size


class AudioEncoder(nn.Module):
    def __init__(self, cfg: AudioEncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.net = nn.Sequential(
            nn.Conv1d(cfg.n_mels, cfg.width, 5, padding=2),
            nn.GELU(),
            nn.Conv1d(cfg.width, cfg.width, 5, padding=2),
            nn.GELU(),
            nn.Conv1d(cfg.width, cfg.dim, MEL_FRAMES_PER_VIDEO_FRAME, stride=MEL_FRAMES_PER_VIDEO_FRAME),
        )
        # log-mel of speech sits around -14 (silence) .. +3: centre and scale it before the convs
        self.register_buffer("mel_mean", torch.full((cfg.n_mels,), -6.0))
        self.register_buffer("mel_std", torch.full((cfg.n_mels,), 4.0))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, 4 T, n_mels) log-mel -> (B, T, dim) features, one per video frame."""
        x = ((mel - self.mel_mean) / self.mel_std).transpose(1, 2)  # (B, n_mels, 4T)
        return self.net(x).transpose(1, 2)
