"""OpenVINO IR export (fp32, fp16, int8) of the edge networks, from their ONNX export, parity-checked.

    xml = export_openvino("decoder_student", "artifacts/openvino-fp32")   # NAME.xml + NAME.bin + NAME.json

The fp32 ONNX graph (already parity-checked against PyTorch) is converted with ``openvino.convert_model``.
fp32 is saved without the default fp16 weight compression (that alone moves outputs by up to ~3e-3); fp16
stores fp16 weights (half the file; the CPU computes in f32, GPUs and NPUs in f16); int8 is NNCF's
post-training quantization on the calibration set (edge_vasa.calibration).

Parity runs on the CPU with the f32 precision hint pinned (on CPUs with AMX/AVX-512 BF16 OpenVINO would
otherwise run bf16 silently); other OpenVINO devices present (GPU, NPU) are recorded and accepted by name at
run time.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from edge_vasa.calibration.quantize import quantize_openvino
from edge_vasa.conversion.artifacts import export_fields, io_fields, measure_parity, write_manifest
from edge_vasa.conversion.onnx_export import trace_onnx
from edge_vasa.core.files import atomic_output
from edge_vasa.pipeline.edge_networks import OUTPUT_NAMES, example_run
from edge_vasa.runtimes.backends import port_names

CPU_CONFIG = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}


def export_openvino(
    name: str, out_dir: str | Path, precision: str = "fp32", weights: str | Path | None = None
) -> Path:
    """Export one network to OUT_DIR/NAME.xml/.bin (+ NAME.json manifest) after checking parity on CPU."""
    import openvino as ov

    network, source, inputs, expected = example_run(name, weights)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    xml = out_dir / f"{name}.xml"
    extra: dict = {}
    feeds = {k: v.numpy() for k, v in inputs.items()}
    with tempfile.TemporaryDirectory() as scratch:
        onnx_path = Path(scratch) / "fp32.onnx"
        trace_onnx(network, inputs, OUTPUT_NAMES[name], onnx_path)
        model = ov.convert_model(str(onnx_path))
        if precision == "int8":
            model, extra = quantize_openvino(name, model, weights)
        staged = Path(scratch) / xml.name
        ov.save_model(model, str(staged), compress_to_fp16=precision == "fp16")
        compiled = ov.Core().compile_model(str(staged), "CPU", CPU_CONFIG)
        got = compiled([feeds[k] for k in port_names(compiled.inputs, feeds)])[0]
        parity = {"openvino:CPU": measure_parity(name, "openvino", precision, expected, got)}
        for suffix in (".bin", ".xml"):  # the .xml last: it names the .bin
            with atomic_output(xml.with_suffix(suffix)) as tmp:
                shutil.copyfile(staged.with_suffix(suffix), tmp)
    write_manifest(
        xml,
        {
            **export_fields(name, "openvino", precision, source),
            **io_fields(feeds, {OUTPUT_NAMES[name]: expected}),
            "devices": ov.Core().available_devices,
            "compile_config": CPU_CONFIG,
            **extra,
            "parity": {"reference": "PyTorch fp32", "runs": parity},
        },
    )
    return xml
