"""`edge-vasa batch`: many videos from a jobs file, in parallel on Ray.

Ray is an optional extra: cmd_batch checks for it and says how to install it."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_vasa.apps.batch import CHUNK_S, format_summary, read_jobs, run_batch
from edge_vasa.apps.cli.common import add_backend_options
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.files import write_json
from edge_vasa.core.options import COLUMNS


def add_batch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batch",
        help="many videos from a CSV/JSONL of (photo, speech, options) rows, in parallel on Ray",
        description="Renders every row of JOBS (CSV with a header row, or JSONL) into --out: NAME.mp4 and "
        "NAME.status.json per row, written atomically, so a rerun skips finished rows and retries failed "
        "ones. "
        f"Columns: image, audio (paths relative to JOBS), and optionally name, {', '.join(COLUMNS)}, label, "
        "face_index. Runs on a local Ray instance started here (no setup), or on a cluster with "
        "--ray-address. Prints a summary table; exit status 1 if a row failed.",
    )
    p.add_argument("jobs", help="jobs file (.csv or .jsonl)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--workers", type=int, help="render workers (default: one per core)")
    p.add_argument("--ray-address", help="an existing Ray cluster (default: a local instance)")
    p.add_argument(
        "--chunk-seconds",
        type=float,
        default=CHUNK_S,
        help="audio longer than this is rendered in parallel chunks (default: %(default)s)",
    )
    add_backend_options(p)


def cmd_batch(args: argparse.Namespace) -> int:
    if args.workers is not None and not 1 <= args.workers <= 256:
        raise EdgeVasaError("--workers must be within 1..256")
    if args.chunk_seconds < 5:
        raise EdgeVasaError("--chunk-seconds must be at least 5")
    read_jobs(args.jobs)  # a bad jobs file fails here, before Ray starts
    try:
        import ray  # noqa: F401  (an optional extra: only checked for here; run_batch uses it)
    except ImportError:
        raise EdgeVasaError("batch needs Ray; pip install 'edge-vasa[batch]'") from None
    summary = run_batch(
        args.jobs,
        args.out,
        workers=args.workers,
        ray_address=args.ray_address,
        backend=args.backend,
        precision=args.precision,
        chunk_s=args.chunk_seconds,
    )
    print(format_summary(summary))
    write_json(Path(args.out) / "summary.json", summary)
    return 1 if summary["failed"] else 0
