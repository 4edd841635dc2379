"""ONNX export of the edge networks (fp32, fp16, int8), parity-checked on every onnxruntime provider.

    path = export_onnx("decoder_student", "artifacts/onnx-fp32")   # decoder_student.onnx + .json

fp32: the legacy TorchScript exporter at opset 17 (one self-contained file, GridSample supported, IR 8
that older runtimes accept), then onnxslim folds constants and removes the exporter's redundant shape
arithmetic. fp16: that graph with float16 weights and activations (inputs and outputs stay float32, and
GridSample / Resize stay float32: they index pixels, where half precision is off by a visible fraction).
int8: static QDQ quantization calibrated on the calibration set (edge_vasa.calibration).

Parity: the graph runs in onnxruntime, on every execution provider present, on the example inputs; the
result is compared with PyTorch's and the export is refused (nothing written) beyond the budget of its
precision (conversion.artifacts).
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from edge_vasa.calibration.quantize import quantize_onnx
from edge_vasa.conversion.artifacts import export_fields, io_fields, measure_parity, write_manifest
from edge_vasa.core.files import atomic_output
from edge_vasa.pipeline.edge_networks import OUTPUT_NAMES, example_run
from edge_vasa.runtimes.backends import compute_providers, run_onnx

OPSET = 17
FP16_KEEP_FLOAT32 = ["GridSample", "Resize", "Upsample", "Range", "Min", "Max", "CumSum", "TopK"]


def trace_onnx(network: nn.Module, inputs: dict[str, torch.Tensor], output: str, path: str | Path) -> None:
    """fp32 ONNX of NETWORK at opset 17 with the inputs' static shapes, cleaned by onnxslim."""
    import onnx
    import onnxslim

    # the tracer's warnings (legacy exporter, shape checks frozen as constants, un-foldable slices) are
    # about graphs whose shapes change; these are static, and the parity check guards the result
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            network,
            tuple(inputs.values()),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=list(inputs),
            output_names=[output],
            do_constant_folding=True,
        )
    onnx.save(onnxslim.slim(onnx.load(str(path))), str(path))


def to_fp16(src: str | Path, dest: str | Path) -> None:
    """float16 copy of an fp32 ONNX file, float32 at the inputs, outputs and pixel-indexing ops."""
    import onnx
    from onnxruntime.transformers import float16

    # onnxruntime's converter: it re-types the exporter's Cast nodes consistently, which
    # onnxconverter-common's does not for this decoder (a float16 Cast output where float is declared)
    model = float16.convert_float_to_float16(
        onnx.load(str(src)), keep_io_types=True, op_block_list=FP16_KEEP_FLOAT32
    )
    onnx.save(model, str(dest))


def export_onnx(
    name: str, out_dir: str | Path, precision: str = "fp32", weights: str | Path | None = None
) -> Path:
    """Export one network to OUT_DIR/NAME.onnx (+ NAME.json manifest) after checking parity."""
    import onnx

    network, source, inputs, expected = example_run(name, weights)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}.onnx"
    extra: dict = {}
    with tempfile.TemporaryDirectory() as scratch:
        staged = Path(scratch) / f"{name}.onnx"
        trace_onnx(network, inputs, OUTPUT_NAMES[name], Path(scratch) / "fp32.onnx")
        if precision == "fp32":
            shutil.move(Path(scratch) / "fp32.onnx", staged)
        elif precision == "fp16":
            to_fp16(Path(scratch) / "fp32.onnx", staged)
        else:
            extra = quantize_onnx(name, Path(scratch) / "fp32.onnx", staged, weights)
        feeds = {k: v.numpy() for k, v in inputs.items()}
        parity = {
            f"onnxruntime:{p}": measure_parity(
                name, "onnx", precision, expected, run_onnx(staged, [feeds], p)[0]
            )
            for p in compute_providers()
        }
        model = onnx.load(str(staged), load_external_data=False)
        with atomic_output(target) as tmp:
            shutil.copyfile(staged, tmp)
    write_manifest(
        target,
        {
            **export_fields(name, "onnx", precision, source),
            "opset": OPSET,
            "ir_version": model.ir_version,
            "nodes": len(model.graph.node),
            **io_fields(feeds, {OUTPUT_NAMES[name]: expected}),
            **extra,
            "parity": {"reference": "PyTorch fp32", "runs": parity},
        },
    )
    return target
