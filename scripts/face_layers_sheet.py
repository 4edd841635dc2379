"""Contact sheet of the hard photos: the teacher decoder's frames as they were (no face layers) above the same
frames with the eye and mouth layers, for a closed, half-open and wide-open mouth, a full blink and both gaze
extremes. One JPEG per photo and an overview, in docs/face-layers/ by default.

    .venv/bin/python scripts/face_layers_sheet.py [--out docs/face-layers] [--model teacher]
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import prepare_face
from edge_vasa.core.motion import INDEX, NEUTRAL, motion_to_landmarks
from edge_vasa.core.shipped import default_decoder_weights
from edge_vasa.evaluation.hard_photos import build_hard_set
from edge_vasa.pipeline.decoder import NeuralRenderer, load_decoder_models
from edge_vasa.pipeline.face_layers import FaceLayers

STATES = {
    "mouth closed": {},
    "half open": {"jaw_open": 0.45},
    "wide open": {"jaw_open": 1.0},
    "blink": {"blink_left": 1.0, "blink_right": 1.0},
    "gaze left": {"gaze_x": -1.0},
    "gaze right": {"gaze_x": 1.0},
}
MOUTH_STATES, EYE_STATES = list(STATES)[:3], list(STATES)[3:]
CELL = 150  # px: the height of every tile


def motions() -> np.ndarray:
    out = []
    for values in STATES.values():
        m = NEUTRAL.copy()
        for name, v in values.items():
            m[INDEX[name]] = v
        out.append(m)
    return np.stack(out)


def tile(frame: np.ndarray, points: np.ndarray, width: float, aspect: float, label: str = "") -> np.ndarray:
    """FRAME cut around POINTS' centre, WIDTH times their span wide and ASPECT times that high, scaled to CELL
    px high, labelled."""
    centre, span = points.mean(0), float(np.ptp(points[:, 0]))
    half = np.array([width * span, width * span * aspect]) / 2
    x0, y0 = np.maximum(centre - half, 0).astype(int)
    x1, y1 = np.minimum(centre + half, frame.shape[1]).astype(int)
    cut = frame[y0:y1, x0:x1]
    out = cv2.resize(
        cut, (max(1, round(cut.shape[1] * CELL / cut.shape[0])), CELL), interpolation=cv2.INTER_AREA
    )
    if label:
        cv2.putText(out, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.putText(out, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def row(frames: np.ndarray, marks: np.ndarray, title: str) -> np.ndarray:
    """One row of tiles, all cut around the neutral face's landmarks MARKS (so a closed eye is not zoomed)."""
    face = tile(frames[0], marks, 1.0, 1.0, title)
    mouths = [tile(f, marks[48:68], 1.5, 0.75, s) for f, s in zip(frames[:3], MOUTH_STATES)]
    eyes = [tile(f, marks[36:48], 1.25, 0.32, s) for f, s in zip(frames[3:], EYE_STATES)]
    return np.concatenate([face, *mouths, *eyes], 1)


def sheet(path: Path, face_index: int, encoder, decoder, name: str) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        face = prepare_face(path, face_index=face_index)
    raw = NeuralRenderer(face.image, face.landmarks, (encoder, decoder))
    layers = FaceLayers(face.image, face.landmarks)
    m = motions()
    before = raw.render(m)
    after = np.stack([layers.compose(f.copy(), mm) for f, mm in zip(before, m)])
    marks = motion_to_landmarks(NEUTRAL[None], raw.geometry)[0]
    src = cv2.resize(face.image, (2 * CELL, 2 * CELL), interpolation=cv2.INTER_AREA)
    cv2.putText(src, name, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 2, cv2.LINE_AA)
    cv2.putText(src, name, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    rows = [row(before, marks, "before"), row(after, marks, "with layers")]
    width = max(r.shape[1] for r in rows)
    rows = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows], 0)
    return np.concatenate([src, rows], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/face-layers"))
    parser.add_argument("--model", default="teacher", choices=["teacher", "student"])
    args = parser.parse_args()
    encoder, decoder, _ = load_decoder_models(default_decoder_weights(args.model))
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        built = [b for b in build_hard_set(Path(tmp)) if not b.photo.refused]
        sheets = []
        for b in tqdm(built, desc="photos", unit="photo"):
            try:
                img = sheet(b.path, b.face_index, encoder, decoder, b.photo.name)
            except EdgeVasaError as e:
                print(f"{b.photo.name}: refused: {e}")
                continue
            jpeg = [cv2.IMWRITE_JPEG_QUALITY, 90]
            cv2.imwrite(str(args.out / f"{b.photo.name}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), jpeg)
            sheets.append(img)
    width = max(s.shape[1] for s in sheets)
    overview = np.concatenate([np.pad(s, ((0, 6), (0, width - s.shape[1]), (0, 0))) for s in sheets], 0)
    small = cv2.resize(overview, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    cv2.imwrite(
        str(args.out / "overview.jpg"), cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88]
    )
    print(f"wrote {len(sheets)} sheets and overview.jpg to {args.out}")


if __name__ == "__main__":
    main()
