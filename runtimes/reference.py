"""The PyTorch reference as a backend ("torch:cpu", "torch:cuda"): the edge network itself, fp32, loaded
from the weights the artifacts are exported from. It needs no export, so tests and the reference path use
it; the edge install has no torch and never opens it (runtimes.selector offers it only where torch is).
"""

from __future__ import annotations

import inspect

import numpy as np
import torch

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.pipeline.edge_networks import NETWORKS, OUTPUT_NAMES, load_network
from edge_vasa.runtimes.backends import Backend


def devices() -> list[str]:
    """PyTorch's devices here, fastest first."""
    return (["cuda"] if torch.cuda.is_available() else []) + ["cpu"]


def gpu_name() -> str | None:
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def _describe(x) -> dict:
    x = np.asarray(x)
    return {"shape": list(x.shape), "dtype": str(x.dtype)}


class TorchBackend(Backend):
    """The reference path: the PyTorch network itself (fp32), on CUDA when present, else the CPU. Its
    "artifact" is the weights file the edge artifacts are exported from."""

    runtime = "torch"

    def __init__(self, network: str, device: str | None = None, threads: int | None = None):
        device = (device or ("cuda" if torch.cuda.is_available() else "cpu")).lower()
        if device == "cuda" and not torch.cuda.is_available():
            raise EdgeVasaError("PyTorch has no CUDA device here; use torch:cpu")
        module, source = load_network(network)
        self.module = module.to(device)
        names = list(inspect.signature(module.forward).parameters)
        examples = NETWORKS[network](module, source)
        with torch.no_grad():
            output = module(*(examples[k].to(device) for k in names)).cpu()
        manifest = {
            "network": network,
            "precision": "fp32",
            "format": "torch",
            "inputs": {k: _describe(examples[k]) for k in names},
            "outputs": {OUTPUT_NAMES[network]: _describe(output)},
        }
        super().__init__(source, manifest, device)
        self.threads = threads

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """THREADS, when given, bounds the intra-op threads of this call (an OpenMP setting of the calling
        thread, restored after): the motion step runs beside the decoder, and more threads there would fight
        the decoder's for the cores (measured: the PyTorch decoder went from 67 to 109 ms per frame beside a
        2-thread motion thread, 74 with 1)."""
        self.check_inputs(inputs)
        before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                args = [torch.as_tensor(np.asarray(inputs[k])).to(self.device) for k in self.inputs]
                return self.module(*args).float().cpu().numpy()
        finally:
            torch.set_num_threads(before)
