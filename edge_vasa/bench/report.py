"""The benchmark report: tables, Markdown, plots, and the comparison with a baseline report.

    report = run_bench(quick=True)                       # bench.py measures
    write_report(report, "bench/")                       # report.md, report.json, fps.png, ...
    comparison = compare_reports(report, load_report("benchmarks/baseline"))
    print(format_regressions(comparison))

Runs on different machines, or at different times on a noisy one, compare through ratios taken inside each
run: every variant's time divided by the yardstick's (bench.YARDSTICK) from the same run. Accuracy compares
per clip, on the clips both reports hold (a quick run's clip is also in every full run).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge_vasa.bench.run import (
    FIDELITY_FRAMES,
    LATENCY_FPS,
    LIVE_FPS,
    MIN_FPS,
    REPORT_VERSION,
    TARGET_FPS,
    TARGET_LATENCY_MS,
    TARGET_PSNR_DB,
)
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.files import atomic_output, pyplot, save_figure
from edge_vasa.core.options import LIVE_HOP
from edge_vasa.runtimes.artifacts import PRECISIONS

REGRESSION = 0.10  # a change for the worse beyond this fraction is flagged

# --- regression comparison ------------------------------------------------------------------------

# (section, key, +1 when higher is better / -1 when lower is, smallest change that counts). The motion
# step alone is left out: a few ms on one thread, it moved 15-25 % between runs of unchanged code here.
COMPARED = (
    ("speed", "decoder_vs_yardstick", -1, 0.0),
    ("speed", "frame_vs_yardstick", -1, 0.0),
    ("clip", "psnr_db", +1, 0.3),
    ("clip", "ssim", +1, 0.005),
    ("clip", "landmark_distance_px", -1, 0.25),
    ("clip", "lip_sync_correlation", +1, 0.02),
)


def load_report(path: str | Path) -> dict:
    """A report.json, or the folder that holds one; a one-line error otherwise."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    try:
        report = json.loads(path.read_text())
    except FileNotFoundError:
        raise EdgeVasaError(f"baseline {path} not found; give a report.json or the folder of one") from None
    except (OSError, ValueError) as e:
        raise EdgeVasaError(
            f"baseline {path} is not a readable report ({e}); run `edge-vasa bench` again"
        ) from None
    if not isinstance(report, dict) or report.get("version") != REPORT_VERSION or "speed" not in report:
        raise EdgeVasaError(f"baseline {path} is not an edge-vasa bench report (version {REPORT_VERSION})")
    return report


def compare_reports(report: dict, baseline: dict, tolerance: float = REGRESSION) -> list[dict]:
    """Every compared figure of each variant in both reports: speed as ratios to the yardstick of its own
    run, accuracy per clip present in both. A change for the worse beyond TOLERANCE (and the figure's
    smallest meaningful change) is a regression."""
    out = []
    now_speed, old_speed = report["speed"]["variants"], baseline["speed"]["variants"]
    same_yardstick = report["speed"].get("yardstick") == baseline["speed"].get("yardstick")
    old_clips = {c["clip"]: c for c in baseline.get("clips", [])}
    for name in now_speed:
        for section, key, sign, floor in COMPARED:
            if section == "speed":
                if name not in old_speed or not same_yardstick:
                    continue
                new, old = now_speed[name].get(key), old_speed[name].get(key)
            else:
                common = [
                    (c["variants"][name].get(key), old_clips[c["clip"]]["variants"][name].get(key))
                    for c in report.get("clips", [])
                    if c["clip"] in old_clips
                    and name in old_clips[c["clip"]]["variants"]
                    and name in c["variants"]
                ]
                common = [(a, b) for a, b in common if a is not None and b is not None]
                if not common:
                    continue
                new, old = (float(np.mean(x)) for x in zip(*common))
            if new is None or old is None:
                continue
            worse = (old - new) * sign  # > 0: worse
            change = worse / abs(old) if old else 0.0
            out.append(
                {
                    "variant": name,
                    "figure": key,
                    "baseline": round(old, 4),
                    "now": round(new, 4),
                    "worse_by": round(change, 4),
                    "regression": change > tolerance and abs(new - old) > floor,
                }
            )
    return out


# --- output ---------------------------------------------------------------------------------------

COLUMNS = (  # (key, header, format, also in the terminal table) of the report's tables
    ("variant", "backend precision", "{}", True),
    ("size_mb", "MB", "{:.1f}", True),
    ("encoder_ms", "encoder ms", "{:.1f}", False),
    ("decoder_ms", "decoder ms", "{:.1f}", True),
    ("motion_step_ms", "motion ms", "{:.1f}", True),
    ("fps_estimate", "FPS est.", "{:.1f}", True),
    ("live_fps", "live FPS", "{:.1f}", True),
    ("latency_p50_ms", "p50 ms", "{:.0f}", False),
    ("latency_p95_ms", "p95 ms", "{:.0f}", True),
    ("offline_x_realtime", "x realtime", "{:.2f}", True),
    ("psnr_db", "PSNR dB", "{:.2f}", True),
    ("psnr_vs_student_db", "PSNR vs student dB", "{:.2f}", False),
    ("ssim", "SSIM", "{:.3f}", True),
    ("landmark_distance_px", "LM px", "{:.2f}", True),
    ("lip_sync_correlation", "lip sync", "{:.3f}", True),
    ("blinks_per_minute_motion", "blinks/min", "{:.1f}", False),
    ("head_pose_std_deg", "head std deg", "{:.2f}", False),
    ("identity_distance", "id dist", "{:.3f}", True),
)


def _cell(row: dict, key: str, fmt: str) -> str:
    value = row.get(key)
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else fmt.format(value)


def _reference_row(report: dict) -> dict:
    acc = report["accuracy"].get("reference", {})
    return {
        "variant": "reference (teacher, PyTorch)",
        "decoder_ms": report["speed"].get("reference_decoder_ms"),
    } | acc


def format_table(report: dict) -> str:
    """The terminal table: every variant fastest first, then the reference path."""
    rows = [*report["rows"], _reference_row(report)]
    columns = [c for c in COLUMNS if c[3]]
    cells = [[h for _, h, _, _ in columns]] + [[_cell(r, k, f) for k, _, f, _ in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        for row in cells
    ]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def format_targets(report: dict) -> str:
    lines = []
    for t in report["targets"]:
        value = "-" if t["value"] is None else f"{t['value']:.2f}"
        lines.append(
            f"{'MET    ' if t['met'] else 'NOT MET'}  {t['target']}: best {value} ({t['best'] or 'none'})"
        )
    return "\n".join(lines)


def format_ratios(report: dict) -> str:
    """The speed ratios in words (> 1: the first named is faster)."""
    r, lines = report["ratios"], []
    if "decoder_student_vs_teacher_pytorch" in r:
        lines.append(
            f"decoder, student vs teacher (both PyTorch fp32): {r['decoder_student_vs_teacher_pytorch']}x"
        )
    if "decoder_fastest_edge_vs_teacher" in r:
        best = r["decoder_fastest_edge_vs_teacher"]
        lines.append(f"decoder, fastest edge variant ({best['variant']}) vs teacher: {best['ratio']}x")
    if "motion_student_vs_teacher_pytorch" in r:
        ratio = r["motion_student_vs_teacher_pytorch"]
        lines.append(f"motion per second of speech, student vs teacher (PyTorch): {ratio}x")
    for key, value in r.items():
        if key.startswith("int8_vs_fp32 "):
            lines.append(
                f"INT8 vs fp32, {key.split(' ', 1)[1]}: decoder {value['decoder']}x, frame {value['frame']}x"
            )
    if r.get("offline_edge_vs_reference"):
        pairs = ", ".join(f"{k} {v}x" for k, v in r["offline_edge_vs_reference"].items())
        lines.append(f"offline video per wall second, edge chain vs reference path: {pairs}")
    return "\n".join(lines)


def format_regressions(comparison: list[dict], tolerance: float = REGRESSION) -> str:
    flagged = [c for c in comparison if c["regression"]]
    if not flagged:
        return f"no regression beyond {tolerance:.0%} in {len(comparison)} compared figures"
    lines = [f"{len(flagged)} regression(s) beyond {tolerance:.0%}:"]
    lines += [
        f"  {c['variant']}: {c['figure']} {c['baseline']} -> {c['now']} ({c['worse_by']:+.1%} worse)"
        for c in flagged
    ]
    return "\n".join(lines)


def _markdown_table(report: dict) -> str:
    rows = [*report["rows"], _reference_row(report)]
    head = "| " + " | ".join(h for _, h, _, _ in COLUMNS) + " |"
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(COLUMNS))) + "|"
    body = ["| " + " | ".join(_cell(r, k, f) for k, _, f, _ in COLUMNS) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def write_markdown(report: dict, path: Path) -> None:
    m = report["machine"]
    cpu = m["cpu"]
    runtimes = ", ".join(f"{r} {x['version']} ({', '.join(x['devices'])})" for r, x in m["runtimes"].items())
    lines = [
        f"# edge-vasa benchmark ({report['mode']})",
        "",
        f"{report['date']}, {report['wall_s']:.0f} s. Command: `{report['command']}`",
        "",
        "## Machine",
        "",
        f"- CPU: {cpu['model']}, {cpu['cores']} cores, ISA: {', '.join(cpu['isa']) or 'none of interest'}",
        f"- GPU: {m['gpu'] or 'none'}; OS: {m['os']}; Python {m['python']}; edge-vasa {m['edge_vasa']}",
        f"- runtimes: {runtimes}",
        f"- libraries: {', '.join(f'{k} {v}' for k, v in m['libraries'].items())}",
        f"- reference path: {report['reference_path']}",
        "",
        "## Targets",
        "",
        "```",
        format_targets(report),
        "```",
        "",
        "## Every variant, fastest first",
        "",
        _markdown_table(report),
        "",
        f"FPS est.: 1000 / (decoder ms + motion ms / {LIVE_HOP}) on the export's example inputs, median of "
        f"{report['speed']['rounds']} interleaved rounds. live FPS: a live session asking for {LIVE_FPS} "
        "FPS (late frames are dropped, so this is the rate sustained); p50/p95 ms: capture-to-frame latency "
        f"of a session at {LATENCY_FPS} FPS, the default; both from a real-time file source (the bundled "
        "speech, looped) on the first clip's face. "
        "x realtime: seconds of video per second of the edge chain offline (motion step + decoder, no "
        "encoding). Accuracy, means over the clips below: PSNR over every frame, SSIM and landmark "
        f"distance (LM px) over {FIDELITY_FRAMES} frames per clip, of the variant's decoder against the "
        "teacher on the reference motion; lip sync (correlation of mouth opening with voiced energy) and "
        "identity distance (dlib descriptors, same person < 0.6) of the variant's whole chain.",
        "",
    ]
    if report["skipped"]:
        lines += ["Not benchmarked:", ""] + [f"- {k}: {v}" for k, v in report["skipped"].items()] + [""]
    failures = [
        (c["clip"], n, r["error"]) for c in report["clips"] for n, r in c["variants"].items() if "error" in r
    ]
    if failures:
        lines += (
            ["Failed (left out of the means):", ""] + [f"- {n} on {c}: {e}" for c, n, e in failures] + [""]
        )
    lines += [
        "## Speed ratios (same run; > 1: the first named is faster)",
        "",
        "```",
        format_ratios(report),
        "```",
        "",
    ]
    lines += [
        f"Yardstick for comparing runs: {report['speed']['yardstick']} (each variant's fastest call is "
        "divided by the yardstick's; --compare flags decoder and frame ratios more than 10 % worse).",
        "",
        "## Plots",
        "",
        "![FPS per backend](fps.png)",
        "![accuracy vs speed](accuracy_vs_speed.png)",
        "![latency CDF](latency_cdf.png)",
        "![time per stage](stages.png)",
        "",
        "## Clips",
        "",
        "| clip | s | reference lip sync | reference blinks/min |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {c['clip']} | {c['seconds']:.1f} | {c['reference']['lip_sync_correlation']:.3f} | "
        f"{c['reference']['blinks_per_minute_motion']:.1f} |"
        for c in report["clips"]
    ]
    if "comparison" in report:
        tolerance = report.get("tolerance", REGRESSION)
        lines += [
            "",
            "## Against the baseline",
            "",
            "```",
            format_regressions(report["comparison"], tolerance),
            "```",
        ]
    lines += [
        "",
        "## Reproduce",
        "",
        "```bash",
        "./install.sh",
        "edge-vasa doctor --build        # every precision's artifacts (INT8 calibration: minutes)",
        report["command"],
        "python3 -m pytest benchmarks --benchmark-only   # the same figures as pytest-benchmark suites",
        "```",
        "",
    ]
    with atomic_output(path) as tmp:
        Path(tmp).write_text("\n".join(lines))


def write_report(report: dict, out: str | Path) -> list[Path]:
    """report.json, report.md and the plots into OUT (created); each file written atomically."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EdgeVasaError(
            f"cannot create {out} ({e.strerror}); choose a writable folder with --out"
        ) from None
    with atomic_output(out / "report.json") as tmp:
        Path(tmp).write_text(json.dumps(report, indent=1, default=float))
    write_markdown(report, out / "report.md")
    plot_fps(report, out / "fps.png")
    plot_accuracy_vs_speed(report, out / "accuracy_vs_speed.png")
    plot_latency_cdf(report, out / "latency_cdf.png")
    plot_stages(report, out / "stages.png")
    return [
        out / n
        for n in (
            "report.md",
            "report.json",
            "fps.png",
            "accuracy_vs_speed.png",
            "latency_cdf.png",
            "stages.png",
        )
    ]


# --- plots ----------------------------------------------------------------------------------------


def _subtitle(report: dict) -> str:
    cpu = report["machine"]["cpu"]
    return f"{cpu['model']}, {cpu['cores']} cores"


def plot_fps(report: dict, path: Path) -> None:
    """Bars: estimated FPS per backend, one bar per precision; live FPS as dots where measured."""
    rows = report["rows"]
    backends = list(dict.fromkeys(r["variant"].rsplit(" ", 1)[0] for r in rows))
    present = {r["variant"].rsplit(" ", 1)[1] for r in rows}
    precisions = [p for p in PRECISIONS if p in present] + sorted(present - set(PRECISIONS))  # same colours
    fig, ax = pyplot().subplots(figsize=(9, 4.5), dpi=100)
    width = 0.8 / max(1, len(precisions))
    x = np.arange(len(backends))
    for j, precision in enumerate(precisions):
        by = {r["variant"].rsplit(" ", 1)[0]: r for r in rows if r["variant"].endswith(" " + precision)}
        pos = x + (j - (len(precisions) - 1) / 2) * width
        present = [(p, by[b]["fps_estimate"]) for p, b in zip(pos, backends) if b in by]
        bars = ax.bar(*zip(*present), width, label=f"{precision} (decoder + motion step)")
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


def plot_accuracy_vs_speed(report: dict, path: Path) -> None:
    rows = [r for r in report["rows"] if r.get("psnr_db") is not None]
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


def plot_latency_cdf(report: dict, path: Path) -> None:
    fig, ax = pyplot().subplots(figsize=(8, 4.5), dpi=100)
    for name, live in report["live"].items():
        if live["latency_cdf_ms"]:
            ax.plot(
                live["latency_cdf_ms"],
                np.arange(101) / 100,
                label=f"{name} (p95 {live['latency_ms']['p95']:.0f} ms)",
            )
    ax.axvline(
        TARGET_LATENCY_MS,
        color="tab:green",
        linestyle="--",
        linewidth=1,
        label=f"goal {TARGET_LATENCY_MS:.0f} ms",
    )
    if not report["live"]:
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


def plot_stages(report: dict, path: Path) -> None:
    """Compute per displayed frame, stacked: decoder, motion step share, and the appearance encoder (once
    per face, shown per frame of a 10 s clip); the teacher decoder as the reference bar."""
    rows = report["rows"]
    names = [r["variant"] for r in rows]
    decoder = [r["decoder_ms"] for r in rows]
    motion = [r["motion_step_ms"] / LIVE_HOP for r in rows]
    encoder = [r["encoder_ms"] / 250 for r in rows]
    if report["speed"].get("reference_decoder_ms"):
        names.append("reference (teacher decoder)")
        decoder.append(report["speed"]["reference_decoder_ms"])
        motion.append(0.0)
        encoder.append(0.0)
    fig, ax = pyplot().subplots(figsize=(9, max(4.5, 0.5 * len(names) + 1.8)), dpi=100)
    y = np.arange(len(names))
    ax.barh(y, decoder, label="decoder (per frame)")
    ax.barh(y, motion, left=decoder, label=f"motion step / {LIVE_HOP} (per frame)")
    ax.barh(y, encoder, left=np.add(decoder, motion), label="appearance encoder / 250 (once per 10 s)")
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
