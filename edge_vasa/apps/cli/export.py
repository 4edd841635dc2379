"""`edge-vasa export` (the edge networks to ONNX / OpenVINO / Core ML) and `edge-vasa doctor` (what this
machine can run, and which backend live would use).

Exporting needs PyTorch and the converters (imported in cmd_export); doctor runs on the edge install,
which has neither."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from edge_vasa.apps.cli.common import add_backend_options, ranking
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.files import write_json
from edge_vasa.live.sources import input_devices
from edge_vasa.runtimes.artifacts import FORMATS, PRECISIONS, artifact_files, cache_root, verify_artifact
from edge_vasa.runtimes.selector import probe


def add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export the edge networks (students) as ONNX / OpenVINO / Core ML, fp32 / fp16 / int8",
        description="Exports the decoder student, the appearance encoder and the motion student's streaming "
        "step (which holds the audio encoder). Each artifact is run against PyTorch at export and refused "
        "beyond the parity budget of its precision; int8 is calibrated on the calibration set (built on "
        "first use). A manifest beside each file records shapes, hashes, calibration and the measured "
        "parity. Artifacts already in OUT with a matching manifest are reused (--force rebuilds).",
    )
    p.add_argument("--format", choices=tuple(FORMATS), default="onnx", help="format (default: onnx)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="precision (default: fp32)")
    p.add_argument("--out", help="artifact folder (default: the cache, ~/.cache/edge-vasa/artifacts)")
    p.add_argument("--network", action="append", help="export only this network (repeatable; default: all)")
    p.add_argument("--force", action="store_true", help="rebuild even when a matching artifact exists")
    p.add_argument(
        "--compare",
        action="store_true",
        help="then score this precision against fp32 of the same format on held-out faces and real speech "
        "(frame PSNR vs the teacher, lip sync, latency); writes accuracy.json beside the artifacts",
    )


def cmd_export(args: argparse.Namespace) -> None:
    from edge_vasa.conversion.export import ensure_artifact  # needs torch and the converters
    from edge_vasa.pipeline.edge_networks import NETWORKS  # needs torch

    for name in args.network or []:
        if name not in NETWORKS:
            raise EdgeVasaError(f"unknown network {name!r}; use one of {', '.join(NETWORKS)}")
    root = Path(args.out) if args.out else cache_root()
    for name in tqdm(args.network or list(NETWORKS), desc="export", unit="network"):
        path = ensure_artifact(name, args.format, args.precision, root, force=args.force)
        manifest = verify_artifact(path)
        size = sum(f.stat().st_size for f in artifact_files(path)) / 1e6
        runs = manifest["parity"].get("runs", {})
        shown = ", ".join(
            f"{at}: max abs {r['max_abs_error']:.1e}, SNR {r['snr_db']:.0f} dB" for at, r in runs.items()
        )
        tqdm.write(f"{path} ({size:.1f} MB) {shown or manifest['parity'].get('validated', '')}")
    if args.compare:
        _compare_precisions(args.format, args.precision, root)


def _compare_precisions(fmt: str, precision: str, root: Path) -> None:
    from edge_vasa.conversion.accuracy import compare_precisions  # needs torch (the reference path)

    if precision == "fp32":
        raise EdgeVasaError("--compare scores a precision against fp32; give --precision fp16 or int8")
    result = compare_precisions(fmt, ("fp32", precision), root)
    dest = root / f"{fmt}-{precision}" / "accuracy.json"
    write_json(dest, result)
    print(
        f"{'':6} {'PSNR vs teacher':>16} {'vs fp32':>8} {'lip sync offline':>17} {'lip sync live':>14} "
        f"{'decoder ms':>11} {'motion ms':>10}"
    )
    for p, row in result["summary"].items():
        print(
            f"{p:6} {row['psnr_vs_reference_db']:13.2f} dB {row['psnr_vs_fp32_db']:8.1f} "
            f"{row['lip_sync']:17.3f} {row['lip_sync_live']:14.3f} {result['speed']['decoder_ms'][p]:11.1f} "
            f"{result['speed']['motion_step_ms'][p]:10.2f}"
        )
    row = result["summary"][precision]
    print(
        f"{precision}: PSNR drop {row['psnr_drop_db']:.2f} dB, lip sync offline "
        f"{row['lip_sync_change']:+.1%}, live {row['lip_sync_live_change']:+.1%} ({dest})"
    )


def add_doctor(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor",
        help="what this machine can run: backends, devices, precisions, measured FPS, and the choice",
        description="Probes the CPU (model, cores, ISA flags), GPUs and the installed runtimes (onnxruntime "
        "providers, OpenVINO devices, Core ML, PyTorch), times every backend x precision on the edge "
        "models (a short warm-up, cached per machine and artifact), and says which one `live` would use "
        "and why. fp32 artifacts are exported when missing; --build exports fp16 and int8 too (minutes).",
    )
    add_backend_options(p)
    p.add_argument("--build", action="store_true", help="export every missing artifact first (slow)")
    p.add_argument("--remeasure", action="store_true", help="time again instead of using cached timings")
    p.add_argument("--json", help="also write the findings to this JSON file")


def cmd_doctor(args: argparse.Namespace) -> None:
    machine = probe()
    cpu = machine["cpu"]
    print(f"CPU      {cpu['model']}, {cpu['cores']} cores, ISA: {' '.join(cpu['isa']) or 'baseline'}")
    print(f"GPU      {machine['gpu'] or 'none found'}")
    print(f"system   {machine['os']}, Python {machine['python']}")
    for runtime, info in machine["runtimes"].items():
        print(f"{runtime:8} {info['version']} on {', '.join(info['devices'])}")
    print("timing each backend x precision (a few frames each; cached) ...")
    ranked = ranking(args, args.build, args.remeasure, progress=tqdm.write, machine=machine)
    print(f"\n{'backend':22} {'precision':9} {'decoder ms':>10} {'motion ms':>9} {'FPS':>6}  status")
    for r in ranked:
        if r.usable:
            timing = f"{r.decoder_ms:10.1f} {r.motion_ms:9.1f} {r.fps:6.1f}"
            state = "ok" + (" (cached timing)" if r.cached else "")
        else:
            timing, state = f"{'-':>10} {'-':>9} {'-':>6}", r.status
        print(f"{r.candidate.backend:22} {r.candidate.precision:9} {timing}  {state}")
    usable = [r for r in ranked if r.usable]
    if usable:
        best = usable[0]
        print(
            f"\nchoice: {best.candidate} - the fastest usable here ({best.fps:.1f} FPS estimated for "
            "decoder + motion alone; every artifact passed its parity check at export)."
        )
        if len(usable) > 1:
            print(f"fallbacks, in order: {', '.join(str(r.candidate) for r in usable[1:])}")
    else:
        print("\nno usable backend: install onnxruntime or openvino (pip install 'edge-vasa[export]')")
    try:
        devices = input_devices()
        print(
            "\nmicrophones: "
            + ("; ".join(f"[{d['index']}] {d['name']} ({d['rate']} Hz)" for d in devices) or "none")
        )
    except EdgeVasaError as e:
        print(f"\nmicrophones: unknown ({e})")
    if args.json:
        rows = [asdict(r) | {"fps": r.fps if r.usable else None} for r in ranked]
        write_json(args.json, {"machine": machine, "ranking": rows}, default=str)
