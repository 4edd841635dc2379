"""Analytic renderer: aligned photo + its neutral landmarks + motion -> frames (the corpus's ground truth).

Per frame:
1. The motion gives target landmarks (expression, blinks, 3-D head pose; see motion.py) plus a ring of head
   points that turn with the head, neck points that stay with the body and crop-border points that stay
   put, so the background is steady and the crop edge never tears.
2. A thin-plate spline maps every output pixel back to the photo (backward map: no holes). It is solved
   on a coarse grid and upsampled, then ``cv2.remap`` samples the photo.
3. Where the lips part, a procedural mouth interior is painted: dark cavity, upper and lower teeth fixed
   to the lips (tooth gaps at fixed fractions of the mouth width, so the same teeth come back after the
   mouth closes), and a tongue resting on the lower teeth.
4. Closing eyes get a skin-coloured lid and a lash line; gaze moves the iris by pinning the eye centre.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from edge_vasa.core.motion import (
    EYE_L,
    EYE_R,
    INDEX,
    MOUTH_INNER,
    NEUTRAL,
    FaceGeometry,
    motion_to_landmarks,
)

GRID = 80  # thin-plate spline resolution before upsampling to the crop
TPS_REGULARIZATION = 1e-4  # keeps the solve stable when control points coincide (closed lips)
UPPER_INNER = [60, 61, 62, 63, 64]
LOWER_INNER = [64, 65, 66, 67, 60]
TOOTH_GAPS = (-0.6, -0.4, -0.18, 0.0, 0.18, 0.4, 0.6)  # gap positions, fraction of the mouth half-width


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
        self._palette = self._sample_palette()

    def _sample_palette(self) -> dict[str, np.ndarray]:
        """Colours taken from the photo, so painted lids and lips match the identity."""
        lm, img = self.neutral_landmarks, self.image.astype(np.float32)
        iod = self.geometry.iod_pixels

        def mean_around(points: np.ndarray, dy: float) -> np.ndarray:
            c = points.mean(0) + np.array([0, dy * iod])
            x0, y0 = np.clip(c - 0.06 * iod, 0, self.size - 1).astype(int)
            x1, y1 = np.clip(c + 0.06 * iod, 1, self.size).astype(int)
            return img[y0:y1, x0:x1].reshape(-1, 3).mean(0)

        lid = (mean_around(lm[EYE_R], -0.16) + mean_around(lm[EYE_L], -0.16)) / 2
        lip = mean_around(lm[[50, 51, 52]], -0.02)
        luma = float(np.dot(lid, [0.299, 0.587, 0.114]))
        cavity = np.array([48.0, 18.0, 22.0]) * (0.6 + 0.4 * luma / 255)
        return {
            "lid": lid,
            "lash": lid * 0.35,
            "cavity": cavity,
            "teeth": np.array([214.0, 205.0, 186.0]),
            "tongue": 0.3 * lip + 0.3 * np.array([170.0, 80.0, 85.0]) + 0.4 * cavity,
        }

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
        self._paint_mouth(frame, landmarks)
        self._paint_lids(frame, landmarks, open_landmarks)
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

    def _paint_mouth(self, frame: np.ndarray, lm: np.ndarray) -> None:
        inner = lm[MOUTH_INNER]
        upper, lower = lm[UPPER_INNER], lm[LOWER_INNER]
        gap = float(np.linalg.norm(lower[2] - upper[2]))  # 66 - 62: the vertical opening
        iod = self.geometry.iod_pixels
        if gap < 0.02 * iod:
            return
        x0, y0 = np.floor(inner.min(0)).astype(int) - 2
        x1, y1 = np.ceil(inner.max(0)).astype(int) + 3
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, self.size), min(y1, self.size)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        shift = 4  # sub-pixel polygon precision for cv2 (1/16 px)
        off = np.array([x0, y0])

        def poly(points: np.ndarray) -> np.ndarray:
            return np.round((points - off) * (1 << shift)).astype(np.int32)

        h, w = y1 - y0, x1 - x0
        pal = self._palette
        layer = np.empty((h, w, 3), np.float32)
        layer[:] = pal["cavity"]
        corner_l, corner_r = lm[60], lm[64]
        across = corner_r - corner_l
        width = float(np.linalg.norm(across)) + 1e-6
        down = np.array([-across[1], across[0]]) / width
        # tongue: an ellipse resting low in the mouth
        centre = (upper[2] + lower[2]) / 2 + down * 0.38 * gap
        axes = (int(0.28 * width * (1 << shift)), int(0.26 * gap * (1 << shift)))
        angle = float(np.degrees(np.arctan2(across[1], across[0])))
        cv2.ellipse(
            layer,
            tuple(poly(centre[None])[0]),
            axes,
            angle,
            0,
            360,
            pal["tongue"].tolist(),
            -1,
            cv2.LINE_AA,
            shift,
        )
        # teeth: bands hanging from the upper lip and rising from the lower one, over the middle of the
        # mouth only, shorter toward the corners (the dental arch turns away from the camera)
        spans = (np.linspace(0.12, 0.88, 15), np.linspace(0.26, 0.74, 11))  # lower teeth hide at the sides
        bands = (
            (upper, down, min(0.11 * iod, 0.42 * gap), spans[0]),
            (lower[::-1], -down, min(0.04 * iod, 0.15 * gap), spans[1]),
        )
        for curve, direction, height, along in bands:
            arch = 1 - 0.55 * ((along - 0.5) / (along[-1] - 0.5)) ** 2
            edge = np.array([_along(curve, t) for t in along])
            tips = edge + direction * height * arch[:, None]
            cv2.fillPoly(
                layer, [poly(np.concatenate([edge, tips[::-1]]))], pal["teeth"].tolist(), cv2.LINE_AA, shift
            )
            for f in TOOTH_GAPS:
                k = int(np.argmin(np.abs(along - (f + 1) / 2)))
                cv2.line(
                    layer,
                    tuple(poly(edge[k : k + 1])[0]),
                    tuple(poly(tips[k : k + 1])[0]),
                    (pal["teeth"] * 0.8).tolist(),
                    1,
                    cv2.LINE_AA,
                    shift,
                )
        # everything darkens toward the corners, where less light gets in; a slight blur takes the
        # drawn edges down to the softness of the photo
        u = ((np.arange(w) + x0 - (corner_l[0] + corner_r[0]) / 2) / (width / 2)).clip(-1, 1)
        layer *= (1 - 0.6 * u**2)[None, :, None]
        layer = cv2.GaussianBlur(layer, (3, 3), 0.8)
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [poly(inner)], 255, cv2.LINE_AA, shift)
        alpha = (mask.astype(np.float32) / 255)[..., None]
        region = frame[y0:y1, x0:x1].astype(np.float32)
        frame[y0:y1, x0:x1] = (region * (1 - alpha) + layer * alpha + 0.5).astype(np.uint8)

    def _paint_lids(self, frame: np.ndarray, lm: np.ndarray, open_lm: np.ndarray) -> None:
        """Slide the lids over the eye: the band between the open and the current lid lines is filled with
        lid skin, mirrored from just above the upper lid (below the lower lid), and a lash line drawn."""
        for eye in (EYE_R, EYE_L):
            upper_open, upper_now = open_lm[eye][[0, 1, 2, 3]], lm[eye][[0, 1, 2, 3]]
            lower_open, lower_now = open_lm[eye][[3, 4, 5, 0]], lm[eye][[3, 4, 5, 0]]
            closure = float(np.mean(upper_now[1:3, 1] - upper_open[1:3, 1]))
            if closure < 0.5:  # less than half a pixel of lid travel
                continue
            opening = float(np.mean(lower_open[1:3, 1] - upper_open[[2, 1], 1])) + 1e-6
            shade = float(np.clip(closure / opening, 0, 1))
            # landmarks sit inside the visible lid edge; reach a little past them so no iris or lash
            # outline peeks out around a closed eye
            reach = 0.035 * self.geometry.iod_pixels * shade
            upper_open = upper_open - [0, reach]
            lower_open = lower_open + [0, 0.5 * reach]
            pts = np.concatenate([upper_open, lower_open])
            x0, y0 = np.floor(pts.min(0)).astype(int) - 3
            x1, y1 = np.ceil(pts.max(0)).astype(int) + 4
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, self.size), min(y1, self.size)
            xs = np.arange(x0, x1, dtype=np.float32)
            ys = np.arange(y0, y1, dtype=np.float32)[:, None]
            top = np.interp(xs, upper_open[:, 0], upper_open[:, 1])[None]
            bottom = np.interp(xs, lower_open[::-1, 0], lower_open[::-1, 1])[None]
            middle = (top + bottom) / 2
            # mirror about the lid line, compressed, so skin texture (not the eye) fills the band
            src_y = np.where(ys < middle, top - 1.5 - 0.5 * (ys - top), bottom + 1.5 + 0.5 * (bottom - ys))
            map_x = np.broadcast_to(xs[None], src_y.shape).astype(np.float32)
            skin = cv2.remap(
                frame, map_x, src_y.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101
            ).astype(np.float32)
            off = np.array([x0, y0])
            mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
            for band in (
                np.concatenate([upper_open, upper_now[::-1]]),
                np.concatenate([lower_open, lower_now[::-1]]),
            ):
                cv2.fillPoly(mask, [np.round((band - off) * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
            alpha = (cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32) / 255)[..., None]
            region = frame[y0:y1, x0:x1].astype(np.float32)
            frame[y0:y1, x0:x1] = (region * (1 - alpha) + skin * alpha + 0.5).astype(np.uint8)
            colour = self._palette["lid"] * (1 - shade) + self._palette["lash"] * shade
            cv2.polylines(
                frame, [np.round(upper_now * 16).astype(np.int32)], False, colour.tolist(), 1, cv2.LINE_AA, 4
            )

    def render(self, motion: np.ndarray) -> np.ndarray:
        """(T, MOTION_DIM) -> (T, S, S, 3) uint8 frames (the renderer contract of pipeline.avatar)."""
        return np.stack([self.draw(m)[0] for m in motion])


def _along(curve: np.ndarray, t: float) -> np.ndarray:
    """The point a fraction t along a polyline's length."""
    seg = np.linalg.norm(np.diff(curve, axis=0), axis=1)
    cum = np.concatenate([[0], np.cumsum(seg)])
    s = t * cum[-1]
    i = int(np.clip(np.searchsorted(cum, s) - 1, 0, len(seg) - 1))
    r = (s - cum[i]) / max(seg[i], 1e-9)
    return curve[i] + r * (curve[i + 1] - curve[i])
