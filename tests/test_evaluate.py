"""Evaluation metrics on inputs whose answer is known."""

import warnings

import numpy as np
import pytest
import skimage.data

from edge_vasa.audio import SAMPLE_RATE, resample
from edge_vasa.evaluate import (
    best_lag_correlation,
    count_blinks,
    evaluate_frames,
    mouth_opening,
    speech_activity,
)
from edge_vasa.face import prepare_face
from edge_vasa.motion import INDEX
from edge_vasa.render import Renderer
from edge_vasa.script import ScriptStyle, motion_script
from edge_vasa.speech import synthesize

FRAME = SAMPLE_RATE // 25


@pytest.fixture(scope="module")
def clip():
    """An analytic render with known-good lip sync: (frames, intended landmarks, audio, photo, motion)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        face = prepare_face(skimage.data.astronaut())
    utt = synthesize("Hello! I am a talking face, made from a single photo.", "en")
    motion = motion_script(utt, ScriptStyle(emotion="neutral", head_amplitude=0.5), seed=0)
    frames, marks = Renderer(face.image, face.landmarks).render_sequence(motion)
    return frames, marks, resample(utt.audio, utt.sample_rate), face.image, motion


def shifted(audio: np.ndarray, frames: int) -> np.ndarray:
    """The same audio, delayed by a whole number of video frames."""
    return np.concatenate([np.zeros(frames * FRAME, np.float32), audio])[: len(audio)]


def test_lag_of_a_shifted_track_equals_the_shift(clip):
    _, marks, audio, _, _ = clip
    opening = mouth_opening(marks)
    r0, lag0 = best_lag_correlation(opening, speech_activity(audio, len(marks)))
    assert r0 > 0.5 and abs(lag0) <= 1, (r0, lag0)
    for shift in (2, 3):
        _, lag = best_lag_correlation(opening, speech_activity(shifted(audio, shift), len(marks)))
        assert lag == lag0 - shift, "delayed sound: the mouth now leads by the shift"


def test_blink_count_on_a_known_track():
    ear = np.full(200, 0.3)
    for start in (20, 80, 150):
        ear[start : start + 4] = 0.05
    assert count_blinks(ear) == 3


def test_evaluate_frames_on_a_rendered_clip(clip):
    frames, marks, audio, photo, motion = clip
    m = evaluate_frames(frames, audio, 25.0, photo=photo, reference=frames)
    assert m["frames_with_face"] == len(frames)
    assert m["lip_sync_correlation"] > 0.5 and abs(m["lip_sync_lag_frames"]) <= 1
    assert m["identity_distance"] < 0.4, "same person as the photo"
    assert m["psnr_db"] > 60 and m["ssim"] > 0.99, "identical to its reference"
    blinks = int(np.sum(np.diff((motion[:, INDEX["blink_left"]] > 0.5).astype(int)) == 1))
    assert abs(m["blinks_per_minute"] * len(frames) / 25 / 60 - blinks) <= 1
