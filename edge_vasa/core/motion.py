"""The motion space: one per-frame vector shared by every part of edge-vasa.

Layout (``MOTION_DIM`` = 20 floats per frame, at 25 Hz):

=========  ======================================================================
slice      meaning
=========  ======================================================================
pose       yaw, pitch, roll (rad); tx, ty (fraction of the crop); scale (1 = as photographed)
gaze       gaze_x (+ = toward image right), gaze_y (+ = down), -1..1 of the eye's travel
blink      blink_left, blink_right (the subject's own left/right eye): 0 open .. 1 closed
expression coefficients of ``EXPRESSION_BASIS``: named landmark-deformation modes
=========  ======================================================================

Sign conventions (image coordinates, y down): yaw > 0 moves the nose toward the image's right,
pitch > 0 moves it down (a nod), roll > 0 turns the face clockwise.

Geometry. A face is modelled in a *canonical frame*: origin between the eye centres, x to the
image right, y down, z toward the camera, unit = inter-ocular distance (IOD). The photo's neutral
68 landmarks fix the canonical 2-D shape and a similarity transform back to the crop; a fixed depth
template gives each landmark a z so the head can rotate in 3-D. Expression modes displace canonical
landmarks linearly; blinks move each upper lid toward its lower lid. Landmarks -> motion is a bounded
least-squares fit of that forward model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POSE_NAMES = ("yaw", "pitch", "roll", "tx", "ty", "scale")
GAZE_NAMES = ("gaze_x", "gaze_y")
BLINK_NAMES = ("blink_left", "blink_right")
EXPRESSION_NAMES = (
    "jaw_open",
    "lip_spread",
    "lip_round",
    "smile",
    "mouth_frown",
    "upper_lip_raise",
    "lower_lip_depress",
    "lip_press",
    "brow_raise",
    "brow_frown",
)
MOTION_NAMES = POSE_NAMES + GAZE_NAMES + BLINK_NAMES + EXPRESSION_NAMES
MOTION_FPS = 25  # motion frames per second, whatever the output frame rate
# the emotion labels shared by the corpus script, the motion generator's control and evaluation
EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised")
MOTION_DIM = len(MOTION_NAMES)
INDEX = {name: i for i, name in enumerate(MOTION_NAMES)}
SLICES = {
    "pose": slice(0, 6),
    "gaze": slice(6, 8),
    "blink": slice(8, 10),
    "expression": slice(10, MOTION_DIM),
}

_RANGE = {
    "yaw": (-0.6, 0.6),
    "pitch": (-0.45, 0.45),
    "roll": (-0.45, 0.45),
    "tx": (-0.15, 0.15),
    "ty": (-0.15, 0.15),
    "scale": (0.75, 1.3),
    "gaze_x": (-1.0, 1.0),
    "gaze_y": (-1.0, 1.0),
    "blink_left": (0.0, 1.0),
    "blink_right": (0.0, 1.0),
    "jaw_open": (-0.3, 1.0),  # negative closes a mouth that is open in the photo
    "lip_press": (-0.5, 1.0),
}
RANGES = np.array([_RANGE.get(n, (-1.0, 1.0)) for n in MOTION_NAMES], dtype=np.float32)
NEUTRAL = np.zeros(MOTION_DIM, dtype=np.float32)
NEUTRAL[INDEX["scale"]] = 1.0


def neutral(n_frames: int) -> np.ndarray:
    """A (n_frames, MOTION_DIM) sequence of the neutral motion (the photo as it is)."""
    return np.tile(NEUTRAL, (n_frames, 1))


def clip(motion: np.ndarray) -> np.ndarray:
    """Clamp every channel of a (..., MOTION_DIM) motion array to its documented range."""
    return np.clip(motion, RANGES[:, 0], RANGES[:, 1]).astype(np.float32)


def count_closures(closed: np.ndarray) -> int:
    """Separate runs of True in a per-frame closed-eye mask: the number of blinks."""
    closed = np.asarray(closed, dtype=bool)
    return int(np.sum(closed[1:] & ~closed[:-1]) + closed[0]) if len(closed) else 0


def describe(motion: np.ndarray) -> dict[str, float]:
    """Name -> value for one frame, for printing and debugging."""
    return {name: float(v) for name, v in zip(MOTION_NAMES, motion)}


# --- the 68-point layout -------------------------------------------------------------------------
JAW = list(range(17))
BROW_R, BROW_L = list(range(17, 22)), list(range(22, 27))  # image left = the subject's right
NOSE = list(range(27, 36))
EYE_R, EYE_L = list(range(36, 42)), list(range(42, 48))
MOUTH_OUTER, MOUTH_INNER = list(range(48, 60)), list(range(60, 68))
# upper-lid point -> the lower-lid point it meets when the eye closes
LID_PAIRS_R = ((37, 41), (38, 40))
LID_PAIRS_L = ((43, 47), (44, 46))

# Depth of each landmark in IOD units (z toward the camera, eye plane = 0): a generic adult face.
# fmt: off
DEPTH = np.array(
    [-0.75, -0.6, -0.45, -0.3, -0.15, -0.02, 0.08, 0.15, 0.18]  # jaw, ear to chin
    + [0.15, 0.08, -0.02, -0.15, -0.3, -0.45, -0.6, -0.75]  # jaw, chin to ear
    + [-0.15, 0.0, 0.08, 0.12, 0.13, 0.13, 0.12, 0.08, 0.0, -0.15]  # brows
    + [0.12, 0.22, 0.33, 0.45, 0.2, 0.27, 0.3, 0.27, 0.2]  # nose bridge, nostrils
    + [-0.1, 0.0, 0.0, -0.02, -0.01, -0.01, -0.02, 0.0, 0.0, -0.1, -0.01, -0.01]  # eyes
    + [0.05, 0.15, 0.2, 0.22, 0.2, 0.15, 0.05, 0.14, 0.18, 0.2, 0.18, 0.14]  # outer lips
    + [0.05, 0.16, 0.18, 0.16, 0.05, 0.15, 0.17, 0.15],  # inner lips
    dtype=np.float64,
)
# fmt: on
# The head turns about a pivot behind and below the eyes (roughly the top of the neck).
PIVOT = np.array([0.0, 0.55, -1.1])


def _mirror_table() -> np.ndarray:
    """Index of each landmark's left/right mirror in the 68-point layout."""
    pairs = [(i, 16 - i) for i in range(8)]
    pairs += list(zip(range(17, 22), range(26, 21, -1)))
    pairs += [(31, 35), (32, 34)]
    pairs += list(zip((36, 37, 38, 39, 40, 41), (45, 44, 43, 42, 47, 46)))
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)]
    table = np.arange(68)
    for a, b in pairs:
        table[a], table[b] = b, a
    return table


MIRROR = _mirror_table()

# Expression modes at coefficient 1, in IOD units, given for the image-left half and the centre line
# (x < 0 is outward there); the other half is mirrored. Values follow typical facial-action
# amplitudes: a wide-open jaw drops the lower lip about 0.4 IOD, a broad smile lifts the corners 0.07.
_HALF_MODES: dict[str, dict[int, tuple[float, float]]] = {
    "jaw_open": {
        8: (0, 0.42),
        7: (0, 0.38),
        6: (0, 0.30),
        5: (0, 0.20),
        4: (0, 0.11),
        3: (0, 0.04),
        57: (0, 0.42),
        58: (0, 0.37),
        59: (0, 0.22),
        66: (0, 0.40),
        67: (0, 0.34),
        48: (0.02, 0.14),
        60: (0.02, 0.13),
    },
    "lip_spread": {
        48: (-0.10, 0),
        60: (-0.09, 0),
        49: (-0.05, 0.01),
        59: (-0.05, -0.01),
        61: (-0.04, 0.005),
        67: (-0.04, -0.005),
        50: (-0.02, 0.01),
        58: (-0.02, -0.01),
        51: (0, 0.01),
        57: (0, -0.01),
    },
    "lip_round": {
        48: (0.12, 0),
        60: (0.11, 0),
        49: (0.06, 0),
        59: (0.06, 0),
        50: (0.02, -0.02),
        58: (0.02, 0.02),
        51: (0, -0.03),
        57: (0, 0.03),
        61: (0.05, -0.03),
        67: (0.05, 0.03),
        62: (0, -0.04),
        66: (0, 0.05),
    },
    "smile": {
        48: (-0.07, -0.07),
        60: (-0.06, -0.06),
        49: (-0.03, -0.03),
        59: (-0.03, -0.02),
        61: (-0.02, -0.02),
        67: (-0.02, -0.01),
        50: (-0.01, -0.01),
        40: (0, -0.02),
        41: (0, -0.02),
    },
    "mouth_frown": {
        48: (0, 0.07),
        60: (0, 0.06),
        49: (0, 0.03),
        59: (0, 0.04),
        61: (0, 0.02),
        67: (0, 0.02),
        57: (0, -0.01),
    },
    "upper_lip_raise": {
        51: (0, -0.08),
        50: (0, -0.075),
        49: (0, -0.05),
        62: (0, -0.07),
        61: (0, -0.06),
        33: (0, -0.015),
        32: (0, -0.015),
        31: (0, -0.01),
    },
    "lower_lip_depress": {57: (0, 0.08), 58: (0, 0.07), 59: (0, 0.04), 66: (0, 0.07), 67: (0, 0.06)},
    "lip_press": {
        62: (0, 0.04),
        61: (0, 0.03),
        66: (0, -0.04),
        67: (0, -0.03),
        51: (0, 0.02),
        57: (0, -0.02),
        50: (0, 0.015),
        58: (0, -0.015),
    },
    "brow_raise": {
        17: (0, -0.08),
        18: (0, -0.11),
        19: (0, -0.13),
        20: (0, -0.12),
        21: (0, -0.10),
        37: (0, -0.015),
        38: (0, -0.015),
    },
    "brow_frown": {21: (0.04, 0.07), 20: (0.03, 0.06), 19: (0.01, 0.04), 18: (0, 0.02)},
}


def _build_basis() -> np.ndarray:
    basis = np.zeros((len(EXPRESSION_NAMES), 68, 2))
    for k, name in enumerate(EXPRESSION_NAMES):
        for idx, (dx, dy) in _HALF_MODES[name].items():
            basis[k, idx] = (dx, dy)
            if MIRROR[idx] != idx:
                basis[k, MIRROR[idx]] = (-dx, dy)
    return basis


EXPRESSION_BASIS = _build_basis()  # (K, 68, 2) canonical displacement per unit coefficient


@dataclass(frozen=True)
class FaceGeometry:
    """One identity's neutral face: canonical 68-point shape and the map from canonical to crop pixels."""

    canonical: np.ndarray  # (68, 2) neutral landmarks in the canonical frame (IOD units)
    rotation_scale: np.ndarray  # (2, 2) similarity part of canonical -> pixels
    origin: np.ndarray  # (2,) pixel position of the canonical origin (between the eyes)
    crop_size: int

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray, crop_size: int = 512) -> FaceGeometry:
        """Build the geometry from the photo's neutral (68, 2) pixel landmarks."""
        lm = np.asarray(landmarks, dtype=np.float64)
        if lm.shape != (68, 2):
            raise ValueError(f"expected (68, 2) landmarks, got {lm.shape}")
        eye_img_left, eye_img_right = lm[EYE_R].mean(0), lm[EYE_L].mean(0)
        origin = (eye_img_left + eye_img_right) / 2
        u = eye_img_right - eye_img_left
        a = np.array([[u[0], -u[1]], [u[1], u[0]]])
        canonical = (lm - origin) @ np.linalg.inv(a).T
        return cls(canonical, a, origin, crop_size)

    @property
    def iod_pixels(self) -> float:
        return float(np.hypot(*self.rotation_scale[:, 0]))

    def canonical_points(self, motion: np.ndarray) -> np.ndarray:
        """(T, MOTION_DIM) -> (T, 68, 3) canonical 3-D landmarks with expression and blinks applied."""
        motion = np.atleast_2d(motion)
        expr = motion[:, SLICES["expression"]].astype(np.float64)
        xy = self.canonical[None] + np.einsum("tk,knd->tnd", expr, EXPRESSION_BASIS)
        for pairs, blink in (
            (LID_PAIRS_R, motion[:, INDEX["blink_right"]]),
            (LID_PAIRS_L, motion[:, INDEX["blink_left"]]),
        ):
            for up, low in pairs:
                gap = self.canonical[low] - self.canonical[up]
                # the upper lid travels most of the way; the lower lid rises to meet it
                xy[:, up] += 0.8 * blink[:, None] * gap
                xy[:, low] -= 0.2 * blink[:, None] * gap
        z = np.broadcast_to(DEPTH, xy.shape[:2])[..., None]
        return np.concatenate([xy, z], axis=-1)

    def project(self, points: np.ndarray, motion: np.ndarray) -> np.ndarray:
        """Canonical 3-D points (T, N, 3) or (N, 3) under the pose of (T, D) motion -> (T, N, 2) pixels."""
        motion = np.atleast_2d(motion).astype(np.float64)
        points = np.broadcast_to(points, (len(motion),) + points.shape[-2:])
        rot = rotation_matrix(motion[:, INDEX["yaw"]], motion[:, INDEX["pitch"]], motion[:, INDEX["roll"]])
        turned = np.einsum("tij,tnj->tni", rot, points - PIVOT) + PIVOT
        xy = turned[..., :2] * motion[:, INDEX["scale"], None, None]
        shift = motion[:, [INDEX["tx"], INDEX["ty"]]] * self.crop_size
        return xy @ self.rotation_scale.T + self.origin + shift[:, None, :]


def rotation_matrix(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """(T,) angles -> (T, 3, 3) rotations, R = Rz(roll) @ Ry(yaw) @ Rx(pitch), in y-down image axes."""
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    one, zero = np.ones_like(yaw), np.zeros_like(yaw)
    rx = np.stack([one, zero, zero, zero, cp, sp, zero, -sp, cp], -1).reshape(-1, 3, 3)
    ry = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(-1, 3, 3)
    rz = np.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1).reshape(-1, 3, 3)
    return rz @ ry @ rx


def motion_to_landmarks(motion: np.ndarray, geometry: FaceGeometry) -> np.ndarray:
    """(T, MOTION_DIM) motion -> (T, 68, 2) pixel landmarks in the crop. Gaze does not move landmarks."""
    motion = np.atleast_2d(motion)
    return geometry.project(geometry.canonical_points(motion), motion)


_FIT_CHANNELS = np.array([i for i in range(MOTION_DIM) if i not in (INDEX["gaze_x"], INDEX["gaze_y"])])


def landmarks_to_motion(landmarks: np.ndarray, geometry: FaceGeometry) -> np.ndarray:
    """(T, 68, 2) pixel landmarks -> (T, MOTION_DIM) motion by bounded least squares on the forward model.

    Gaze is not observable from 68 landmarks and is returned as 0. Each frame is warm-started from the
    previous one, so tracks of real video fit quickly and smoothly.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64).reshape(-1, 68, 2)
    lo, hi = RANGES[_FIT_CHANNELS, 0].astype(np.float64), RANGES[_FIT_CHANNELS, 1].astype(np.float64)
    out = neutral(len(landmarks)).astype(np.float64)
    x0 = NEUTRAL[_FIT_CHANNELS].astype(np.float64)
    scale = 1.0 / geometry.iod_pixels  # residuals in IOD units keep the problem well scaled

    steps = np.eye(len(_FIT_CHANNELS)) * 1e-6

    def predict(params: np.ndarray) -> np.ndarray:
        """(P, n_fit) parameter sets -> (P, 136) landmarks in IOD units, all in one vectorised call."""
        m = np.tile(NEUTRAL.astype(np.float64), (len(params), 1))
        m[:, _FIT_CHANNELS] = params
        return motion_to_landmarks(m, geometry).reshape(len(params), -1) * scale

    def residual(params: np.ndarray, target: np.ndarray) -> np.ndarray:
        return predict(params[None])[0] - target

    def jacobian(params: np.ndarray, target: np.ndarray) -> np.ndarray:
        # forward differences for every parameter in one batched forward pass
        f = predict(np.vstack([params[None], params + steps]))
        return ((f[1:] - f[0]) / 1e-6).T

    from scipy.optimize import least_squares  # 0.26 s to import: fitting only, not the edge runtime

    for t, target in enumerate(landmarks.reshape(len(landmarks), -1) * scale):
        fit = least_squares(
            residual,
            np.clip(x0, lo, hi),
            jac=jacobian,
            bounds=(lo, hi),
            args=(target,),
            x_scale=0.1,
            xtol=1e-10,
            ftol=1e-10,
        )
        out[t, _FIT_CHANNELS] = fit.x
        x0 = fit.x
    return out.astype(np.float32)


def blink_shape(n_frames: int, start: float, length: float, close_share: float = 0.4) -> np.ndarray:
    """(n_frames,) eyelid closure 0..1 of one blink starting at ``start`` s and lasting ``length`` s, of which
    ``close_share`` closes it (closing is faster than opening)."""
    close = length * close_share
    times = (np.arange(n_frames) + 0.5) / MOTION_FPS - start
    closing = np.clip(times / close, 0, 1)
    opening = np.clip(1 - (times - close) / (length - close), 0, 1)
    shape = np.where(times < close, closing, opening) * ((times >= 0) & (times <= length))
    # a frame that straddles the blink still sees most of it (the 25 Hz samples would miss short ones)
    return np.maximum(shape, 0.9 * (np.abs(times - close) < 0.5 / MOTION_FPS))
