"""`edge-vasa bench`: speed and accuracy of every backend x precision against the reference path.

The benchmark scores against the PyTorch teacher, so edge_vasa.bench (torch) is imported in cmd_bench."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.runtimes.artifacts import PRECISIONS
from edge_vasa.runtimes.selector import parse_backend, probe


def add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="speed and accuracy of every backend x precision against the reference path: report + plots",
        description="Times every edge variant here (runtime x device x precision, as `doctor` lists "
        "them) side by side, scores each against the reference path (the teacher models, fp32 PyTorch) "
        "on held-out faces and speech (PSNR, SSIM, landmarks, lip sync, blinks, head motion, identity), "
        "runs a short live session per variant, and writes report.md, report.json and plots (FPS bars, "
        "accuracy vs speed, latency CDF, time per stage) to --out. --compare flags figures more than 10%% "
        "worse than a baseline report (exit status 1). Full run: about 15 minutes on 2 cores; --quick: "
        "about 2.",
    )
    p.add_argument(
        "--backends",
        nargs="+",
        metavar="RUNTIME[:DEVICE]",
        help="only these, e.g. openvino onnxruntime:cpu torch (default: every one installed)",
    )
    p.add_argument("--precisions", nargs="+", choices=PRECISIONS, help="only these precisions")
    p.add_argument("--quick", action="store_true", help="one short clip, fewer rounds, one live session")
    p.add_argument("--out", default="bench", help="folder for the report (default: %(default)s)")
    p.add_argument("--compare", metavar="BASELINE", help="a baseline report.json (or its folder) to compare")
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.10,
        help="with --compare: how much worse a figure may be before it is flagged (default: %(default)s; "
        "speed ratios between runtimes moved 10-14%% between runs of unchanged code on a shared 2-core VM)",
    )
    p.add_argument("--build", action="store_true", help="export missing fp16/int8 artifacts first (slow)")
    p.add_argument("--no-live", action="store_true", help="skip the live sessions")


def _bench_command(args: argparse.Namespace) -> str:
    """The command line that repeats this run, for the report."""
    words = ["edge-vasa bench"]
    for flag, value in (("--backends", args.backends), ("--precisions", args.precisions)):
        if value:
            words.append(f"{flag} {' '.join(value)}")
    words += [
        flag
        for flag, on in (("--quick", args.quick), ("--build", args.build), ("--no-live", args.no_live))
        if on
    ]
    words.append(f"--out {args.out}")
    if args.compare:
        words.append(f"--compare {args.compare} --tolerance {args.tolerance}")
    return " ".join(words)


def cmd_bench(args: argparse.Namespace) -> int:
    # bench.run needs torch (the reference path); bench.report (matplotlib) only here
    from edge_vasa.bench import report as bench_report
    from edge_vasa.bench import run as bench

    if not 0 < args.tolerance < 1:
        raise EdgeVasaError(f"--tolerance {args.tolerance} is out of range; give a fraction such as 0.1")
    baseline = bench_report.load_report(args.compare) if args.compare else None
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise EdgeVasaError(f"--out {out} is a file; give a folder for the report")
    try:  # refused now rather than after minutes of measuring
        out.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out).close()
    except OSError as e:
        raise EdgeVasaError(
            f"cannot write to {out} ({e.strerror}); choose a writable folder with --out"
        ) from None
    machine = probe()
    for spec in args.backends or []:
        parse_backend(spec, machine)  # unknown or absent backends: refused before minutes of work
    report = bench.run_bench(
        args.backends,
        args.precisions,
        args.quick,
        args.build,
        live=not args.no_live,
        command=_bench_command(args),
        machine=machine,
    )
    if baseline is not None:
        report.comparison = bench_report.compare_reports(report, baseline, args.tolerance)
        report.tolerance = args.tolerance
    files = bench_report.write_report(report, out)
    print()
    print(bench_report.format_table(report))
    print()
    print(bench_report.format_ratios(report))
    print()
    print(bench_report.format_targets(report))
    if baseline is not None:
        print()
        print(bench_report.format_regressions(report.comparison, args.tolerance))
    print(f"\nwrote {', '.join(str(f) for f in files)} ({report.wall_s:.0f} s)")
    return 1 if report.comparison is not None and any(c.regression for c in report.comparison) else 0
