"""The edge models at run time: three networks on one backend, fallback to the next backend, and the glue
that turns motion into frames and audio into motion with them.

    models = FallbackModels(rank_candidates())      # fastest usable backend; the next ones on failure
    renderer = EdgeRenderer(face.image, face.landmarks, models)
    frames = renderer.render(motion)                # (T, 512, 512, 3) uint8
    stream = MotionStream(ArtifactStep(models, student.step), opts)
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from edge_vasa.errors import EdgeVasaError
from edge_vasa.runtimes.selector import Candidate, Ranked, open_backend


class EdgeModels:
    """The appearance encoder, motion step and decoder of one candidate, loaded. Call ``run``."""

    def __init__(self, candidate: Candidate | None, encoder, motion_step, decoder):
        self.candidate = candidate
        self.networks = {
            "appearance_encoder": encoder,
            "motion_step": motion_step,
            "decoder_student": decoder,
        }

    @classmethod
    def open(cls, ranked: Ranked) -> EdgeModels:
        c, paths = ranked.candidate, {n: Path(p) for n, p in ranked.artifacts.items()}
        # the motion step is small and runs beside the decoder: one thread, the decoder gets the cores
        return cls(
            c,
            open_backend(c, "appearance_encoder", paths["appearance_encoder"]),
            open_backend(c, "motion_step", paths["motion_step"], threads=1),
            open_backend(c, "decoder_student", paths["decoder_student"]),
        )

    @property
    def current(self) -> EdgeModels:
        return self

    def run(self, network: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.networks[network](feeds)


class FallbackModels:
    """The fastest usable candidate of a ranking; when it fails to load or raises while running, the next
    one takes over (with a warning) and the call is repeated, so a session never drops for a backend."""

    def __init__(self, ranking: list[Ranked], warn: Callable[[str], None] | None = None):
        self.queue = [r for r in ranking if r.usable]
        if not self.queue:
            reasons = "; ".join(f"{r.candidate}: {r.status}" for r in ranking)
            raise EdgeVasaError(f"no usable backend here ({reasons}); run `edge-vasa doctor`")
        self.warn = warn or (lambda message: warnings.warn(message, RuntimeWarning, stacklevel=3))
        self.lock = threading.Lock()
        self.fallbacks: list[str] = []  # what happened, for status pages and notes
        self.active: EdgeModels | None = None
        self._next(None)

    def _next(self, reason: str | None) -> None:
        while self.queue:
            ranked = self.queue.pop(0)
            try:
                models = EdgeModels.open(ranked)
            except Exception as e:
                reason = f"{ranked.candidate} failed to load ({type(e).__name__}: {e})"
                self.warn(reason)
                continue
            if reason:
                message = f"{reason}; falling back to {ranked.candidate}"
                self.fallbacks.append(message)
                self.warn(message)
            self.active, self.ranked = models, ranked
            return
        raise EdgeVasaError(f"every backend failed; the last: {reason}")

    @property
    def current(self) -> EdgeModels:
        return self.active

    @property
    def candidate(self) -> Candidate:
        return self.active.candidate

    @property
    def artifacts(self) -> dict[str, Path]:
        """The current backend's artifact file per network."""
        return {network: Path(path) for network, path in self.ranked.artifacts.items()}

    def skip(self, reason: str) -> None:
        """Move to the next backend now (the current one hangs, say)."""
        with self.lock:
            self._next(reason)

    def run(self, network: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        while True:
            models = self.active
            try:
                return models.run(network, feeds)
            except EdgeVasaError:
                raise  # bad inputs: the next backend would refuse them too
            except Exception as e:
                with self.lock:
                    if self.active is models:  # another thread may have moved on already
                        self._next(f"{models.candidate} raised {type(e).__name__} in {network}: {e}")


class ArtifactStep:
    """The motion student's streaming step run by the edge models, standing in for the PyTorch step
    (whose config, ``model`` and ``chunk``, drives the stream)."""

    NAMES = ("past", "mel", "emotion", "controls", "guidance", "noise")

    def __init__(self, models: EdgeModels | FallbackModels, step):
        self.models, self.model, self.chunk, self.mel_frames = models, step.model, step.chunk, step.mel_frames

    def __call__(self, past, mel, emotion, controls, guidance, noise) -> torch.Tensor:
        feeds = {k: v.numpy() for k, v in zip(self.NAMES, (past, mel, emotion, controls, guidance, noise))}
        return torch.from_numpy(self.models.run("motion_step", feeds))


def to_rgb8(frame: np.ndarray) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8, rounded and saturated."""
    return (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0)


class EdgeRenderer:
    """One prepared face drawn by the edge decoder: the appearance encoder once per face (again after a
    backend fallback), the decoder once per frame."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray, models: EdgeModels | FallbackModels):
        from edge_vasa.conversion.networks import encoder_image
        from edge_vasa.decoder import NeuralRenderer

        self.models = models
        self.photo = encoder_image(image).numpy()
        self.encoded_by: EdgeModels | None = None
        # the decoder's inputs come from the one definition; features are filled in by _encode
        self.inputs = NeuralRenderer(image, landmarks, (lambda _image: None, None))

    def _encode(self) -> None:
        if self.encoded_by is not self.models.current:
            features = self.models.run("appearance_encoder", {"image": self.photo})
            self.inputs.features = torch.from_numpy(features)
            self.encoded_by = self.models.current
            # contiguous once, so runtimes can read them in place every frame
            self.identity = {
                k: np.ascontiguousarray(v.numpy()) for k, v in self.inputs.identity_inputs().items()
            }

    def render(self, motion: np.ndarray) -> np.ndarray:
        """(T, MOTION_DIM) motion -> (T, 512, 512, 3) uint8 frames."""
        self._encode()
        per_frame = {k: v.numpy() for k, v in self.inputs.frame_inputs(motion).items()}
        frames = []
        for i in range(len(motion)):
            while True:
                models = self.encoded_by
                feeds = self.identity | {k: v[i : i + 1] for k, v in per_frame.items()}
                out = self.models.run("decoder_student", feeds)
                if self.models.current is models:
                    break
                self._encode()  # fell back mid-frame: this backend's features, and again
            frames.append(to_rgb8(out[0]))
        return np.stack(frames)
