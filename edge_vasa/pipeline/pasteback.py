"""Paste the animated face crop back into the user's whole photo.

The decoders render a 512x512 face crop, aligned by a similarity transform of the photo (core.face). Users
expect their own photo to come back with only the head moving, as LivePortrait and Ditto do it: each
rendered crop is warped back through the inverse transform onto the still photo and blended in with a
feathered mask, so the seam fades over FEATHER of the crop's width instead of showing as an edge.

Output size: the photo's own framing, its long side at most MAX_SIDE (larger photos are scaled down); a
photo whose face is smaller than the crop (the crop was upscaled from it) is scaled up until the face is
drawn at the crop's resolution, within the same limit. Sides are even (H.264 needs that).

Only the crop's footprint in the frame is touched per frame: the background outside it is copied once.
The parts of the crop that fall outside the photo (a face near its edge) are outside the frame too, so
nothing smeared from beyond the photo's border reaches the output.
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_SIDE = 1920  # long side of the output at most (1080p-class video)
FEATHER = 0.12  # width of the blend band at the crop's edge, as a fraction of the crop size


def output_scale(photo_shape: tuple[int, ...], crop_scale: float, max_side: int = MAX_SIDE) -> float:
    """Factor from the photo to the output frame. CROP_SCALE is the crop's pixels per photo pixel: above 1 the
    face is smaller in the photo than in the crop, and the photo is scaled up by as much (within MAX_SIDE)."""
    long_side = max(photo_shape[:2])
    return min(max_side / long_side, max(1.0, crop_scale))


def feather_mask(size: int, feather: float = FEATHER) -> np.ndarray:
    """(size, size) float32 weights: 1 inside, falling smoothly (smoothstep) to 0 at the crop's edge."""
    band = max(1.0, feather * size)
    ramp = np.clip((np.arange(size, dtype=np.float32) + 0.5) / band, 0, 1)
    ramp = np.minimum(ramp, ramp[::-1])
    ramp = ramp * ramp * (3 - 2 * ramp)
    return np.outer(ramp, ramp).astype(np.float32)


class PasteBack:
    """frame = PasteBack(photo, transform, crop_size)(crop): the rendered crop in the whole photo.

    TRANSFORM is the 2x3 similarity from the photo to the crop (core.face.alignment_transform)."""

    def __init__(self, photo: np.ndarray, transform: np.ndarray, crop_size: int, max_side: int = MAX_SIDE):
        crop_scale = float(np.hypot(transform[0, 0], transform[0, 1]))
        self.scale = output_scale(photo.shape, crop_scale, max_side)
        h, w = (2 * max(1, round(s * self.scale / 2)) for s in photo.shape[:2])
        self.size = (h, w)
        interpolation = cv2.INTER_AREA if self.scale < 1 else cv2.INTER_CUBIC
        self.background = cv2.resize(photo, (w, h), interpolation=interpolation)
        # A crop drawn much smaller than it is gets an area resize first (warping alone would alias it).
        self._crop_px = max(1, round(crop_size * min(1.0, 1.5 * self.scale / crop_scale)))
        stretch = np.array([[w / photo.shape[1]], [h / photo.shape[0]]])
        to_frame = cv2.invertAffineTransform(transform) * stretch
        to_frame = to_frame @ np.diag([crop_size / self._crop_px, crop_size / self._crop_px, 1.0])
        x0, y0, x1, y1 = _footprint(to_frame, self._crop_px, (w, h))
        self.roi = (slice(y0, y1), slice(x0, x1))
        self._to_roi = to_frame - np.array([[0, 0, x0], [0, 0, y0]], float)
        self._roi_size = (x1 - x0, y1 - y0)
        alpha = cv2.warpAffine(feather_mask(self._crop_px), self._to_roi, self._roi_size)
        self._alpha, self._beta = alpha, 1 - alpha

    def __call__(self, crop: np.ndarray) -> np.ndarray:
        """(S, S, 3) uint8 rendered crop -> (H, W, 3) uint8 frame: the photo with the crop blended in."""
        if self._crop_px != crop.shape[0]:
            crop = cv2.resize(crop, (self._crop_px, self._crop_px), interpolation=cv2.INTER_AREA)
        warped = cv2.warpAffine(
            crop, self._to_roi, self._roi_size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        frame = self.background.copy()
        frame[self.roi] = cv2.blendLinear(warped, frame[self.roi], self._alpha, self._beta)
        return frame


def _footprint(to_frame: np.ndarray, crop_px: int, frame_wh: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the crop's bounding box in the frame, clipped to it."""
    corners = np.array([[0, 0, 1], [crop_px, 0, 1], [0, crop_px, 1], [crop_px, crop_px, 1]], float)
    xy = corners @ to_frame.T
    x0, y0 = (max(0, int(np.floor(v))) for v in xy.min(0))
    x1, y1 = (min(n, int(np.ceil(v))) for v, n in zip(xy.max(0), frame_wh))
    if x1 <= x0 or y1 <= y0:
        raise ValueError("the face crop lies outside the photo")
    return x0, y0, x1, y1
