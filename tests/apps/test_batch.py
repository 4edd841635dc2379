"""Batch rendering on Ray: jobs files, chunks, outputs, reruns, a worker killed mid-run (a local instance),
and `edge-vasa batch --ray-address` on a two-node cluster whose workers share no folder with the driver.

The workers run the edge models on the PyTorch reference backend (torch:cpu), so nothing is exported first.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import free_port

from edge_vasa.apps.batch import chunks, read_jobs
from edge_vasa.core.errors import EdgeVasaError

ray = pytest.importorskip("ray")
pytest.importorskip("torch")
import psutil  # noqa: E402  (Ray's own dependency: there whenever Ray is)

# the `ray` CLI of this interpreter's environment: CI runs the venv's python without the venv on its PATH
RAY_CLI = str(Path(sys.executable).with_name("ray"))


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

        def once_writing():  # the worker has a video open (in a temp folder of its own): a task is under way
            worker = psutil.Process(pid)
            while not (videos := [f.path for f in worker.open_files() if f.path.endswith(".mp4")]):
                time.sleep(0.02)
            os.kill(pid, signal.SIGKILL)
            killed["folder"] = Path(videos[0]).parent  # a killed worker cannot remove it

        threading.Thread(target=once_writing, daemon=True).start()

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
    shutil.rmtree(killed["folder"])
    assert (s2["done"], s2["failed"]) == (3, 2), s2
    for name, seconds in (("a", 1.0), ("b", 1.0), ("c", 8.0)):
        assert probe_video(out2 / f"{name}.mp4")["n_frames"] == round(seconds * 25)
    assert sorted(p.name for p in out2.iterdir()) == sorted(p.name for p in out.iterdir()), "none duplicated"


@pytest.fixture
def two_nodes(tmp_path, private_cache):
    """A Ray cluster of two one-CPU nodes on this machine, started by the `ray` CLI, each in a folder and
    with a temp dir of its own (Ray allows one per node). Yields (address, env, the nodes' folders).

    A worker's working folder is its node's: one that wrote to the driver's relative --out would write into
    these. Teardown kills the nodes' process groups, not `ray stop --force`, which kills every Ray process
    on the machine, other people's included."""
    # no calls home; no token (`ray start --head` turns token auth on when ~/.ray/auth_token exists)
    env = os.environ | {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    port = free_port()
    address = f"127.0.0.1:{port}"
    nodes = {
        "head": ["--head", f"--port={port}", "--include-dashboard=false"],
        "node": [f"--address={address}"],
    }
    groups, temps, folders = [], [], []
    try:
        for name, args in nodes.items():
            folders.append(tmp_path / name)
            folders[-1].mkdir()
            temps.append(tempfile.mkdtemp(prefix="ray-"))  # short: Ray's socket paths must fit 107 characters
            cmd = [RAY_CLI, "start", *args, "--node-ip-address=127.0.0.1", "--num-cpus=1"]
            cmd.append(f"--temp-dir={temps[-1]}")
            start = subprocess.Popen(
                cmd,
                cwd=folders[-1],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,  # its daemons stay in this process group: teardown kills it
            )
            groups.append(start.pid)
            log = start.communicate(timeout=180)[0]
            assert start.returncode == 0, log[-3000:]
        yield address, env, folders
    finally:
        for group in groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for temp in temps:
            shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow  # a cluster started by the CLI, and a batch on it
def test_batch_on_two_nodes_needs_no_shared_folder(jobs_dir, tmp_path, two_nodes):
    """`edge-vasa batch --ray-address` on two nodes: the videos (a chunked one included, assembled from parts
    rendered on both nodes) arrive in the driver's --out, given relative to the driver's folder, and nothing
    is written where the workers run."""
    from edge_vasa.core.video import probe_video
    from edge_vasa.provenance.record import read_manifest

    address, env, node_folders = two_nodes
    driver = tmp_path / "driver"
    driver.mkdir()
    jobs = driver / "jobs.csv"
    jobs.write_text(
        "image,audio,name,seed\n"
        f"{jobs_dir / 'grace.jpg'},{jobs_dir / 'short.wav'},a,1\n"
        f"{jobs_dir / 'astro.png'},{jobs_dir / 'short.wav'},b,2\n"
        f"{jobs_dir / 'grace.jpg'},{jobs_dir / 'long.wav'},c,3\n"
    )
    cmd = ["edge-vasa", "batch", "jobs.csv", "--out", "out", "--ray-address", address, "--workers", "2"]
    cmd += ["--backend", "torch:cpu", "--chunk-seconds", "5"]
    run = subprocess.run(cmd, cwd=driver, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]

    out = driver / "out"
    nodes = set()
    for name, seconds in (("a", 1.0), ("b", 1.0), ("c", 8.0)):
        assert (out / f"{name}.mp4").is_file(), f"{name}.mp4 is not in the driver's --out: {run.stdout}"
        info = probe_video(out / f"{name}.mp4")
        assert info["n_frames"] == round(seconds * 25) and info["has_audio"], (name, info)
        assert read_manifest(out / f"{name}.mp4") is not None, "signed on the driver"
        status = json.loads((out / f"{name}.status.json").read_text())
        assert status["state"] == "done" and status["nodes"], status
        nodes.update(status["nodes"])
    assert len(nodes) == 2, f"the rows were rendered on {nodes}, not on both nodes"
    assert len(json.loads((out / "c.status.json").read_text())["nodes"]) == 2, "c's chunks on both nodes"
    written = [p for folder in node_folders for p in folder.rglob("*") if p.is_file()]
    assert not written, f"workers wrote where they run: {written}"
