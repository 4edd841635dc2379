"""INT8 against fp32 on the same backend, timed in turns in one run (issue 21: say whether INT8 pays on this
CPU; conftest records its ISA flags: VNNI, AMX or AVX2 only).

    python3 -m pytest benchmarks/test_bench_precision.py -s
    EDGE_VASA_PRECISION_ROUNDS=60 python3 -m pytest benchmarks/test_bench_precision.py -s

Per runtime (openvino:cpu, onnxruntime:cpu; those without both artifacts skip with the reason), the decoder
and the motion step of each precision are opened as live opens them (decoder on every core, motion step on
one) and called in turns, each timed call after an untimed one (selector.interleaved_ms). extra_info per
precision: decoder ms (median, p90, and process CPU ms per call), motion step ms, the live frame rate the
pair leaves room for (decoder + motion / LIVE_HOP) and its headroom at 25 and 40 FPS; and the fp32 / INT8
ratio of the decoder, the median of per-round ratios.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.options import LIVE_HOP
from edge_vasa.runtimes.selector import Candidate, artifacts_for, example_feeds, interleaved_ms, open_backend

ROUNDS = int(os.environ.get("EDGE_VASA_PRECISION_ROUNDS", "30"))
PRECISIONS = ("int8", "fp32")


def cpu_ms(call, rounds: int) -> float:
    """Median process CPU ms per call (the runtime's worker threads included)."""
    times = []
    for _ in range(rounds):
        began = time.process_time()
        call()
        times.append(time.process_time() - began)
    return float(np.median(times) * 1e3)


@pytest.mark.parametrize("backend", ["openvino:cpu", "onnxruntime:cpu"])
def test_int8_against_fp32(benchmark, backend):
    runtime, device = backend.split(":")
    calls = {}
    for precision in PRECISIONS:
        candidate = Candidate(runtime, device, precision)
        try:
            paths = artifacts_for(candidate, build=False)
        except EdgeVasaError as e:
            pytest.skip(f"{candidate}: {e}")
        decoder = open_backend(candidate, "decoder_student", paths["decoder_student"])
        motion = open_backend(candidate, "motion_step", paths["motion_step"], threads=1)
        frame, step = example_feeds(decoder, motion)
        calls[precision, "decoder"] = lambda d=decoder, f=frame: d(f)
        calls[precision, "motion"] = lambda m=motion, s=step: m(s)
    benchmark.group = "INT8 vs fp32, same backend"
    ms: dict = {}
    benchmark.pedantic(lambda: ms.update(interleaved_ms(calls, ROUNDS)), rounds=1, iterations=1)
    info: dict = {"backend": backend, "rounds": ROUNDS, "load_average": round(os.getloadavg()[0], 2)}
    for precision in PRECISIONS:
        decoder, motion = ms[precision, "decoder"], ms[precision, "motion"]
        fps = 1000 / (np.median(decoder) + np.median(motion) / LIVE_HOP)
        info[precision] = {
            "decoder_ms": round(float(np.median(decoder)), 2),
            "decoder_p90_ms": round(float(np.percentile(decoder, 90)), 2),
            "decoder_cpu_ms": round(cpu_ms(calls[precision, "decoder"], max(5, ROUNDS // 3)), 2),
            "motion_ms": round(float(np.median(motion)), 2),
            "live_fps_capacity": round(float(fps), 1),
            "headroom_at_25": round(float(fps / 25), 2),
            "headroom_at_40": round(float(fps / 40), 2),
        }
    ratio = np.median(ms["fp32", "decoder"] / ms["int8", "decoder"])
    info["decoder_fp32_over_int8"] = round(float(ratio), 2)
    info["int8_pays"] = bool(ratio > 1.05)
    benchmark.extra_info.update(info)
