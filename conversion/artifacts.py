"""Building artifacts: manifests, parity budgets, and the cache that exports them on demand.

    fields = export_fields(network, fmt, precision, source)   # what every manifest starts with
    figures = measure_parity(network, fmt, precision, expected, got)

Where artifacts live and how a manifest is verified is the runtime's side (runtimes.artifacts); whether a
built one is still current (same source weights, calibration set, tool versions and INT8 budget) is
conversion.freshness's, torch-free since every start checks it; otherwise conversion.export exports it
again.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np

from edge_vasa import __version__
from edge_vasa.conversion.freshness import tool_versions
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.files import atomic_output, file_sha256
from edge_vasa.evaluation.metrics import snr_db
from edge_vasa.runtimes.artifacts import artifact_files, manifest_path

# Parity budgets, per precision, on the network's outputs for the export's example inputs.
#   fp32: against PyTorch, max abs difference (frames in [0, 1]; motion in its own units).
#   fp16: against PyTorch, max abs difference (half precision has ~3 decimal digits).
#   int8: against the fp32 export, SNR of the output (10 log10 of signal variance over error power).
FP32_MAX_ABS = 1e-3
FP16_MAX_ABS = 2e-2
INT8_MIN_SNR_DB = 20.0


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


def export_fields(network: str, fmt: str, precision: str, source: str | Path) -> dict:
    """The fields every manifest starts with; the cache compares the tools and source weights."""
    return {
        "network": network,
        "format": fmt,
        "precision": precision,
        "tools": tool_versions(fmt),
        "source_weights_sha256": file_sha256(source),
    }


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
