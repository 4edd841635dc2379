"""Backends: one exported artifact loaded on one runtime and device, run on numpy inputs.

    backend = open_artifact("~/.cache/edge-vasa/artifacts/openvino-int8/decoder_student.xml")
    frame = backend({"features": ..., "image": ..., ...})       # -> (1, 3, 512, 512) float32
    backend.name, backend.precision                               # "openvino:CPU", "int8"

The artifact's manifest is verified first (a changed byte is refused). Implementations: onnxruntime (any
execution provider present: CUDA, CoreML, DirectML, OpenVINO EP, CPU), OpenVINO (CPU, GPU, NPU) and Core ML
(macOS only).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np

from edge_vasa.conversion.artifacts import verify_artifact
from edge_vasa.errors import EdgeVasaError

# onnxruntime execution providers that are services or need device setup rather than compute here
NOT_COMPUTE = {"AzureExecutionProvider"}


def compute_providers() -> list[str]:
    """onnxruntime execution providers present here that run graphs (CUDA, CoreML, DirectML, CPU...)."""
    import onnxruntime as ort

    return [p for p in ort.get_available_providers() if p not in NOT_COMPUTE]


def port_names(ports, known) -> list[str]:
    """The input names (from KNOWN) of OpenVINO ports, in port order. A port can carry several tensor
    names (graph cleaning merges tensors), so get_any_name() may return an internal one."""
    return [next(n for n in sorted(port.get_names()) if n in known) for port in ports]


def default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Backend:
    """A loaded artifact: call it with {input name: array}; it returns the network's one output."""

    runtime = ""

    def __init__(self, path: Path, manifest: dict, device: str):
        self.path, self.manifest, self.device = path, manifest, device
        self.inputs = list(manifest["inputs"])
        self.dtypes = {k: np.dtype(v["dtype"]) for k, v in manifest["inputs"].items()}
        self.shapes = {k: tuple(v["shape"]) for k, v in manifest["inputs"].items()}

    @property
    def name(self) -> str:
        return f"{self.runtime}:{self.device}"

    @property
    def network(self) -> str:
        return self.manifest["network"]

    @property
    def precision(self) -> str:
        return self.manifest["precision"]

    def feeds(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = [k for k in self.inputs if k not in inputs]
        if missing:
            raise EdgeVasaError(f"{self.network} needs inputs {', '.join(missing)}")
        # reshaped to the artifact's own shapes: Core ML takes the 0-d emotion index as a (1,) array
        return {
            k: np.ascontiguousarray(inputs[k], self.dtypes[k]).reshape(self.shapes[k]) for k in self.inputs
        }

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError


class OnnxRuntimeBackend(Backend):
    runtime = "onnxruntime"

    def __init__(self, path: Path, manifest: dict, device: str | None = None, threads: int | None = None):
        import onnxruntime as ort

        device = device or "CPUExecutionProvider"
        if device not in compute_providers():
            raise EdgeVasaError(
                f"onnxruntime has no {device} here; present: {', '.join(compute_providers())}"
            )
        super().__init__(path, manifest, device)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        self.session = ort.InferenceSession(str(path), options, providers=[device])
        self.declared = {i.name for i in self.session.get_inputs()}  # unused inputs are pruned at export

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        feeds = {k: v for k, v in self.feeds(inputs).items() if k in self.declared}
        return self.session.run(None, feeds)[0]


class OpenVINOBackend(Backend):
    runtime = "openvino"

    def __init__(self, path: Path, manifest: dict, device: str | None = None, threads: int | None = None):
        import openvino as ov

        core = ov.Core()
        device = device or "CPU"
        if device not in core.available_devices:
            raise EdgeVasaError(
                f"OpenVINO has no {device} device here; present: {', '.join(core.available_devices)}"
            )
        super().__init__(path, manifest, device)
        config = {"PERFORMANCE_HINT": "LATENCY"}
        if device == "CPU":
            # f32 pinned: AMX / AVX-512 BF16 CPUs would otherwise run bf16 silently, outside parity
            config |= {
                "INFERENCE_PRECISION_HINT": "f32",
                "INFERENCE_NUM_THREADS": threads or default_threads(),
            }
        self.compiled = core.compile_model(str(path), device, config)
        self.declared = port_names(self.compiled.inputs, self.inputs)
        self.request = self.compiled.create_infer_request()

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        feeds = self.feeds(inputs)
        return self.request.infer([feeds[k] for k in self.declared])[0].copy()


class CoreMLBackend(Backend):
    runtime = "coreml"

    def __init__(self, path: Path, manifest: dict, device: str | None = None, threads: int | None = None):
        if platform.system() != "Darwin":
            raise EdgeVasaError("Core ML runs only on macOS; use the ONNX or OpenVINO artifacts here")
        import coremltools as ct

        device = device or "ALL"
        super().__init__(path, manifest, device)
        self.model = ct.models.MLModel(str(path), compute_units=ct.ComputeUnit[device])
        self.output = next(iter(manifest["outputs"]))

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.model.predict(self.feeds(inputs))[self.output])


BACKENDS = {"onnx": OnnxRuntimeBackend, "openvino": OpenVINOBackend, "coreml": CoreMLBackend}


def open_artifact(path: str | Path, device: str | None = None, threads: int | None = None) -> Backend:
    """Verify an artifact's manifest and load it on its format's runtime (DEVICE: provider or device name)."""
    path = Path(path)
    manifest = verify_artifact(path)
    return BACKENDS[manifest["format"]](path, manifest, device, threads)
