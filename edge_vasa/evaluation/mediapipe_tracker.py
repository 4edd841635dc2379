"""MediaPipe Face Mesh on every frame of a video (or on one image): eye openness and iris position.

    .venv-tracker/bin/python edge_vasa/evaluation/mediapipe_tracker.py VIDEO_OR_IMAGE OUT.npz

A second landmark tracker, independent of dlib (which the corpus and the other metrics use), so that blinks
and gaze are scored by something the models were never fitted to. It runs as a script under its own venv
(scripts/install_tracker.sh: mediapipe needs protobuf<5), so it imports only the standard library, numpy, cv2
and mediapipe; edge_vasa.evaluation.liveliness calls it in a subprocess and reads OUT.npz (no pickle).

Per frame: the 6-point eye aspect ratio of each eye, and each iris centre relative to its eye's corners in
eye widths (x along the corner-to-corner line, toward image right; y across it, toward image down; 0 = the
corners' midpoint). NaN where no face is found. Eye order: the subject's right eye (image left), then left.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np

# p1 (corner, image left), p2, p3 (upper lid), p4 (corner, image right), p5, p6 (lower lid)
EYES = ((33, 160, 158, 133, 153, 144), (362, 385, 387, 263, 373, 380))
IRIS_CENTRES = (468, 473)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def eye_aspect_ratio(p: np.ndarray) -> float:
    """(|p2-p6| + |p3-p5|) / (2 |p1-p4|) of six (x, y) points: ~0.25-0.35 open, under ~0.1 closed."""
    vertical = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
    return float(vertical / (2 * np.linalg.norm(p[0] - p[3])))


def iris_offset(iris: np.ndarray, corner_a: np.ndarray, corner_b: np.ndarray) -> tuple[float, float]:
    """The iris centre's offset from the corners' midpoint in eye widths, along and across the corner line."""
    axis = corner_b - corner_a
    width = np.linalg.norm(axis)
    along = axis / width
    across = np.array([-along[1], along[0]])  # the along axis turned +90 degrees: image down when level
    d = iris - (corner_a + corner_b) / 2
    return float(d @ along / width), float(d @ across / width)


def measure(points: np.ndarray) -> tuple[list[float], list[float]]:
    """EAR of both eyes and (x, y) iris offsets of both eyes from one face's (478, 2) pixel landmarks."""
    ear = [eye_aspect_ratio(points[list(idx)]) for idx in EYES]
    iris = []
    for idx, centre in zip(EYES, IRIS_CENTRES):
        iris.extend(iris_offset(points[centre], points[idx[0]], points[idx[3]]))
    return ear, iris


def frames(path: Path):
    """RGB frames of a video, or the one frame of an image; also the frame rate (0 for an image)."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = cv2.imread(str(path))
        if image is None:
            raise SystemExit(f"cannot read image {path}")
        return [cv2.cvtColor(image, cv2.COLOR_BGR2RGB)], 0.0
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SystemExit(f"cannot open video {path}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0

    def read():
        while True:
            ok, frame = cap.read()
            if not ok:
                cap.release()
                return
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    return read(), float(fps)


def track(path: Path) -> dict[str, np.ndarray]:
    """EAR (T, 2) and iris (T, 4: right x, y, left x, y) per frame, NaN without a face, and the fps."""
    source, fps = frames(path)
    ear, iris = [], []
    mesh = mp.solutions.face_mesh.FaceMesh(
        static_image_mode=fps == 0.0, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.5
    )
    with mesh:
        for rgb in source:
            found = mesh.process(np.ascontiguousarray(rgb)).multi_face_landmarks
            if not found:
                ear.append([np.nan] * 2)
                iris.append([np.nan] * 4)
                continue
            h, w = rgb.shape[:2]
            points = np.array([(lm.x * w, lm.y * h) for lm in found[0].landmark])
            e, i = measure(points)
            ear.append(e)
            iris.append(i)
    return {
        "ear": np.array(ear, float).reshape(-1, 2),
        "iris": np.array(iris, float).reshape(-1, 4),
        "fps": fps,
    }


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    result = track(Path(sys.argv[1]))
    np.savez(sys.argv[2], ear=result["ear"], iris=result["iris"], fps=np.array(result["fps"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
