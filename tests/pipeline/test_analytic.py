"""The analytic renderer: determinism, shapes, steady background, mouth interior, eyelids and gaze."""

import warnings

import cv2
import numpy as np
import pytest
import skimage.data
from helpers import motion, polygon_mask, rendered

from edge_vasa.core import motion as M
from edge_vasa.core.face import detect_faces, detect_landmarks, prepare_face
from edge_vasa.evaluation.metrics import eye_aspect_ratio, psnr_db
from edge_vasa.pipeline.analytic import Renderer, tps_backward_map


@pytest.fixture(scope="module")
def face():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prepare_face(skimage.data.astronaut())


@pytest.fixture(scope="module")
def renderer(face) -> Renderer:
    return Renderer(face.image, face.landmarks)


def test_identity_thin_plate_spline_is_the_identity_map():
    pts = np.random.default_rng(0).uniform(0, 511, (30, 2))
    mx, my = tps_backward_map(pts, pts, 512)
    grid_x, grid_y = np.meshgrid(np.arange(512), np.arange(512))
    assert np.abs(mx - grid_x).max() < 0.05 and np.abs(my - grid_y).max() < 0.05


def test_shapes_dtype_and_determinism(renderer):
    seq = np.stack([motion(jaw_open=0.5, yaw=0.1), motion(blink_left=1, blink_right=1), motion(smile=0.8)])
    frames, marks = rendered(renderer, seq)
    again, marks_again = rendered(renderer, seq)
    assert frames.shape == (3, 512, 512, 3) and frames.dtype == np.uint8
    assert marks.shape == (3, 68, 2)
    assert np.array_equal(frames, again) and np.array_equal(marks, marks_again)


def test_neutral_motion_renders_the_photo(face, renderer):
    frame, marks = renderer.draw(M.NEUTRAL)
    # the photo's own mouth interior is repainted (so teeth match every other frame); all else is the photo
    outside_mouth = ~polygon_mask(face.landmarks[60:68]) & ~polygon_mask(face.landmarks[48:60])
    assert psnr_db(frame[outside_mouth], face.image[outside_mouth]) > 45
    np.testing.assert_allclose(marks, face.landmarks, atol=1e-6)


def test_background_stays_steady_and_crop_border_does_not_tear(face, renderer):
    frame, _ = renderer.draw(motion(yaw=0.2, pitch=0.1, roll=0.1, tx=0.03, scale=1.1))
    border = np.ones((512, 512), bool)
    border[3:-3, 3:-3] = False
    diff = np.abs(frame.astype(int) - face.image.astype(int))[border]
    assert diff.mean() < 3, "the crop border must stay where the photo had it"
    # no holes: a backward map always samples the photo, so no pixel is left empty (black)
    assert (frame.sum(axis=2) == 0).sum() <= (face.image.sum(axis=2) == 0).sum()
    assert psnr_db(frame, face.image) < 30, "and the head really moved"


def test_open_mouth_has_a_dark_cavity_and_teeth(renderer):
    frame, marks = renderer.draw(motion(jaw_open=0.9))
    inner = polygon_mask(marks[60:68])
    luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[inner]
    assert inner.sum() > 300, "the mouth opened"
    assert (luma < 70).mean() > 0.2, "a dark cavity"
    assert (luma > 150).mean() > 0.1, "teeth"


def test_teeth_are_the_same_when_the_mouth_reopens(renderer):
    seq = np.stack([motion(jaw_open=0.7), motion(jaw_open=0.0), motion(jaw_open=0.7)])
    frames, marks = rendered(renderer, seq)
    # the teeth just below the middle of the upper lip (the corners move with the jaw)
    upper = polygon_mask(np.concatenate([marks[0, 61:64], marks[0, 61:64][::-1] + [0, 8]]))
    assert np.array_equal(frames[0][upper], frames[2][upper])
    # a different opening keeps the upper-teeth pattern fixed to the upper lip
    wider, marks_w = renderer.draw(motion(jaw_open=0.9))
    assert np.abs(wider[upper].astype(int) - frames[0][upper].astype(int)).mean() < 12


def test_blink_closes_the_eye_for_a_landmark_tracker(face, renderer):
    """A landmark tracker sees the eye close (the old painted lid let dlib's eye aspect ratio fall 23 %)."""
    open_frame, marks = renderer.draw(M.NEUTRAL)
    closed, _ = renderer.draw(motion(blink_left=1.0, blink_right=1.0))
    ears = [eye_aspect_ratio(detect_landmarks(f, detect_faces(f)[0])[None])[0] for f in (open_frame, closed)]
    assert ears[1] < 0.5 * ears[0], ears
    eye = polygon_mask(marks[36:42]) | polygon_mask(marks[42:48])
    gray_open = cv2.cvtColor(open_frame, cv2.COLOR_RGB2GRAY)[eye].astype(float)
    gray_closed = cv2.cvtColor(closed, cv2.COLOR_RGB2GRAY)[eye].astype(float)
    assert (gray_closed < 60).mean() < 0.5 * max((gray_open < 60).mean(), 1e-3), "the dark iris is covered"


def test_gaze_moves_the_iris(renderer):
    def iris_x(frame, marks):
        eye = polygon_mask(marks[42:48])
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(float)
        ys, xs = np.nonzero(eye & (gray < np.percentile(gray[eye], 30)))
        return xs.mean()

    left, marks = renderer.draw(motion(gaze_x=-1.0))
    right, _ = renderer.draw(motion(gaze_x=1.0))
    assert iris_x(right, marks) > iris_x(left, marks) + 1.5
