"""Analytic renderer: aligned photo + its neutral landmarks + motion -> frames (the corpus's ground truth).

Per frame:
1. The motion gives target landmarks (expression, blinks, 3-D head pose; see motion.py) plus a ring of head
   points that turn with the head, neck points that stay with the body and crop-border points that stay
   put, so the background is steady and the crop edge never tears.
2. A thin-plate spline maps every output pixel back to the photo (backward map: no holes). It is solved
   on a coarse grid and upsampled, then ``cv2.remap`` samples the photo.
3. The face layers (pipeline.face_layers) redraw the eyes (lids, gaze) and the mouth interior, exactly as they
   do over the learned decoders' frames.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from edge_vasa.core.motion import EYE_L, EYE_R, INDEX, NEUTRAL, FaceGeometry, motion_to_landmarks
from edge_vasa.pipeline.face_layers import FaceLayers

GRID = 80  # thin-plate spline resolution before upsampling to the crop
TPS_REGULARIZATION = 1e-4  # keeps the solve stable when control points coincide (closed lips)


def _head_ring() -> np.ndarray:
    """Canonical 3-D points around the face (forehead, hair, ears) that turn rigidly with the head."""
    angles = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    ring = np.stack([1.45 * np.cos(angles), 0.35 + 1.75 * np.sin(angles), -0.6 * np.ones_like(angles)], -1)
    ring = ring[ring[:, 1] < 1.4]  # the lower part of the ellipse is the neck, which stays with the body
    forehead = np.array([[-0.55, -0.85, 0.05], [0.0, -0.95, 0.1], [0.55, -0.85, 0.05]])
    return np.concatenate([ring, forehead])


HEAD_RING = _head_ring()
NECK = np.array([[-0.75, 2.15], [0.0, 2.3], [0.75, 2.15]])  # canonical 2-D, fixed to the body


def _tps_kernel(d2: np.ndarray) -> np.ndarray:
    return d2 * np.log(np.maximum(d2, np.asarray(1e-12, d2.dtype)))


def solve_tps(
    points: np.ndarray, values: np.ndarray, regularization: float = TPS_REGULARIZATION
) -> np.ndarray:
    """Thin-plate spline through (N, 2) POINTS taking (N, 2) VALUES, in float64: (N + 3, 2) coefficients,
    N kernel weights, then the affine part (constant, x, y)."""
    p = np.asarray(points, np.float64)
    n = len(p)
    a = np.zeros((n + 3, n + 3))
    a[:n, :n] = _tps_kernel(((p[:, None] - p[None]) ** 2).sum(-1)) + regularization * np.eye(n)
    a[:n, n] = a[n, :n] = 1
    a[:n, n + 1 :] = p
    a[n + 1 :, :n] = p.T
    rhs = np.zeros((n + 3, 2))
    rhs[:n] = values
    ok, coef = cv2.solve(a, rhs, flags=cv2.DECOMP_LU)  # OpenCV's LU: see decoder_inputs.resize_antialiased
    if not ok:
        raise np.linalg.LinAlgError("singular thin-plate-spline system")
    return coef


def tps_backward_map(dst: np.ndarray, src: np.ndarray, size: int, grid: int = GRID) -> tuple[np.ndarray, ...]:
    """Dense (map_x, map_y) float32 maps of size x size: output pixel -> photo pixel, via a thin-plate spline.

    ``dst`` (N, 2) are control points in the output frame, ``src`` (N, 2) where they come from in the photo.
    """
    norm = size / 2.0  # work in ~unit coordinates for a well-conditioned system
    p = (dst - norm) / norm
    n = len(p)
    coef = solve_tps(p, (src - norm) / norm)
    # grid nodes span the crop corner to corner; separable linear interpolation upsamples them exactly,
    # including the outermost pixels (cv2.resize would clamp a band at the border)
    axis = (np.linspace(0, size - 1, grid) - norm) / norm
    gx, gy = np.meshgrid(axis, axis)
    g = np.stack([gx.ravel(), gy.ravel()], -1).astype(np.float32)
    p32, coef32 = p.astype(np.float32), coef.astype(np.float32)
    # float32 halves the cost of the dominant (grid x points) kernel evaluation; error << 0.01 px
    d2 = (g**2).sum(1)[:, None] + (p32**2).sum(1)[None] - 2 * g @ p32.T
    mapped = _tps_kernel(np.maximum(d2, 0)) @ coef32[:n] + coef32[n] + g @ coef32[n + 1 :]
    mapped = (mapped * norm + norm).reshape(grid, grid, 2)
    up = _upsampler(size, grid)
    full = [up @ mapped[..., c] @ up.T for c in range(2)]
    return full[0], full[1]


def border_points(size: int, per_side: int) -> np.ndarray:
    """Evenly spaced points on the edge of a size x size image (corners once): pinned TPS controls."""
    edge = np.linspace(0, size - 1, per_side)
    lo, hi = np.zeros(per_side), np.full(per_side, size - 1.0)
    sides = [np.stack(xy, 1) for xy in ((edge, lo), (edge, hi), (lo, edge), (hi, edge))]
    return np.unique(np.concatenate(sides), axis=0)


@lru_cache(maxsize=4)
def _upsampler(size: int, grid: int) -> np.ndarray:
    """(size, grid) linear interpolation from nodes at linspace(0, size - 1, grid) to every pixel."""
    pos = np.arange(size) * (grid - 1) / (size - 1)
    left = np.minimum(pos.astype(int), grid - 2)
    frac = pos - left
    w = np.zeros((size, grid), np.float32)
    w[np.arange(size), left] = 1 - frac
    w[np.arange(size), left + 1] = frac
    return w


class Renderer:
    """Renders one identity (an aligned crop and its 68 neutral landmarks) under any motion."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray):
        self.image = np.ascontiguousarray(image)
        self.size = image.shape[0]
        self.geometry = FaceGeometry.from_landmarks(landmarks, self.size)
        self.neutral_landmarks = np.asarray(landmarks, dtype=np.float64)
        g = self.geometry
        self._neck = NECK @ g.rotation_scale.T + g.origin
        self._border = border_points(self.size, 9)
        self._src_ring = g.project(HEAD_RING, NEUTRAL[None])[0]
        self._eye_centers = np.array(
            [self.neutral_landmarks[EYE_R].mean(0), self.neutral_landmarks[EYE_L].mean(0)]
        )
        self._layers: FaceLayers | None = None  # built on first draw: decoder inputs only need controls

    def controls(self, motion: np.ndarray) -> tuple[np.ndarray, ...]:
        """Warp control points for one frame of motion: (dst, src, landmarks, open_landmarks).

        ``dst`` (N, 2) are output-frame positions, ``src`` (N, 2) where they come from in the photo (N is
        the same for every identity). The warp keeps the eyes open (``open_landmarks``); blinks are painted
        as a lid sliding over the opening, down to the real ``landmarks``.
        """
        motion = np.asarray(motion, dtype=np.float64)
        g = self.geometry
        opened = motion.copy()
        opened[[INDEX["blink_left"], INDEX["blink_right"]]] = 0
        landmarks, open_landmarks = motion_to_landmarks(np.stack([motion, opened]), g)
        ring = g.project(HEAD_RING, motion[None])[0]
        eye_dst = self._gaze_targets(motion, open_landmarks)
        dst = np.concatenate([open_landmarks, ring, eye_dst, self._neck, self._border])
        src = np.concatenate(
            [self.neutral_landmarks, self._src_ring, self._eye_centers, self._neck, self._border]
        )
        return dst, src, landmarks, open_landmarks

    def draw(self, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One (MOTION_DIM,) frame of motion -> ((S, S, 3) uint8 RGB frame, (68, 2) intended landmarks)."""
        dst, src, landmarks, open_landmarks = self.controls(motion)
        map_x, map_y = tps_backward_map(dst, src, self.size)
        frame = cv2.remap(self.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        if self._layers is None:
            self._layers = FaceLayers(self.image, self.neutral_landmarks)
        self._layers.compose(frame, np.asarray(motion, np.float32))
        return frame, landmarks

    def _gaze_targets(self, motion: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Eye centres in the output, shifted along the eye's axes by the gaze (the iris follows the pin)."""
        out = []
        for eye in (EYE_R, EYE_L):
            pts = landmarks[eye]
            across = pts[3] - pts[0]
            down = np.array([-across[1], across[0]])
            out.append(
                pts.mean(0) + 0.16 * motion[INDEX["gaze_x"]] * across + 0.1 * motion[INDEX["gaze_y"]] * down
            )
        return np.array(out)

    def render(self, motion: np.ndarray) -> np.ndarray:
        """(T, MOTION_DIM) -> (T, S, S, 3) uint8 frames (the renderer contract of pipeline.avatar)."""
        return np.stack([self.draw(m)[0] for m in motion])
