"""Explicit eyes: an eye sprite cut from the photo, with a movable iris and opaque lids, drawn over a frame.

Why a layer and not a better-trained decoder: on the output frames of the decoders trained on the corpus, an
independent tracker (MediaPipe Face Mesh) saw the eye aspect ratio fall by only 8-13 % at the deepest blink,
and the iris move about 0.03 eye widths for a full gaze turn. The lids the decoders learned are translucent
and their iris barely moves, and a retrain on a better target needs GPU time this project does not have. A
layer drawn from the photo's own pixels is sharp, opaque and exact on every renderer (teacher, student, edge
backends, live) at about 1 ms per eye, and the decoders stay as exported.

Everything is built in the photo's (unposed) crop coordinates, then warped onto the frame by the affine that
takes the eye's six landmarks there to the posed ones:

1. Once per identity: the eye opening, the iris (the darkest disc of 0.18-0.27 eye widths along the
   opening) and whether it shows at all (not behind sunglasses), the lid's skin colour and height (at most
   half the way up to the brow).
2. Per frame: the gaze carries the iris band sideways (and up or down) while the sclera on either side
   stretches or shrinks, so the photo's own sclera fills the side the iris left.
3. The upper lid slides from its open line to the blinked one (the lower lid rises a little). The lid is the
   subject's skin between fold and margin (the colours of the skin above the fold and under the eye, the
   texture of the photo's lid stretched down), opaque, meeting the skin above at the fold; a lash line is
   drawn at the moving margin.

At neutral motion (eyes open, looking ahead) the sprite is the photo's eye, pixel for pixel.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_vasa.pipeline.shapes import poly_mask, smooth_curve

IRIS_RADIUS = 0.21  # of the eye width (corner to corner): iris ~11.7 mm in a ~28 mm wide opening; the
# fit tries 0.18-0.27 around it
GAZE_TRAVEL = (0.24, 0.12)  # iris travel at gaze +-1 (x, y), in eye widths; real eyes reach ~0.3 sideways
LID_HEIGHT = 0.25  # of the eye width: the upper lid's skin from its margin to its fold (the crease)
LOWER_LID_HEIGHT = 0.15  # the same below the lower lid
BROW_SHARE = 0.5  # at most this share of the way from the lid up to the brow's landmarks
MIN_IRIS_CONTRAST = 15.0  # gray levels between the opening and its darkest disc; below, the eye is hidden
# (sunglasses, shadow, a blurred tiny face) and its iris stays where the photo has it
LID_MARGIN = 0.04  # of the eye width: how far above the landmarks' lid line the lid's own skin starts


def lid_curves(eye: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Six eye landmarks (corner, 2 upper, corner, 2 lower; dlib order) -> upper and lower lid curves, each
    from the first corner to the second."""
    return smooth_curve(eye[[0, 1, 2, 3]]), smooth_curve(eye[[0, 5, 4, 3]])


class Eye:
    """One eye of one identity: the photo's eye, ready to be redrawn with any gaze and lid closure."""

    def __init__(self, image: np.ndarray, eye: np.ndarray, brow: np.ndarray):
        """IMAGE: the aligned photo crop; EYE: its six landmarks of this eye; BROW: the five of its brow,
        which bounds the lid: a lid stretched from skin that reaches the brow would carry brow hair."""
        self.eye = np.asarray(eye, np.float64)
        self.width = float(np.linalg.norm(self.eye[3] - self.eye[0]))
        w = self.width
        brow_gap = float(self.eye[[1, 2], 1].mean() - np.asarray(brow, np.float64)[:, 1].mean())
        self.lid_height = float(np.clip(BROW_SHARE * brow_gap, 0.08 * w, LID_HEIGHT * w))
        pad = np.array([0.25 * w, 0.7 * w])  # room above for the lid skin, and for the lids' travel
        lo = np.floor(self.eye.min(0) - pad).astype(int)
        hi = np.ceil(self.eye.max(0) + [0.25 * w, 0.45 * w]).astype(int)
        lo, hi = np.maximum(lo, 0), np.minimum(hi, [image.shape[1], image.shape[0]])
        self.origin = lo.astype(np.float64)
        self.patch = np.ascontiguousarray(image[lo[1] : hi[1], lo[0] : hi[0]]).astype(np.float32)
        h, wd = self.patch.shape[:2]
        upper, lower = lid_curves(self.eye)
        self.opening = poly_mask((h, wd), np.concatenate([upper, lower[::-1]]), self.origin)
        self.iris_centre = self._find_iris(upper, lower)
        pixels = self.patch.reshape(-1, 3)  # a closing lid's lash line: dark, but not as black as a pupil
        self.lash = 0.5 * np.percentile(pixels, 2, axis=0) + 0.5 * np.percentile(pixels, 30, axis=0)

    def _find_iris(self, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
        """The disc along the opening's middle line, of 0.18-0.27 eye widths, whose visible part is darkest
        against the rest of the opening (the iris and pupil). Sets ``radius``; returns the centre."""
        gray = cv2.cvtColor(self.patch.astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
        middle = (upper + lower) / 2  # both run corner to corner
        ys, xs = np.mgrid[: gray.shape[0], : gray.shape[1]]
        seen = self.opening > 0.5
        best, centre, self.radius = -np.inf, middle[len(middle) // 2], IRIS_RADIUS * self.width
        for radius in np.array([0.18, 0.21, 0.24, 0.27]) * self.width:
            for point in middle[3:-3]:
                c = point - self.origin
                disc = ((xs - c[0]) ** 2 + (ys - c[1]) ** 2 < radius**2) & seen
                rest = seen & ~disc
                if disc.sum() < 4 or rest.sum() < 4:
                    continue
                contrast = float(gray[rest].mean() - gray[disc].mean())
                if contrast > best:
                    best, centre, self.radius = contrast, point, float(radius)
        self.visible = best >= MIN_IRIS_CONTRAST
        return np.asarray(centre, np.float64)

    def _look(self, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Remap grids that move the iris by SHIFT (x, y pixels) inside the eye: the iris band is carried
        rigidly and the sclera on either side stretches or shrinks to fill, so the vacated side shows the
        photo's own sclera, shading and all (a flat fill shows as a grey patch on shadowed or small eyes).
        The crop is aligned on the eyes, so the image axes are the eye's to a few degrees."""
        h, w = self.opening.shape
        c, r = self.iris_centre - self.origin, self.radius
        left, right = self.eye[[0, 3], 0] - self.origin[0]
        room = max(0.0, (right - left) / 2 - r - 2)  # the iris stops short of the corners
        dx = float(np.clip(shift[0], -room, room))
        xs = np.arange(w, dtype=np.float32)
        map_x = np.interp(xs, [left, c[0] + dx - r, c[0] + dx + r, right], [left, c[0] - r, c[0] + r, right])
        top, bottom = c[1] - 2 * r, c[1] + 2 * r
        dy = float(np.clip(shift[1], -r, r))
        ys = np.arange(h, dtype=np.float32)
        map_y = np.interp(ys, [top, c[1] + dy - r, c[1] + dy + r, bottom], [top, c[1] - r, c[1] + r, bottom])
        return (
            np.broadcast_to(map_x[None].astype(np.float32), (h, w)),
            np.broadcast_to(map_y[:, None].astype(np.float32), (h, w)),
        )

    def sprite(self, blink: float, gaze: tuple[float, float], eye_open: np.ndarray) -> tuple[np.ndarray, ...]:
        """The eye in photo-crop coordinates for lid closure BLINK (0..1), GAZE (x, y) in -1..1, and the
        eye's open landmarks EYE_OPEN there (expression may move them): (rgb, alpha) patch-sized."""
        upper, lower = lid_curves(eye_open)
        opening = poly_mask(self.opening.shape, np.concatenate([upper, lower[::-1]]), self.origin)
        ax = (eye_open[3] - eye_open[0]) / max(np.linalg.norm(eye_open[3] - eye_open[0]), 1e-6)
        down = np.array([-ax[1], ax[0]])
        travel = GAZE_TRAVEL if self.visible else (0.0, 0.0)
        shift = self.width * (travel[0] * gaze[0] * ax + travel[1] * gaze[1] * down)
        shift = shift + (eye_open[[0, 3]].mean(0) - self.eye[[0, 3]].mean(0))  # the eye moved with expression
        if np.abs(shift).max() < 1e-3:
            rgb = self.patch.copy()
        else:
            map_x, map_y = self._look(shift)
            rgb = cv2.remap(self.patch, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        if blink > 0.02:
            return self._close_lids(rgb, opening, upper, lower, blink)
        return rgb, opening

    def _skin(
        self,
        out: np.ndarray,
        ys: np.ndarray,
        xs: np.ndarray,
        fold: np.ndarray,
        margin: np.ndarray,
        bottom: np.ndarray,
        low: np.ndarray,
    ) -> np.ndarray:
        """Lid colour: a smooth blend from the skin at the fold to the cheek skin under the eye, shaded as a
        convex lid, with only the fine texture of the stretched strip on top. Taking the strip's colours as
        they are gave dark, hairy lids wherever the brows sit close or the lid is in shadow."""
        cols = np.clip((xs - self.origin[0]).astype(int), 0, self.patch.shape[1] - 1)

        def rows_at(y: np.ndarray, span: int) -> np.ndarray:
            y0 = np.clip((y - self.origin[1]).astype(int), 0, self.patch.shape[0] - span)
            return np.mean([self.patch[y0 + k, cols] for k in range(span)], axis=0)

        span = max(2, round(0.05 * self.width))
        wide = (max(3, round(0.3 * self.width)) | 1, 1)  # smooth along the lid: no column-wise streaks
        above = cv2.blur(rows_at(fold[0] - span, span)[None], wide)[0]
        under = cv2.blur(rows_at(bottom[0] + 0.12 * self.width, span)[None], wide)[0]
        weights = np.array([0.299, 0.587, 0.114], np.float32)
        # above the fold may be brow hair or shadow: the darker it is than the cheek, the more cheek
        dark = np.clip((0.9 - (above @ weights) / np.maximum(under @ weights, 1.0)) / 0.2, 0, 1)[:, None]
        above = (1 - dark) * above + dark * under
        t = np.clip((ys - fold) / np.maximum(margin - fold, 1.0), 0, 1)[..., None]
        base = (1 - t) * above[None] + t * 0.93 * under[None]
        base *= 0.9 + 0.1 * np.sin(np.pi * np.sqrt(t))  # convex: lit in the middle, darker at the margin
        detail = np.clip(out - cv2.GaussianBlur(out, (0, 0), 2.0), -4, 4)
        return np.where(low[..., None], 0.95 * under[None] + detail, base + detail)

    def _close_lids(
        self, rgb: np.ndarray, opening: np.ndarray, upper: np.ndarray, lower: np.ndarray, blink: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """The upper lid slides 80 % and the lower lid 20 % of the way (as the motion's landmarks do). Each
        lid covers the band between its fold (``lid_height`` above the upper lid; LOWER_LID_HEIGHT below the
        lower one) and its new margin, opaque, in the subject's skin colours (``_skin``) with the texture of
        the photo's strip stretched to the margin, meeting the skin above at the fold without a seam.
        Returns (rgb, alpha), alpha covering the opening and the stretched strips."""
        h, w = opening.shape
        gap = lower - upper
        xs = np.arange(w, dtype=np.float32) + self.origin[0]
        order = np.argsort(upper[:, 0])
        top, bottom = (np.interp(xs, c[order, 0], c[order, 1])[None] for c in (upper, lower))
        margin = np.interp(xs, upper[order, 0], (upper + 0.8 * blink * gap)[order, 1])[None]
        rise = np.interp(xs, lower[order, 0], (lower - 0.2 * blink * gap)[order, 1])[None]
        ys = np.arange(h, dtype=np.float32)[:, None] + self.origin[1]
        fold, floor = top - self.lid_height, bottom + LOWER_LID_HEIGHT * self.width
        src = ys + 0 * xs[None]
        up = (ys >= fold) & (ys <= margin)
        # read from a little above the landmarks' lid line: landmarks sit at or inside the visible margin, and
        # a row of eyeball (a catchlight) stretched onto the lid would show through it
        edge = top - LID_MARGIN * self.width
        src = np.where(up, fold + (ys - fold) * (edge - fold) / np.maximum(margin - fold, 1e-3), src)
        low = (ys >= rise) & (ys <= floor)
        src = np.where(low, floor - (floor - ys) * (floor - bottom) / np.maximum(floor - rise, 1e-3), src)
        src_x = np.broadcast_to(xs[None] - self.origin[0], src.shape).astype(np.float32)
        out = cv2.remap(
            rgb,
            src_x,
            (src - self.origin[1]).astype(np.float32),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT101,
        )
        lid = self._skin(out, ys, xs, fold, margin, bottom, low)
        # anti-aliased margins: a hard row-by-row cut shows as stair steps along a slanted lid
        cover = np.maximum(
            np.clip(margin - ys + 0.5, 0, 1) * (ys >= fold), np.clip(ys - rise + 0.5, 0, 1) * (ys <= floor)
        )[..., None]
        out = rgb * (1 - cover) + lid * cover
        # the stretched strips fade in from the fold and the floor, where they equal the photo
        ramp = np.clip(
            np.minimum(
                (ys - fold) / (0.4 * (top - fold) + 1e-3), (floor - ys) / (0.4 * (floor - bottom) + 1e-3)
            ),
            0,
            1,
        )
        corner = 0.08 * self.width  # the strips fade out toward the eye's corners, where the lids meet
        inside = np.clip(np.minimum(xs - upper[:, 0].min(), upper[:, 0].max() - xs) / corner, 0, 1)
        alpha = np.maximum(opening, ramp * inside[None])
        line = np.round((upper + 0.8 * blink * gap - self.origin) * 16).astype(np.int32)
        drawn = out.copy()
        cv2.polylines(
            drawn, [line], False, self.lash.tolist(), max(1, round(0.02 * self.width)), cv2.LINE_AA, 4
        )
        strength = 0.7 * min(1.0, blink / 0.6)  # the lashes gather into one dark line as the lid comes down
        return out * (1 - strength) + drawn * strength, alpha
