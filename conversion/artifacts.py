"""Exported artifacts: where they live, their manifests, and the cache that builds them on demand.

    path = ensure_artifact("decoder_student", "openvino", "int8")   # built once, then reused
    manifest = verify_artifact(path)                                 # refuses a changed byte

An artifact is one network in one format and precision: its files (NAME.onnx; NAME.xml + NAME.bin;
NAME.mlpackage/...) and NAME.json beside them. The manifest is written last and lists the sha256 of every
file, so a half-written or tampered artifact never verifies. Artifacts are built on demand into a cache
(``$EDGE_VASA_CACHE/artifacts``, default ``~/.cache/edge-vasa/artifacts``), one folder per format and
precision, and rebuilt when the source weights, the calibration set or the tool versions change.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np

from edge_vasa import __version__
from edge_vasa.atomic import atomic_output, file_sha256
from edge_vasa.errors import EdgeVasaError

FORMATS = {"onnx": ".onnx", "openvino": ".xml", "coreml": ".mlpackage"}
PRECISIONS = ("fp32", "fp16", "int8")

# Parity budgets, per precision, on the network's outputs for the export's example inputs.
#   fp32: against PyTorch, max abs difference (frames in [0, 1]; motion in its own units).
#   fp16: against PyTorch, max abs difference (half precision has ~3 decimal digits).
#   int8: against the fp32 export, SNR of the output (10 log10 of signal variance over error power).
FP32_MAX_ABS = 1e-3
FP16_MAX_ABS = 2e-2
INT8_MIN_SNR_DB = 20.0


def cache_root() -> Path:
    """The artifact cache: $EDGE_VASA_CACHE/artifacts, else ~/.cache/edge-vasa/artifacts."""
    base = (
        os.environ.get("EDGE_VASA_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edge-vasa"
    )
    return Path(base) / "artifacts"


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


def snr_db(reference: np.ndarray, got: np.ndarray) -> float:
    """10 log10(variance of the reference / mean squared error): how far the output's variation stands above
    the error it carries (inf when equal)."""
    err = float(np.mean((np.asarray(got, np.float64) - reference) ** 2))
    return float("inf") if err == 0 else 10 * np.log10(float(np.var(reference)) / err)


def write_manifest(main: str | Path, fields: dict) -> Path:
    """Write NETWORK.json beside ``main`` with ``fields`` plus the sha256 of every file, the edge-vasa
    version and the machine it was built on. Written last: it is what makes the artifact valid."""
    main = Path(main)
    files = {str(p.relative_to(main.parent)): file_sha256(p) for p in artifact_files(main)}
    manifest = {
        **fields,
        "files": files,
        "edge_vasa": __version__,
        "built_on": {"machine": platform.machine(), "system": platform.system()},
    }
    path = manifest_path(main)
    with atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(manifest, indent=1))
    return path


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


def tool_versions(fmt: str) -> dict[str, str]:
    """Versions of the libraries an artifact of this format depends on (a change triggers a rebuild)."""
    import torch

    names = {"onnx": ["onnx", "onnxruntime"], "openvino": ["onnx", "openvino"], "coreml": ["coremltools"]}
    versions = {"torch": torch.__version__.split("+")[0]}
    for name in names[fmt]:
        versions[name] = __import__(name).__version__
    return versions


def export_fields(network: str, fmt: str, precision: str, source: str | Path) -> dict:
    """The fields every manifest starts with; the cache compares the tools and source weights."""
    return {
        "network": network,
        "format": fmt,
        "precision": precision,
        "tools": tool_versions(fmt),
        "source_weights_sha256": file_sha256(source),
    }


def ensure_artifact(
    network: str,
    fmt: str,
    precision: str,
    root: str | Path | None = None,
    weights: str | Path | None = None,
    force: bool = False,
) -> Path:
    """The artifact's main file, exported now unless a verified one with the same source weights,
    calibration set and tool versions is already in ``root`` (default: the cache)."""
    from edge_vasa.conversion.networks import source_weights

    if not force:
        main = current_artifact(network, fmt, precision, root, weights)
        if main is not None:
            return main
    main = artifact_path(root or cache_root(), network, fmt, precision)
    source_weights(network, weights)  # a clear error before anything is built
    return export_artifact(network, fmt, precision, main.parent, weights)


def current_artifact(
    network: str, fmt: str, precision: str, root: str | Path | None = None, weights: str | Path | None = None
) -> Path | None:
    """The artifact's main file if a verified one exported from the same source weights, calibration set
    and tool versions is in ``root`` (default: the cache), else None."""
    main = artifact_path(root or cache_root(), network, fmt, precision)
    try:
        manifest = verify_artifact(main)
    except EdgeVasaError:
        return None
    return main if _still_current(manifest, network, fmt, precision, weights) else None


def _still_current(manifest: dict, network: str, fmt: str, precision: str, weights) -> bool:
    from edge_vasa.conversion.networks import source_weights

    if manifest.get("source_weights_sha256") != file_sha256(source_weights(network, weights)):
        return False
    if manifest.get("tools") != tool_versions(fmt):
        return False
    budget = manifest.get("quantization", {}).get("budget_snr_db")
    if budget is not None:  # a changed budget changes which layers stay in float
        from edge_vasa.calibration.quantize import INT8_BUDGET_DB

        if budget != INT8_BUDGET_DB[network]:
            return False
    if "calibration" in manifest:  # calibrated int8: the same calibration set (built first if missing)
        from edge_vasa.calibration.dataset import calibration_set

        return manifest["calibration"].get("sha256") == calibration_set().sha256
    return True


def export_artifact(
    network: str, fmt: str, precision: str, out_dir: str | Path, weights: str | Path | None = None
) -> Path:
    """Export NETWORK as FORMAT/PRECISION into OUT_DIR (parity-checked; refused beyond the budget)."""
    artifact_path(out_dir, network, fmt, precision)  # validates the names
    if fmt == "onnx":
        from edge_vasa.conversion.onnx_export import export_onnx as export
    elif fmt == "openvino":
        from edge_vasa.conversion.openvino_export import export_openvino as export
    else:
        from edge_vasa.conversion.coreml_export import export_coreml as export
    return export(network, out_dir, precision=precision, weights=weights)


def io_fields(inputs: dict, outputs: dict) -> dict:
    """The manifest's "inputs" and "outputs": name -> shape and dtype (arrays or tensors)."""

    def describe(x) -> dict:
        x = np.asarray(x)
        return {"shape": list(x.shape), "dtype": str(x.dtype)}

    return {
        "inputs": {k: describe(v) for k, v in inputs.items()},
        "outputs": {k: describe(v) for k, v in outputs.items()},
    }


def measure_parity(network: str, fmt: str, precision: str, expected: np.ndarray, got: np.ndarray) -> dict:
    """Parity figures of an export's output against PyTorch's; EdgeVasaError beyond the precision's budget.

    fp32 and fp16 are judged by the largest absolute difference; int8 by the SNR, since 8-bit steps make
    every output a little off and what matters is how far the error stays below the signal.
    """
    error = float(np.abs(np.asarray(got, np.float64) - expected).max())
    figures = {"max_abs_error": error, "snr_db": snr_db(expected, got)}
    if precision == "int8":
        figures["min_snr_db"] = INT8_MIN_SNR_DB
        ok = figures["snr_db"] >= INT8_MIN_SNR_DB
        shown = f"at SNR {figures['snr_db']:.1f} dB (< {INT8_MIN_SNR_DB:g})"
    else:
        tolerance = FP32_MAX_ABS if precision == "fp32" else FP16_MAX_ABS
        figures["tolerance"] = tolerance
        ok, shown = error <= tolerance, f"off by {error:.2e} (> {tolerance:g})"
    if not ok:
        raise EdgeVasaError(
            f"{fmt} {precision} export of {network} is {shown} against PyTorch; nothing written"
        )
    return figures
