"""Exported artifacts on the runtime side: where they live, and their manifests checked before loading.

    path = find_artifact("decoder_student", "openvino", "int8")     # a verified artifact, or None
    manifest = verify_artifact(path)                                 # refuses a changed byte

An artifact is one network in one format and precision: its files (NAME.onnx; NAME.xml + NAME.bin;
NAME.mlpackage/...) and NAME.json beside them. The manifest is written last and lists the sha256 of every
file, so a half-written or tampered artifact never verifies. Artifacts live in a cache
(``$EDGE_VASA_CACHE/artifacts``, default ``~/.cache/edge-vasa/artifacts``), one folder per format and
precision. Building them (and rebuilding when the export tools or the calibration set change) is the
export side's job (conversion.artifacts); the runtime takes any verified artifact exported from the
weights it ships with, so it needs none of the export tools.
"""

from __future__ import annotations

import json
from pathlib import Path

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.files import cache_dir, file_sha256
from edge_vasa.core.shipped import source_weights

FORMATS = {"onnx": ".onnx", "openvino": ".xml", "coreml": ".mlpackage"}
PRECISIONS = ("fp32", "fp16", "int8")


def cache_root() -> Path:
    """The artifact cache: $EDGE_VASA_CACHE/artifacts, else ~/.cache/edge-vasa/artifacts."""
    return cache_dir() / "artifacts"


def artifact_path(root: str | Path, network: str, fmt: str, precision: str) -> Path:
    """ROOT/FORMAT-PRECISION/NETWORK.EXT: the main file of an artifact (its manifest is NETWORK.json)."""
    if fmt not in FORMATS:
        raise EdgeVasaError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if precision not in PRECISIONS:
        raise EdgeVasaError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    return Path(root) / f"{fmt}-{precision}" / f"{network}{FORMATS[fmt]}"


def manifest_path(main: str | Path) -> Path:
    return Path(main).with_suffix(".json")


def artifact_files(main: str | Path) -> list[Path]:
    """Every file of an artifact: the main file, the OpenVINO weights beside an .xml, or all files inside a
    Core ML package (a folder)."""
    main = Path(main)
    if main.is_dir():
        return sorted(p for p in main.rglob("*") if p.is_file())
    if main.suffix == ".xml":
        return [main, main.with_suffix(".bin")]
    return [main]


def verify_artifact(main: str | Path) -> dict:
    """The manifest beside an artifact, after checking every file's sha256 against it."""
    main = Path(main)
    path = manifest_path(main)
    if not path.is_file():
        raise EdgeVasaError(f"{main} has no manifest ({path.name}); export it again")
    try:
        manifest = json.loads(path.read_text())
        files = manifest["files"]
    except (ValueError, KeyError):
        raise EdgeVasaError(f"{path} is not an artifact manifest; export it again") from None
    for file, digest in files.items():
        p = main.parent / file
        if not p.is_file() or file_sha256(p) != digest:
            raise EdgeVasaError(f"{p} does not match its manifest (sha256); export it again")
    return manifest


def find_artifact(
    network: str, fmt: str, precision: str, root: str | Path | None = None, weights: str | Path | None = None
) -> Path | None:
    """The artifact's main file if a verified one exported from WEIGHTS (default: the shipped student's) is
    in ROOT (default: the cache), else None."""
    main = artifact_path(root or cache_root(), network, fmt, precision)
    try:
        manifest = verify_artifact(main)
    except EdgeVasaError:
        return None
    same = manifest.get("source_weights_sha256") == file_sha256(source_weights(network, weights))
    return main if same else None
