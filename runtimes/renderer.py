"""One prepared face drawn by the exported edge decoder: the renderer contract (pipeline.avatar) on an edge
backend, in numpy. The appearance encoder runs once per face (again after a backend fallback, since each
backend's features are its own), the decoder once per frame. Given a store (core.face_cache), the encoder's
output is kept on disk, keyed by the encoder's input and the artifact that made it, so that the next start
with the same photo on the same backend skips the encoder."""

from __future__ import annotations

import hashlib
import json
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from edge_vasa.core.face_cache import Arrays, ArrayStore
from edge_vasa.core.files import file_sha256
from edge_vasa.pipeline.decoder_inputs import DecoderInputs
from edge_vasa.runtimes.backends import Backend
from edge_vasa.runtimes.models import EdgeModels, FallbackModels


def to_rgb8(frame: np.ndarray) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8, rounded and saturated, C-contiguous.

    Scaled and clipped in place on one float copy, then the planes interleaved by cv2.merge: 0.62 ms per
    512 frame instead of 1.96 ms for the transposed astype (benchmarks/profile_live.py), and a contiguous
    frame, which the watermark and the encoder read without copying it again (the watermark took 0.93 ms
    on the transposed view, 0.14 ms on a contiguous frame). The same bytes: clip(x * 255 + 0.5, 0.5, 255.5)
    is clip(x, 0, 1) * 255 + 0.5 for every float32 x, then truncated."""
    scaled = np.multiply(frame, 255, dtype=np.float32)
    np.add(scaled, 0.5, out=scaled)
    np.clip(scaled, 0.5, 255.5, out=scaled)
    return cv2.merge(list(scaled.astype(np.uint8)))


def encoder_identity(encoder: Backend) -> str:
    """What the features depend on besides the photo: runtime and device, format, precision and the files
    (their sha256 from the manifest, checked when the artifact was opened; the torch reference's weights
    are hashed here)."""
    manifest = encoder.manifest
    files = manifest.get("files") or {Path(encoder.path).name: file_sha256(encoder.path)}
    return json.dumps([encoder.name, manifest["format"], manifest["precision"], files], sort_keys=True)


def features_key(photo: np.ndarray, encoder: Backend) -> str:
    """The store key of ENCODER's features of PHOTO (the encoder's input array)."""
    digest = hashlib.sha256(np.ascontiguousarray(photo).tobytes())
    digest.update(encoder_identity(encoder).encode())
    return digest.hexdigest()


def _are_features(arrays: Arrays, shape: tuple[int, ...]) -> bool:
    features = arrays["features"]
    return features.shape == shape and features.dtype == np.float32 and bool(np.isfinite(features).all())


class EdgeRenderer:
    def __init__(
        self,
        image: np.ndarray,
        landmarks: np.ndarray,
        models: EdgeModels | FallbackModels,
        store: ArrayStore | None = None,
    ):
        self.models, self.store = models, store
        self.inputs = DecoderInputs(image, landmarks)
        self.size, self.geometry = self.inputs.size, self.inputs.geometry
        self.photo = self.inputs.encoder_image()
        self.encoded_by: EdgeModels | None = None

    def _encode(self) -> None:
        if self.encoded_by is not self.models.current:
            features = self._features(self.models.current)
            self.encoded_by = self.models.current
            self.identity = self.inputs.identity(features)

    def _features(self, models: EdgeModels) -> np.ndarray:
        """The appearance features: from the store when MODELS' encoder made them before, else encoded."""
        if self.store is None:
            return self.models.run("appearance_encoder", {"image": self.photo})
        encoder = models.networks["appearance_encoder"]
        key = features_key(self.photo, encoder)
        shape = tuple(next(iter(encoder.manifest["outputs"].values()))["shape"])
        cached = self.store.load(key, partial(_are_features, shape=shape))
        if cached is not None:
            return cached["features"]
        features = np.asarray(self.models.run("appearance_encoder", {"image": self.photo}), np.float32)
        if self.models.current is models:  # not after a fallback mid-call: those are another backend's
            self.store.save(key, {"features": features})
        return features

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
