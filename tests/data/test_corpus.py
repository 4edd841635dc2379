"""Corpus builder: deterministic by seed, resumable, held-out splits recorded, stats check runs."""

import json

import numpy as np
import pytest

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.video import probe_video
from edge_vasa.data.corpus import HELD_OUT_LANGUAGE, IDENTITY_SOURCES, build_corpus, corpus_stats, plan_clip

N = 3
# one training photo and one held-out photo keep the test fast; both ship with pip packages
SOURCES = [s for s in IDENTITY_SOURCES if s.name in ("grace_hopper", "astronaut")]


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    a = build_corpus(tmp_path_factory.mktemp("a"), N, seed=7, workers=1, sources=SOURCES)
    b = build_corpus(tmp_path_factory.mktemp("b"), N, seed=7, workers=2, sources=SOURCES)
    return a, b


def test_same_seed_gives_the_same_corpus(corpora):
    a, b = corpora
    for k in range(N):
        ca, cb = a / "clips" / f"{k:05d}", b / "clips" / f"{k:05d}"
        assert json.loads((ca / "meta.json").read_text()) == json.loads((cb / "meta.json").read_text())
        for name in ("motion.npy", "landmarks.npy"):
            assert np.array_equal(np.load(ca / name), np.load(cb / name)), name
        assert (ca / "audio.wav").read_bytes() == (cb / "audio.wav").read_bytes()
    for ident in (a / "identities").glob("*.npy"):
        assert np.array_equal(np.load(ident), np.load(b / "identities" / ident.name))


def test_clip_contents_agree(corpora):
    clip = corpora[0] / "clips" / "00000"
    meta = json.loads((clip / "meta.json").read_text())
    motion, marks = np.load(clip / "motion.npy"), np.load(clip / "landmarks.npy")
    info = probe_video(clip / "video.mp4")
    assert info["width"] == info["height"] == 512 and info["has_audio"]
    assert info["n_frames"] == len(motion) == len(marks) == meta["frames"]
    assert abs(info["duration"] - meta["seconds"]) < 0.1
    assert meta["phones"] and meta["language"] and meta["emotion"]


def test_resume_rebuilds_only_what_is_missing(corpora, tmp_path):
    a = corpora[0]
    import shutil

    target = tmp_path / "resume"
    shutil.copytree(a, target)
    kept = (target / "clips" / "00000" / "video.mp4").stat().st_mtime_ns
    shutil.rmtree(target / "clips" / "00001")
    build_corpus(target, N, seed=7, workers=1, sources=SOURCES)
    assert (target / "clips" / "00000" / "video.mp4").stat().st_mtime_ns == kept
    assert np.array_equal(
        np.load(target / "clips" / "00001" / "motion.npy"), np.load(a / "clips" / "00001" / "motion.npy")
    )
    with pytest.raises(EdgeVasaError, match="seed"):
        build_corpus(target, N, seed=8, workers=1, sources=SOURCES)


def test_held_out_identity_and_language_never_train(corpora):
    manifest = json.loads((corpora[0] / "corpus.json").read_text())
    held = manifest["held_out"]
    assert held["language"] == HELD_OUT_LANGUAGE and held["identities"]
    plans = [plan_clip(i, 7, manifest["identities"]) for i in range(200)]
    eval_sources = {i["id"] for i in manifest["identities"] if i["split"] == "eval"}
    for p in plans:
        if p.split == "train":
            assert p.language != HELD_OUT_LANGUAGE and p.identity not in eval_sources
    assert {p.language for p in plans if p.split == "eval"} >= {HELD_OUT_LANGUAGE}
    assert any(p.identity in eval_sources for p in plans if p.split == "eval")
    assert len({p.language for p in plans}) >= 6


def test_stats_report(corpora):
    stats = corpus_stats(corpora[0], check_clips=2, frames_per_clip=3)
    assert stats["clips"] == N and stats["n_languages"] >= 1
    lc = stats["landmark_check"]
    assert lc["frames"] + lc["frames_without_detection"] == 6
    assert lc["frames"] == 6, "dlib finds the face in every rendered frame of a real photo"
    assert 0 < lc["mean_error_px"] < 10, lc
