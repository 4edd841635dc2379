"""The selector ranks precisions by measurement, timing the candidates in turns: a load that passes while
the measurement runs (a shared machine's neighbours) weighs on all of them alike instead of on whichever
was timed first, so it cannot rank the slower precision first (and have that cached)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.runtimes import selector
from edge_vasa.runtimes.selector import Candidate

LOADED_CALLS = 20  # the first calls, across every network, run under a passing load
LOAD_S = 0.03
DECODER_S = {"fp32": 0.004, "int8": 0.008}  # INT8 not paying, as on some AVX2-only CPUs


class Machine:
    """Counts network calls; the first LOADED_CALLS of them are slowed, as by a neighbour's burst. fp32 comes
    first among the candidates, so timed one after the other it would take the whole burst."""

    def __init__(self):
        self.calls = 0

    def network(self, seconds: float):
        def call(feeds):
            self.calls += 1
            time.sleep(seconds + (LOAD_S if self.calls <= LOADED_CALLS else 0.0))

        return call


@pytest.fixture
def machine(monkeypatch, tmp_path) -> dict:
    busy = Machine()

    def open_backend(cand, network, path, threads=None):
        if cand.precision == "fp16":
            raise EdgeVasaError("cannot load this artifact here")
        return busy.network(DECODER_S[cand.precision] if network == "decoder_student" else 0.001)

    monkeypatch.setattr(selector, "open_backend", open_backend)
    monkeypatch.setattr(selector, "example_feeds", lambda decoder, motion: ({}, {}))
    files = {network: Path(network) for network in ("decoder_student", "motion_step")}
    monkeypatch.setattr(selector, "artifacts_for", lambda cand, build, builder=None: files)
    monkeypatch.setattr(selector, "_timing_key", lambda cand, paths, fingerprint: str(cand))
    monkeypatch.setattr(selector, "timings_path", lambda: tmp_path / "timings.json")
    return {"cpu": {"model": "test"}, "runtimes": {"openvino": {"version": "0", "devices": ["cpu"]}}}


def test_a_passing_load_does_not_rank_the_slower_precision_first(machine):
    ranked = selector.rank_candidates(machine=machine)
    usable = [r.candidate for r in ranked if r.usable]
    assert usable == [Candidate("openvino", "cpu", "fp32"), Candidate("openvino", "cpu", "int8")]
    assert ranked[0].decoder_ms < 1000 * (DECODER_S["fp32"] + LOAD_S / 2)
    assert ranked[-1].status == "cannot load this artifact here"  # fp16: reported, not ranked
