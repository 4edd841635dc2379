"""`edge-vasa bench`: the report generator kept honest by misbehaving variants, the baseline comparison, and
bad options.

One quick benchmark runs end to end through the CLI on the PyTorch backend (nothing exported) and two fakes
built from it: one whose decoder is slow, one whose decoder output is corrupted with noise. The slow one must
rank last; the corrupted one must score lower in every frame-accuracy column. The run compares itself with a
baseline in which the slow variant was fast, so compare mode must flag it and exit with status 1.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest

from edge_vasa.bench import run as bench
from edge_vasa.bench.report import REGRESSION, compare_reports, format_table, load_report
from edge_vasa.bench.schema import BenchReport, LiveResult, Speed, VariantSpeed
from edge_vasa.bench.targets import MIN_FPS, targets
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.pipeline.motion_stream import LIVE_CHUNKING, OFFLINE_CHUNKING

torch = pytest.importorskip("torch")

SLOW, NOISY, REAL = "fake:slow fp32", "fake:noisy fp32", "torch:cpu fp32"
OLD_REPORT = Path(__file__).parent / "data" / "report-2026-11-27.json"  # made before the newer figures
SLOW_S = 0.1  # more than the whole PyTorch decoder takes per frame
NOISE = 0.1  # std of the noise added to the decoder's [0, 1] output: about 20 dB PSNR on its own


def variants() -> list[bench.Variant]:
    from edge_vasa.core.shipped import EDGE_NETWORKS
    from edge_vasa.runtimes.models import EdgeModels
    from edge_vasa.runtimes.selector import Candidate, artifacts_for, open_backend

    real = Candidate("torch", "cpu", "fp32")
    paths = artifacts_for(real, build=False)

    def slow(decoder):
        def run(feeds):
            time.sleep(SLOW_S)
            return decoder(feeds)

        run.shapes = decoder.shapes
        return run

    def noisy(decoder):
        rng = np.random.default_rng(0)

        def run(feeds):
            return decoder(feeds) + rng.normal(0, NOISE, (1, 3, 512, 512)).astype(np.float32)

        run.shapes = decoder.shapes
        return run

    def variant(candidate, wrap=None) -> bench.Variant:
        encoder, motion, decoder = (open_backend(real, n, paths[n]) for n in EDGE_NETWORKS)
        models = EdgeModels(candidate, encoder, motion, wrap(decoder) if wrap else decoder)
        return bench.Variant(candidate, models, {n: str(p) for n, p in paths.items()})

    return [
        variant(Candidate("fake", "slow", "fp32"), slow),
        variant(real),
        variant(Candidate("fake", "noisy", "fp32"), noisy),
    ]


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    """(exit status, report folder, report, printed output) of `edge-vasa bench --quick --compare B`, where B
    is a baseline in which the slow variant's decoder took half the yardstick's time (and its whole frame
    ten times as long, which the run improves on)."""
    from edge_vasa.apps.cli import main

    base = tmp_path_factory.mktemp("baseline")
    baseline = {
        "version": bench.REPORT_VERSION,
        "speed": {
            "yardstick": REAL,
            "variants": {SLOW: {"decoder_vs_yardstick": 0.5, "frame_vs_yardstick": 10.0}},
        },
        "clips": [],
    }
    (base / "report.json").write_text(json.dumps(baseline))
    out = tmp_path_factory.mktemp("bench")
    skipped = {"fake:absent int8": "not built; run `edge-vasa export --format fake --precision int8`"}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bench, "open_variants", lambda *a, **k: (variants(), skipped))
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            rc = main(["bench", "--quick", "--out", str(out), "--compare", str(base)])
    return rc, out, json.loads((out / "report.json").read_text()), printed.getvalue()


@pytest.mark.slow  # end to end
def test_slow_variant_ranks_last_and_the_report_lists_everything(bench_run):
    rc, out, report, printed = bench_run
    names = [r["variant"] for r in report["rows"]]
    assert sorted(names) == sorted([SLOW, NOISY, REAL])
    assert names[-1] == SLOW, names
    speed = report["speed"]["variants"]
    assert speed[SLOW]["decoder_ms"] > speed[REAL]["decoder_ms"] + 0.8 * SLOW_S * 1e3
    assert report["speed"]["yardstick"] == REAL and speed[REAL]["decoder_vs_yardstick"] == 1.0
    # the reference path was measured and the ratios follow from the same run
    assert report["speed"]["reference_decoder_ms"] > 0
    assert report["ratios"]["decoder_student_vs_teacher_pytorch"] == pytest.approx(
        report["speed"]["reference_decoder_ms"] / speed[REAL]["decoder_ms"], rel=0.01
    )
    assert report["accuracy"]["reference"]["lip_sync_correlation"] > 0.2
    # the fastest variant ran live, at the goal rate (FPS) and at the default rate (latency percentiles, CDF)
    fastest = names[0]
    assert list(report["live"]) == [fastest]
    live = report["live"][fastest]
    assert [s["fps_requested"] for s in live["sessions"]] == [bench.LIVE_FPS, bench.LATENCY_FPS]
    assert all(s["frames_shown"] > 0 for s in live["sessions"])
    assert live["fps"] == live["sessions"][0]["fps"] and 0 < live["fps"] <= bench.LIVE_FPS + 1
    assert live["latency_ms"] == live["sessions"][1]["latency_ms"] and len(live["latency_cdf_ms"]) == 101
    assert live["latency_ms"]["p50"] <= live["latency_ms"]["p95"]
    # what a reader gets: the table, the targets, the machine and how to reproduce
    for name in names + ["reference (teacher, PyTorch)"]:
        assert name in printed
    assert "backend precision" in printed and "PSNR dB" in printed
    assert "40 FPS at 512x512" in printed and "PSNR vs reference >= 30 dB" in printed
    md = (out / "report.md").read_text()
    for words in (*names, "fake:absent int8: not built", "- CPU:", "ISA:", "## Reproduce"):
        assert words in md
    assert report["command"].startswith("edge-vasa bench --quick --out")


@pytest.mark.slow  # end to end
def test_corrupted_output_lowers_the_accuracy_columns(bench_run):
    _, _, report, _ = bench_run
    acc = report["accuracy"]
    real, noisy = acc[REAL], acc[NOISY]
    assert real["psnr_vs_student_db"] >= 60  # the same PyTorch student: identical frames
    assert noisy["psnr_vs_student_db"] < 25
    assert noisy["psnr_db"] < real["psnr_db"] - 5
    assert noisy["ssim"] < real["ssim"] - 0.1
    assert acc[SLOW]["psnr_db"] == pytest.approx(real["psnr_db"], abs=0.01)  # slow, but right
    psnr_target = next(t for t in report["targets"] if t["target"].startswith("PSNR"))
    assert NOISY not in psnr_target["passing"] and REAL in psnr_target["passing"]
    assert psnr_target["met"] is False  # one variant misses it, so the target is not met here


@pytest.mark.slow  # end to end
def test_plots_are_written_and_not_blank(bench_run):
    import cv2

    _, out, _, _ = bench_run
    for name in ("fps.png", "accuracy_vs_speed.png", "latency_cdf.png", "stages.png"):
        image = cv2.imread(str(out / name))
        assert image is not None, name
        assert image.shape[0] >= 400 and image.shape[1] >= 700, (name, image.shape)
        assert image.std() > 10, f"{name} is blank"
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


@pytest.mark.slow  # end to end
def test_compare_mode_flags_the_regression_and_exits_1(bench_run):
    rc, out, report, printed = bench_run
    assert rc == 1
    flagged = [c for c in report["comparison"] if c["regression"]]
    assert [(c["variant"], c["figure"]) for c in flagged] == [(SLOW, "decoder_vs_yardstick")]
    assert "regression" in printed and SLOW in printed
    assert "## Against the baseline" in (out / "report.md").read_text()


@pytest.mark.slow  # end to end
def test_comparison_of_two_reports(bench_run):
    _, out, report, _ = bench_run
    same = compare_reports(BenchReport.from_json(report), load_report(out))
    assert same and not any(c.regression for c in same)
    worse = copy.deepcopy(report)
    worse["speed"]["variants"][NOISY]["decoder_vs_yardstick"] *= 1 + 2 * REGRESSION
    worse["speed"]["variants"][SLOW]["decoder_vs_yardstick"] *= 1 + REGRESSION / 2  # within the noise
    for clip in worse["clips"]:
        clip["variants"][REAL]["psnr_db"] *= 0.8
    worse, report = BenchReport.from_json(worse), BenchReport.from_json(report)
    flagged = {(c.variant, c.figure) for c in compare_reports(worse, report) if c.regression}
    assert flagged == {(NOISY, "decoder_vs_yardstick"), (REAL, "psnr_db")}
    better = compare_reports(report, worse)  # improvements are never regressions
    assert not any(c.regression for c in better)


@pytest.mark.slow  # end to end
def test_live_chunking_and_inserted_blinks_are_reported_apart(bench_run):
    _, out, report, printed = bench_run
    acc = report["accuracy"]
    for name in (SLOW, NOISY, REAL):
        assert acc[name]["lip_sync_correlation"] is not None and acc[name]["live_lip_sync_correlation"] > 0
    # the slow variant runs the same motion step and decoder: the same frames, the same live lip sync
    assert acc[SLOW]["live_lip_sync_correlation"] == pytest.approx(
        acc[REAL]["live_lip_sync_correlation"], abs=0.01
    )
    assert acc["reference"]["live_lip_sync_correlation"] is None  # the teacher does not stream
    for clip in report["clips"]:
        for scores in (clip["reference"], clip["variants"][REAL]):
            own, inserted = scores["blinks_per_minute_generated"], scores["blinks_per_minute_inserted"]
            assert own >= 0 and inserted >= 0
            assert own + inserted >= scores["blinks_per_minute_motion"] - 0.15  # every blink is one of them
    assert "lip sync offline" in printed and "lip sync live" in printed
    md = (out / "report.md").read_text()
    assert OFFLINE_CHUNKING in md and LIVE_CHUNKING in md and "inserted blinks/min" in md


@pytest.mark.parametrize("live", [True, False], ids=["live", "estimated"])
@pytest.mark.parametrize("fps, met", [(24.5, False), (24.99, False), (25.0, True)])
def test_a_frame_rate_target_is_met_only_by_reaching_it(live, fps, met):
    speed = VariantSpeed(fps_estimate=fps, frame_ms=1000 / fps)
    report = BenchReport(
        version=bench.REPORT_VERSION,
        speed=Speed(variants={REAL: speed}),
        live={REAL: LiveResult(fps=fps)} if live else {},
    )
    (minimum,) = [t for t in targets(report) if t.target.startswith(f"{MIN_FPS:.0f} FPS")]
    assert minimum.met is met and minimum.value == fps


def test_an_older_report_loads_without_the_newer_figures():
    """Reports made before live-chunking lip sync and the blink split (data/: the baseline of 2026-11-27)
    still load, without those figures."""
    baseline = load_report(OLD_REPORT)
    clip = baseline.clips[0]
    assert clip.reference.blinks_per_minute_motion is not None
    assert clip.reference.blinks_per_minute_generated is None
    assert clip.variants[REAL].live_lip_sync_correlation is None
    assert "lip sync live" in format_table(baseline)


def test_quick_clip_is_a_clip_of_the_full_set():
    full = bench.bench_speech()
    names = [n for _, n, _ in full]
    assert {"tts:vi", "tts:ja", "tts:fr", "sung:en"} <= set(names)
    quick = bench.bench_speech(bench.QUICK["speech"])
    assert [(i, n) for i, n, _ in quick] == [(i, n) for i, n, _ in full if n in bench.QUICK["speech"]]
    for _, name, audio in full:
        assert audio.dtype == np.float32 and len(audio) > 16000, name  # over a second of 16 kHz audio


def test_load_report_refuses_what_is_not_a_report(tmp_path):
    with pytest.raises(EdgeVasaError, match="not found"):
        load_report(tmp_path / "nothing.json")
    (tmp_path / "report.json").write_text("{ not json")
    with pytest.raises(EdgeVasaError, match="not a readable report"):
        load_report(tmp_path)
    (tmp_path / "report.json").write_text(json.dumps({"version": 99, "speed": {}}))
    with pytest.raises(EdgeVasaError, match="not an edge-vasa bench report"):
        load_report(tmp_path)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--compare", "missing.json"], ["missing.json", "not found"]),
        (["--compare", "bad.json"], ["not a readable report"]),
        (["--out", "a_file"], ["a_file", "is a file"]),
        (["--backends", "tensorflow"], ["unknown backend"]),
        (["--backends", "coreml"], ["coreml", "not installed"]),
        (["--tolerance", "5"], ["--tolerance", "out of range"]),
    ],
)
def test_bad_bench_options_are_one_line_errors(capsys, monkeypatch, tmp_path, argv, words):
    from edge_vasa.apps.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.json").write_text("[1, 2")
    (tmp_path / "a_file").write_text("x")
    rc = main(["bench", "--out", "report", *argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    for word in words:
        assert word in lines[0]
    report = tmp_path / "report"
    assert not report.exists() or not any(report.iterdir())  # nothing written
