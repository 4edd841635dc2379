"""Every edge network on every backend x precision present here: latency of one call and the throughput of
one stream of calls (calls per second, in extra_info), side by side.

    python3 -m pytest benchmarks/test_bench_backends.py --benchmark-only --benchmark-group-by=param:network

Candidates come from the runtime selector (runtimes/selector.py): what is installed, on the devices each
runtime reports. Artifacts must already be built (`edge-vasa doctor --build`); a candidate without them, or
whose runtime cannot run them, is skipped with the reason. Inputs are the export examples (a real prepared
photo, an open-mouthed frame), so every variant runs the same work.
"""

from __future__ import annotations

import pytest

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import example_face
from edge_vasa.core.shipped import EDGE_NETWORKS
from edge_vasa.pipeline.decoder_inputs import DecoderInputs
from edge_vasa.runtimes.selector import artifacts_for, candidates, example_feeds, open_backend, probe

MACHINE = probe()
CANDIDATES = candidates(MACHINE)


@pytest.mark.parametrize("network", EDGE_NETWORKS)
@pytest.mark.parametrize("candidate", CANDIDATES, ids=str)
def test_network_latency(benchmark, candidate, network):
    try:
        path = artifacts_for(candidate, build=False)[network]
        backend = open_backend(candidate, network, path)
    except EdgeVasaError as e:
        pytest.skip(f"{candidate}: {e}")
    if network == "appearance_encoder":
        photo = example_face()
        feeds = {"image": DecoderInputs(photo.image, photo.landmarks).encoder_image()}
    else:
        paths = artifacts_for(candidate, build=False)
        frame, step = example_feeds(
            open_backend(candidate, "decoder_student", paths["decoder_student"]),
            open_backend(candidate, "motion_step", paths["motion_step"]),
        )
        feeds = frame if network == "decoder_student" else step
    backend(feeds)  # warm-up: first calls allocate and tune
    benchmark.extra_info.update(
        {"backend": candidate.backend, "precision": candidate.precision, "network": network}
    )
    benchmark(backend, feeds)
    benchmark.extra_info["calls_per_s"] = round(1 / benchmark.stats.stats.median, 1)
