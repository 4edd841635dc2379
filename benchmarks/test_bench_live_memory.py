"""Resident memory of a live session on the torch-free edge install (issue 21: <= 350 MB).

    python3 -m pytest benchmarks/test_bench_live_memory.py -s
    EDGE_VASA_MEMORY_SECONDS=120 python3 -m pytest benchmarks/test_bench_live_memory.py -s

`edge-vasa live --crop --source file:SPEECH --loop --no-window --record X.mp4 --fps 25` runs in a fresh
process in which importing torch fails (as on `pip install ".[edge]"`), on the user's cache (artifacts,
timings, face and features there: the first, untimed run fills what is missing). This process samples the
child's RSS and USS (psutil) every 0.5 s; "steady" is from 10 s on, after start-up. extra_info holds the peak,
the steady median and maximum, the USS, and whether the peak is within the budget.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from edge_vasa.core.shipped import BUNDLED_SPEECH

psutil = pytest.importorskip("psutil")

SECONDS = float(os.environ.get("EDGE_VASA_MEMORY_SECONDS", "60"))
BUDGET_MB = 350
STEADY_FROM_S = 10.0
BLOCK_TORCH = (
    "import sys\n"
    "class NoTorch:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'torch' or name.startswith('torch.'):\n"
    "            raise ImportError('torch is not installed (blocked: the edge install)')\n"
    "sys.meta_path.insert(0, NoTorch())\n"
    "from edge_vasa.apps.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def live_memory(seconds: float, out: str) -> np.ndarray:
    """(samples, 3): seconds since launch, RSS MB, USS MB of a torch-blocked live session."""
    argv = ["live", "--crop", "--source", f"file:{BUNDLED_SPEECH}", "--loop", "--no-window"]
    argv += ["--record", out, "--fps", "25", "--duration", str(seconds), "--quiet"]
    rows = []
    began = time.perf_counter()
    with subprocess.Popen(
        [sys.executable, "-c", BLOCK_TORCH, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    ) as proc:
        child = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                info = child.memory_full_info()
            except psutil.Error:  # exited between poll and sample
                break
            rows.append((time.perf_counter() - began, info.rss / 2**20, info.uss / 2**20))
            time.sleep(0.5)
        err = proc.stderr.read().decode()
    assert proc.returncode == 0, err[-2000:]
    return np.array(rows)


def test_live_resident_memory_torch_free(benchmark, tmp_path):
    out = str(tmp_path / "live.mp4")
    live_memory(3, out)  # untimed: builds what the cache lacks (face, features, timings)
    samples: list[np.ndarray] = []
    benchmark.group = "live resident memory, torch-free"
    benchmark.pedantic(lambda: samples.append(live_memory(SECONDS, out)), rounds=1, iterations=1)
    rows = samples[0]
    steady = rows[rows[:, 0] >= STEADY_FROM_S]
    peak = float(rows[:, 1].max())
    benchmark.extra_info.update(
        seconds=SECONDS,
        rss_mb_peak=round(peak, 1),
        rss_mb_steady_median=round(float(np.median(steady[:, 1])), 1),
        rss_mb_steady_max=round(float(steady[:, 1].max()), 1),
        uss_mb_steady_median=round(float(np.median(steady[:, 2])), 1),
        budget_mb=BUDGET_MB,
        met=peak <= BUDGET_MB,
        load_average=round(os.getloadavg()[0], 2),
    )
    print(benchmark.extra_info)
