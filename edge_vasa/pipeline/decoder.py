"""The learned frame renderer in PyTorch: appearance encoder + warping decoder around one identity.

``NeuralRenderer`` follows the renderer contract (pipeline.avatar): ``render(motion)`` -> frames. The
identity is encoded once; every frame then costs one decoder pass. Its inputs come from
pipeline.decoder_inputs, the one definition that training, export and the edge runtime share.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edge_vasa.core.shipped import DECODER_WEIGHTS
from edge_vasa.models.appearance_encoder import AppearanceEncoder, AppearanceEncoderConfig
from edge_vasa.models.student_decoder import StudentDecoder, StudentDecoderConfig
from edge_vasa.models.warp_decoder import WarpDecoder, WarpDecoderConfig
from edge_vasa.models.weights import load_modules, read_checkpoint
from edge_vasa.pipeline.decoder_inputs import DecoderInputs

Decoder = WarpDecoder | StudentDecoder


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
        decoder's inputs are wanted (``student_inputs``)."""
        self.inputs = DecoderInputs(image, landmarks)
        self.size, self.geometry = self.inputs.size, self.inputs.geometry
        self.encoder, self.decoder = models or load_decoder_models()[:2]
        self.image = torch.from_numpy(self.inputs.image)
        # no_grad rather than inference_mode: these also feed exporters, which trace ordinary tensors
        with torch.no_grad():
            self.features = self.encoder(self.image)  # once per identity
        self.small = torch.from_numpy(self.inputs.identity(self.features.numpy())["small"])

    def to(self, device: str) -> NeuralRenderer:
        """Run on DEVICE ("cuda" for the reference path on a GPU); frames still come back as numpy."""
        self.decoder.to(device)
        self.features, self.image, self.small = (
            x.to(device) for x in (self.features, self.image, self.small)
        )
        return self

    def student_inputs(self, motion: np.ndarray) -> dict[str, torch.Tensor]:
        """The student decoder's inputs for (T, MOTION_DIM) motion, by name, in its argument order (what
        its exported graphs take, one frame at a time)."""
        t = len(motion)
        identity = {"features": self.features, "image": self.image, "small": self.small}
        frames = {k: torch.from_numpy(v).to(self.image.device) for k, v in self.inputs.frames(motion).items()}
        return {k: v.expand(t, -1, -1, -1) for k, v in identity.items()} | frames

    def render(self, motion: np.ndarray) -> np.ndarray:
        """(T, MOTION_DIM) -> (T, S, S, 3) uint8 frames."""
        with torch.inference_mode():
            if isinstance(self.decoder, StudentDecoder):
                out = self.decoder(*self.student_inputs(motion).values())
            else:
                src, dst, landmarks = (
                    torch.from_numpy(x).to(self.image.device) for x in self.inputs.keypoints_of(motion)
                )
                motion_t = torch.from_numpy(np.asarray(motion, np.float32)).to(self.image.device)
                t = len(motion_t)
                features, image = self.features.expand(t, -1, -1, -1), self.image.expand(t, -1, -1, -1)
                out = self.decoder(features, image, src, dst, landmarks, motion_t)
        return (out.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
