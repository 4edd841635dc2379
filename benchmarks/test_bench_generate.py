"""End-to-end offline generation speed: seconds of video per second of wall time, from 16 kHz speech to
512x512 frames (motion + every frame; no video encoding), on the reference path and on every edge variant
built here (the selector's candidates; those without artifacts skip with the reason).

    python3 -m pytest benchmarks/test_bench_generate.py --benchmark-only --benchmark-group-by=group

The reference is what `edge-vasa generate` does by default (teacher motion + teacher decoder, PyTorch); the
edge chain is what `edge-vasa live` runs (the exported motion step, streaming, then the exported decoder).
"""

from __future__ import annotations

import pytest

from edge_vasa.core.audio import load_audio
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.shipped import BUNDLED_SPEECH
from edge_vasa.runtimes.selector import candidates, probe

CANDIDATES = candidates(probe())


@pytest.fixture(scope="module")
def speech():
    return load_audio(BUNDLED_SPEECH)


def _record(benchmark, speech) -> None:
    seconds = len(speech) / 16000
    benchmark.extra_info.update(
        video_seconds=seconds, video_s_per_s=round(seconds / benchmark.stats.stats.median, 3)
    )


def test_reference_path(benchmark, face, speech):
    from edge_vasa.core.options import GenerateOptions
    from edge_vasa.evaluation.scoring import render_motion
    from edge_vasa.pipeline.avatar import Avatar

    benchmark.group = "offline generation, bundled speech"
    avatar = Avatar.load(face)
    benchmark.pedantic(lambda: render_motion(avatar, avatar.motion(speech, GenerateOptions())), rounds=2)
    _record(benchmark, speech)


@pytest.mark.parametrize("candidate", CANDIDATES, ids=str)
def test_edge_chain(benchmark, face, speech, candidate):
    from edge_vasa.conversion.accuracy import artifact_motion
    from edge_vasa.runtimes.models import EdgeModels
    from edge_vasa.runtimes.renderer import EdgeRenderer
    from edge_vasa.runtimes.selector import Ranked, artifacts_for

    benchmark.group = "offline generation, bundled speech"
    try:
        paths = artifacts_for(candidate, build=False)
    except EdgeVasaError as e:
        pytest.skip(f"{candidate}: {e}")
    models = EdgeModels.open(Ranked(candidate, artifacts={n: str(p) for n, p in paths.items()}))
    renderer = EdgeRenderer(face.image, face.landmarks, models)
    benchmark.pedantic(lambda: renderer.render(artifact_motion(models, speech)), rounds=2)
    _record(benchmark, speech)
