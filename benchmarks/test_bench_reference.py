"""Speed of the reference (teacher) models on this machine: `python3 -m pytest benchmarks --benchmark-only`.

The teacher is the slow yardstick (the distilled students are what must reach 40 FPS); these numbers
say what the reference path costs per frame and per window, and they are recorded with the CPU model.
"""

import warnings

import numpy as np
import pytest
import skimage.data

torch = pytest.importorskip("torch")

from test_bench_foundation import cpu_model  # noqa: E402  (benchmarks/ is on sys.path under pytest)

from edge_vasa import motion as M  # noqa: E402
from edge_vasa.decoder import NeuralRenderer  # noqa: E402
from edge_vasa.face import prepare_face  # noqa: E402
from edge_vasa.generate import GenerateOptions, MotionGenerator  # noqa: E402


@pytest.fixture(scope="module")
def face():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prepare_face(skimage.data.astronaut())


@pytest.fixture(scope="module")
def talking_motion() -> np.ndarray:
    t = np.arange(8) / 25
    m = M.neutral(8)
    m[:, M.INDEX["jaw_open"]] = 0.4 + 0.4 * np.sin(2 * np.pi * 3 * t)
    m[:, M.INDEX["yaw"]] = 0.1 * np.sin(2 * np.pi * 0.3 * t)
    return m


@pytest.mark.parametrize("threads", [1, 2])
def test_decoder_8_frames_512(benchmark, face, talking_motion, threads):
    """One batch of 8 frames at 512x512 through the teacher decoder (as `generate` renders)."""
    benchmark.extra_info["cpu"] = cpu_model()
    torch.set_num_threads(threads)
    renderer = NeuralRenderer(face.image, face.landmarks)
    benchmark.pedantic(renderer.render_sequence, args=(talking_motion,), rounds=3, warmup_rounds=1)


def test_appearance_encoding(benchmark, face):
    """Once per identity."""
    renderer = NeuralRenderer(face.image, face.landmarks)
    image = renderer.image
    with torch.inference_mode():
        benchmark(renderer.encoder, image)


def test_motion_window_20_steps(benchmark):
    """Two seconds of motion (one window) with 20 DDIM steps and three-way guidance."""
    generator = MotionGenerator.load()
    audio = np.random.default_rng(0).normal(0, 0.05, 32000).astype(np.float32)
    benchmark.pedantic(generator, args=(audio, GenerateOptions(steps=20)), rounds=2)
