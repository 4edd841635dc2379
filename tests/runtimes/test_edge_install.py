"""The torch-free edge install: `live`, `generate --backend`, `doctor` and `verify` run on exported artifacts
in a process where importing torch fails (as on `pip install ".[edge]"`, which has no torch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_vasa.core.audio import SAMPLE_RATE, load_audio, save_wav
from edge_vasa.core.shipped import BUNDLED_SPEECH, EDGE_NETWORKS

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")  # to export the artifacts first, in this process

BLOCK_TORCH = (
    "import sys\n"
    "class NoTorch:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'torch' or name.startswith('torch.'):\n"
    "            raise ImportError('torch is not installed (blocked by the test)')\n"
    "sys.meta_path.insert(0, NoTorch())\n"
    "from edge_vasa.apps.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "assert not [m for m in sys.modules if m == 'torch' or m.startswith('torch.')], 'torch was imported'\n"
    "sys.exit(code)\n"
)


@pytest.fixture(scope="module")
def edge_cache(tmp_path_factory) -> Path:
    """A cache holding the fp32 ONNX artifacts (exported here, with torch) and nothing else."""
    from edge_vasa.conversion.export import ensure_artifact

    cache = tmp_path_factory.mktemp("edge-cache")
    root = cache / "artifacts"
    for network in EDGE_NETWORKS:
        ensure_artifact(network, "onnx", "fp32", root)
    return cache


def no_torch(cache: Path, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, EDGE_VASA_CACHE=str(cache))
    return subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH, *argv], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_the_blocker_blocks_torch(edge_cache):
    """The harness itself: a command that needs torch fails under it (so a pass below means something)."""
    result = no_torch(edge_cache, "generate", "--audio", str(BUNDLED_SPEECH), "-o", "/tmp/never.mp4")
    assert result.returncode != 0 and "torch" in result.stderr.lower(), result.stderr


@pytest.mark.slow  # end to end
def test_generate_live_doctor_and_verify_run_without_torch(edge_cache, tmp_path):
    speech = tmp_path / "speech.wav"
    save_wav(speech, load_audio(BUNDLED_SPEECH)[: 2 * SAMPLE_RATE])
    video = tmp_path / "edge.mp4"
    result = no_torch(
        edge_cache, "generate", "--backend", "onnxruntime:cpu", "--audio", str(speech), "-o", str(video)
    )
    assert result.returncode == 0, result.stderr
    assert video.is_file() and video.stat().st_size > 10_000

    recording, stats = tmp_path / "live.mp4", tmp_path / "stats.json"
    result = no_torch(
        edge_cache,
        "live",
        "--source",
        f"file:{speech}",
        "--no-window",
        "--record",
        str(recording),
        "--stats",
        str(stats),
        "--backend",
        "onnxruntime:cpu",
        "--max-latency",
        "5",  # this test is about running without torch, not speed: keep frames on a loaded machine
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(stats.read_text())
    assert summary["frames_shown"] >= 25 and summary["backend"] == "onnxruntime:cpu fp32", summary

    result = no_torch(edge_cache, "doctor", "--backend", "onnxruntime:cpu")
    assert result.returncode == 0 and "choice: onnxruntime:cpu" in result.stdout, (
        result.stdout + result.stderr
    )

    for path in (video, recording):  # synthetic, and the record names the artifacts that ran
        result = no_torch(edge_cache, "verify", str(path))
        assert result.returncode == 0 and "made by edge-vasa" in result.stdout.lower(), result.stdout
        assert "decoder_student (onnxruntime:cpu fp32)" in result.stdout, result.stdout
