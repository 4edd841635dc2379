"""OpenVINO IR export (fp32) of the edge networks, from their ONNX export, with a parity check on CPU.

    xml = export_openvino("decoder_student", "artifacts/openvino-fp32")   # NAME.xml + NAME.bin + NAME.json

The ONNX file (already parity-checked against PyTorch) is converted with ``openvino.convert_model`` and
saved without the default fp16 weight compression (that alone moves outputs by up to ~3e-3). The IR is
then compiled for the CPU with the f32 precision hint pinned: on CPUs with AMX/AVX-512 BF16 OpenVINO
would otherwise run bf16 silently. Its outputs are compared with PyTorch's on the same inputs.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from edge_vasa.atomic import atomic_output
from edge_vasa.checkpoint import file_sha256
from edge_vasa.conversion.onnx_export import (
    NETWORKS,
    OUTPUT_NAMES,
    PARITY_TOLERANCE,
    export_onnx,
    load_network,
)
from edge_vasa.errors import EdgeVasaError

CPU_CONFIG = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}


def export_openvino(name: str, out_dir: str | Path, weights: str | Path | None = None) -> Path:
    """Export one network to OUT_DIR/NAME.xml/.bin (+ NAME.json manifest) after checking parity on CPU."""
    import openvino as ov

    if name not in NETWORKS:
        raise EdgeVasaError(f"unknown network {name!r}; use one of {', '.join(NETWORKS)}")
    network, source = load_network(name, weights)
    inputs = NETWORKS[name](network)
    with torch.no_grad():
        expected = network(*inputs.values()).numpy()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    xml = out_dir / f"{name}.xml"
    with tempfile.TemporaryDirectory() as scratch:
        onnx_path = export_onnx(name, scratch, weights)
        model = ov.convert_model(str(onnx_path))
        staged = Path(scratch) / xml.name
        ov.save_model(model, str(staged), compress_to_fp16=False)
        compiled = ov.Core().compile_model(str(staged), "CPU", CPU_CONFIG)
        feeds = {p.get_any_name(): inputs[p.get_any_name()].numpy() for p in compiled.inputs}
        got = compiled(feeds)[compiled.output(0)]
        error = float(np.abs(got - expected).max())
        if not error <= PARITY_TOLERANCE:
            raise EdgeVasaError(
                f"OpenVINO export of {name} is off by {error:.2e} (> {PARITY_TOLERANCE:g}) against PyTorch; "
                "nothing written"
            )
        for suffix in (".bin", ".xml"):  # the .xml last: it names the .bin
            with atomic_output(xml.with_suffix(suffix)) as tmp:
                Path(tmp).write_bytes(staged.with_suffix(suffix).read_bytes())
    manifest = {
        "network": name,
        "format": "openvino",
        "precision": "fp32",
        "openvino": ov.__version__,
        "inputs": {k: {"shape": list(v.shape), "dtype": str(v.numpy().dtype)} for k, v in inputs.items()},
        "outputs": {OUTPUT_NAMES[name]: {"shape": list(expected.shape), "dtype": str(expected.dtype)}},
        "files": {p.name: file_sha256(p) for p in (xml, xml.with_suffix(".bin"))},
        "source_weights_sha256": file_sha256(source),
        "parity": {
            "backend": "OpenVINO CPU, f32 hint",
            "max_abs_error": error,
            "tolerance": PARITY_TOLERANCE,
        },
    }
    with atomic_output(xml.with_suffix(".json")) as tmp:
        Path(tmp).write_text(json.dumps(manifest, indent=1))
    return xml
