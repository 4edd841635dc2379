"""Teacher vs student, side by side in one run: `python3 -m pytest benchmarks/test_bench_students.py
--benchmark-only --benchmark-group-by=group`.

Three comparisons, each with both models under the same thread count: the decoder alone (8 frames at
512x512), the motion generator alone (4 s of speech), and the whole pipeline per second of output video
(motion + frames for 4 s of speech, what `generate` does before video encoding). The ratio of the means
in a group is the speed-up; the issue asks for >= 20x on the pipeline and >= 20 FPS for the student
decoder alone (PyTorch fp32, 2 cores).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge_vasa.core.options import MODELS, GenerateOptions
from edge_vasa.core.shipped import default_decoder_weights
from edge_vasa.pipeline.avatar import Avatar
from edge_vasa.pipeline.decoder import NeuralRenderer, load_decoder_models
from edge_vasa.pipeline.loaders import load_generator

SPEECH_SECONDS = 4.0


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """4 s of a speech-like signal: a 140 Hz buzz with syllable-rate loudness changes."""
    t = np.arange(int(16000 * SPEECH_SECONDS)) / 16000
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    return (0.1 * envelope * np.sign(np.sin(2 * np.pi * 140 * t))).astype(np.float32)


@pytest.fixture(autouse=True)
def _two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("model", MODELS)
def test_decoder_8_frames(benchmark, face, talking_motion, model):
    benchmark.group = "decoder: 8 frames at 512x512"
    encoder, decoder, _ = load_decoder_models(default_decoder_weights(model))
    renderer = NeuralRenderer(face.image, face.landmarks, (encoder, decoder))
    benchmark.pedantic(renderer.render, args=(talking_motion[:8],), rounds=3, warmup_rounds=1)
    benchmark.extra_info["fps"] = round(8 / benchmark.stats.stats.mean, 1)


@pytest.mark.parametrize("model", MODELS)
def test_motion_4s(benchmark, speech, model):
    benchmark.group = "motion: 4 s of speech"
    generator = load_generator(model)
    benchmark.pedantic(generator, args=(speech, GenerateOptions()), rounds=2, warmup_rounds=1)


@pytest.mark.parametrize("model", MODELS)
def test_pipeline_4s(benchmark, face, speech, model):
    """Motion and every frame for 4 s of speech; seconds per second of video = mean / 4."""
    benchmark.group = "pipeline: 4 s of speech -> 100 frames"
    avatar = Avatar.load(face, model)

    def run() -> int:
        return sum(1 for _ in avatar.render(speech, GenerateOptions()))

    frames = benchmark.pedantic(run, rounds=1, warmup_rounds=1)
    assert frames == 100
    benchmark.extra_info["seconds_per_video_second"] = round(benchmark.stats.stats.mean / SPEECH_SECONDS, 3)
