"""Speed of the reference (teacher) models on this machine: `python3 -m pytest benchmarks --benchmark-only`.

The teacher is the slow yardstick (the distilled students are what must reach 40 FPS); these numbers
say what the reference path costs per frame and per window, and they are recorded with the CPU model.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge_vasa.core.options import GenerateOptions
from edge_vasa.pipeline.decoder import NeuralRenderer
from edge_vasa.pipeline.teacher_motion import MotionGenerator


@pytest.mark.parametrize("threads", [1, 2])
def test_decoder_8_frames_512(benchmark, face, talking_motion, threads):
    """One batch of 8 frames at 512x512 through the teacher decoder (as `generate` renders)."""
    torch.set_num_threads(threads)
    renderer = NeuralRenderer(face.image, face.landmarks)
    benchmark.pedantic(renderer.render, args=(talking_motion[:8],), rounds=3, warmup_rounds=1)


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
