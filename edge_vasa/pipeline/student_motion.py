"""The motion student at inference: one streaming network pass per chunk of motion (PyTorch).

    generator = StudentMotionGenerator.load()
    motion = generator(audio, GenerateOptions())      # (T, MOTION_DIM) at 25 Hz
    stream = generator.stream(GenerateOptions())      # live: push audio blocks, get motion

Why: the teacher (pipeline.teacher_motion) costs 20 DDIM steps x 3 guidance branches = 60 network passes
per 2 s window and needs the whole window's audio before it starts. The student (distilled by
training.distill_motion) commits CHUNK frames per network pass and sees only LOOKAHEAD frames of future
audio, so it runs live from a microphone. ``MotionStep`` is the network pass with fixed shapes that the
exporters trace; ``TorchStep`` runs it on numpy arrays for pipeline.motion_stream.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from edge_vasa.core.audio import MEL_FRAMES_PER_VIDEO_FRAME
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.shipped import STUDENT_WEIGHTS
from edge_vasa.models.audio_encoder import AudioEncoder
from edge_vasa.models.motion_dit import MotionDiT
from edge_vasa.models.weights import load_modules, read_checkpoint
from edge_vasa.pipeline.motion_stream import STEP_INPUTS, StepShape, StreamingGenerator
from edge_vasa.pipeline.teacher_motion import build_motion_models


def load_motion_student(path: str | Path = STUDENT_WEIGHTS) -> tuple[AudioEncoder, MotionDiT, dict]:
    """Student weights + config from a distillation checkpoint or the shipped file (safetensors)."""
    tensors, meta = read_checkpoint(path, "motion student", "edge-vasa distill motion")
    if "student" not in meta:
        raise EdgeVasaError(f"{path} is not a motion student (no chunk/look-ahead in its config)")
    encoder, model = build_motion_models(meta)
    load_modules(path, {"audio_encoder": encoder, "motion_dit": model}, tensors)
    return encoder.eval(), model.eval(), meta


class MotionStep(nn.Module):
    """One streaming step with fixed shapes (traceable / exportable):

    past (PAST, D) motion, mel (4 (PAST + CHUNK + LOOKAHEAD + 2), N_MELS) log-mel (one video frame of margin
    each side), emotion () index, controls (4,), guidance (2,) scales, noise (CHUNK + LOOKAHEAD, D)
    -> (CHUNK, D) motion (unclipped, as the next step's past expects it)."""

    def __init__(self, encoder: AudioEncoder, model: MotionDiT, chunk: int):
        super().__init__()
        self.encoder, self.model, self.chunk = encoder.eval(), model.eval(), chunk

    @property
    def mel_frames(self) -> int:
        return (self.model.cfg.past + self.model.cfg.window + 2) * MEL_FRAMES_PER_VIDEO_FRAME

    def forward(self, past, mel, emotion, controls, guidance, noise) -> torch.Tensor:
        features = self.encoder(mel[None])[:, 1:-1]
        yes = torch.ones(1, dtype=torch.bool)
        x = self.model(
            noise[None],
            self.model.normalize(past)[None],
            features,
            torch.ones(1),
            emotion[None],
            controls[None],
            yes,
            yes,
            guidance[None],
        )
        return self.model.denormalize(x[0, : self.chunk])


class TorchStep:
    """A MotionStep called on numpy arrays (the step pipeline.motion_stream drives)."""

    def __init__(self, module: MotionStep):
        self.module = module
        cfg = module.model.cfg
        self.shape = StepShape(cfg.past, cfg.window, module.chunk)

    @torch.no_grad()
    def __call__(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.module(*(torch.from_numpy(np.asarray(feeds[k])) for k in STEP_INPUTS)).numpy()


class StudentMotionGenerator(StreamingGenerator):
    """The distilled student in PyTorch: a drop-in for the teacher's generator, and live streams.
    ``module`` is the network pass (what export traces)."""

    def __init__(self, encoder: AudioEncoder, model: MotionDiT, chunk: int):
        self.module = MotionStep(encoder, model, chunk)
        super().__init__(TorchStep(self.module))

    @classmethod
    def load(cls, weights: str | Path = STUDENT_WEIGHTS) -> StudentMotionGenerator:
        encoder, model, meta = load_motion_student(weights)
        return cls(encoder, model, meta["student"]["chunk"])
