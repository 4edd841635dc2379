"""Batch rendering on a local Ray instance: jobs files, chunks, outputs, reruns, a worker killed mid-run.

The workers run the edge models on the PyTorch reference backend (torch:cpu), so nothing is exported first.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edge_vasa.apps.batch import chunks, read_jobs
from edge_vasa.core.errors import EdgeVasaError

ray = pytest.importorskip("ray")
pytest.importorskip("torch")


@pytest.fixture(scope="module")
def jobs_dir(tmp_path_factory, grace_hopper_path, astronaut) -> Path:
    from PIL import Image

    from edge_vasa.core.audio import load_audio
    from edge_vasa.core.shipped import BUNDLED_SPEECH

    d = tmp_path_factory.mktemp("jobs")
    speech = load_audio(BUNDLED_SPEECH)
    sf.write(d / "short.wav", speech[: 16000 * 1], 16000)
    sf.write(d / "long.wav", np.concatenate([speech, speech])[: 16000 * 8], 16000)
    shutil.copy(grace_hopper_path, d / "grace.jpg")
    Image.fromarray(astronaut).save(d / "astro.png")
    (d / "jobs.csv").write_text(
        "image,audio,name,emotion,seed\n"
        "grace.jpg,short.wav,a,happy,1\n"
        "astro.png,short.wav,b,,2\n"
        "grace.jpg,long.wav,c,sad,3\n"
        "missing.jpg,short.wav,d,,\n"
        "grace.jpg,short.wav,e,bored,\n"
    )
    return d


def test_jobs_files_csv_and_jsonl(tmp_path):
    (tmp_path / "j.jsonl").write_text(
        '{"image": "p.jpg", "audio": "s.wav", "gaze_x": 0.3, "fps": 30}\n'
        "not json\n"
        '{"image": "p.jpg"}\n'
        '{"image": "p.jpg", "audio": "t.wav", "name": "x y/z"}\n'
        '{"image": "p.jpg", "audio": "u.wav", "name": "x y/z"}\n'
    )
    jobs, bad = read_jobs(tmp_path / "j.jsonl")
    assert [j.row for j in jobs] == [1, 4]
    assert jobs[0].opts.gaze == (0.3, 0.0) and jobs[0].opts.fps == 30
    assert jobs[0].image == (tmp_path / "p.jpg").resolve(), "paths are relative to the jobs file"
    assert jobs[1].name == "x_y_z", "names are safe file names"
    reasons = {row: why for row, _, why in bad}
    assert "not JSON" in reasons[2] and "no audio" in reasons[3] and "used by an earlier row" in reasons[5]


@pytest.mark.parametrize(
    "name, text, words",
    [
        ("j.csv", "photo,speech\na.jpg,b.wav\n", "no audio or image column"),
        ("j.txt", "image,audio\n", ".csv"),
        ("j.csv", "image,audio\n", "no jobs"),
    ],
    ids=["header", "extension", "empty"],
)
def test_bad_jobs_files_are_one_line_errors(tmp_path, name, text, words):
    (tmp_path / name).write_text(text)
    with pytest.raises(EdgeVasaError, match=words):
        read_jobs(tmp_path / name)


def test_chunks_are_whole_seconds_and_cover_the_audio():
    assert chunks(12.0, 30) == [(0, 12.0)]
    assert chunks(12.5, 5) == [(0, 5), (5, 10), (10, 12.5)]
    assert chunks(10.4, 5) == [(0, 5), (5, 10.4)], "no sub-second tail chunk"


def frame_steps(path: Path) -> np.ndarray:
    from edge_vasa.core.video import read_video

    frames, _, _ = read_video(path)
    return np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))


@pytest.fixture
def local_ray(private_cache):
    """One local Ray instance for the three runs of the test (each would otherwise start its own)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.mark.slow  # end to end
def test_batch_renders_reruns_and_survives_a_killed_worker(jobs_dir, tmp_path, local_ray):
    """A full run (a chunked row included), a rerun, then a run in which a worker is killed mid-run."""
    from edge_vasa.apps.batch import run_batch
    from edge_vasa.core.video import probe_video
    from edge_vasa.provenance.record import verify

    out = tmp_path / "out"
    s = run_batch(jobs_dir / "jobs.csv", out, workers=2, backend="torch:cpu", chunk_s=5, progress=False)
    assert (s["done"], s["failed"], s["skipped"]) == (3, 2, 0), s
    rows = s["rows"]
    assert "not found" in rows["d"]["reason"] and "emotion" in rows["e"]["reason"]
    for name, seconds in (("a", 1.0), ("b", 1.0), ("c", 8.0)):
        info = probe_video(out / f"{name}.mp4")
        assert info["n_frames"] == round(seconds * 25) and info["has_audio"], (name, info)
        assert abs(info["duration"] - seconds) < 0.15
        status = json.loads((out / f"{name}.status.json").read_text())
        assert status["state"] == "done" and status["output"] == f"{name}.mp4"
    verdict = verify(out / "c.mp4")  # assembled from two chunks: one render, one watermark, signed
    assert verdict.synthetic and verdict.watermark["payload"]["render_id"] == rows["c"]["render_id"]
    assert verdict.c2pa["ai_generated"] and verdict.tags["command"] == "batch"
    steps = frame_steps(out / "c.mp4")
    seams = steps[[5 * 25 - 1]]  # the change from the first chunk's last frame to the second's first
    assert seams.max() < 3 * np.median(steps) + 1.0, f"a seam jumps: {seams} vs median {np.median(steps)}"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{n}.mp4" for n in "abc"] + [f"{n}.status.json" for n in "abcde"]
    ), "no parts or temp files left"
    first = {n: (out / f"{n}.mp4").stat().st_mtime for n in "abc"}

    again = run_batch(jobs_dir / "jobs.csv", out, workers=2, backend="torch:cpu", chunk_s=5, progress=False)
    assert (again["done"], again["failed"], again["skipped"]) == (0, 2, 3)
    assert {n: (out / f"{n}.mp4").stat().st_mtime for n in "abc"} == first, "finished rows are not redone"

    killed = {}

    out2 = tmp_path / "out2"

    def kill_one(pool):
        pid = ray.get(pool[0].pid.remote())

        def once_under_way():  # the first output or part appears: tasks are running
            while not any(out2.glob("*.mp4")) and not any(out2.glob(".*.mp4")):
                time.sleep(0.05)
            os.kill(pid, signal.SIGKILL)
            killed["pid"] = pid

        threading.Thread(target=once_under_way, daemon=True).start()

    s2 = run_batch(
        jobs_dir / "jobs.csv",
        out2,
        workers=2,
        backend="torch:cpu",
        chunk_s=5,
        progress=False,
        on_started=kill_one,
    )
    assert killed, "the worker was not killed during the run"
    assert (s2["done"], s2["failed"]) == (3, 2), s2
    for name, seconds in (("a", 1.0), ("b", 1.0), ("c", 8.0)):
        assert probe_video(out2 / f"{name}.mp4")["n_frames"] == round(seconds * 25)
    assert sorted(p.name for p in out2.iterdir()) == sorted(p.name for p in out.iterdir()), "none duplicated"
