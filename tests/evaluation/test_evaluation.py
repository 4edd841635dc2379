"""Evaluation metrics on inputs whose answer is known."""

import warnings

import numpy as np
import pytest
import skimage.data
from helpers import rendered
from PIL import Image

from edge_vasa.core.audio import SAMPLE_RATE, resample
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import prepare_face
from edge_vasa.core.motion import INDEX
from edge_vasa.core.speech import synthesize
from edge_vasa.data.script import ScriptStyle, motion_script
from edge_vasa.evaluation import tracking
from edge_vasa.evaluation.controls import evaluate_controls, format_controls, iris_offset, separability
from edge_vasa.evaluation.metrics import best_lag_correlation, count_blinks, mouth_opening, speech_activity
from edge_vasa.evaluation.scoring import evaluate_frames
from edge_vasa.evaluation.tracking import track_landmarks
from edge_vasa.pipeline.analytic import Renderer

FRAME = SAMPLE_RATE // 25


@pytest.fixture(scope="module")
def clip():
    """An analytic render with known-good lip sync: (frames, intended landmarks, audio, photo, motion)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        face = prepare_face(skimage.data.astronaut())
    utt = synthesize("Hello! I am a talking face, made from a single photo.", "en")
    motion = motion_script(utt, ScriptStyle(emotion="neutral", head_amplitude=0.5), seed=0)
    frames, marks = rendered(Renderer(face.image, face.landmarks), motion)
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


def test_tracking_with_sparse_detection_matches_detecting_every_frame(clip, monkeypatch):
    frames, marks, audio, _, _ = clip
    calls = []
    detect = tracking.detect_faces
    monkeypatch.setattr(tracking, "detect_faces", lambda frame: calls.append(1) or detect(frame))
    every = track_landmarks(frames)
    assert len(calls) == len(frames)
    calls.clear()
    sparse = track_landmarks(frames, detect_every=5)
    assert len(calls) == -(-len(frames) // 5), "the detector runs on every fifth frame only"
    assert sparse.found.all()
    error = [np.linalg.norm(t.landmarks - marks, axis=2).mean() for t in (every, sparse)]
    assert error[1] < error[0] + 0.5, f"landmark error {error[1]:.2f} px vs {error[0]:.2f} px"
    sync = [evaluate_frames(frames, audio, 25.0, track=t)["lip_sync_correlation"] for t in (every, sparse)]
    assert sync[1] == pytest.approx(sync[0], abs=0.02)


# ------------------------------------------------------------------------------------------- controls


def _emotion_like_features(rng, shift: float, classes: int = 5, seeds: int = 6, dims: int = 20):
    """Clip features of ``classes`` emotions x ``seeds``: class means ``shift`` noise-sigmas apart."""
    means = rng.normal(0, 1, (classes, dims)) * shift
    x = np.concatenate([m + rng.normal(0, 1, (seeds, dims)) for m in means])
    labels = np.repeat([f"e{c}" for c in range(classes)], seeds)
    return x, labels, np.tile(np.arange(seeds), classes)


def test_separability_tells_separable_from_inseparable():
    rng = np.random.default_rng(0)
    r = separability(*_emotion_like_features(rng, shift=3.0))
    assert r["accuracy"] >= 0.95 and r["chance"] == 0.2
    confusion = np.array(r["confusion"])
    assert confusion.shape == (5, 5) and confusion.sum() == 30 and np.all(confusion.sum(1) == 6)
    # no emotion signal at all: accuracy at chance, over many seeds so the estimate is tight
    r = separability(*_emotion_like_features(rng, shift=0.0, seeds=40))
    assert r["accuracy"] < 0.32, r["accuracy"]


def test_separability_keeps_the_given_class_order_and_needs_two_seeds():
    x = np.array([[0.0], [10.0], [0.1], [10.1]])
    r = separability(x, ["a", "b", "a", "b"], [0, 0, 1, 1], classes=["b", "a"])
    assert r["classes"] == ["b", "a"] and r["confusion"] == [[2, 0], [0, 2]]
    with pytest.raises(EdgeVasaError, match="2 groups"):
        separability(x, ["a", "b", "a", "b"], [0, 0, 0, 0])


def _eye_image(offset: tuple[float, float], width: float = 80.0) -> tuple[np.ndarray, np.ndarray]:
    """Bright eye opening (dlib's 6-point polygon) with a dark iris disc at ``offset`` eye widths from
    the corners' midpoint."""
    import cv2

    gray = np.full((120, 200), 210, np.float32)
    cx, cy, half = 100.0, 60.0, width / 2
    eye = np.array(
        [(cx - half, cy), (cx - 0.6 * half, cy - 12), (cx + 0.6 * half, cy - 12), (cx + half, cy)]
        + [(cx + 0.6 * half, cy + 12), (cx - 0.6 * half, cy + 12)]
    )
    centre = (round(cx + offset[0] * width), round(cy + offset[1] * width))
    cv2.circle(gray, centre, 14, 40, -1)
    return gray, eye


@pytest.mark.parametrize("offset", [(0.15, 0.0), (-0.15, 0.0), (0.0, 0.08), (0.0, -0.08), (0.0, 0.0)])
def test_iris_offset_finds_a_dark_disc(offset):
    gray, eye = _eye_image(offset)
    found = iris_offset(gray, eye)
    for axis in (0, 1):
        if offset[axis] == 0:
            assert abs(found[axis]) < 0.01
        else:
            # the lids cut a disc off vertically, so it is found closer to the middle, never beyond
            assert np.sign(found[axis]) == np.sign(offset[axis])
            assert 0.4 * abs(offset[axis]) <= abs(found[axis]) <= abs(offset[axis]) + 0.01


def test_iris_offset_follows_the_eye_axis_on_a_tilted_eye():
    import cv2

    gray, eye = _eye_image((0.15, 0.0))
    turn = cv2.getRotationMatrix2D((100, 60), -20, 1.0)  # 20 degrees clockwise in image coordinates
    tilted = cv2.warpAffine(gray, turn, (200, 120), borderValue=210)
    found = iris_offset(tilted, eye @ turn[:, :2].T + turn[:, 2])
    assert found[0] == pytest.approx(0.15, abs=0.02) and abs(found[1]) < 0.02


def test_iris_offset_is_nan_for_a_degenerate_eye():
    gray, eye = _eye_image((0.0, 0.0))
    assert np.isnan(iris_offset(gray, np.repeat(eye[:1], 6, axis=0))).all()


@pytest.mark.slow
def test_evaluate_controls_end_to_end(tmp_path):
    """2 emotions x 2 seeds and one gaze direction, few steps, 1 s of speech: the report is complete and
    the clearest control effects show on the output (too few seeds for a meaningful accuracy)."""
    import json

    from edge_vasa.core.audio import load_audio
    from edge_vasa.core.options import GenerateOptions
    from edge_vasa.core.shipped import BUNDLED_SPEECH

    audio = load_audio(BUNDLED_SPEECH)[:SAMPLE_RATE]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the astronaut photo has a second, weak 'face' on a patch
        r = evaluate_controls(
            skimage.data.astronaut(),
            tmp_path,
            audio,
            GenerateOptions(steps=4),
            seeds=2,
            emotions=["neutral", "surprised"],
            gaze_directions=["right"],
            frame_step=5,
            progress=False,
            renderer="analytic",  # no decoder weights ship yet; the analytic one is fast and exact
        )
    assert r["image"] == "image" and r["audio"] == "array" and r["renderer"] == "analytic"
    emo = r["emotion"]
    assert emo["classes"] == ["neutral", "surprised"] and np.sum(emo["confusion"]) == 4
    for key in ("mean_coefficients_generated", "mean_coefficients"):  # asked for, then seen on the output
        brows = {e: emo[key][e]["brow_raise"] for e in emo["classes"]}
        assert brows["surprised"] > brows["neutral"] + 0.2, (key, brows)
    right = r["gaze"]["directions"]["right"]
    assert right["generated_gaze"][0] > 0.3 and right["still_face_shift"][0] > 0
    assert len(right["iris_shift_per_seed"]) == 2
    assert json.loads((tmp_path / "controls.json").read_text())["seeds"] == 2
    for name in ("controls_confusion.png", "controls_expression.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    table = format_controls(r)
    assert "accuracy" in table and "right" in table


# --------------------------------------------------------------------------------------------- corpus


@pytest.mark.slow  # about 30 s: dlib detects the face in every one of the clip's 84 frames
def test_evaluate_corpus_scores_its_held_out_clip(held_out_corpus, tmp_path):
    """The held-out clip (the astronaut, a face never trained on) is generated from its photo and audio and
    scored against the corpus render: one row whose mouth follows the speech, a summary and a sync plot."""
    pytest.importorskip("torch")
    import json

    from edge_vasa.core.options import GenerateOptions
    from edge_vasa.evaluation.scoring import evaluate_corpus

    r = evaluate_corpus(held_out_corpus, tmp_path, opts=GenerateOptions(steps=4), renderer="analytic")
    assert [(row["clip"], row["group"], row["identity"]) for row in r["clips"]] == [
        ("00009", "identity", "astronaut_0")
    ]
    row = r["clips"][0]
    assert row["frames_with_face"] > 0.9 * row["frames"]
    # 0.42 at lag 0 here; -1 is best_lag_correlation's answer when nothing correlates (e.g. silence)
    assert 0.2 < row["lip_sync_correlation"] <= 1 and abs(row["lip_sync_lag_frames"]) <= 2, row
    assert np.isfinite(row["psnr_db"]) and row["identity_distance"] < 0.6, "the astronaut, rendered"
    assert r["summary"]["identity"]["clips"] == 1 and r["summary"]["language"] == {}
    assert r["summary"]["identity"]["lip_sync_correlation"] == row["lip_sync_correlation"]
    assert json.loads((tmp_path / "eval.json").read_text()) == r
    with Image.open(tmp_path / "sync_00009.png") as png:
        assert png.size[0] >= 800 and np.asarray(png.convert("L")).std() > 10
