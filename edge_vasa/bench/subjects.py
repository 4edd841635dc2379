"""What the benchmark runs: held-out clips, the edge variants, and the reference path they are scored against.

Apart from run.py so that the accuracy measurement (accuracy.py) can take these as arguments without
importing the module that drives the whole run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from edge_vasa.core.audio import SAMPLE_RATE
from edge_vasa.core.face import PreparedFace
from edge_vasa.core.shipped import DECODER_WEIGHTS
from edge_vasa.pipeline.avatar import Avatar
from edge_vasa.pipeline.loaders import load_generator
from edge_vasa.runtimes.artifacts import artifact_files
from edge_vasa.runtimes.models import EdgeModels
from edge_vasa.runtimes.selector import Candidate


@dataclass
class Clip:
    """Held-out speech on a held-out identity: one input every variant and the reference path run."""

    speech: str
    audio: np.ndarray  # 16 kHz mono
    identity: str
    face: PreparedFace

    @property
    def name(self) -> str:
        return f"{self.speech} @ {self.identity}"

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


@dataclass
class Variant:
    """One edge variant, loaded: its candidate, networks and the files they came from."""

    candidate: Candidate
    models: EdgeModels
    artifacts: dict[str, str]

    @property
    def name(self) -> str:
        return str(self.candidate)

    @property
    def size_mb(self) -> float:
        files = {f for p in self.artifacts.values() for f in artifact_files(p)}
        return sum(f.stat().st_size for f in files) / 2**20


class ReferencePath:
    """The teacher pair in fp32 PyTorch: diffusion motion (CPU) and warping decoder (CUDA when present)."""

    def __init__(self, device: str | None = None):
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.gpu = torch.cuda.get_device_name(0) if self.device == "cuda" else None
        self.generator = load_generator("teacher")

    def avatar(self, face: PreparedFace) -> Avatar:
        """FACE under the teacher generator and decoder, the decoder moved to this path's device."""
        avatar = Avatar.load(face, decoder_weights=DECODER_WEIGHTS, generator=self.generator)
        avatar.renderer.to(self.device)
        return avatar

    def describe(self) -> str:
        where = f"decoder on cuda ({self.gpu})" if self.gpu else "decoder on cpu (no GPU here)"
        return f"teacher motion generator + teacher decoder, fp32 PyTorch; motion on cpu, {where}"
