"""The student decoder's inputs for one identity and any motion, in numpy: what the exported decoder and
encoder are fed on the edge runtime (no torch), and what the PyTorch renderer feeds its own networks.

    inputs = DecoderInputs(face.image, face.landmarks)
    inputs.encoder_image()           # (1, 3, 256, 256) float32: the appearance encoder's input, once per face
    inputs.identity(features)        # {"features", "image", "small"}: the same for every frame
    inputs.frames(motion)            # {"coef", "dst", "landmarks", "motion"}: per frame, (T, ...)

The warp's control points come from the analytic renderer's geometry (``Renderer.controls``), in the
decoder's grid coordinates; the thin-plate spline is solved here in float64 (the system is badly
conditioned when the lips close), which is the only per-frame step outside the exported network.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from edge_vasa.models.shapes import ENCODE_SIZE, FLOW_SIZE, TPS_REGULARIZATION
from edge_vasa.pipeline.analytic import Renderer, solve_tps


def pixels_to_grid(points: np.ndarray, size: int) -> np.ndarray:
    """Pixel coordinates (pixel centres at integers) in a size x size image -> grid_sample coordinates."""
    return (points + 0.5) / size * 2 - 1


def decoder_inputs(renderer: Renderer, motion: np.ndarray) -> tuple[np.ndarray, ...]:
    """One frame of motion -> (src (N, 2), dst (N, 2), landmarks (68, 2)) float32 grid coordinates."""
    dst, src, landmarks, _ = renderer.controls(motion)
    return tuple(pixels_to_grid(x, renderer.size).astype(np.float32) for x in (src, dst, landmarks))


def image_array(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [0, 1], C-contiguous (runtimes read it in place; PyTorch
    picks its convolution kernels by memory layout, and this is the layout the shipped frames came from)."""
    return np.ascontiguousarray(np.asarray(rgb).transpose(2, 0, 1)[None] / np.float32(255), np.float32)


@lru_cache(maxsize=8)
def _antialias_weights(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) weights of an antialiased bilinear (triangle filter) downscale, as
    torch.nn.functional.interpolate(mode="bilinear", antialias=True, align_corners=False) computes them:
    the filter is widened by the scale so every input pixel counts."""
    scale = size_in / size_out
    support = max(scale, 1.0)
    weights = np.zeros((size_out, size_in))
    for i in range(size_out):
        center = scale * (i + 0.5)
        lo, hi = max(int(center - support + 0.5), 0), min(int(center + support + 0.5), size_in)
        taps = np.arange(lo, hi)
        w = np.maximum(0.0, 1.0 - np.abs((taps - center + 0.5) / support))
        weights[i, lo:hi] = w / w.sum()
    return weights.astype(np.float32)


def resize_antialiased(image: np.ndarray, size: int) -> np.ndarray:
    """(1, 3, S, S) float32 -> (1, 3, size, size), antialiased bilinear (separable: W @ channel @ W.T).
    OpenCV's gemm, not numpy's: numpy's multi-threaded OpenBLAS once hung for minutes here beside the
    OpenVINO and PyTorch thread pools of the same process; cv2.gemm gives the same numbers, 3x faster."""
    w = _antialias_weights(image.shape[-1], size)
    channels = [cv2.gemm(cv2.gemm(w, c, 1, None, 0), w, 1, None, 0, flags=cv2.GEMM_2_T) for c in image[0]]
    return np.stack(channels)[None]


def tps_coefficients(dst: np.ndarray, src: np.ndarray) -> np.ndarray:
    """(T, N, 2) control points in grid coordinates -> (T, N + 3, 2) float32 coefficients of the spline
    mapping ``dst`` (output frame) to ``src`` (photo), as the decoder's tps_grid evaluates them."""
    return np.stack([solve_tps(d, s, TPS_REGULARIZATION) for d, s in zip(dst, src)]).astype(np.float32)


class DecoderInputs:
    """One identity (aligned crop + its 68 neutral landmarks) as the decoders' inputs."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray):
        self.keypoints = Renderer(image, landmarks)  # control points of this identity (no drawing)
        self.size, self.geometry = self.keypoints.size, self.keypoints.geometry
        self.image = image_array(image)

    def encoder_image(self) -> np.ndarray:
        """The appearance encoder's (1, 3, 256, 256) input. The antialiased resize has no ONNX op, and it
        runs once per photo anyway, so it happens before the graph."""
        return resize_antialiased(self.image, ENCODE_SIZE)

    def identity(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """The student decoder's inputs that stay the same for every frame (batch 1), given the encoder's
        FEATURES: contiguous once, so runtimes read them in place every frame."""
        return {
            "features": np.ascontiguousarray(features, np.float32),
            "image": self.image,
            "small": resize_antialiased(self.image, FLOW_SIZE),
        }

    def keypoints_of(self, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(T, MOTION_DIM) -> src (T, N, 2), dst (T, N, 2), landmarks (T, 68, 2) float32 grid coordinates."""
        per_frame = [decoder_inputs(self.keypoints, m) for m in np.asarray(motion, np.float32)]
        src, dst, landmarks = (np.stack(x) for x in zip(*per_frame))
        return src, dst, landmarks

    def frames(self, motion: np.ndarray) -> dict[str, np.ndarray]:
        """The student decoder's per-frame inputs for (T, MOTION_DIM) motion."""
        src, dst, landmarks = self.keypoints_of(motion)
        return {
            "coef": tps_coefficients(dst, src),
            "dst": dst,
            "landmarks": landmarks,
            "motion": np.asarray(motion, np.float32),
        }
