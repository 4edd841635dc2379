"""What provenance costs: the watermark per 512x512 frame (target <= 1 ms), the label, looking for the
watermark in a clip, and signing an MP4 with C2PA.

    python3 -m pytest benchmarks/test_bench_provenance.py --benchmark-only

The frames are the renderer's own (the astronaut talking), 100 different ones cycled, so the embed is timed
on frames that are not already in cache, as in a live session.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edge_vasa.core.video import write_mp4
from edge_vasa.pipeline.analytic import Renderer
from edge_vasa.provenance.record import Marker, Provenance
from edge_vasa.provenance.watermark import Payload, Watermarker, detect


@pytest.fixture(scope="module")
def frames(face, talking_motion) -> np.ndarray:
    rendered = Renderer(face.image, face.landmarks).render(talking_motion)
    return rendered


def test_watermark_per_frame(benchmark, frames):
    mark = Watermarker(Payload(render_id=1))
    mark(frames[0])  # builds the frame-sized pattern once, as the first frame of a render does
    cycle = itertools.cycle(frames)
    benchmark(lambda: mark(next(cycle)))
    benchmark.extra_info.update(frame=list(frames.shape[1:]), target_ms=1.0)


def test_watermark_and_label_per_frame(benchmark, frames):
    mark = Marker(Provenance("live", {}), label="AI-generated")
    mark(frames[0])
    cycle = itertools.cycle(frames)
    benchmark(lambda: mark(next(cycle)))


def test_detect_in_a_4s_clip(benchmark, frames):
    marked = [Watermarker(Payload(render_id=2))(f) for f in frames]
    found = benchmark.pedantic(detect, args=(marked,), rounds=3, iterations=1)
    assert found.found
    benchmark.extra_info.update(frames=len(marked))


def test_c2pa_sign_a_4s_clip(benchmark, frames, tmp_path):
    path = tmp_path / "clip.mp4"
    write_mp4(path, frames, 25)
    data = path.read_bytes()
    provenance = Provenance("generate", {})

    def sign():
        path.write_bytes(data)
        provenance.sign(path)

    benchmark.pedantic(sign, rounds=5, iterations=1)
    benchmark.extra_info.update(mp4_bytes=len(data))
