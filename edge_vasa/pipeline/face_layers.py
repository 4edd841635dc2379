"""The explicit face layers every renderer's frames go through: eyes (pipeline.eyes) and the mouth interior
(pipeline.mouth), placed by the motion's own landmarks.

    layered = LayeredRenderer(renderer, face.image, face.landmarks)   # the renderer contract, layers on top

The analytic corpus renderer draws them itself (``FaceLayers.compose`` after its warp); the PyTorch and edge
decoders are wrapped in ``LayeredRenderer``. So the teacher, the student, every exported backend and live
show the same eyes and mouth for the same motion, and parity between them is a property of the decoders.
Numpy and OpenCV only: the edge runtime uses it without torch.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_vasa.core.motion import EYE_L, EYE_R, INDEX, NEUTRAL, SLICES, FaceGeometry, motion_to_landmarks
from edge_vasa.pipeline.eyes import Eye
from edge_vasa.pipeline.mouth import Mouth
from edge_vasa.pipeline.shapes import face_box

BLINKS = (INDEX["blink_right"], INDEX["blink_left"])  # dlib's 36-41 is the subject's right eye
BROW_R, BROW_L = list(range(17, 22)), list(range(22, 27))
# blink value at which the lid is fully down. The generators' blink peaks come out at 0.45-0.95 (student
# median ~0.6, teacher ~0.8 over 28 s of speech): sampling averages the sharp peak of the corpus's blinks
# away, and a lid stopping at 60 % reads as a squint, not a blink (MediaPipe saw a 0.29-0.33 EAR fall)
FULL_CLOSURE = 0.6
SHARP_EDGE = 1.6  # px: photo_blur of sharp photos' faces (1.5-1.8 on 7 of the held-out and hard photos);
# blurrier photos (small faces scaled up: 2.2-4.4) get their drawn teeth blurred to match


def photo_blur(image: np.ndarray, landmarks: np.ndarray) -> float:
    """How blurred the face (the box of its brows, eyes, nose and mouth) in IMAGE is: ``edge_blur``."""
    return edge_blur(cv2.cvtColor(face_box(image, landmarks), cv2.COLOR_RGB2GRAY))


def edge_blur(gray: np.ndarray, where: np.ndarray | None = None) -> float:
    """The Gaussian sigma (px) of the sharpest edges in GRAY (among the pixels WHERE is true). A step of
    contrast C blurred by sigma is at most C / (sigma * sqrt(2 pi)) steep, so each of the steepest 2 % of
    pixels gives sigma from its gradient and the contrast around it (15 px); the median is the answer."""
    gray = gray.astype(np.float32)
    if min(gray.shape) < 16:
        return SHARP_EDGE
    steep = np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1)) / 8
    window = np.ones((15, 15), np.uint8)
    contrast = cv2.dilate(gray, window) - cv2.erode(gray, window)
    if where is not None:
        steep = np.where(where, steep, 0)
    edges = steep >= max(float(np.percentile(steep[steep > 0], 98)) if steep.any() else 0, 1e-3)
    return float(np.median(contrast[edges] / (steep[edges] * np.sqrt(2 * np.pi))))


def _affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(2, 3) least-squares affine taking the (N, 2) points SRC to DST."""
    a = np.concatenate([src, np.ones((len(src), 1))], 1)
    return np.linalg.solve(a.T @ a, a.T @ dst).T


class FaceLayers:
    """One identity's eyes and mouth, composed onto frames drawn under any motion."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray):
        self.geometry = FaceGeometry.from_landmarks(landmarks, image.shape[0])
        lm = np.asarray(landmarks, np.float64)
        # the teeth and the eye opening's edge as sharp as the photo, not sharper. The lids' lash line stays
        # crisp: blurred to match, MediaPipe saw blinks on blurred faces fall less (75 px gray face: EAR
        # fall 0.67 -> 0.40)
        soften = float(np.sqrt(max(photo_blur(image, lm) ** 2 - SHARP_EDGE**2, 0.0)))
        self.eyes = [
            Eye(image, lm[eye], lm[brow], soften) for eye, brow in ((EYE_R, BROW_R), (EYE_L, BROW_L))
        ]
        self.mouth = Mouth(image, lm, self.geometry.iod_pixels, soften)

    def compose(self, frame: np.ndarray, motion: np.ndarray) -> np.ndarray:
        """FRAME (S, S, 3) uint8 drawn under one (MOTION_DIM,) MOTION -> the same frame, eyes and mouth
        redrawn (in place when it is writable)."""
        if not frame.flags.writeable:
            frame = frame.copy()
        opened = motion.copy()
        opened[list(BLINKS)] = 0
        unposed = opened.copy()
        unposed[SLICES["pose"]] = NEUTRAL[SLICES["pose"]]
        rest = NEUTRAL.copy()
        rest[SLICES["pose"]] = motion[SLICES["pose"]]
        posed, posed_open, photo_open, resting = motion_to_landmarks(
            np.stack([motion, opened, unposed, rest]), self.geometry
        )
        gaze = (float(motion[INDEX["gaze_x"]]), float(motion[INDEX["gaze_y"]]))
        for eye, idx, blink in zip(self.eyes, (EYE_R, EYE_L), BLINKS, strict=True):
            closure = min(1.0, float(motion[blink]) / FULL_CLOSURE)
            rgb, alpha = eye.sprite(closure, gaze, photo_open[idx])
            self._place(frame, rgb, alpha, eye.origin, _affine(photo_open[idx], posed_open[idx]))
        self.mouth.draw(frame, posed, resting)
        return frame

    @staticmethod
    def _place(
        frame: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, origin: np.ndarray, to_frame: np.ndarray
    ) -> None:
        """Warp a sprite whose corner is at ORIGIN (photo-crop pixels) by TO_FRAME and blend it in."""
        h, w = alpha.shape
        corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) + origin
        placed = corners @ to_frame[:, :2].T + to_frame[:, 2]
        lo = np.maximum(np.floor(placed.min(0)).astype(int), 0)
        hi = np.minimum(np.ceil(placed.max(0)).astype(int) + 1, [frame.shape[1], frame.shape[0]])
        if np.any(hi - lo < 2):
            return
        m = to_frame.copy()
        m[:, 2] = to_frame[:, :2] @ origin + to_frame[:, 2] - lo
        size = (int(hi[0] - lo[0]), int(hi[1] - lo[1]))
        rgba = cv2.warpAffine(np.dstack([rgb, alpha]).astype(np.float32), m, size, flags=cv2.INTER_LINEAR)
        rgb, a = rgba[..., :3], rgba[..., 3:]
        region = frame[lo[1] : hi[1], lo[0] : hi[0]].astype(np.float32)
        frame[lo[1] : hi[1], lo[0] : hi[0]] = np.clip(region * (1 - a) + rgb * a + 0.5, 0, 255).astype(
            np.uint8
        )


class LayeredRenderer:
    """A renderer (the contract of pipeline.avatar) with the face layers drawn on each of its frames. Other
    attributes are the inner renderer's (``to(device)`` of the PyTorch one, the edge one's ``models``)."""

    def __init__(self, inner, image: np.ndarray, landmarks: np.ndarray):
        self.inner, self.layers = inner, FaceLayers(image, landmarks)
        self.size, self.geometry = inner.size, inner.geometry

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def to(self, device: str) -> LayeredRenderer:
        self.inner.to(device)
        return self

    def render(self, motion: np.ndarray) -> np.ndarray:
        """(T, MOTION_DIM) -> (T, S, S, 3) uint8 frames: the inner renderer's, eyes and mouth redrawn."""
        return self.compose(self.inner.render(motion), motion)

    def compose(self, frames: np.ndarray, motion: np.ndarray) -> np.ndarray:
        """The inner renderer's FRAMES for MOTION with the eyes and mouth redrawn on them, in place."""
        for frame, m in zip(frames, np.asarray(motion, np.float32), strict=True):
            self.layers.compose(frame, m)
        return frames
