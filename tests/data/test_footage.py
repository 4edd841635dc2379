"""Ingesting real footage: a short clip made from a corpus-style render plus real recorded speech.

The clip is the astronaut photo rendered under a known motion (jaw following the speech envelope, a yaw
sweep, a blink) at 30 fps, shrunk and shifted into a 640x480 frame, with alsa-utils' recorded speech as
its audio track. Ingesting it has to undo the framing, resample to 25 fps and recover the motion.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from helpers import rendered
from scipy.ndimage import gaussian_filter1d

from edge_vasa.core import motion as M
from edge_vasa.core.audio import SAMPLE_RATE, frame_rms, load_audio
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import prepare_face
from edge_vasa.core.video import probe_video, read_video, write_mp4
from edge_vasa.data import footage
from edge_vasa.evaluation.metrics import eye_aspect_ratio
from edge_vasa.pipeline.analytic import Renderer

SPEECH = [Path(f"/usr/share/sounds/alsa/{n}.wav") for n in ("Front_Center", "Front_Left")]
SOURCE_FPS = 30  # not 25: ingestion has to resample
BLINK_AT = 1.5  # s


def speech() -> np.ndarray:
    if not all(p.exists() for p in SPEECH):
        pytest.skip("alsa-utils speech WAVs not installed")
    return np.concatenate([load_audio(p) for p in SPEECH])


def known_motion(audio: np.ndarray) -> np.ndarray:
    """(T, MOTION_DIM) at SOURCE_FPS: jaw from the speech envelope, +-4.6 degree yaw sweep, one blink."""
    t = np.arange(int(len(audio) / SAMPLE_RATE * SOURCE_FPS)) / SOURCE_FPS
    rms = frame_rms(audio)  # 100 Hz
    envelope = gaussian_filter1d(np.interp(t, np.arange(len(rms)) / 100, rms), 1.0)
    m = M.neutral(len(t))
    m[:, M.INDEX["jaw_open"]] = 0.6 * envelope / envelope.max()
    m[:, M.INDEX["yaw"]] = 0.08 * np.sin(2 * np.pi * t / 2.0)
    # closed for 0.2 s with 0.1 s ramps, a real blink's length (and longer than a 25 fps frame)
    blink = np.clip((0.2 - abs(t - BLINK_AT)) / 0.1, 0, 1)
    m[:, M.INDEX["blink_left"]] = m[:, M.INDEX["blink_right"]] = blink
    return m


def at_25fps(motion: np.ndarray, n: int) -> np.ndarray:
    src = np.arange(len(motion)) / SOURCE_FPS
    return np.stack([np.interp(np.arange(n) / 25, src, c) for c in motion.T], axis=1)


@pytest.fixture(scope="module")
def talk(tmp_path_factory, face_models) -> tuple[Path, np.ndarray]:
    """A folder with talk.mp4 (640x480, 30 fps, speech) and the motion it was rendered under."""
    audio = speech()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the astronaut's mission patch counts as a second face
        face = prepare_face(skimage.data.astronaut())
    motion = known_motion(audio)
    frames, _ = rendered(Renderer(face.image, face.landmarks), motion)
    canvas = np.full((len(frames), 480, 640, 3), 90, np.uint8)
    for c, f in zip(canvas, frames):
        c[60:444, 150:534] = cv2.resize(f, (384, 384), interpolation=cv2.INTER_AREA)
    folder = tmp_path_factory.mktemp("videos")
    write_mp4(folder / "talk.mp4", canvas, SOURCE_FPS, audio=audio)
    return folder, motion


@pytest.fixture(scope="module")
def ingested(talk, tmp_path_factory) -> Path:
    # clips of at most 40 frames instead of 250, so the 73 frames are cut into two as a long video is
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(footage, "CLIP_FRAMES", 40)
        return footage.ingest_videos(talk[0], tmp_path_factory.mktemp("corpus"), progress=False)


def clip_arrays(root: Path, name: str) -> np.ndarray:
    return np.concatenate([np.load(root / "clips" / c / name) for c in ("00000", "00001")])


def test_writes_the_corpus_layout(ingested):
    manifest = json.loads((ingested / "corpus.json").read_text())
    assert manifest["source"] == "videos" and manifest["clips"] == 2 and manifest["fps"] == 25
    (video,) = manifest["videos"]
    assert video["file"] == "talk.mp4" and video["status"] == "done"
    assert video["clips"] == ["00000", "00001"]
    ident = video["identity"]
    assert [i["id"] for i in manifest["identities"]] == [ident]
    photo = cv2.imread(str(ingested / "identities" / f"{ident}.png"))
    assert photo.shape == (512, 512, 3)
    neutral = np.load(ingested / "identities" / f"{ident}.npy")
    assert neutral.shape == (68, 2)

    # 87 frames at 30 fps = 2.9 s -> 73 frames at 25 fps, cut into two clips of equal length
    metas = [json.loads((ingested / "clips" / c / "meta.json").read_text()) for c in ("00000", "00001")]
    assert [m["frames"] for m in metas] == [36, 37]
    assert [m["start"] for m in metas] == [0.0, 36 / 25]
    for meta in metas:
        clip, n = ingested / "clips" / meta["clip"], meta["frames"]
        assert meta["fps"] == 25 and meta["split"] == "train" and meta["identity"] == ident
        assert meta["emotion"] == "neutral" and meta["emotion_known"] is False
        assert meta["seconds"] == pytest.approx(n / 25)
        motion, landmarks = np.load(clip / "motion.npy"), np.load(clip / "landmarks.npy")
        assert motion.shape == (n, M.MOTION_DIM) and motion.dtype == np.float32
        assert landmarks.shape == (n, 68, 2) and landmarks.dtype == np.float32
        assert len(load_audio(clip / "audio.wav")) == n * 640
        info = probe_video(clip / "video.mp4")
        assert (info["width"], info["height"], info["fps"], info["n_frames"]) == (512, 512, 25.0, n)
        assert info["has_audio"]
    # landmarks are in crop coordinates: the first frame is the identity frame
    assert np.abs(clip_arrays(ingested, "landmarks.npy")[0] - neutral).mean() < 2.0
    assert not list((ingested / "clips").glob(".*"))  # no temp dirs left


def test_recovers_the_motion(ingested, talk):
    motion, landmarks = clip_arrays(ingested, "motion.npy"), clip_arrays(ingested, "landmarks.npy")
    known = at_25fps(talk[1], len(motion))
    jaw, yaw = M.INDEX["jaw_open"], M.INDEX["yaw"]
    assert np.corrcoef(motion[:, jaw], known[:, jaw])[0, 1] > 0.9
    assert np.corrcoef(motion[:, yaw], known[:, yaw])[0, 1] > 0.8
    # the crop transform is fixed, so the head turn survives in full (the sweep is +-0.08 rad)
    assert 0.05 < np.ptp(motion[:, yaw]) / 2 < 0.11
    # the blink: eyes narrow while the lids are closed (dlib sees a painted lid only partly)
    ear = eye_aspect_ratio(landmarks)
    closed = known[:, M.INDEX["blink_left"]] > 0.5
    far = np.abs(np.arange(len(ear)) / 25 - BLINK_AT) > 0.4
    assert ear[closed].mean() < 0.9 * ear[far].mean()
    assert abs(np.argmin(ear) / 25 - BLINK_AT) < 0.25


def test_trainer_loads_it(ingested):
    from edge_vasa.training.train_motion import load_corpus_clips

    clips = load_corpus_clips(ingested, "train")
    assert [len(c.motion) for c in clips] == [36, 37]
    assert load_corpus_clips(ingested, "eval") == []


def test_rerun_is_a_no_op(ingested, talk, monkeypatch):
    before = {p: p.stat().st_mtime_ns for p in ingested.rglob("*") if p.is_file()}
    manifest = json.loads((ingested / "corpus.json").read_text())

    def fail(*args, **kwargs):
        raise AssertionError("a finished video was decoded again")

    monkeypatch.setattr(footage, "ingest_video", fail)
    footage.ingest_videos(talk[0], ingested, progress=False)
    after = {p: p.stat().st_mtime_ns for p in ingested.rglob("*") if p.is_file()}
    assert {p: t for p, t in after.items() if p.name != "corpus.json"} == {
        p: t for p, t in before.items() if p.name != "corpus.json"
    }
    assert json.loads((ingested / "corpus.json").read_text()) == manifest


def test_an_interrupted_run_resumes(ingested, talk, tmp_path):
    # what an interrupted run leaves: the video pending, clip 0 finished, clip 1 half written
    out = tmp_path / "corpus"
    shutil.copytree(ingested, out)
    manifest = json.loads((out / "corpus.json").read_text())
    manifest["videos"][0]["status"] = "pending"
    (out / "corpus.json").write_text(json.dumps(manifest))
    shutil.rmtree(out / "clips" / "00001")
    (out / "clips" / ".00001.tmp").mkdir()
    (out / "clips" / ".00001.tmp" / "video.mp4").write_bytes(b"partial")
    stamp = (out / "clips" / "00000" / "meta.json").stat().st_mtime_ns
    # (no CLIP_FRAMES patch here: the cut into clips was planned once and is kept in corpus.json)
    footage.ingest_videos(talk[0], out, progress=False)
    assert (out / "clips" / "00000" / "meta.json").stat().st_mtime_ns == stamp  # kept, not redone
    assert not (out / "clips" / ".00001.tmp").exists()
    # every clip depends only on its own frames, so the redone clip is the same as before
    for name in ("landmarks.npy", "motion.npy"):
        assert np.array_equal(
            np.load(out / "clips" / "00001" / name), np.load(ingested / "clips" / "00001" / name)
        )
    assert json.loads((out / "corpus.json").read_text())["videos"][0]["status"] == "done"


def test_a_lost_face_is_filled_in_or_skips_the_clip(talk, tmp_path, monkeypatch):
    frames, _, audio = read_video(talk[0] / "talk.mp4")
    frames, audio = frames[:60], audio[: 2 * SAMPLE_RATE]  # 2 s: two clips of 25 frames at 25 fps
    frames[12:16] = 90  # gone for 0.13 s: 25 fps frames 10-12, 12 % of the first clip
    frames[36:] = 90  # gone from 1.2 s on: 80 % of the second clip
    videos = tmp_path / "videos"
    videos.mkdir()
    write_mp4(videos / "away.mp4", frames, SOURCE_FPS, audio=audio)
    monkeypatch.setattr(footage, "CLIP_FRAMES", 40)
    with pytest.warns(UserWarning, match=r"away.mp4: skipping clip 00001: face lost in 80% of frames"):
        footage.ingest_videos(videos, tmp_path / "out", progress=False)
    (video,) = json.loads((tmp_path / "out" / "corpus.json").read_text())["videos"]
    assert video["status"] == "done" and video["clips"] == ["00000"]
    assert list(video["skipped_clips"]) == ["00001"]
    clip = tmp_path / "out" / "clips" / "00000"
    assert json.loads((clip / "meta.json").read_text())["face_found"] == pytest.approx(22 / 25)
    lm = np.load(clip / "landmarks.npy")
    assert np.allclose(lm[11], (lm[9] + lm[13]) / 2, atol=1e-3)  # the gap is bridged linearly


def test_resamples_by_timestamp_to_25_fps(tmp_path):
    # frame i of a 10 fps video has brightness 20 * i; at 25 fps tick k shows the nearest frame
    frames = [np.full((32, 32, 3), 20 * i, np.uint8) for i in range(10)]
    write_mp4(tmp_path / "ramp.mp4", frames, 10)
    got = [round(f.mean() / 20) for f in footage.frames_at_fps(tmp_path / "ramp.mp4", 0.0)]
    assert got == [min(round(k * 10 / 25), 9) for k in range(25)]


def test_fill_gaps_interpolates_missing_frames():
    a, b = np.zeros((68, 2)), np.full((68, 2), 4.0)
    filled = footage.fill_gaps([None, a, None, None, None, b, None])
    assert np.allclose(filled[:, 0, 0], [0, 0, 1, 2, 3, 4, 4])


def test_bad_input_is_a_one_line_error(tmp_path, face_models):
    with pytest.raises(EdgeVasaError, match="video folder not found"):
        footage.ingest_videos(tmp_path / "nope", tmp_path / "out")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no videos here")
    with pytest.raises(EdgeVasaError, match=r"no videos in .*\.mp4"):
        footage.ingest_videos(empty, tmp_path / "out")

    # one second of a plain gray picture, with speech and without
    videos = tmp_path / "videos"
    videos.mkdir()
    gray = [np.full((120, 160, 3), 128, np.uint8)] * 25
    write_mp4(videos / "gray.mp4", gray, 25, audio=speech()[:SAMPLE_RATE])
    write_mp4(videos / "mute.mp4", gray, 25)
    with pytest.warns(UserWarning) as warned, pytest.raises(EdgeVasaError) as err:
        footage.ingest_videos(videos, tmp_path / "out", progress=False)
    assert sorted(str(w.message) for w in warned) == [
        "skipping gray.mp4: no face in the first 20% of the video",
        "skipping mute.mp4: no audio track",
    ]
    message = str(err.value)
    assert "\n" not in message
    assert "gray.mp4: no face" in message and "mute.mp4: no audio track" in message
    statuses = json.loads((tmp_path / "out" / "corpus.json").read_text())["videos"]
    assert [v["status"] for v in statuses] == ["skipped", "skipped"]

    synthetic = tmp_path / "synthetic"
    synthetic.mkdir()
    (synthetic / "corpus.json").write_text(json.dumps({"seed": 0}))
    with pytest.raises(EdgeVasaError, match="holds a synthetic corpus"):
        footage.ingest_videos(videos, synthetic)


def test_frames_of_a_real_decode_match_read_video(talk):
    # the streaming decoder sees the same pictures as the project's whole-file reader
    frames, fps, _ = read_video(talk[0] / "talk.mp4")
    first = next(footage.frames_at_fps(talk[0] / "talk.mp4", 0.0))
    assert fps == SOURCE_FPS and np.array_equal(first, frames[0])
