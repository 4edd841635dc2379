"""The reference motion generator: audio encoder + diffusion transformer, sampled window by window.

    generator = MotionGenerator.load()
    motion = generator(audio, GenerateOptions())      # (T, MOTION_DIM) at 25 Hz

Each 2 s window is denoised from noise while conditioned on the last 10 frames already generated, so
long audio has no seam at window borders and memory stays bounded. Classifier-free guidance mixes three
predictions per step (no conditioning, audio only, audio + controls) with separate scales.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from edge_vasa.core.audio import MEL_FRAMES_PER_VIDEO_FRAME, SAMPLE_RATE, SILENT_MEL, mel_for_frames
from edge_vasa.core.motion import EMOTIONS, MOTION_FPS, NEUTRAL, SLICES, clip
from edge_vasa.core.options import GenerateOptions
from edge_vasa.core.shipped import MOTION_WEIGHTS
from edge_vasa.models.audio_encoder import AudioEncoder, AudioEncoderConfig
from edge_vasa.models.motion_dit import MotionDiT, MotionGeneratorConfig, alpha_bar
from edge_vasa.models.weights import load_modules, read_checkpoint
from edge_vasa.pipeline.postprocess import blink_keeper, scale_head_motion


def build_motion_models(meta: dict | None = None) -> tuple[AudioEncoder, MotionDiT]:
    meta = meta or {}
    encoder = AudioEncoder(AudioEncoderConfig(**meta.get("audio_encoder", {})))
    model = MotionDiT(MotionGeneratorConfig(**meta.get("motion_dit", {})))
    return encoder, model


def load_motion_models(path: str | Path) -> tuple[AudioEncoder, MotionDiT, dict]:
    """Weights + config from a safetensors checkpoint (``weights_only`` by construction: no pickle)."""
    tensors, meta = read_checkpoint(path, "motion model", "edge-vasa train motion")
    encoder, model = build_motion_models(meta)
    load_modules(path, {"audio_encoder": encoder, "motion_dit": model}, tensors)
    return encoder.eval(), model.eval(), meta


class MotionGenerator:
    """The trained audio encoder + diffusion transformer, sampling motion for any length of audio."""

    def __init__(self, encoder: AudioEncoder, model: MotionDiT):
        self.encoder, self.model = encoder.eval(), model.eval()

    @classmethod
    def load(cls, weights: str | Path = MOTION_WEIGHTS) -> MotionGenerator:
        encoder, model, _ = load_motion_models(weights)
        return cls(encoder, model)

    @torch.no_grad()
    def __call__(
        self, audio: np.ndarray, opts: GenerateOptions, progress: bool = False, keep_blinks: bool = True
    ) -> np.ndarray:
        """16 kHz mono audio -> (T, MOTION_DIM) motion at 25 Hz, T = ceil(seconds * 25). KEEP_BLINKS=False
        leaves out the blink keeper (postprocess.blink_keeper), so the generator's own blinks can be
        counted: tests and figures would otherwise measure the keeper."""
        opts.check()
        p, w = self.model.cfg.past, self.model.cfg.window
        n = max(1, int(np.ceil(len(audio) / SAMPLE_RATE * MOTION_FPS)))
        n_windows = int(np.ceil(n / w))
        mel = mel_for_frames(audio, n)
        k = MEL_FRAMES_PER_VIDEO_FRAME
        # silence before the start and after the end, so every window sees p + w frames of audio
        padded = np.full(((p + n_windows * w) * k, mel.shape[1]), SILENT_MEL, np.float32)
        padded[p * k : (p + n) * k] = mel
        features = self.encoder(torch.from_numpy(padded)[None])[0]  # (p + n_windows * w, A)
        gen = torch.Generator().manual_seed(opts.seed)
        emotion = torch.tensor([EMOTIONS.index(opts.emotion)] * 3)
        controls = torch.tensor(
            [[*opts.gaze, opts.distance - 1.0, opts.motion_scale]] * 3, dtype=torch.float32
        )
        use_audio = torch.tensor([False, True, True])
        use_controls = torch.tensor([False, False, True])
        past = self.model.normalize(torch.from_numpy(np.tile(NEUTRAL, (p, 1))))
        out = []
        for i in tqdm(range(n_windows), desc="motion", unit="window", disable=not progress):
            audio_window = features[i * w : i * w + p + w][None].expand(3, -1, -1)
            window = self.sample_window(
                past, audio_window, emotion, controls, use_audio, use_controls, opts, gen
            )
            out.append(window)
            past = window[-p:]
        motion = self.model.denormalize(torch.cat(out))[:n].numpy()
        motion = clip(motion)
        if keep_blinks:
            motion = blink_keeper(opts.seed)(motion)
        return scale_head_motion(motion, opts.motion_scale)

    def sample_window(
        self, past, audio, emotion, controls, use_audio, use_controls, opts, gen
    ) -> torch.Tensor:
        """DDIM (deterministic) sampling of one window with three-way classifier-free guidance."""
        w, d = self.model.cfg.window, self.model.cfg.motion_dim
        x = torch.randn((w, d), generator=gen)
        times = torch.linspace(1.0, 0.0, opts.steps + 1)
        past3 = past[None].expand(3, -1, -1)
        for t_now, t_next in zip(times[:-1], times[1:]):
            pred = self.model(
                x[None].expand(3, -1, -1),
                past3,
                audio,
                t_now.repeat(3),
                emotion,
                controls,
                use_audio,
                use_controls,
            )
            uncond, audio_only, full = pred
            # guidance sharpens the face (lips from audio, expression from emotion); head, gaze and blinks
            # are left to the plain conditional prediction: extrapolating them would push rare, random
            # events such as blinks toward "never"
            x0 = full.clone()
            guided = uncond + opts.cfg_audio * (audio_only - uncond) + opts.cfg_control * (full - audio_only)
            x0[:, SLICES["expression"]] = guided[:, SLICES["expression"]]
            a_now, a_next = alpha_bar(t_now), alpha_bar(t_next)
            eps = (x - a_now.sqrt() * x0) / (1 - a_now).sqrt()
            x = a_next.sqrt() * x0 + (1 - a_next).sqrt() * eps
        return x
