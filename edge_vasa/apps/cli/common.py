"""What several commands share: one-line usage errors, the output check, the bundled photo, the backend
options and the backend ranking."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from edge_vasa.apps.studio import artifact_builder
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.files import atomic_output
from edge_vasa.runtimes.artifacts import PRECISIONS
from edge_vasa.runtimes.selector import Ranked, rank_candidates


class Parser(argparse.ArgumentParser):
    """Usage errors as one line, like every other error: what is wrong, and where the help is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def bundled_photo() -> str:
    """The default face: Grace Hopper, shipped by matplotlib, so nothing is downloaded. Found in matplotlib's
    sample data without importing it (15 MB resident and 70 ms of every start, live's too)."""
    (package,) = importlib.util.find_spec("matplotlib").submodule_search_locations
    return str(Path(package) / "mpl-data" / "sample_data" / "grace_hopper.jpg")


def check_output(path: str) -> None:
    """Before any work: the output's folder exists and takes a file (claimed and released again)."""
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise EdgeVasaError(f"output directory {parent} does not exist; create it or choose another --out")
    with contextlib.suppress(_Probe), atomic_output(path):
        raise _Probe  # nothing written: the temp file is removed, the target untouched


class _Probe(Exception):
    """Ends check_output's trial of the output folder."""


def add_backend_options(p: argparse.ArgumentParser) -> None:
    """--backend and --precision of the commands that run the exported edge models (live, soak, batch...)."""
    p.add_argument(
        "--backend",
        help="RUNTIME[:DEVICE] instead of the fastest measured, e.g. onnxruntime:cpu, openvino:gpu, "
        "torch:cuda",
    )
    p.add_argument("--precision", choices=PRECISIONS, help="only this precision")


def ranking(
    args: argparse.Namespace,
    build: bool = False,
    remeasure: bool = False,
    progress: Callable[[str], None] | None = None,
    machine: dict | None = None,
) -> list[Ranked]:
    """The usable backends for --backend/--precision, fastest first (missing artifacts exported on demand)."""
    builder = artifact_builder()
    return rank_candidates(args.backend, args.precision, build, remeasure, progress, machine, builder)
