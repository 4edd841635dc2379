"""Long runs of the live pipeline: does it stay fast, prompt and the same size? `edge-vasa soak`.

A live session runs from a speech file played in real time (looped) for a set duration, on the backend
`live` would pick. Every SAMPLE_S seconds a sample records the process's resident memory, the frame rate
and latency percentiles over the last interval, and the frame ledger: every frame the motion stream
numbered is either shown or counted as dropped by the session's drop policy (too late, or a full
queue). A frame that is neither is lost, and a soak with lost frames, or with memory growing more than
MEMORY_GROWTH after the warm-up, is unstable.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edge_vasa.core.files import pyplot, save_figure
from edge_vasa.live.sinks import FrameInfo, Sink

SAMPLE_S = 5.0
WARMUP_S = 60.0  # allocator pools, caches and the runtime's arenas settle within this (measured: ~20 s)
MEMORY_GROWTH = 0.05  # the most resident memory may grow after the warm-up, as a fraction


class FrameLedger(Sink):
    """Counts the frames shown and the numbers skipped between them (frames not shown)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.shown, self.skipped, self.out_of_order = 0, 0, 0
        self.last: int | None = None

    def frame(self, frame: np.ndarray, info: FrameInfo) -> None:
        with self.lock:
            if self.last is not None:
                if info.index <= self.last:
                    self.out_of_order += 1
                else:
                    self.skipped += info.index - self.last - 1
            self.last = info.index if self.last is None else max(self.last, info.index)
            self.shown += 1


@dataclass
class Soak:
    """One soak's samples and verdict."""

    seconds: float
    fps_requested: int
    backend: str
    samples: list[dict] = field(default_factory=list)
    verdict: dict = field(default_factory=dict)


def resident_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def run_soak(
    session_factory,
    seconds: float,
    sample_s: float = SAMPLE_S,
    warmup_s: float = WARMUP_S,
    progress: bool = True,
) -> Soak:
    """Run the session that SESSION_FACTORY(sinks) makes for SECONDS, sampling every SAMPLE_S."""

    ledger = FrameLedger()
    session = session_factory([ledger])
    soak = Soak(seconds, session.fps, str(getattr(session.models, "candidate", "")))
    started = time.monotonic()
    session.start()
    seen_latencies = 0
    last_shown, last_t = 0, started
    try:
        with tqdm(total=round(seconds), desc="soak", unit="s", disable=not progress) as bar:
            while True:
                finished = session.wait(sample_s)
                now = time.monotonic()
                latencies = list(session.stats.latencies)[seen_latencies:]
                seen_latencies += len(latencies)
                ms = np.array(latencies) * 1e3 if latencies else np.array([np.nan])
                with ledger.lock:
                    shown, skipped, disorder = ledger.shown, ledger.skipped, ledger.out_of_order
                soak.samples.append(
                    {
                        "t": round(now - started, 2),
                        "rss_mb": round(resident_mb(), 1),
                        "fps": round((shown - last_shown) / (now - last_t), 2),
                        "latency_p50_ms": round(float(np.percentile(ms, 50)), 1),
                        "latency_p95_ms": round(float(np.percentile(ms, 95)), 1),
                        "shown": shown,
                        "skipped": skipped,
                        "dropped": session.stats.dropped,
                        "out_of_order": disorder,
                        "threads": threading.active_count(),
                        "problems": list(session.problems.values()),
                    }
                )
                last_shown, last_t = shown, now
                bar.n = min(round(seconds), round(now - started))
                bar.set_postfix(fps=soak.samples[-1]["fps"], rss=f"{soak.samples[-1]['rss_mb']:.0f}MB")
                if finished or now - started >= seconds:
                    break
    finally:
        session.stop()
        session.wait(15)
    with ledger.lock:  # the frames shown while the session wound down
        soak.samples[-1].update(shown=ledger.shown, skipped=ledger.skipped, dropped=session.stats.dropped)
    soak.verdict = judge(soak.samples, warmup_s)
    if session.error is not None:
        soak.verdict.update(stable=False, error=str(session.error))
    return soak


def judge(samples: list[dict], warmup_s: float = WARMUP_S) -> dict:
    """Stable when memory after the warm-up stays within MEMORY_GROWTH of its level at the warm-up's end,
    and no frame is lost beyond the drop policy (skipped numbers == drops; nothing out of order)."""
    after = [s for s in samples if s["t"] >= warmup_s]
    if len(after) < 2:
        after = samples[len(samples) // 2 :]  # a run shorter than the warm-up: judge its second half
    base = after[0]["rss_mb"]
    peak = max(s["rss_mb"] for s in after)
    growth = (peak - base) / base
    last = samples[-1]
    lost = last["skipped"] - last["dropped"] + last["out_of_order"]
    rates = [s["fps"] for s in after[1:]] or [after[0]["fps"]]
    return {
        "stable": bool(growth <= MEMORY_GROWTH and lost <= 0),
        "memory_after_warmup_mb": base,
        "memory_peak_mb": peak,
        "memory_growth_pct": round(100 * growth, 2),
        "memory_end_mb": last["rss_mb"],
        "frames_shown": last["shown"],
        "frames_dropped": last["dropped"],
        "frames_lost": max(0, lost),
        "fps_median": round(float(np.median(rates)), 2),
        "fps_min": round(float(np.min(rates)), 2),
        "latency_p95_ms_median": round(float(np.nanmedian([s["latency_p95_ms"] for s in after])), 1),
        "warmup_s": warmup_s,
    }


def plot_soak(soak: Soak, path: str | Path, warmup_s: float = WARMUP_S) -> None:
    """Three panels over time: frame rate, latency p50/p95, resident memory (warm-up shaded)."""

    plt = pyplot()
    t = np.array([s["t"] for s in soak.samples]) / 60
    fig, (ax_fps, ax_lat, ax_mem) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    ax_fps.plot(t, [s["fps"] for s in soak.samples], color="tab:blue")
    ax_fps.axhline(soak.fps_requested, color="gray", linestyle="--", linewidth=1, label="requested")
    ax_fps.set(ylabel="frames per second", ylim=(0, soak.fps_requested * 1.3))
    ax_fps.legend(loc="lower right")
    ax_lat.plot(t, [s["latency_p50_ms"] for s in soak.samples], label="p50")
    ax_lat.plot(t, [s["latency_p95_ms"] for s in soak.samples], label="p95")
    ax_lat.set(ylabel="capture-to-frame latency (ms)")
    ax_lat.legend(loc="lower right")
    rss = np.array([s["rss_mb"] for s in soak.samples])
    base = soak.verdict.get("memory_after_warmup_mb", rss[0])
    ax_mem.plot(t, rss, color="tab:purple")
    ax_mem.axhspan(
        base, base * (1 + MEMORY_GROWTH), color="tab:green", alpha=0.15, label="+5 % of warm level"
    )
    ax_mem.set(ylabel="resident memory (MB)", xlabel="minutes")
    ax_mem.legend(loc="lower right")
    for ax in (ax_fps, ax_lat, ax_mem):
        ax.axvspan(0, warmup_s / 60, color="gray", alpha=0.12)
        ax.grid(alpha=0.3)
    v = soak.verdict
    fig.suptitle(
        f"soak: {soak.backend}, {soak.seconds / 60:g} min at {soak.fps_requested} FPS requested: "
        f"{'STABLE' if v.get('stable') else 'UNSTABLE'}\nmemory {v.get('memory_growth_pct'):+} % after the "
        f"warm-up (shaded), {v.get('frames_lost')} frames lost, {v.get('frames_dropped')} dropped by policy",
        fontsize=10,
    )
    fig.tight_layout()
    save_figure(fig, path)
