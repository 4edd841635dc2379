"""What every motion generator's output goes through: blinks with a person's time course and no long stare,
head motion scaled, frame rate.

Numpy only: the teacher, the PyTorch student and the edge runtime share it, so they post-process alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_vasa.core.motion import INDEX, MOTION_FPS, SLICES, blink_shape, count_closures

FIRST_BLINK_BY = 2.0  # s: even a 2-3 s clip blinks (people blink as they start to speak)
MAX_BLINK_GAP = 6.0  # s: a longer stare looks lifeless
EYES = [INDEX["blink_left"], INDEX["blink_right"]]
BLINK_START = 0.3  # a generator's lid value rising past this starts a blink
BLINK_REARM = 0.15  # ... once it has fallen below this since the last one (its blinks come out jagged)
OPEN_MAX = 0.08  # between blinks no lid value above this: higher ones are the generators' half-blinks and
# the tails of their blinks, which MediaPipe counted as blinks (the student: 32-36 a minute on 60 s clips)
BLINK_LENGTH = (0.25, 0.35)  # s: one blink, drawn per blink (core.motion.blink_shape)
CLOSE_SHARE = 0.33  # of it closing, the rest opening: about 100 ms down and 200 ms up


class BlinkKeeper:
    """Every blink with a person's time course, and no long stares. The generators place blinks well but
    draw them as 1-3 frame spikes (a blink closed and opened again within 40 ms on MediaPipe's trace of the
    output; people take about 100 ms to close and 150-200 ms to open): where a generator starts a blink,
    the keeper draws one blink instead (core.motion.blink_shape: fast close, slower open, both eyes),
    BLINK_LENGTH long. Where the eyes stay open past FIRST_BLINK_BY s from the start, or MAX_BLINK_GAP s
    after the last blink began, it adds one. Online: frames arrive in order, in chunks of any size, and a
    blink may run into later chunks.

    ``inserted`` lists the frames where it added a blink: a blink rate measured after the keeper is partly
    the keeper's, so figures report the generator's own blinks and these apart."""

    def __init__(self, rng: np.random.Generator):
        self.rng, self.frame, self.deadline, self.armed = rng, 0, FIRST_BLINK_BY, True
        self.pending = np.zeros(0, np.float32)  # closure still owed to the next frames by a blink under way
        self.inserted: list[int] = []

    def __call__(self, motion: np.ndarray) -> np.ndarray:
        out = motion.copy()
        for row in out:
            now, own = self.frame / MOTION_FPS, float(row[EYES].max())
            if len(self.pending):  # a blink under way keeps its shape, whatever the generator does meanwhile
                row[EYES], self.pending = self.pending[0], self.pending[1:]
            elif (starts := own > BLINK_START and self.armed) or now >= self.deadline:
                if not starts:  # the generator's stare ran past the deadline: the keeper's blink
                    self.inserted.append(self.frame)
                length = self.rng.uniform(*BLINK_LENGTH)
                shape = blink_shape(MOTION_FPS, 0.0, length, CLOSE_SHARE).astype(np.float32)
                row[EYES], self.pending = shape[0], np.trim_zeros(shape[1:], "b")
                self.deadline, self.armed = now + MAX_BLINK_GAP, False
            else:
                row[EYES] = np.minimum(row[EYES], OPEN_MAX)
            self.armed |= own < BLINK_REARM
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
