"""Smooth outlines through a few landmarks, anti-aliased masks of them and the face's box: what the eye and
mouth layers draw with."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

SAMPLES = 24  # points per curve: smooth at 512 px, cheap to fill
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # RGB -> brightness (ITU-R BT.601), for colour matching


def smooth_curve(points: np.ndarray, samples: int = SAMPLES) -> np.ndarray:
    """(N, 2) points from one end of a lid or lip to the other -> (SAMPLES, 2): the cubic (quadratic for 3
    points) through them in the axes of the end-to-end line, so a lid or lip is a curve, not a polygon."""
    a, b = points[0], points[-1]
    axis = (b - a) / max(float(np.linalg.norm(b - a)), 1e-6)
    normal = np.array([-axis[1], axis[0]])
    u, v = (points - a) @ axis, (points - a) @ normal
    us = np.linspace(u[0], u[-1], samples)
    if np.all(np.diff(u) > 1e-3):
        scale = max(float(u[-1]), 1e-6)  # a well-conditioned solve on 0..1
        powers = np.arange(min(4, len(points)))
        coef = np.linalg.lstsq((u[:, None] / scale) ** powers, v, rcond=None)[0]
        vs = ((us[:, None] / scale) ** powers) @ coef
    else:  # landmarks out of order (a squeezed eye): the chord
        vs = np.interp(us, u[[0, -1]], v[[0, -1]])
    return a + us[:, None] * axis + vs[:, None] * normal


def column_y(curve: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The y of CURVE ((N, 2) points, any order along x) at each x of XS: a lid or lip line per column."""
    order = np.argsort(curve[:, 0])
    return np.interp(xs, curve[order, 0], curve[order, 1])


def corner_cut(points: np.ndarray, iterations: int = 3) -> np.ndarray:
    """A polyline with its corners rounded off (Chaikin), ends kept: smooth, and never outside the polygon
    it rounds, so a layer clipped to it paints nothing beyond the landmarks' line."""
    return _chaikin(len(points), iterations) @ points


@lru_cache(maxsize=16)
def _chaikin(n: int, iterations: int) -> np.ndarray:
    """Corner cutting as one linear map of N points: it is the same for every frame."""
    m = np.eye(n)
    for _ in range(iterations):
        a, b = m[:-1], m[1:]
        cut = np.stack([0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b], 1).reshape(-1, m.shape[1])
        m = np.concatenate([m[:1], cut, m[-1:]])
    return m


def poly_mask(shape: tuple[int, int], polygon: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """(H, W) float32 coverage in 0..1 of POLYGON (pixel coordinates) in a patch whose corner is OFFSET."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round((polygon - offset) * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    return mask.astype(np.float32) / 255


def face_box(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """IMAGE's pixels in the box of the face's brows, eyes, nose and mouth (dlib landmarks 17-67): where the
    layers read how bright and how sharp the photo's face is."""
    lo = np.maximum(np.floor(landmarks[17:].min(0)).astype(int), 0)
    hi = np.ceil(landmarks[17:].max(0)).astype(int)
    return image[lo[1] : hi[1], lo[0] : hi[0]]
