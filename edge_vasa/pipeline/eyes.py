"""Explicit eyes: an eye sprite cut from the photo, with a movable iris and opaque lids, drawn over a frame.

Why a layer and not a better-trained decoder: on the output frames of the decoders trained on the corpus, an
independent tracker (MediaPipe Face Mesh) saw the eye aspect ratio fall by only 8-13 % at the deepest blink,
and the iris move about 0.03 eye widths for a full gaze turn. The lids the decoders learned are translucent
and their iris barely moves, and a retrain on a better target needs GPU time this project does not have. A
layer drawn from the photo's own pixels is sharp, opaque and exact on every renderer (teacher, student, edge
backends, live) at about 1 ms per eye, and the decoders stay as exported.

Everything is built in the photo's (unposed) crop coordinates, then warped onto the frame by the affine that
takes the eye's six landmarks there to the posed ones:

1. Once per identity: the eye opening, the iris (the disc of 0.18-0.27 eye widths along the opening that
   is darkest against the opening and the ring around it, near the middle) and whether it shows at all
   (not behind sunglasses); the photo's lash lines (the dark bands along the lids, eyeliner included) and
   the skin a closed lid shows: the opening and the lash lines filled in from the skin around them.
2. Per frame: the gaze carries the iris band sideways (gaze x +-1: GAZE_TRAVEL from the eye's middle,
   wherever the photo's iris sat) and up or down, while the sclera on either side stretches or shrinks, so
   the photo's own sclera fills the side the iris left.
3. The upper lid slides from its open line to the blinked one (the lower lid rises a little): opaque skin
   from above the photo's lashes down to the moving margin, shaded darker toward it, with the photo's lash
   line (its thickness and colour) redrawn there.

At neutral motion (eyes open, looking ahead) the sprite is the photo's eye, pixel for pixel.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_vasa.pipeline.shapes import LUMA, column_y, poly_mask, smooth_curve

IRIS_RADIUS = 0.21  # of the eye width (corner to corner): iris ~11.7 mm in a ~28 mm wide opening; the
# fit tries 0.18-0.27 around it
IRIS_SPREAD = 0.2  # of the eye width: how far off the eye's middle a photo's iris plausibly sits (most
# photos look at the camera)
GAZE_TRAVEL = (0.32, 0.12)  # eye widths: at gaze x +-1 the iris is this far from the eye's middle (real
# eyes reach ~0.3), at gaze y +-1 this far from where the photo has it
CORNER_TUCK = 0.35  # at most this share of the iris radius may pass under an eye corner, where the lids hide
# it anyway. Static frames, MediaPipe, gaze -1 to +1 with (travel, tuck) (0.28, 0.2) -> (0.32, 0.35): the hard
# set's glasses 0.173 -> 0.207, beard 0.203 -> 0.240, turned_40 0.210 -> 0.233, teeth_edge_bottom 0.182 ->
# 0.189; eval faces cruise 0.207 -> 0.214, studio_f15 0.261 -> 0.309. A 0.27-radius iris stops at 0.284 with
# a tuck of 0.2, so the travel alone did nothing; at (0.34, 0.5) teeth_edge_bottom fell to 0.161
BROW_SHARE = 0.4  # a lash line reaches at most this share of the way from the lid up to the brow's landmarks:
# further up a dark band is the brow or the shadow under it (a deep-set eye), not lashes
MIN_IRIS_CONTRAST = 15.0  # gray levels between the opening and its darkest disc; below, the eye is hidden
# (sunglasses, shadow, a blurred tiny face) and its iris stays where the photo has it
LID_MARGIN = 0.04  # of the eye width: how far above the landmarks' lid line the lid's own skin starts
LASH_REACH = (0.064, 0.2)  # of the eye width: the least and the most the photo's lash line may reach
TONE_BINS = 8  # depths in the eye opening at which the two sides' sclera tones are compared
LASH_CONTRAST = 12.0  # gray levels below the skin around it: a pixel of the photo's lash line


def lid_curves(eye: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Six eye landmarks (corner, 2 upper, corner, 2 lower; dlib order) -> upper and lower lid curves, each
    from the first corner to the second."""
    return smooth_curve(eye[[0, 1, 2, 3]]), smooth_curve(eye[[0, 5, 4, 3]])


class Eye:
    """One eye of one identity: the photo's eye, ready to be redrawn with any gaze and lid closure."""

    def __init__(self, image: np.ndarray, eye: np.ndarray, brow: np.ndarray, soften: float = 0.0):
        """IMAGE: the aligned photo crop; EYE: its six landmarks of this eye; BROW: the five of its brow,
        which bounds the photo's lash line: a dark band further up is the brow or its shadow; SOFTEN: the
        Gaussian sigma (px) that blurs a sharp edge as much as the photo's are blurred, for the opening's
        edge (on a small face scaled up, a sharp one outlined the moved eye like a cut-out lens)."""
        self.soften = soften
        self.eye = np.asarray(eye, np.float64)
        self.width = float(np.linalg.norm(self.eye[3] - self.eye[0]))
        w = self.width
        brow_gap = float(self.eye[[1, 2], 1].mean() - np.asarray(brow, np.float64)[:, 1].mean())
        self.lash_room = float(np.clip(BROW_SHARE * brow_gap, LASH_REACH[0] * w, LASH_REACH[1] * w))
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
        columns = np.arange(wd) + self.origin[0]
        self.lid_top = (column_y(upper, columns) - self.origin[1]).astype(np.float32)  # per patch column
        self.lid_span = np.maximum(column_y(lower, columns) - self.origin[1] - self.lid_top, 1.0)
        # per patch pixel, how far down the photo's opening it lies: 0 at the upper lid line, 1 at the lower
        self.depth = (np.arange(h, dtype=np.float32)[:, None] - self.lid_top[None]) / self.lid_span[None]
        self.sclera_tone = self._sclera_tone()
        self.skin, self.lid_room, self.lash_reach, self.lash = self._lid_skin()
        middle = self.lash_reach[
            np.abs(np.arange(len(self.lash_reach)) + self.origin[0] - self.eye[[0, 3], 0].mean())
            < 0.25 * self.width
        ]
        self.lash_thickness = float(np.clip(np.median(middle), 0.03 * self.width, 0.09 * self.width))

    def _find_iris(self, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
        """The disc along the opening's middle line, of 0.18-0.27 eye widths, darkest against both the rest
        of the opening and the ring just around it (to half its radius again), its contrast weighed by a
        Gaussian of its offset from the eye's middle (sigma IRIS_SPREAD). Against the rest alone a disc grows
        into the dark corner beside the iris (lashes, the shadow by the nose): on the hard set's smiling eyes
        the fit sat 0.2 eye widths off the pupil, toward the corners; the ring stops that. Without the
        weight a dark corner (a glasses rim) beat a blurred iris 17 to 16 gray levels. Sets ``radius`` and
        ``visible``; returns the centre."""
        gray = cv2.cvtColor(self.patch.astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
        middle = (upper + lower) / 2  # both run corner to corner
        ys, xs = np.mgrid[: gray.shape[0], : gray.shape[1]]
        seen = self.opening > 0.5
        mid_x = self.eye[[0, 3], 0].mean()
        best = contrast = -np.inf
        centre, self.radius = middle[len(middle) // 2], IRIS_RADIUS * self.width
        for radius in np.array([0.18, 0.21, 0.24, 0.27]) * self.width:
            for point in middle[3:-3]:
                c = point - self.origin
                d2 = (xs - c[0]) ** 2 + (ys - c[1]) ** 2
                disc = (d2 < radius**2) & seen
                rest = seen & ~disc
                ring = rest & (d2 < (1.5 * radius) ** 2)
                if disc.sum() < 4 or ring.sum() < 4:
                    continue
                here = float((gray[rest].mean() + gray[ring].mean()) / 2 - gray[disc].mean())
                score = here * np.exp(-0.5 * ((point[0] - mid_x) / (IRIS_SPREAD * self.width)) ** 2)
                if score > best:
                    best, contrast, centre, self.radius = score, here, point, float(radius)
        self.visible = contrast >= MIN_IRIS_CONTRAST
        return np.asarray(centre, np.float64)

    def _look(self, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Remap grids that move the iris by SHIFT (x, y pixels) inside the eye, and the sideways move the
        corners allow: the iris band is carried rigidly and the sclera on either side stretches or shrinks to
        fill, so the vacated side shows the photo's own sclera, shading and all (a flat fill shows as a grey
        patch on shadowed or small eyes). The sclera follows the lids: each column of the opening is filled
        from the source column's opening, top to top and bottom to bottom. Stretched straight across, a
        strip by a corner, where the lids close in, brought the skin above the lid and the lash line into
        the middle of the opening (a brown flap across the eval face cruise's sclera). The crop is aligned
        on the eyes, so the image axes are the eye's to a few degrees."""
        h, w = self.opening.shape
        c, r = self.iris_centre - self.origin, self.radius
        left, right = self.eye[[0, 3], 0] - self.origin[0]
        reach = (1 - CORNER_TUCK) * r  # how close to a corner the iris centre may come
        dx = float(np.clip(shift[0], min(0.0, left + reach - c[0]), max(0.0, right - reach - c[0])))
        # past a corner the sclera there is gone and the iris runs on under the lids (the opening hides it)
        outer = (min(left, c[0] + dx - r - 1), max(right, c[0] + dx + r + 1))
        xs = np.arange(w, dtype=np.float32)
        far = float(w)  # beyond the corners the patch stays where it is (a soft edge shows a little of it)
        map_x = np.interp(
            xs,
            [outer[0] - far, outer[0], c[0] + dx - r, c[0] + dx + r, outer[1], outer[1] + far],
            [left - far, left, c[0] - r, c[0] + r, right, right + far],
        )
        top, bottom = c[1] - 2 * r, c[1] + 2 * r
        dy = float(np.clip(shift[1], -r, r))
        ys = np.arange(h, dtype=np.float32)
        map_y = np.interp(ys, [top, c[1] + dy - r, c[1] + dy + r, bottom], [top, c[1] - r, c[1] + r, bottom])
        upper, span = self.lid_top, self.lid_span
        src_upper, src_span = np.interp(map_x, xs, upper), np.interp(map_x, xs, span)
        # rigid in the iris's middle, following the lids from its edges out (a rigid band beyond the iris
        # took the skin above a corner's lid into the opening)
        follow = np.clip((np.abs(xs - (c[0] + dx)) - 0.6 * r) / (0.4 * r), 0, 1).astype(np.float32)
        inset = np.minimum(1.0, 0.25 * src_span)  # the source's anti-aliased lid edge, not magnified
        lidded = (
            src_upper[None] + inset + (map_y[:, None] - upper[None]) * ((src_span - 2 * inset) / span)[None]
        )
        map_y2 = map_y[:, None] + follow[None] * (lidded - map_y[:, None])
        # inside the opening, never the photo's lids: the rigid middle carried the lid that covers the top
        # of a squinting eye's iris to where the opening is taller, a dark wedge above the moved iris
        inside = (self.depth >= 0) & (self.depth <= 1)
        held = np.clip(map_y2, (src_upper + inset)[None], (src_upper + src_span - inset)[None])
        map_y2 = np.where(inside, held, map_y2)
        return (
            np.broadcast_to(map_x[None].astype(np.float32), (h, w)),
            np.ascontiguousarray(map_y2, dtype=np.float32),
            dx,
        )

    def _sclera_tone(self) -> np.ndarray:
        """Once per identity: the RGB of the opening left of the iris band and right of it, by depth in the
        opening (TONE_BINS from the upper lid line to the lower), (2, TONE_BINS, 3): the mean of the lighter
        half of each bin's pixels, the sclera's share. Taken by depth, not by row, the lash shadow under the
        upper lid is compared with the lash shadow on the other side. The mean of all of them took in the
        lids' skin and lashes, and lit the vacated side pink (the eval face cruise, a smiling squint)."""
        xs = np.arange(self.opening.shape[1])
        c, r = self.iris_centre[0] - self.origin[0], self.radius
        bins = np.clip((self.depth * TONE_BINS).astype(int), 0, TONE_BINS - 1)
        luma = self.patch @ LUMA
        tone = np.zeros((2, TONE_BINS, 3), np.float32)
        for k, side in enumerate((xs < c - r, xs > c + r)):
            inside = (self.opening > 0.5) & side[None]
            for b in range(TONE_BINS):
                near = inside & (np.abs(bins - b) <= 1)  # neighbouring depths lend a sparse bin theirs
                if near.any():
                    light = near & (luma >= np.median(luma[near]))
                    tone[k, b] = self.patch[light].mean(0)
        return tone

    def _lift_vacated(self, rgb: np.ndarray, dx: float) -> np.ndarray:
        """The side the iris left, lit toward the other side's sclera at the same depth in the opening (never
        darkened). The stretch fills it from the photo's strip between iris and corner; on a squint or a
        smile that strip is the corner's shadow, and three times as wide it read as a grey or brown band
        across the eye (the hard set's teeth_edge_bottom, the eval face cruise). The lift grows with the
        share of the side that is new (none at dx = 0, where the eye is the photo's; full at half) and fades
        in over the iris's radius beyond its edge, where the photo's limbus is."""
        c, r = self.iris_centre[0] - self.origin[0], self.radius
        corners = self.eye[[0, 3], 0] - self.origin[0]
        vacated, kept = (0, 1) if dx > 0 else (1, 0)
        strip = abs(c - corners[vacated]) - r  # the photo's strip on the vacated side, now |dx| wider
        if abs(dx) < 0.5 or strip <= 0:
            return rgb
        xs = np.arange(rgb.shape[1], dtype=np.float32)
        lift = self.sclera_tone[kept] - self.sclera_tone[vacated]  # (TONE_BINS, 3)
        lift *= np.clip(lift @ LUMA / 10.0, 0, 1)[:, None]  # only where the kept side is lighter
        at = np.clip(self.depth * TONE_BINS - 0.5, 0, TONE_BINS - 1)  # between the bins' middles, no steps
        lo = np.floor(at).astype(int)
        hi, t = np.minimum(lo + 1, TONE_BINS - 1), (at - lo)[..., None]
        offset = lift[lo] * (1 - t) + lift[hi] * t
        from_iris = (c + dx - xs) * np.sign(dx) - r  # pixels out from the moved iris's edge
        weight = min(1.0, 2 * abs(dx) / (strip + abs(dx))) * np.clip(from_iris / r, 0, 1)
        return np.clip(rgb + weight[None, :, None] * offset, 0, 255)

    def sprite(self, blink: float, gaze: tuple[float, float], eye_open: np.ndarray) -> tuple[np.ndarray, ...]:
        """The eye in photo-crop coordinates for lid closure BLINK (0..1), GAZE (x, y) in -1..1, and the
        eye's open landmarks EYE_OPEN there (expression may move them): (rgb, alpha) patch-sized."""
        upper, lower = lid_curves(eye_open)
        opening = poly_mask(self.opening.shape, np.concatenate([upper, lower[::-1]]), self.origin)
        if self.soften > 0.3:
            opening = cv2.GaussianBlur(opening, (0, 0), self.soften)
        ax = (eye_open[3] - eye_open[0]) / max(np.linalg.norm(eye_open[3] - eye_open[0]), 1e-6)
        down = np.array([-ax[1], ax[0]])
        shift = np.zeros(2)
        if self.visible:  # sideways, gaze +-1 takes the iris to the same place whichever way the photo
            # looked: an iris 0.1-0.2 eye widths off the middle (a sideways glance) lost that much of a side
            offset = float((self.iris_centre - self.eye[[0, 3]].mean(0)) @ ax) / self.width
            along = gaze[0] * max(0.0, GAZE_TRAVEL[0] - np.sign(gaze[0]) * offset)
            shift = self.width * (along * ax + GAZE_TRAVEL[1] * gaze[1] * down)
        shift = shift + (eye_open[[0, 3]].mean(0) - self.eye[[0, 3]].mean(0))  # the eye moved with expression
        if np.abs(shift).max() < 1e-3:
            rgb = self.patch.copy()
        else:
            map_x, map_y, dx = self._look(shift)
            rgb = cv2.remap(self.patch, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
            rgb = self._lift_vacated(rgb, dx)
        if blink > 0.02:
            return self._close_lids(rgb, opening, upper, lower, blink)
        return rgb, opening

    def _lid_skin(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Once per identity: the patch with the eye opening, the photo's lash lines and the room up to
        BROW_SHARE of the way to the brow filled from the skin around them (OpenCV's Telea inpainting); and
        per patch column, in pixels above the landmarks' lid line, how far that fill reaches (the closed
        lid's skin) and how far the dark lash line does; and the lash line's RGB colour. A closed lid is
        the skin around the eye carried across it, with its light and shadow: a deep-set eye's lid lies in
        the socket's shadow. A lid coloured from the fold and the cheek (an earlier version) was a pale patch
        there, and MediaPipe still saw an open eye in it (EAR fall 0.16 on a fully closed lid); so did it
        while the photo's dark lash line (or eyeliner) stayed around the closed lid as the outline of an
        open eye."""
        upper, lower = lid_curves(self.eye)
        h, w = self.opening.shape
        gray = cv2.cvtColor(self.patch.astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
        xs = np.arange(w) + self.origin[0]
        inside = (xs >= upper[:, 0].min()) & (xs <= upper[:, 0].max())
        rows = np.arange(h)[:, None]
        hole = self.opening > 0.1
        bands = []
        for curve, way in ((upper, -1), (lower, 1)):
            line = column_y(curve, xs) - self.origin[1]
            reach = self._dark_reach(gray, line, way)
            band = (rows - line[None]) * way
            bands.append((band, reach))
        (band, reach), (low_band, low_reach) = bands
        # the upper lid's skin comes from the whole room below the brow, tapering into the corners: its
        # lashes and crease are not always dark enough to be found, and a fill from their pixels is a smear
        corner = np.clip(
            np.minimum(xs - upper[:, 0].min(), upper[:, 0].max() - xs) / (0.2 * self.width), 0, 1
        )
        room = np.maximum(self.lash_room * np.sqrt(corner), reach * (corner > 0))
        hole |= (band >= -1) & (band <= room[None]) & inside[None]
        hole |= (low_band >= -1) & (low_band <= low_reach[None]) & inside[None]
        lashes = (band >= 0) & (band <= reach[None]) & inside[None] & (self.opening < 0.5)
        if lashes.sum() >= 8:  # the photo's own lash colour (mascara, eyeliner, light lashes): its darkest
            pixels = self.patch[lashes]
            lum = pixels @ LUMA
            lash = pixels[lum <= np.percentile(lum, 25)].mean(0)
        else:  # none found: dark, but not as black as a pupil
            pixels = self.patch.reshape(-1, 3)
            lash = 0.5 * np.percentile(pixels, 2, axis=0) + 0.5 * np.percentile(pixels, 30, axis=0)
        hole = cv2.dilate(hole.astype(np.uint8), np.ones((3, 3), np.uint8))
        radius = max(3, round(0.12 * self.width))
        filled = cv2.inpaint(self.patch.astype(np.uint8), hole, radius, cv2.INPAINT_TELEA).astype(np.float32)
        return filled, room, reach, lash

    def _dark_reach(self, gray: np.ndarray, line: np.ndarray, way: int) -> np.ndarray:
        """Per patch column, how many pixels beyond LINE (upward for WAY -1, downward for +1) the dark band
        along it reaches: the lash line, eyeliner, a lower lid's rim. Dark is LASH_CONTRAST gray levels below
        the brighter skin a little further out (the 80th percentile of as many pixels again)."""
        h, w = gray.shape
        reach = max(2, round(self.lash_room))
        steps = np.arange(2 * reach)[:, None]
        rows = np.clip(np.round(line[None] + way * steps).astype(int), 0, h - 1)
        values = gray[rows, np.broadcast_to(np.arange(w)[None], rows.shape)]
        skin = cv2.blur(np.percentile(values[reach // 2 :], 80, axis=0).astype(np.float32)[None], (9, 1))[0]
        dark = (values[:reach] < skin[None] - LASH_CONTRAST) | (steps[:reach] < LID_MARGIN * self.width)
        return cv2.blur(np.cumprod(dark, axis=0).sum(0).astype(np.float32)[None], (5, 1))[0]

    def _close_lids(
        self, rgb: np.ndarray, opening: np.ndarray, upper: np.ndarray, lower: np.ndarray, blink: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """The upper lid slides 80 % and the lower lid 20 % of the way (as the motion's landmarks do). The
        upper lid covers from a little above the landmarks' lid line (the photo's own lashes, which would
        otherwise stay as the outline of an open eye) down to its new margin; the lower lid from its rise
        down to the lower lid line. Both are the skin of ``_lid_skin``, shaded darker toward the margin,
        where a tapered lash line is drawn. Returns (rgb, alpha), alpha covering the opening and the lids."""
        h, w = opening.shape
        xs = np.arange(w, dtype=np.float32) + self.origin[0]
        ys = np.arange(h, dtype=np.float32)[:, None] + self.origin[1]
        moved = upper + 0.8 * blink * (lower - upper)
        raised = lower - 0.2 * blink * (lower - upper)
        top, margin, rise, bottom = (column_y(c, xs)[None] for c in (upper, moved, raised, lower))
        inside = (xs >= upper[:, 0].min()) & (xs <= upper[:, 0].max())
        # from above the photo's lashes (where the skin is the photo's anyway), feathered over 2 pixels
        edge = top - self.lid_room[None] - 2
        soft = np.clip(np.minimum(margin - ys + 0.5, (ys - edge) / 2), 0, 1)  # anti-aliased margins
        # the lower lid starts a pixel above the upper one's margin: where they meet no eyeball shows through
        cover = np.maximum(soft, np.clip(np.minimum(ys - rise + 1.5, bottom - ys + 0.5), 0, 1)) * inside[None]
        depth = np.clip((ys - edge) / np.maximum(margin - edge, 1.0), 0, 1)  # 0 at the top, 1 at the margin
        shade = np.where(ys < margin, 1.0 - 0.12 * depth**2, 1.0)  # convex: darker toward the lashes
        lid = self.skin * shade[..., None]
        out = rgb * (1 - cover[..., None]) + lid * cover[..., None]
        out, line = self._lash_line(out, moved)
        return out, np.maximum(opening, np.maximum(cover, line))

    def _lash_line(self, rgb: np.ndarray, margin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The photo's lash line, as thick and as dark as it is there, moved to MARGIN: thickest in the
        middle, tapering to the corners, mostly above the margin (a closed eye's lashes hang a little below
        it). Coverage per column (the margin runs left to right), anti-aliased by distance: OpenCV's
        anti-aliased fill of so thin a polygon comes out in steps. Returns (rgb, the line's coverage)."""
        h, w = rgb.shape[:2]
        xs = np.arange(w, dtype=np.float32) + self.origin[0]
        ys = np.arange(h, dtype=np.float32)[:, None] + self.origin[1]
        x0, x1 = float(margin[:, 0].min()), float(margin[:, 0].max())
        along = np.clip((xs - x0) / max(x1 - x0, 1e-3), 0, 1)
        thick = self.lash_thickness * np.sin(np.pi * along) ** 0.8 * ((xs >= x0) & (xs <= x1))
        centre = column_y(margin, xs)[None]
        line = np.clip(
            np.minimum(ys - (centre - 0.7 * thick[None]), centre + 0.3 * thick[None] - ys) + 0.5, 0, 1
        ) * (thick[None] > 0.3)
        return rgb * (1 - line[..., None]) + self.lash[None, None] * line[..., None], line
