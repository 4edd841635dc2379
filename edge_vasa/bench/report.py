"""The benchmark report: loading, the comparison with a baseline, tables, Markdown, and the files.

    report = run_bench(quick=True)                       # run.py measures
    write_report(report, "bench/")                       # report.md, report.json, fps.png, ...
    report.comparison = compare_reports(report, load_report("benchmarks/baseline"))
    print(format_regressions(report.comparison))

Runs on different machines, or at different times on a noisy one, compare through ratios taken inside each
run: every variant's time divided by the yardstick's (run.YARDSTICK) from the same run. Accuracy compares
per clip, on the clips both reports hold (a quick run's clip is also in every full run).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from edge_vasa.bench.plots import plot_accuracy_vs_speed, plot_fps, plot_latency_cdf, plot_stages
from edge_vasa.bench.schema import (
    FIDELITY_FRAMES,
    REPORT_VERSION,
    BenchReport,
    ClipFailure,
    ClipResult,
    Comparison,
    ReportError,
)
from edge_vasa.bench.targets import LATENCY_FPS, LIVE_FPS
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.files import atomic_output
from edge_vasa.core.options import LIVE_HOP
from edge_vasa.pipeline.motion_stream import LIVE_CHUNKING, OFFLINE_CHUNKING

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
    ("clip", "live_lip_sync_correlation", +1, 0.02),
)


def load_report(path: str | Path) -> BenchReport:
    """A report.json, or the folder that holds one, checked against the schema; a one-line error naming
    the problem otherwise (a baseline that is not a report must not fail minutes into a run)."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise EdgeVasaError(f"baseline {path} not found; give a report.json or the folder of one") from None
    except (OSError, ValueError) as e:
        raise EdgeVasaError(
            f"baseline {path} is not a readable report ({e}); run `edge-vasa bench` again"
        ) from None
    try:
        return BenchReport.from_json(document)
    except ReportError as e:
        raise EdgeVasaError(
            f"baseline {path} is not an edge-vasa bench report (version {REPORT_VERSION}): {e}"
        ) from None


def _clip_figure(clip: ClipResult, variant: str, key: str) -> float | None:
    """KEY of VARIANT on CLIP; None where the variant failed there, was not run, or lacks the figure."""
    scores = clip.variants.get(variant)
    return None if scores is None or isinstance(scores, ClipFailure) else getattr(scores, key)


def compare_reports(
    report: BenchReport, baseline: BenchReport, tolerance: float = REGRESSION
) -> list[Comparison]:
    """Every compared figure of each variant in both reports: speed as ratios to the yardstick of its own
    run, accuracy per clip present in both. A change for the worse beyond TOLERANCE (and the figure's
    smallest meaningful change) is a regression."""
    out = []
    now_speed, old_speed = report.speed.variants, baseline.speed.variants
    same_yardstick = report.speed.yardstick == baseline.speed.yardstick
    old_clips = {c.clip: c for c in baseline.clips}
    for name in now_speed:
        for section, key, sign, floor in COMPARED:
            if section == "speed":
                if name not in old_speed or not same_yardstick:
                    continue
                new, old = getattr(now_speed[name], key), getattr(old_speed[name], key)
            else:
                common = [
                    (_clip_figure(c, name, key), _clip_figure(old_clips[c.clip], name, key))
                    for c in report.clips
                    if c.clip in old_clips
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
                Comparison(
                    variant=name,
                    figure=key,
                    baseline=round(old, 4),
                    now=round(new, 4),
                    worse_by=round(change, 4),
                    regression=change > tolerance and abs(new - old) > floor,
                )
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
    ("lip_sync_correlation", "lip sync offline", "{:.3f}", True),
    ("live_lip_sync_correlation", "lip sync live", "{:.3f}", True),
    ("blinks_per_minute_motion", "blinks/min", "{:.1f}", False),
    ("blinks_per_minute_generated", "own blinks/min", "{:.1f}", False),
    ("blinks_per_minute_inserted", "inserted blinks/min", "{:.1f}", False),
    ("head_pose_std_deg", "head std deg", "{:.2f}", False),
    ("identity_distance", "id dist", "{:.3f}", True),
)


def _format(value: object, fmt: str) -> str:
    """VALUE in FMT; "-" for a figure the report lacks (None) or could not measure (NaN)."""
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else fmt.format(value)


def _cell(row: dict[str, Any], key: str, fmt: str) -> str:
    return _format(row.get(key), fmt)


def _table_rows(report: BenchReport) -> list[dict[str, Any]]:
    """The report's rows, fastest first, then the reference path's (the teacher decoder, its chain)."""
    reference = {
        "variant": "reference (teacher, PyTorch)",
        "decoder_ms": report.speed.reference_decoder_ms,
    }
    if "reference" in report.accuracy:
        reference |= dataclasses.asdict(report.accuracy["reference"])
    return [*report.rows, reference]


def format_table(report: BenchReport) -> str:
    """The terminal table: every variant fastest first, then the reference path."""
    rows = _table_rows(report)
    columns = [c for c in COLUMNS if c[3]]
    cells = [[h for _, h, _, _ in columns]] + [[_cell(r, k, f) for k, _, f, _ in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        for row in cells
    ]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def format_targets(report: BenchReport) -> str:
    """One line per target: met or not, the best value and the variant that reached it."""
    lines = []
    for t in report.targets:
        value = "-" if t.value is None else f"{t.value:.2f}"
        lines.append(f"{'MET    ' if t.met else 'NOT MET'}  {t.target}: best {value} ({t.best or 'none'})")
    return "\n".join(lines)


def format_ratios(report: BenchReport) -> str:
    """The speed ratios in words (> 1: the first named is faster)."""
    r, lines = report.ratios, []
    if r.decoder_student_vs_teacher_pytorch is not None:
        lines.append(
            f"decoder, student vs teacher (both PyTorch fp32): {r.decoder_student_vs_teacher_pytorch}x"
        )
    if r.decoder_fastest_edge_vs_teacher is not None:
        best = r.decoder_fastest_edge_vs_teacher
        lines.append(f"decoder, fastest edge variant ({best.variant}) vs teacher: {best.ratio}x")
    if r.motion_student_vs_teacher_pytorch is not None:
        ratio = r.motion_student_vs_teacher_pytorch
        lines.append(f"motion per second of speech, student vs teacher (PyTorch): {ratio}x")
    for backend, value in r.int8_vs_fp32.items():
        lines.append(f"INT8 vs fp32, {backend}: decoder {value.decoder}x, frame {value.frame}x")
    if r.offline_edge_vs_reference:
        pairs = ", ".join(f"{k} {v}x" for k, v in r.offline_edge_vs_reference.items())
        lines.append(f"offline video per wall second, edge chain vs reference path: {pairs}")
    return "\n".join(lines)


def format_regressions(comparison: list[Comparison], tolerance: float = REGRESSION) -> str:
    """The flagged figures, one line each, or that there are none."""
    flagged = [c for c in comparison if c.regression]
    if not flagged:
        return f"no regression beyond {tolerance:.0%} in {len(comparison)} compared figures"
    lines = [f"{len(flagged)} regression(s) beyond {tolerance:.0%}:"]
    lines += [f"  {c.variant}: {c.figure} {c.baseline} -> {c.now} ({c.worse_by:+.1%} worse)" for c in flagged]
    return "\n".join(lines)


def _markdown_table(report: BenchReport, short: bool = False) -> str:
    """Every column, or SHORT: the terminal table's."""
    rows, columns = _table_rows(report), [c for c in COLUMNS if c[3] or not short]
    head = "| " + " | ".join(h for _, h, _, _ in columns) + " |"
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(columns))) + "|"
    body = ["| " + " | ".join(_cell(r, k, f) for k, _, f, _ in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def write_markdown(report: BenchReport, path: Path) -> None:
    """report.md: the machine, targets, the table, how to read it, failures, ratios, plots, clips."""
    m, cpu = report.machine, report.machine.cpu
    runtimes = ", ".join(f"{r} {x.version} ({', '.join(x.devices)})" for r, x in m.runtimes.items())
    lines = [
        f"# edge-vasa benchmark ({report.mode})",
        "",
        f"{report.date}, {report.wall_s:.0f} s. Command: `{report.command}`",
        "",
        "## Machine",
        "",
        f"- CPU: {cpu.model}, {cpu.cores} cores, ISA: {', '.join(cpu.isa) or 'none of interest'}",
        f"- GPU: {m.gpu or 'none'}; OS: {m.os}; Python {m.python}; edge-vasa {m.edge_vasa}",
        f"- runtimes: {runtimes}",
        f"- libraries: {', '.join(f'{k} {v}' for k, v in m.libraries.items())}",
        f"- reference path: {report.reference_path}",
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
        f"{report.speed.rounds} interleaved rounds. live FPS: a live session asking for {LIVE_FPS} "
        "FPS (late frames are dropped, so this is the rate sustained); p50/p95 ms: capture-to-frame latency "
        f"of a session at {LATENCY_FPS} FPS, the default; both from a real-time file source (the bundled "
        "speech, looped) on the first clip's face. "
        "x realtime: seconds of video per second of the edge chain offline (motion step + decoder, no "
        "encoding). Accuracy, means over the clips below: PSNR over every frame, SSIM and landmark "
        f"distance (LM px) over {FIDELITY_FRAMES} frames per clip, of the variant's decoder against the "
        "teacher on the reference motion; lip sync (correlation of mouth opening with voiced energy) and "
        "identity distance (dlib descriptors, same person < 0.6) of the variant's whole chain. The chain "
        f"runs twice: lip sync offline is with {OFFLINE_CHUNKING} (the motion step's trained chunk and "
        f"look-ahead, as generate and eval run it), lip sync live with {LIVE_CHUNKING} (what `edge-vasa "
        "live` runs); the other chain figures are offline chunking's. blinks/min: blinks in the motion, "
        "split into the generator's own and those the blink keeper inserted (it adds one when the eyes "
        "stay open too long, so the total alone cannot show a generator that stares).",
        "",
    ]
    if report.skipped:
        lines += ["Not benchmarked:", ""] + [f"- {k}: {v}" for k, v in report.skipped.items()] + [""]
    failures = [
        (c.clip, n, r.error)
        for c in report.clips
        for n, r in c.variants.items()
        if isinstance(r, ClipFailure)
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
        f"Yardstick for comparing runs: {report.speed.yardstick} (each variant's fastest call is "
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
        "| clip | s | reference lip sync | reference blinks/min | own | inserted |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {c.clip} | {c.seconds:.1f} | {_format(c.reference.lip_sync_correlation, '{:.3f}')} | "
        f"{_format(c.reference.blinks_per_minute_motion, '{:.1f}')} | "
        f"{_format(c.reference.blinks_per_minute_generated, '{:.1f}')} | "
        f"{_format(c.reference.blinks_per_minute_inserted, '{:.1f}')} |"
        for c in report.clips
    ]
    if report.comparison is not None:
        lines += [
            "",
            "## Against the baseline",
            "",
            "```",
            format_regressions(report.comparison, report.tolerance or REGRESSION),
            "```",
        ]
    lines += [
        "",
        "## Reproduce",
        "",
        "```bash",
        "./install.sh",
        "edge-vasa doctor --build        # every precision's artifacts (INT8 calibration: minutes)",
        report.command,
        ".venv/bin/python -m pytest benchmarks --benchmark-only   # the same figures, pytest-benchmark",
        "```",
        "",
    ]
    with atomic_output(path) as tmp:
        Path(tmp).write_text("\n".join(lines))


README_BEGIN = "<!-- baseline: generated by scripts/readme_figures.py from {source}; do not edit -->"
README_END = "<!-- baseline: end -->"


def readme_block(report: BenchReport, source: str) -> str:
    """README's performance figures, all from one report (SOURCE, its path): where and when it ran, the
    table, the targets and the speed ratios. README states no other backend speed, so no figure in it can
    drift from the committed report (tests/bench/test_readme.py holds them equal)."""
    cpu, gpu = report.machine.cpu, report.machine.gpu or "none"
    isa = ", ".join(cpu.isa) or "baseline x86-64"
    lines = [
        README_BEGIN.format(source=source),
        f"From [`{source}`]({Path(source).with_suffix('.md').as_posix()}): `{report.command}` on "
        f"{report.date}, {cpu.model}, {cpu.cores} vCPUs, ISA {isa}, GPU {gpu}; every variant interleaved in "
        f"one run of {report.wall_s / 60:.0f} min.",
        "",
        _markdown_table(report, short=True),
        "",
        "```",
        format_targets(report),
        format_ratios(report),
        "```",
        README_END,
    ]
    return "\n".join(lines)


def replace_readme_block(text: str, block: str) -> str:
    """TEXT with its generated block (README_BEGIN ... README_END) replaced by BLOCK."""
    begin = text.find("<!-- baseline: generated")
    end = text.find(README_END)
    if begin < 0 or end < begin:
        raise EdgeVasaError("README has no generated baseline block; add the two marker lines where it goes")
    return text[:begin] + block + text[end + len(README_END) :]


def write_report(report: BenchReport, out: str | Path) -> list[Path]:
    """report.json, report.md and the plots into OUT (created); each file written atomically."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EdgeVasaError(
            f"cannot create {out} ({e.strerror}); choose a writable folder with --out"
        ) from None
    with atomic_output(out / "report.json") as tmp:
        Path(tmp).write_text(json.dumps(report.to_json(), indent=1))
    write_markdown(report, out / "report.md")
    plot_fps(report, out / "fps.png")
    plot_accuracy_vs_speed(report, out / "accuracy_vs_speed.png")
    plot_latency_cdf(report, out / "latency_cdf.png")
    plot_stages(report, out / "stages.png")
    names = ("report.md", "report.json", "fps.png", "accuracy_vs_speed.png", "latency_cdf.png", "stages.png")
    return [out / n for n in names]
