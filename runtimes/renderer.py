"""One prepared face drawn by the exported edge decoder: the renderer contract (pipeline.avatar) on an edge
backend, in numpy. The appearance encoder runs once per face (again after a backend fallback, since each
backend's features are its own), the decoder once per frame."""

from __future__ import annotations

import numpy as np

from edge_vasa.pipeline.decoder_inputs import DecoderInputs
from edge_vasa.runtimes.models import EdgeModels, FallbackModels


def to_rgb8(frame: np.ndarray) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8, rounded and saturated."""
    return (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0)


class EdgeRenderer:
    def __init__(self, image: np.ndarray, landmarks: np.ndarray, models: EdgeModels | FallbackModels):
        self.models = models
        self.inputs = DecoderInputs(image, landmarks)
        self.size, self.geometry = self.inputs.size, self.inputs.geometry
        self.photo = self.inputs.encoder_image()
        self.encoded_by: EdgeModels | None = None

    def _encode(self) -> None:
        if self.encoded_by is not self.models.current:
            features = self.models.run("appearance_encoder", {"image": self.photo})
            self.encoded_by = self.models.current
            self.identity = self.inputs.identity(features)

    def render(self, motion: np.ndarray) -> np.ndarray:
        """(T, MOTION_DIM) motion -> (T, S, S, 3) uint8 frames."""
        self._encode()
        per_frame = self.inputs.frames(motion)
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
