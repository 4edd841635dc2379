"""What every motion generator's output goes through: blinks kept alive, head motion scaled, frame rate.

Numpy only: the teacher, the PyTorch student and the edge runtime share it, so they post-process alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_vasa.core.motion import INDEX, MOTION_FPS, SLICES, blink_shape, count_closures

FIRST_BLINK_BY = 2.0  # s: even a 2-3 s clip blinks (people blink as they start to speak)
MAX_BLINK_GAP = 6.0  # s: a longer stare looks lifeless
EYES = [INDEX["blink_left"], INDEX["blink_right"]]


class BlinkKeeper:
    """Keep the generator's blinks; where it leaves the eyes open past FIRST_BLINK_BY s from the start, or
    MAX_BLINK_GAP s after the last blink, add one (the corpus script's blink shape, both eyes). Online:
    frames arrive in order, in chunks of any size, and an added blink may run into later chunks.

    ``inserted`` lists the frames where it added a blink: a blink rate measured after the keeper is partly
    the keeper's, so figures report the generator's own blinks and these apart."""

    def __init__(self, rng: np.random.Generator):
        self.rng, self.frame, self.deadline = rng, 0, FIRST_BLINK_BY
        self.pending = np.zeros(0, np.float32)  # closure still owed to the next frames by an added blink
        self.inserted: list[int] = []

    def __call__(self, motion: np.ndarray) -> np.ndarray:
        out = motion.copy()
        for row in out:
            now = self.frame / MOTION_FPS
            if len(self.pending):
                row[EYES] = np.maximum(row[EYES], self.pending[0])
                self.pending = self.pending[1:]
            if row[EYES].max() > 0.5:
                self.deadline = now + MAX_BLINK_GAP
            elif now >= self.deadline:
                shape = blink_shape(MOTION_FPS, 0.0, self.rng.uniform(0.10, 0.20)).astype(np.float32)
                row[EYES] = np.maximum(row[EYES], shape[0])
                self.pending = np.maximum(
                    np.pad(self.pending, (0, MOTION_FPS - 1 - len(self.pending))), shape[1:]
                )
                self.deadline = now + MAX_BLINK_GAP
                self.inserted.append(self.frame)
            self.frame += 1
        return out


def ensure_blinks(motion: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A whole clip through a fresh ``BlinkKeeper``."""
    return BlinkKeeper(rng)(motion)


def blink_keeper(seed: int) -> BlinkKeeper:
    """The keeper every generator applies for options with SEED (the lengths of added blinks are drawn
    from it)."""
    return BlinkKeeper(np.random.default_rng(seed))


@dataclass(frozen=True)
class BlinkCount:
    """Whose blinks a motion shows: the generator's own (closures of the left eye in its motion before
    the keeper) and the keeper's. A rate after the keeper alone cannot fall below one per MAX_BLINK_GAP,
    whatever the generator does."""

    own: int
    inserted: int


def keep_and_count_blinks(own: np.ndarray, seed: int) -> tuple[np.ndarray, BlinkCount]:
    """A generator's motion before the keeper (``keep_blinks=False``) -> exactly what it returns with the
    keeper for options with SEED, and whose blinks those are: both from one generator run."""
    keeper = blink_keeper(seed)
    motion = keeper(own)
    return motion, BlinkCount(count_closures(own[:, INDEX["blink_left"]] > 0.5), len(keeper.inserted))


def scale_head_motion(motion: np.ndarray, scale: float) -> np.ndarray:
    """Below 1, shrink head rotation and translation toward rest (0 = a still head); the generator
    already took the scale as a control, this makes 'still' exact."""
    if scale < 1:
        pose = motion[:, SLICES["pose"]]
        pose[:, :5] *= scale
    return motion


def interpolate_motion(motion: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Motion at fractional frame positions T (linear between neighbours; held at the last frame)."""
    i0 = np.clip(np.floor(t).astype(int), 0, len(motion) - 1)
    i1 = np.clip(i0 + 1, 0, len(motion) - 1)
    frac = (t - i0)[:, None]
    return ((1 - frac) * motion[i0] + frac * motion[i1]).astype(np.float32)


def resample_motion(motion: np.ndarray, fps: int) -> np.ndarray:
    """25 Hz motion -> motion at ``fps`` by linear interpolation (same duration)."""
    if fps == MOTION_FPS:
        return motion
    n_out = int(round(len(motion) * fps / MOTION_FPS))
    return interpolate_motion(motion, np.arange(n_out) * MOTION_FPS / fps)
