"""The bench report's four plots: FPS per backend, accuracy vs speed, live latency CDF, time per stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_vasa.bench.schema import BenchReport
from edge_vasa.bench.targets import (
    LATENCY_FPS,
    LIVE_FPS,
    MIN_FPS,
    TARGET_FPS,
    TARGET_LATENCY_MS,
    TARGET_PSNR_DB,
)
from edge_vasa.core.files import pyplot, save_figure
from edge_vasa.core.options import LIVE_HOP
from edge_vasa.runtimes.artifacts import PRECISIONS

ENCODER_FRAMES = 250  # the appearance encoder runs once per face: shown per frame of a 10 s clip


def _subtitle(report: BenchReport) -> str:
    cpu = report.machine.cpu
    return f"{cpu.model}, {cpu.cores} cores"


def plot_fps(report: BenchReport, path: Path) -> None:
    """Bars: estimated FPS per backend, one bar per precision; live FPS as dots where measured."""
    rows = report.rows
    backends = list(dict.fromkeys(r["variant"].rsplit(" ", 1)[0] for r in rows))
    present = {r["variant"].rsplit(" ", 1)[1] for r in rows}
    precisions = [p for p in PRECISIONS if p in present] + sorted(present - set(PRECISIONS))  # same colours
    fig, ax = pyplot().subplots(figsize=(9, 4.5), dpi=100)
    width = 0.8 / max(1, len(precisions))
    x = np.arange(len(backends))
    for j, precision in enumerate(precisions):
        by = {r["variant"].rsplit(" ", 1)[0]: r for r in rows if r["variant"].endswith(" " + precision)}
        pos = x + (j - (len(precisions) - 1) / 2) * width
        bars = ax.bar(
            *zip(*[(p, by[b]["fps_estimate"]) for p, b in zip(pos, backends) if b in by]),
            width,
            label=f"{precision} (decoder + motion step)",
        )
        ax.bar_label(bars, fmt="%.1f", fontsize=8, label_type="center", color="white")  # tops: live marks
        live = [(p, by[b]["live_fps"]) for p, b in zip(pos, backends) if b in by and by[b]["live_fps"]]
        if live:
            ax.scatter(*zip(*live), color="black", marker="D", zorder=3, label="_live")
    if any(r["live_fps"] for r in rows):
        ax.scatter([], [], color="black", marker="D", label=f"live FPS ({LIVE_FPS} requested)")
    ax.axhline(TARGET_FPS, color="tab:green", linestyle="--", linewidth=1, label=f"goal {TARGET_FPS:.0f} FPS")
    ax.axhline(MIN_FPS, color="tab:red", linestyle="--", linewidth=1, label=f"minimum {MIN_FPS:.0f} FPS")
    ax.set_xticks(x, backends)
    top = max([r["fps_estimate"] for r in rows] + [TARGET_FPS])
    ax.set(
        ylabel="frames per second (512x512)",
        title=f"FPS per backend and precision\n{_subtitle(report)}",
        ylim=(0, top * 1.45),  # room for the legend above the bars
    )
    ax.legend(fontsize=8, loc="upper right", ncols=2)
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path)


def plot_accuracy_vs_speed(report: BenchReport, path: Path) -> None:
    """Each variant's PSNR against the teacher over its estimated FPS, with both goals drawn."""
    rows = [r for r in report.rows if r["psnr_db"] is not None]
    fig, ax = pyplot().subplots(figsize=(10, 5), dpi=100)
    markers = "osD^vP*Xph"
    for i, r in enumerate(rows):  # a legend, not labels: variants often sit on top of each other
        ax.scatter(
            r["fps_estimate"], r["psnr_db"], s=60, marker=markers[i % len(markers)], label=r["variant"]
        )
    ax.axhline(
        TARGET_PSNR_DB, color="tab:red", linestyle="--", linewidth=1, label=f"target {TARGET_PSNR_DB:.0f} dB"
    )
    ax.axvline(TARGET_FPS, color="tab:green", linestyle="--", linewidth=1, label=f"goal {TARGET_FPS:.0f} FPS")
    ax.set(
        xlabel="estimated FPS (decoder + motion step)",
        ylabel="PSNR vs reference decoder (dB)",
        title=f"Accuracy vs speed: upper right is better\n{_subtitle(report)}",
    )
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def plot_latency_cdf(report: BenchReport, path: Path) -> None:
    """Capture-to-frame latency CDF of each variant's live session at the default rate."""
    fig, ax = pyplot().subplots(figsize=(8, 4.5), dpi=100)
    for name, live in report.live.items():
        if live.latency_cdf_ms:
            ax.plot(
                live.latency_cdf_ms,
                np.arange(101) / 100,
                label=f"{name} (p95 {live.latency_ms.p95:.0f} ms)",
            )
    ax.axvline(
        TARGET_LATENCY_MS,
        color="tab:green",
        linestyle="--",
        linewidth=1,
        label=f"goal {TARGET_LATENCY_MS:.0f} ms",
    )
    if not report.live:
        ax.text(0.5, 0.5, "no live session in this run", ha="center", transform=ax.transAxes)
    ax.set(
        xlabel="capture-to-frame latency (ms)",
        ylabel="fraction of frames",
        title=f"Live latency CDF ({LATENCY_FPS} FPS, real-time file source)\n{_subtitle(report)}",
        ylim=(0, 1.02),
    )
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def plot_stages(report: BenchReport, path: Path) -> None:
    """Compute per displayed frame, stacked: decoder, motion step share, and the appearance encoder (once
    per face, shown per frame of a 10 s clip); the teacher decoder as the reference bar."""
    speeds = sorted(report.speed.variants.items(), key=lambda item: -(item[1].fps_estimate or 0.0))
    names = [name for name, _ in speeds]
    decoder = [s.decoder_ms for _, s in speeds]
    motion = [s.motion_step_ms / LIVE_HOP for _, s in speeds]
    encoder = [s.encoder_ms / ENCODER_FRAMES for _, s in speeds]
    if report.speed.reference_decoder_ms:
        names.append("reference (teacher decoder)")
        decoder.append(report.speed.reference_decoder_ms)
        motion.append(0.0)
        encoder.append(0.0)
    fig, ax = pyplot().subplots(figsize=(9, max(4.5, 0.5 * len(names) + 1.8)), dpi=100)
    y = np.arange(len(names))
    ax.barh(y, decoder, label="decoder (per frame)")
    ax.barh(y, motion, left=decoder, label=f"motion step / {LIVE_HOP} (per frame)")
    ax.barh(
        y,
        encoder,
        left=np.add(decoder, motion),
        label=f"appearance encoder / {ENCODER_FRAMES} (once per 10 s)",
    )
    ax.axvline(
        1000 / TARGET_FPS,
        color="tab:green",
        linestyle="--",
        linewidth=1,
        label=f"{1000 / TARGET_FPS:.0f} ms = {TARGET_FPS:.0f} FPS",
    )
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set(xlabel="ms of compute per displayed frame", title=f"Time per stage\n{_subtitle(report)}")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.3 / len(names)), ncols=2)
    ax.grid(axis="x", alpha=0.3)
    save_figure(fig, path)
