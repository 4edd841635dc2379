"""The motion space: layout, forward model conventions and the landmarks -> motion fit."""

import warnings
from functools import lru_cache

import numpy as np
import pytest
import skimage.data

from edge_vasa.core import motion as M


@lru_cache(maxsize=1)
def face_like_landmarks() -> np.ndarray:
    """The neutral 68 landmarks of a real aligned face (pixels in a 512 crop)."""
    from edge_vasa.core.face import prepare_face

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prepare_face(skimage.data.astronaut()).landmarks


@pytest.fixture(scope="module")
def geometry() -> M.FaceGeometry:
    return M.FaceGeometry.from_landmarks(face_like_landmarks(), 512)


def test_layout_is_consistent():
    assert len(set(M.MOTION_NAMES)) == M.MOTION_DIM == 20
    covered = sorted(i for s in M.SLICES.values() for i in range(M.MOTION_DIM)[s])
    assert covered == list(range(M.MOTION_DIM))
    assert np.all(M.RANGES[:, 0] <= M.NEUTRAL) and np.all(M.NEUTRAL <= M.RANGES[:, 1])
    assert M.EXPRESSION_BASIS.shape == (len(M.EXPRESSION_NAMES), 68, 2)
    assert np.all(np.abs(M.EXPRESSION_BASIS).sum(axis=(1, 2)) > 0), "every mode must move something"
    assert np.all(M.MIRROR[M.MIRROR] == np.arange(68))


def test_modes_are_left_right_symmetric():
    b = M.EXPRESSION_BASIS
    np.testing.assert_allclose(b[:, M.MIRROR, 0], -b[:, :, 0])
    np.testing.assert_allclose(b[:, M.MIRROR, 1], b[:, :, 1])


def test_clip_enforces_ranges():
    m = np.full((3, M.MOTION_DIM), 10.0)
    assert np.all(M.clip(m) == M.RANGES[:, 1])


def test_neutral_motion_reproduces_the_photo_landmarks(geometry):
    lm = face_like_landmarks()
    np.testing.assert_allclose(M.motion_to_landmarks(M.NEUTRAL, geometry)[0], lm, atol=1e-6)


def _with(**kw) -> np.ndarray:
    m = M.NEUTRAL.copy()
    for k, v in kw.items():
        m[M.INDEX[k]] = v
    return m


def test_sign_conventions(geometry):
    base = M.motion_to_landmarks(M.NEUTRAL, geometry)[0]
    nose = 30
    assert M.motion_to_landmarks(_with(yaw=0.3), geometry)[0][nose, 0] > base[nose, 0] + 5
    assert M.motion_to_landmarks(_with(pitch=0.3), geometry)[0][nose, 1] > base[nose, 1] + 5
    rolled = M.motion_to_landmarks(_with(roll=0.2), geometry)[0]
    assert rolled[45, 1] > rolled[36, 1] + 5, "roll > 0 turns the face clockwise (image right eye goes down)"
    assert M.motion_to_landmarks(_with(jaw_open=1.0), geometry)[0][8, 1] > base[8, 1] + 20
    smile = M.motion_to_landmarks(_with(smile=1.0), geometry)[0]
    assert smile[48, 1] < base[48, 1] and smile[54, 1] < base[54, 1]


def test_blink_closes_the_right_eye(geometry):
    def opening(lm, pairs):
        return np.mean([np.linalg.norm(lm[a] - lm[b]) for a, b in pairs])

    base = M.motion_to_landmarks(M.NEUTRAL, geometry)[0]
    closed = M.motion_to_landmarks(_with(blink_left=1.0), geometry)[0]
    # the subject's left eye is on the image right (points 42-47)
    assert opening(closed, M.LID_PAIRS_L) < 0.05 * opening(base, M.LID_PAIRS_L)
    assert opening(closed, M.LID_PAIRS_R) == pytest.approx(opening(base, M.LID_PAIRS_R))


def random_motions(rng: np.random.Generator, n: int, spread: float = 0.5) -> np.ndarray:
    centre = (M.RANGES[:, 0] + M.RANGES[:, 1]) / 2
    half = (M.RANGES[:, 1] - M.RANGES[:, 0]) / 2
    m = M.clip(
        np.where(M.RANGES[:, 0] < 0, M.NEUTRAL, centre)
        + rng.uniform(-1, 1, (n, M.MOTION_DIM)) * half * spread
    )
    m[:, M.SLICES["gaze"]] = 0
    return m


def test_round_trip_is_within_one_pixel(geometry):
    motion = random_motions(np.random.default_rng(0), 40)
    landmarks = M.motion_to_landmarks(motion, geometry)
    fitted = M.landmarks_to_motion(landmarks, geometry)
    err = np.linalg.norm(M.motion_to_landmarks(fitted, geometry) - landmarks, axis=-1)
    assert err.max() <= 1.0, f"round trip error {err.max():.3f} px"
    assert err.mean() < 0.1


def test_fit_recovers_expression_and_pose(geometry):
    motion = random_motions(np.random.default_rng(1), 10, spread=0.3)
    fitted = M.landmarks_to_motion(M.motion_to_landmarks(motion, geometry), geometry)
    for name in ("yaw", "pitch", "roll", "jaw_open", "smile", "brow_raise", "blink_left"):
        i = M.INDEX[name]
        np.testing.assert_allclose(fitted[:, i], motion[:, i], atol=0.03, err_msg=name)


def test_fit_tolerates_detector_noise(geometry):
    rng = np.random.default_rng(2)
    motion = random_motions(rng, 8, spread=0.3)
    noisy = M.motion_to_landmarks(motion, geometry) + rng.normal(0, 1.0, (8, 68, 2))
    fitted = M.landmarks_to_motion(noisy, geometry)
    assert np.all(np.isfinite(fitted))
    assert np.abs(fitted[:, M.INDEX["jaw_open"]] - motion[:, M.INDEX["jaw_open"]]).max() < 0.1
    assert np.all(fitted[:, M.SLICES["gaze"]] == 0)


def test_geometry_rejects_wrong_shape():
    with pytest.raises(ValueError):
        M.FaceGeometry.from_landmarks(np.zeros((5, 2)))
