"""The conclusions of a bench run: the card's targets (met or not, by which variant) and speed ratios.

Apart from run.py so that reading and formatting a report (report.py) needs the goals without importing
the measuring machinery.
"""

from __future__ import annotations

from collections.abc import Callable

from edge_vasa.bench.schema import BenchReport, FastestDecoder, Int8Ratio, Ratios, Target

TARGET_FPS, MIN_FPS, TARGET_LATENCY_MS, TARGET_PSNR_DB = 40.0, 25.0, 170.0, 30.0
LIVE_FPS = 40  # a live session asks for the goal; what a backend cannot render in time is dropped
LATENCY_FPS = 25  # and one at the default live rate measures latency
TORCH = "torch:cpu fp32"  # the PyTorch student: student vs teacher ratios compare like with like


def speed_ratios(report: BenchReport) -> Ratios:
    """Student vs teacher and INT8 vs fp32, from timings of the same run (> 1: the first is faster)."""
    speed, acc, out = report.speed.variants, report.accuracy, Ratios()
    reference_ms = report.speed.reference_decoder_ms
    if reference_ms and TORCH in speed:
        out.decoder_student_vs_teacher_pytorch = round(reference_ms / speed[TORCH].decoder_ms, 2)
    if reference_ms and speed:
        best = min(speed, key=lambda n: speed[n].decoder_ms)
        out.decoder_fastest_edge_vs_teacher = FastestDecoder(
            best, round(reference_ms / speed[best].decoder_ms, 2)
        )
    if "reference" in acc and TORCH in acc:
        out.motion_student_vs_teacher_pytorch = round(
            acc["reference"].motion_s_per_video_s / acc[TORCH].motion_s_per_video_s, 2
        )
    for name, row in speed.items():
        fp32 = name.replace(" int8", " fp32")
        if name.endswith(" int8") and fp32 in speed:
            out.int8_vs_fp32[name.rsplit(" ", 1)[0]] = Int8Ratio(
                decoder=round(speed[fp32].decoder_ms / row.decoder_ms, 3),
                frame=round(speed[fp32].frame_ms / row.frame_ms, 3),
            )
    if "reference" in acc:
        out.offline_edge_vs_reference = {
            n: round(a.offline_x_realtime / acc["reference"].offline_x_realtime, 2)
            for n, a in acc.items()
            if n != "reference"
        }
    return out


def _best(values: dict[str, float], better: Callable) -> tuple[str | None, float | None]:
    """The variant with the BETTER (max or min) value, and that value; (None, None) for no values."""
    name = better(values, key=values.get) if values else None
    return name, None if name is None else values[name]


def targets(report: BenchReport) -> list[Target]:
    """The card's targets on this machine: met or not, by which variant, with the numbers."""
    rows, live, out = report.rows, report.live, []
    fps_source = f"live, {LIVE_FPS} FPS requested" if live else "estimated from decoder + motion step"
    fps = {n: x.fps for n, x in live.items()} or {r["variant"]: r["fps_estimate"] for r in rows}
    name, value = _best(fps, max)
    for target in (TARGET_FPS, MIN_FPS):
        out.append(
            Target(
                target=f"{target:.0f} FPS at 512x512 ({fps_source})",
                met=value is not None and value >= target,
                best=name,
                value=value,
            )
        )
    p95 = {n: x.latency_ms.p95 for n, x in live.items()}
    name, value = _best(p95, min)
    out.append(
        Target(
            target=f"capture-to-frame latency p95 <= {TARGET_LATENCY_MS:.0f} ms (live, {LATENCY_FPS} FPS)",
            met=value is not None and value <= TARGET_LATENCY_MS,
            best=name,
            value=value,
        )
    )
    psnr = {r["variant"]: r["psnr_db"] for r in rows if r["psnr_db"] is not None}
    passing = sorted(n for n, v in psnr.items() if v >= TARGET_PSNR_DB)
    name, value = _best(psnr, max)
    out.append(
        Target(
            target=f"PSNR vs reference >= {TARGET_PSNR_DB:.0f} dB",
            met=bool(psnr) and len(passing) == len(psnr),
            best=name,
            value=value,
            passing=passing,
        )
    )
    return out
