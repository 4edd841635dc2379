"""The learned frame renderer: appearance encoder + warping decoder around one identity.

``NeuralRenderer`` has the same interface as the analytic ``render.Renderer`` (``render(motion)`` ->
frame, landmarks), so generation can use either. The identity is encoded once; every frame then costs
one decoder pass. ``decoder_inputs`` turns motion into the decoder's keypoint inputs and is shared by
training and inference, so both see exactly the same thing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edge_vasa.checkpoint import load_modules, read_checkpoint
from edge_vasa.models.appearance_encoder import AppearanceEncoder, AppearanceEncoderConfig
from edge_vasa.models.student_decoder import StudentDecoder, StudentDecoderConfig, flow_photo
from edge_vasa.models.warp_decoder import WarpDecoder, WarpDecoderConfig, pixels_to_grid, tps_coefficients
from edge_vasa.motion import motion_to_landmarks
from edge_vasa.render import Renderer

DECODER_WEIGHTS = Path(__file__).parent / "weights" / "decoder_teacher.safetensors"
STUDENT_DECODER_WEIGHTS = Path(__file__).parent / "weights" / "decoder_student.safetensors"
Decoder = WarpDecoder | StudentDecoder
RENDER_BATCH = 8  # frames per decoder call: amortises per-call overhead, bounded memory


def decoder_inputs(renderer: Renderer, motion: np.ndarray) -> tuple[np.ndarray, ...]:
    """One frame of motion -> (src (N, 2), dst (N, 2), landmarks (68, 2)) float32 grid coordinates."""
    dst, src, landmarks, _ = renderer.controls(motion)
    return tuple(pixels_to_grid(x, renderer.size).astype(np.float32) for x in (src, dst, landmarks))


def build_decoder_models(meta: dict | None = None) -> tuple[AppearanceEncoder, Decoder]:
    """The networks a checkpoint's meta describes: the teacher's (warp_decoder) or the student's."""
    meta = meta or {}
    encoder = AppearanceEncoder(AppearanceEncoderConfig(**meta.get("appearance_encoder", {})))
    if "student_decoder" in meta:
        return encoder, StudentDecoder(StudentDecoderConfig(**meta["student_decoder"]))
    return encoder, WarpDecoder(WarpDecoderConfig(**meta.get("warp_decoder", {})))


def load_decoder_models(path: str | Path = DECODER_WEIGHTS) -> tuple[AppearanceEncoder, Decoder, dict]:
    tensors, meta = read_checkpoint(path, "decoder", "edge-vasa train decoder")
    encoder, decoder = build_decoder_models(meta)
    name = "student_decoder" if isinstance(decoder, StudentDecoder) else "warp_decoder"
    load_modules(path, {"appearance_encoder": encoder, name: decoder}, tensors)
    return encoder.eval(), decoder.eval(), meta


def image_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255


class NeuralRenderer:
    """Renders one identity (aligned crop + its 68 neutral landmarks) under any motion with a decoder
    (the teacher or the student: same inputs, except that the student takes the spline's coefficients)."""

    def __init__(
        self,
        image: np.ndarray,
        landmarks: np.ndarray,
        models: tuple[AppearanceEncoder, Decoder | None] | None = None,
    ):
        """MODELS: (encoder, decoder), default the teacher's. The decoder may be None where only the
        decoder's inputs are wanted (``student_inputs`` for an exported decoder)."""
        self.keypoints = Renderer(image, landmarks)  # control points of this identity (no drawing)
        self.size = self.keypoints.size
        self.encoder, self.decoder = models or load_decoder_models()[:2]
        self.image = image_tensor(image)
        # no_grad rather than inference_mode: these also feed exporters, which trace ordinary tensors
        with torch.no_grad():
            self.features = self.encoder(self.image)  # once per identity
            self.small = flow_photo(self.image)

    def to(self, device: str) -> NeuralRenderer:
        """Run on DEVICE ("cuda" for the reference path on a GPU); frames still come back as numpy."""
        self.decoder.to(device)
        self.features, self.image, self.small = (
            x.to(device) for x in (self.features, self.image, self.small)
        )
        return self

    def _keypoint_inputs(self, motion: np.ndarray) -> tuple[torch.Tensor, ...]:
        """(T, MOTION_DIM) -> src (T, N, 2), dst (T, N, 2), landmarks (T, 68, 2), motion (T, MOTION_DIM)."""
        motion = np.asarray(motion, np.float32)
        src, dst, landmarks = (np.stack(x) for x in zip(*(decoder_inputs(self.keypoints, m) for m in motion)))
        return tuple(torch.from_numpy(x).to(self.image.device) for x in (src, dst, landmarks, motion))

    def identity_inputs(self) -> dict[str, torch.Tensor]:
        """The student decoder's inputs that stay the same for every frame of this identity (batch 1)."""
        return {"features": self.features, "image": self.image, "small": self.small}

    def frame_inputs(self, motion: np.ndarray) -> dict[str, torch.Tensor]:
        """The student decoder's per-frame inputs for (T, MOTION_DIM) motion."""
        src, dst, landmarks, motion_t = self._keypoint_inputs(motion)
        return {"coef": tps_coefficients(dst, src), "dst": dst, "landmarks": landmarks, "motion": motion_t}

    def student_inputs(self, motion: np.ndarray) -> dict[str, torch.Tensor]:
        """The student decoder's inputs for (T, MOTION_DIM) motion, by name, in its argument order (what
        its exported graphs take, one frame at a time)."""
        t = len(motion)
        identity = {k: v.expand(t, -1, -1, -1) for k, v in self.identity_inputs().items()}
        return identity | self.frame_inputs(motion)

    def render_sequence(self, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(T, MOTION_DIM) -> ((T, S, S, 3) uint8 frames, (T, 68, 2) intended landmarks in pixels)."""
        with torch.inference_mode():
            if isinstance(self.decoder, StudentDecoder):
                out = self.decoder(*self.student_inputs(motion).values())
            else:
                src, dst, landmarks, motion_t = self._keypoint_inputs(motion)
                t = len(motion_t)
                features, image = self.features.expand(t, -1, -1, -1), self.image.expand(t, -1, -1, -1)
                out = self.decoder(features, image, src, dst, landmarks, motion_t)
        frames = (out.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        return frames, motion_to_landmarks(np.asarray(motion, np.float32), self.keypoints.geometry)

    def render(self, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One (MOTION_DIM,) frame of motion -> ((S, S, 3) uint8 RGB frame, (68, 2) intended landmarks)."""
        frames, landmarks = self.render_sequence(np.asarray(motion)[None])
        return frames[0], landmarks[0]
