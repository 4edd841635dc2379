"""Backends: one exported artifact loaded on one runtime and device, run on numpy inputs.

    backend = open_artifact("~/.cache/edge-vasa/artifacts/openvino-int8/decoder_student.xml")
    frame = backend({"features": ..., "image": ..., ...})       # -> (1, 3, 512, 512) float32
    backend.name, backend.precision                               # "openvino:cpu", "int8"

The artifact's manifest is verified first (a changed byte is refused). Implementations: onnxruntime (any
execution provider present: CUDA, CoreML, DirectML, OpenVINO EP, CPU), OpenVINO (CPU, GPU, NPU) and Core ML
(macOS only); each runtime is imported only when one of its artifacts is opened, so an install may carry
one of them. The PyTorch reference backend is runtimes.reference.
A backend is named RUNTIME:DEVICE with short lower-case device names ("onnxruntime:cuda", "torch:cpu").
"""

from __future__ import annotations

import glob
import os
import platform
from pathlib import Path

import numpy as np

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.files import cache_dir
from edge_vasa.runtimes.artifacts import verify_artifact

# onnxruntime execution providers that are services or need device setup rather than compute here
NOT_COMPUTE = {"AzureExecutionProvider"}
# Core ML compute units by short device name
COREML_UNITS = {"all": "ALL", "cpu": "CPU_ONLY", "gpu": "CPU_AND_GPU", "ane": "CPU_AND_NE"}


def compute_providers() -> list[str]:
    """onnxruntime execution providers present here that run graphs (CUDA, CoreML, DirectML, CPU...)."""
    import onnxruntime as ort

    return [p for p in ort.get_available_providers() if p not in NOT_COMPUTE]


def provider_device(provider: str) -> str:
    """ "CUDAExecutionProvider" -> "cuda", "DmlExecutionProvider" -> "dml"."""
    return provider.removesuffix("ExecutionProvider").lower()


def port_names(ports, known) -> list[str]:
    """The input names (from KNOWN) of OpenVINO ports, in port order. A port can carry several tensor
    names (graph cleaning merges tensors), so get_any_name() may return an internal one."""
    return [next(n for n in sorted(port.get_names()) if n in known) for port in ports]


def default_threads() -> int:
    """Threads per network call: EDGE_VASA_THREADS when set (batch workers share the cores), else every core
    this process may use."""
    if os.environ.get("EDGE_VASA_THREADS", "").isdigit():
        return max(1, int(os.environ["EDGE_VASA_THREADS"]))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_onnx(path: str | Path, feeds: list[dict], provider: str = "CPUExecutionProvider") -> np.ndarray:
    """The first output of an ONNX file for each of FEEDS (stacked), on one provider and one session.
    Only the inputs the graph declares are fed (the exporter prunes unused ones)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=[provider])
    names = [i.name for i in session.get_inputs()]
    return np.stack([session.run(None, {k: np.asarray(f[k]) for k in names})[0] for f in feeds])


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
        return f"{self.runtime}:{self.device.lower()}"

    @property
    def network(self) -> str:
        return self.manifest["network"]

    @property
    def precision(self) -> str:
        return self.manifest["precision"]

    def check_inputs(self, inputs: dict[str, np.ndarray]) -> None:
        missing = [k for k in self.inputs if k not in inputs]
        if missing:
            raise EdgeVasaError(f"{self.network} needs inputs {', '.join(missing)}")

    def feeds(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.check_inputs(inputs)
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

        present = {provider_device(p): p for p in compute_providers()}
        device = provider_device(device or "cpu")
        if device not in present:
            raise EdgeVasaError(f"onnxruntime has no {device} provider here; present: {', '.join(present)}")
        super().__init__(path, manifest, device)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        self.session = ort.InferenceSession(str(path), options, providers=[present[device]])
        self.declared = {i.name for i in self.session.get_inputs()}  # unused inputs are pruned at export

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        feeds = {k: v for k, v in self.feeds(inputs).items() if k in self.declared}
        return self.session.run(None, feeds)[0]


class OpenVINOBackend(Backend):
    runtime = "openvino"

    def __init__(self, path: Path, manifest: dict, device: str | None = None, threads: int | None = None):
        import openvino as ov

        core = ov.Core()
        device = (device or "CPU").upper()
        present = openvino_devices(core)
        if device not in present:
            raise EdgeVasaError(f"OpenVINO has no {device} device here; present: {', '.join(present)}")
        super().__init__(path, manifest, device)
        config = {"PERFORMANCE_HINT": "LATENCY"} | compiled_cache()
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
        # share_inputs: read the (contiguous) arrays in place instead of copying 3 MB per frame
        return self.request.infer([feeds[k] for k in self.declared], share_inputs=True)[0].copy()


def openvino_devices(core) -> list[str]:
    """CORE's devices, as ``core.available_devices`` lists them. On Linux without a GPU render node or an NPU
    accel node it asks the CPU plugin only: listing loads every plugin, and the GPU and NPU plugins stay
    resident (28 MB of a live session's 350 MB budget) where they find nothing."""
    if platform.system() == "Linux" and not glob.glob("/dev/dri/renderD*") and not glob.glob("/dev/accel/*"):
        try:
            core.get_property("CPU", "FULL_DEVICE_NAME")  # loads the CPU plugin only
        except RuntimeError:
            return []
        return ["CPU"]
    return list(core.available_devices)


def compiled_cache() -> dict[str, str]:
    """OpenVINO's CACHE_DIR setting: compiled models kept on disk (keyed by OpenVINO on the model, device and
    settings), so that a start loads them instead of compiling again (1.3 s -> 0.5 s for the three networks
    on 2 cores). Empty where the cache folder cannot be made: compiling works without it."""
    folder = cache_dir() / "openvino-compiled"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return {}
    return {"CACHE_DIR": str(folder)}


class CoreMLBackend(Backend):
    runtime = "coreml"

    def __init__(self, path: Path, manifest: dict, device: str | None = None, threads: int | None = None):
        if platform.system() != "Darwin":
            raise EdgeVasaError("Core ML runs only on macOS; use the ONNX or OpenVINO artifacts here")
        import coremltools as ct

        device = (device or "all").lower()
        if device not in COREML_UNITS:
            raise EdgeVasaError(f"unknown Core ML device {device!r}; use one of {', '.join(COREML_UNITS)}")
        super().__init__(path, manifest, device)
        self.model = ct.models.MLModel(str(path), compute_units=ct.ComputeUnit[COREML_UNITS[device]])
        self.output = next(iter(manifest["outputs"]))

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.model.predict(self.feeds(inputs))[self.output])


BACKENDS = {"onnx": OnnxRuntimeBackend, "openvino": OpenVINOBackend, "coreml": CoreMLBackend}


def open_artifact(path: str | Path, device: str | None = None, threads: int | None = None) -> Backend:
    """Verify an artifact's manifest and load it on its format's runtime (DEVICE: provider or device name)."""
    path = Path(path)
    manifest = verify_artifact(path)
    return BACKENDS[manifest["format"]](path, manifest, device, threads)
