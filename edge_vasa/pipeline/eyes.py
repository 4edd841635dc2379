"""Explicit eyes: an eye sprite cut from the photo, with a movable iris and opaque lids, drawn over a frame.

Why a layer and not a better-trained decoder: on the output frames of the decoders trained on the corpus, an
independent tracker (MediaPipe Face Mesh) saw the eye aspect ratio fall by only 8-13 % at the deepest blink,
and the iris move about 0.03 eye widths for a full gaze turn. The lids the decoders learned are translucent
and their iris barely moves, and a retrain on a better target needs GPU time this project does not have. A
layer drawn from the photo's own pixels is sharp, opaque and exact on every renderer (teacher, student, edge
backends, live) at ~0.1 ms per eye, and the decoders stay as exported.

Everything is built in the photo's (unposed) crop coordinates, then warped onto the frame by the affine that
takes the eye's six landmarks there to the posed ones:

1. Once per identity: the eye opening, the iris (the darkest disc of 0.21 eye widths along the opening), the
   eyeball with the iris inpainted away, and the iris completed where a lid covered it in the photo.
2. Per frame: the iris is pasted at its photo position plus the gaze offset, clipped by the opening.
3. The upper lid slides from its open line to the blinked one (the lower lid rises a little). The lid is the
   photo's own lid skin, read upward from just above the lashes, so its margin is pre-tarsal skin and its top
   meets the skin above at a visible fold (the crease); a lash line is drawn at the moving margin.

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
LID_MARGIN = 0.04  # of the eye width: how far above the landmarks' lid line the lid's own skin starts


def lid_curves(eye: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Six eye landmarks (corner, 2 upper, corner, 2 lower; dlib order) -> upper and lower lid curves, each
    from the first corner to the second."""
    return smooth_curve(eye[[0, 1, 2, 3]]), smooth_curve(eye[[0, 5, 4, 3]])


class Eye:
    """One eye of one identity: the photo's eye, ready to be redrawn with any gaze and lid closure."""

    def __init__(self, image: np.ndarray, eye: np.ndarray):
        self.eye = np.asarray(eye, np.float64)
        self.width = float(np.linalg.norm(self.eye[3] - self.eye[0]))
        w = self.width
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
        self.iris, self.iris_alpha, self.ball = self._split_iris()

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
        return np.asarray(centre, np.float64)

    def _split_iris(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(iris sprite, its alpha, eyeball without the iris), all patch-sized. The iris is the photo's disc
        where the opening showed it; where a lid hid it, the pixel mirrored through the iris centre, else
        the iris's median colour, so a shifted iris shows no flat lid-cut edge."""
        h, w = self.opening.shape
        c = self.iris_centre - self.origin
        ys, xs = np.mgrid[:h, :w].astype(np.float32)
        mx, my = (2 * c[0] - xs).astype(np.float32), (2 * c[1] - ys).astype(np.float32)
        r2 = (xs - c[0]) ** 2 + (ys - c[1]) ** 2
        disc = np.clip(self.radius + 0.5 - np.sqrt(r2), 0, 1)  # anti-aliased edge
        seen = self.opening > 0.99
        inside = (disc > 0) & seen
        median = np.median(self.patch[inside], axis=0) if inside.any() else self.patch.reshape(-1, 3).mean(0)
        mirror = cv2.remap(self.patch, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        mirror_seen = cv2.remap(seen.astype(np.float32), mx, my, cv2.INTER_NEAREST) > 0
        iris = np.where(seen[..., None], self.patch, np.where(mirror_seen[..., None], mirror, median))
        # the disc and its limbus ring, feathered as softly as the photo around it: an upscaled small face
        # must not get a crisp patch of white
        hole = cv2.dilate((disc > 0).astype(np.float32), np.ones((5, 5), np.uint8))
        fill = cv2.GaussianBlur(hole, (0, 0), max(0.8, 0.04 * self.width))[..., None]
        ball = self.patch * (1 - fill) + self._sclera(disc) * fill
        return iris.astype(np.float32), disc.astype(np.float32), ball.astype(np.float32)

    def _sclera(self, disc: np.ndarray) -> np.ndarray:
        """What shows where the iris was: the photo's sclera colour (the brighter half of the opening
        outside the iris), shaded darker toward the upper lid, whose shadow falls on the eyeball."""
        white = (self.opening > 0.99) & (disc <= 0)
        pixels = self.patch[white] if white.sum() >= 4 else self.patch[self.opening > 0.5]
        luma = pixels @ np.array([0.299, 0.587, 0.114], np.float32)
        colour = pixels[luma >= np.percentile(luma, 60)].mean(0)
        colour = 0.5 * colour + 0.5 * colour.mean()  # a sclera is nearly colourless; photos tint it
        h, w = self.opening.shape
        rows = np.arange(h, dtype=np.float32)[:, None]
        cols = np.arange(w, dtype=np.float32)[None]
        top = self.iris_centre[1] - self.origin[1] - self.radius
        centre_x = self.eye[[0, 3], 0].mean() - self.origin[0]
        # a lit sphere under a lid: darker toward the upper lid's shadow and toward the corners
        shade = np.clip(0.72 + 0.28 * (rows - top) / max(self.radius, 1.0), 0.72, 1.0)
        shade = shade * (1 - 0.3 * np.clip(np.abs(cols - centre_x) / (0.5 * self.width), 0, 1) ** 2)
        return (colour * shade[..., None]).astype(np.float32)

    def sprite(self, blink: float, gaze: tuple[float, float], eye_open: np.ndarray) -> tuple[np.ndarray, ...]:
        """The eye in photo-crop coordinates for lid closure BLINK (0..1), GAZE (x, y) in -1..1, and the
        eye's open landmarks EYE_OPEN there (expression may move them): (rgb, alpha) patch-sized."""
        upper, lower = lid_curves(eye_open)
        opening = poly_mask(self.opening.shape, np.concatenate([upper, lower[::-1]]), self.origin)
        ax = (eye_open[3] - eye_open[0]) / max(np.linalg.norm(eye_open[3] - eye_open[0]), 1e-6)
        down = np.array([-ax[1], ax[0]])
        shift = self.width * (GAZE_TRAVEL[0] * gaze[0] * ax + GAZE_TRAVEL[1] * gaze[1] * down)
        shift = shift + (eye_open[[0, 3]].mean(0) - self.eye[[0, 3]].mean(0))  # the eye moved with expression
        if np.abs(shift).max() < 1e-3:
            rgb = self.patch.copy()
        else:
            move = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
            size = self.opening.shape[::-1]
            iris = cv2.warpAffine(
                self.iris, move, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
            a = cv2.warpAffine(self.iris_alpha, move, size, flags=cv2.INTER_LINEAR)[..., None]
            rgb = self.ball * (1 - a) + iris * a
        if blink > 0.02:
            return self._close_lids(rgb, opening, upper, lower, blink)
        return rgb, opening

    def _close_lids(
        self, rgb: np.ndarray, opening: np.ndarray, upper: np.ndarray, lower: np.ndarray, blink: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """The upper lid slides 80 % and the lower lid 20 % of the way (as the motion's landmarks do). Each
        lid is the photo's own: the strip of skin between its fold and its margin (LID_HEIGHT above the
        upper lid, LOWER_LID_HEIGHT below the lower one) stretched to the new margin, lashes and all, so the
        closed lid is opaque, has the subject's skin, and meets the skin above at the fold without a seam.
        Returns (rgb, alpha), alpha covering the opening and the stretched strips."""
        h, w = opening.shape
        gap = lower - upper
        xs = np.arange(w, dtype=np.float32) + self.origin[0]
        order = np.argsort(upper[:, 0])
        top, bottom = (np.interp(xs, c[order, 0], c[order, 1])[None] for c in (upper, lower))
        margin = np.interp(xs, upper[order, 0], (upper + 0.8 * blink * gap)[order, 1])[None]
        rise = np.interp(xs, lower[order, 0], (lower - 0.2 * blink * gap)[order, 1])[None]
        ys = np.arange(h, dtype=np.float32)[:, None] + self.origin[1]
        fold, floor = top - LID_HEIGHT * self.width, bottom + LOWER_LID_HEIGHT * self.width
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
        pixels = self.patch.reshape(-1, 3)
        lash = 0.5 * np.percentile(pixels, 2, axis=0) + 0.5 * np.percentile(pixels, 30, axis=0)
        line = np.round((upper + 0.8 * blink * gap - self.origin) * 16).astype(np.int32)
        drawn = out.copy()
        cv2.polylines(drawn, [line], False, lash.tolist(), max(1, round(0.02 * self.width)), cv2.LINE_AA, 4)
        strength = 0.7 * min(1.0, blink / 0.6)  # the lashes gather into one dark line as the lid comes down
        return out * (1 - strength) + drawn * strength, alpha
