"""Whether a built artifact is still current, checked at every start of the apps and torch-free.

    main = current_artifact("decoder_student", "openvino", "fp32")   # the verified file, or None: rebuild

An artifact is current when it was exported from the same source weights (find_artifact), with the same
tool versions, INT8 budget and calibration set. The versions are read from the installed packages'
metadata rather than by importing them: importing torch and onnx for their __version__ was 2.4 s of the
full install's 4.5 s warm start (benchmarks/test_bench_startup.py). OpenVINO is the exception: manifests
record its build string, which only the module has, and a session on OpenVINO imports it anyway.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from pathlib import Path

from edge_vasa.calibration.identity import INT8_BUDGET_DB, calibration_path
from edge_vasa.core.files import file_sha256
from edge_vasa.runtimes.artifacts import find_artifact, verify_artifact

TOOLS = {"onnx": ["onnx", "onnxruntime"], "openvino": ["onnx", "openvino"], "coreml": ["coremltools"]}
FROM_MODULE = {"openvino"}  # recorded as the module's __version__ (with the build), not the package's


def installed_version(name: str) -> str:
    """NAME's version as the manifests record it (__version__), from its package metadata where the two
    agree; the module's own where they do not, or where the distribution has another name."""
    if name not in FROM_MODULE:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:  # e.g. onnxruntime installed as onnxruntime-gpu
            pass
    return importlib.import_module(name).__version__


def tool_versions(fmt: str) -> dict[str, str]:
    """Versions of the libraries an artifact of this format depends on (a change triggers a rebuild)."""
    versions = {"torch": installed_version("torch").split("+")[0]}
    return versions | {name: installed_version(name) for name in TOOLS[fmt]}


def current_artifact(
    network: str, fmt: str, precision: str, root: str | Path | None = None, weights: str | Path | None = None
) -> Path | None:
    """The artifact's main file if a verified one exported from the same source weights, calibration set
    and tool versions is in ``root`` (default: the cache), else None."""
    main = find_artifact(network, fmt, precision, root, weights)
    return main if main is not None and still_current(verify_artifact(main), network, fmt) else None


def still_current(manifest: dict, network: str, fmt: str) -> bool:
    """Same export tools, INT8 budget and calibration set (the source weights are find_artifact's check)."""
    if manifest.get("tools") != tool_versions(fmt):
        return False
    budget = manifest.get("quantization", {}).get("budget_snr_db")
    if budget is not None:  # a changed budget changes which layers stay in float
        if budget != INT8_BUDGET_DB[network]:
            return False
    if "calibration" in manifest:  # calibrated int8: the same calibration set (built first if missing)
        return manifest["calibration"].get("sha256") == calibration_sha256()
    return True


def calibration_sha256() -> str:
    """The calibration set's sha256; the set is built first when missing (which needs PyTorch)."""
    path = calibration_path()
    if not path.is_file():
        from edge_vasa.calibration.dataset import calibration_set

        return calibration_set().sha256
    return file_sha256(path)
