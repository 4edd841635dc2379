"""Export on demand: an artifact from the cache when it is current, else exported now (parity-checked).

path = ensure_artifact("decoder_student", "openvino", "int8")   # built once, then reused
"""

from __future__ import annotations

from pathlib import Path

from edge_vasa.conversion.freshness import current_artifact
from edge_vasa.core.shipped import source_weights
from edge_vasa.runtimes.artifacts import artifact_path, cache_root


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
    if not force:
        main = current_artifact(network, fmt, precision, root, weights)
        if main is not None:
            return main
    main = artifact_path(root or cache_root(), network, fmt, precision)
    source_weights(network, weights)  # a clear error before anything is built
    return export_artifact(network, fmt, precision, main.parent, weights)


def export_artifact(
    network: str, fmt: str, precision: str, out_dir: str | Path, weights: str | Path | None = None
) -> Path:
    """Export NETWORK as FORMAT/PRECISION into OUT_DIR (parity-checked; refused beyond the budget)."""
    artifact_path(out_dir, network, fmt, precision)  # validates the names
    # each exporter pulls in its own toolchain (onnx + onnxslim, openvino, coremltools: seconds to
    # import, and coremltools is optional off macOS), so only the one asked for is imported
    if fmt == "onnx":
        from edge_vasa.conversion.onnx_export import export_onnx as export
    elif fmt == "openvino":
        from edge_vasa.conversion.openvino_export import export_openvino as export
    else:
        from edge_vasa.conversion.coreml_export import export_coreml as export
    return export(network, out_dir, precision=precision, weights=weights)
