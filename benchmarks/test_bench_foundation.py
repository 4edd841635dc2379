"""Speed of the foundation stages on this machine: `python3 -m pytest benchmarks --benchmark-only`.

Targets live here, not in unit tests: the corpus needs the renderer at >= 50 frames/s on all cores
(about 25 per core on 2 cores), and features must run far faster than real time for the live loop.
"""

import numpy as np
import pytest

from edge_vasa.core import motion as M
from edge_vasa.core.audio import LogMelStream, log_mel
from edge_vasa.core.video import write_mp4
from edge_vasa.pipeline.analytic import Renderer
from edge_vasa.pipeline.face_layers import FaceLayers


@pytest.fixture(scope="module")
def renderer(face) -> Renderer:
    return Renderer(face.image, face.landmarks)


def test_render_frame(benchmark, renderer, talking_motion):
    frames = iter(np.tile(talking_motion, (100, 1)))
    benchmark(lambda: renderer.draw(next(frames)))


def test_log_mel_10s(benchmark):
    audio = np.random.default_rng(0).normal(0, 0.1, 160000).astype(np.float32)
    benchmark(log_mel, audio)


def test_log_mel_stream_10s_in_20ms_chunks(benchmark):
    audio = np.random.default_rng(0).normal(0, 0.1, 160000).astype(np.float32)

    def run():
        s = LogMelStream()
        for k in range(0, len(audio), 320):
            s.push(audio[k : k + 320])
        return s.flush()

    benchmark(run)


def test_fit_motion_per_frame(benchmark, renderer, talking_motion):
    marks = M.motion_to_landmarks(talking_motion[:10], renderer.geometry)
    benchmark(M.landmarks_to_motion, marks, renderer.geometry)


def test_write_mp4_100_frames(benchmark, renderer, talking_motion, tmp_path):
    frames = renderer.render(talking_motion)
    audio = np.zeros(64000, np.float32)
    benchmark.pedantic(write_mp4, setup=lambda: ((tmp_path / "b.mp4", iter(frames), 25, audio), {}), rounds=3)


def test_decode_100_frames(benchmark, renderer, talking_motion, tmp_path):
    from edge_vasa.core.video import read_video

    path = write_mp4(tmp_path / "d.mp4", iter(renderer.render(talking_motion)), 25)
    benchmark(read_video, path)


def test_face_layers_per_frame(benchmark, face, talking_motion):
    """The eye and mouth layers on one 512 frame: live pays this on top of the decoder at up to 40 FPS."""
    layers = FaceLayers(face.image, face.landmarks)
    frames = iter(np.tile(talking_motion, (100, 1)))
    benchmark(lambda: layers.compose(face.image.copy(), next(frames)))
