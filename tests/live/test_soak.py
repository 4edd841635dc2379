"""The soak run: its frame ledger, its verdict, and a short real run through the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import run
from PIL import Image

from edge_vasa.live.sinks import FrameInfo
from edge_vasa.live.soak import MEMORY_GROWTH, FrameLedger, judge


def samples(rss: list[float], skipped: int = 0, dropped: int = 0, out_of_order: int = 0) -> list[dict]:
    return [
        {
            "t": 10.0 * i,
            "rss_mb": m,
            "fps": 25.0,
            "latency_p50_ms": 150.0,
            "latency_p95_ms": 200.0,
            "shown": 250 * (i + 1),
            "skipped": skipped,
            "dropped": dropped,
            "out_of_order": out_of_order,
        }
        for i, m in enumerate(rss)
    ]


def test_ledger_counts_gaps_and_disorder():
    ledger = FrameLedger()
    for index in (0, 1, 2, 5, 6, 6, 9):
        ledger.frame(np.zeros((2, 2, 3), np.uint8), FrameInfo(index, 0.0, 0.0, 0.1))
    assert ledger.shown == 7
    assert ledger.skipped == 2 + 2  # 3, 4 and 7, 8
    assert ledger.out_of_order == 1  # 6 twice


def test_flat_memory_and_accounted_drops_are_stable():
    v = judge(samples([900, 700, 702, 701, 703, 702], skipped=40, dropped=40), warmup_s=20)
    assert v["stable"] and v["frames_lost"] == 0 and v["frames_dropped"] == 40
    assert v["memory_after_warmup_mb"] == 702, "the warm-up's allocations do not count"


@pytest.mark.parametrize("warmup_s", [20, 600], ids=["after-warmup", "run-shorter-than-warmup"])
def test_growing_memory_is_unstable(warmup_s):
    leak = [700 * (1 + 0.02 * i) for i in range(8)]
    v = judge(samples(leak), warmup_s=warmup_s)
    assert not v["stable"] and v["memory_growth_pct"] > 100 * MEMORY_GROWTH


@pytest.mark.parametrize("kw", [{"skipped": 41, "dropped": 40}, {"out_of_order": 1}])
def test_lost_frames_are_unstable(kw):
    v = judge(samples([700] * 6, **kw), warmup_s=20)
    assert not v["stable"] and v["frames_lost"] == 1


@pytest.mark.slow  # end to end
def test_short_soak_through_the_cli(capsys, tmp_path, private_cache):
    pytest.importorskip("torch")
    rc, out, err = run(
        capsys,
        "soak",
        "--minutes",
        "0.25",
        "--warmup",
        "5",
        "--interval",
        "1",
        "--backend",
        "torch:cpu",
        "--out",
        str(tmp_path / "s"),
    )
    assert rc in (0, 1), err
    report = json.loads((tmp_path / "s" / "soak.json").read_text())
    assert 12 <= len(report["samples"]) <= 18
    v = report["verdict"]
    assert v["frames_lost"] == 0, "every frame is shown or dropped by the policy"
    assert v["frames_shown"] > 50 and v["memory_peak_mb"] > 100
    # 5 s of warm-up leave 10 samples to judge: memory measured flat within +5 % (+2-3 % here)
    assert v["stable"] and rc == 0, (rc, v, err)
    verdicts = [line for line in out.splitlines() if line.startswith(("STABLE: ", "UNSTABLE: "))]
    assert len(verdicts) == 1 and verdicts[0].startswith("STABLE: "), out
    assert f"{v['frames_shown']} frames shown" in verdicts[0]
    with Image.open(tmp_path / "s" / "soak.png") as png:
        assert png.size[0] >= 800 and np.asarray(png.convert("L")).std() > 10
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["soak.json", "soak.png"]


@pytest.mark.parametrize(
    "args, words",
    [(["--minutes", "0"], ["--minutes"]), (["--interval", "0.1"], ["--interval"])],
    ids=["minutes", "interval"],
)
def test_soak_bad_options(capsys, tmp_path, args, words):
    from helpers import assert_one_error_line

    rc, out, err = run(capsys, "soak", "--out", str(tmp_path / "s"), *args)
    assert_one_error_line(rc, err, *words)
    assert not (tmp_path / "s").exists()
