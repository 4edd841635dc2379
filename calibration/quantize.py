"""INT8 post-training quantization of the exported networks, calibrated on the calibration set.

    info = quantize_onnx("decoder_student", "fp32.onnx", "int8.onnx")   # onnxruntime static QDQ
    model, info = quantize_openvino("decoder_student", ov_model)         # NNCF

Both keep the *sampling-grid path* in float: every op that computes the coordinates a GridSample reads
(the thin-plate spline, the flow correction's output arithmetic, the atlas placement of the mouth and
eye patches). An 8-bit step there is a fraction of a pixel of the 64x64 flow magnified 8x at 512x512, and
warps visibly (measured on the toy decoder: SNR 6 dB with it quantized, 24 dB without). Convolutions and
matrix products are quantized (weights per channel, int8; activations uint8, which non-VNNI CPUs need).

When the quantized network misses its budget on the calibration set, layers stay in float by measured
sensitivity: each quantizable layer (onnxruntime) or op type (NNCF) alone is put back to float and the
gain measured; then they return to float in order of gain until the budget is met. The manifest lists them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from edge_vasa.calibration.dataset import calibration_set
from edge_vasa.calibration.identity import INT8_BUDGET_DB
from edge_vasa.evaluation.metrics import snr_db
from edge_vasa.runtimes.backends import port_names, run_onnx
from edge_vasa.runtimes.selector import cpu_info

QUANTIZED_OPS = ("Conv", "MatMul", "Gemm")
# Calibration method for onnxruntime, chosen by measurement on the decoder (calibration-set SNR).
ORT_CALIBRATION = "MinMax"


def grid_path_nodes(graph) -> list[str]:
    """Names of the ONNX nodes that compute a GridSample's sampling grid (stopping at convolutions, whose
    outputs are ordinary activations)."""
    producer = {out: node for node in graph.node for out in node.output}
    todo = [node.input[1] for node in graph.node if node.op_type == "GridSample"]
    seen: dict[str, object] = {}
    while todo:
        node = producer.get(todo.pop())
        if node is None or node.name in seen or node.op_type == "Conv":
            continue
        seen[node.name] = node
        todo.extend(node.input)
    return sorted(seen)


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over a list of feeds."""

    def __init__(self, feeds: list[dict[str, np.ndarray]], names: set[str]):
        self.feeds = [{k: v for k, v in f.items() if k in names} for f in feeds]
        self.rewind()

    def get_next(self):
        return next(self.iter, None)

    def rewind(self) -> None:
        self.iter = iter(self.feeds)


def _quantize_static(src: Path, dest: Path, feeds: list[dict], exclude: list[str]) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    names = {i.name for i in onnx.load(str(src), load_external_data=False).graph.input}
    quantize_static(
        str(src),
        str(dest),
        _Reader(feeds, names),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=list(QUANTIZED_OPS),
        nodes_to_exclude=exclude,
        calibrate_method=CalibrationMethod[ORT_CALIBRATION],
    )


def quantize_onnx(
    network: str, fp32_path: str | Path, dest: str | Path, weights: str | Path | None = None
) -> dict:
    """Static QDQ INT8 copy of an fp32 ONNX file at DEST; returns the manifest's calibration fields."""

    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    calib = calibration_set()
    feeds = calib.feeds(network, weights)
    dest = Path(dest)
    with tempfile.TemporaryDirectory() as scratch:
        pre = Path(scratch) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        graph = onnx.load(str(pre)).graph
        grid = grid_path_nodes(graph)
        reference = run_onnx(pre, feeds)
        candidates = [n.name for n in graph.node if n.op_type in QUANTIZED_OPS and n.name not in grid]

        def attempt(kept_float: list[str]) -> float:
            _quantize_static(pre, dest, feeds, grid + kept_float)
            return snr_db(reference, run_onnx(dest, feeds))

        kept: list[str] = []
        snr = attempt(kept)
        budget = INT8_BUDGET_DB[network]
        if snr < budget:  # rank layers by how much keeping each alone in float helps, then add in that order
            gains = {n: attempt([n]) for n in candidates}
            for name in sorted(gains, key=gains.get, reverse=True):
                kept.append(name)
                snr = attempt(kept)
                if snr >= budget:
                    break
    return {
        "calibration": calib.describe(),
        "quantization": {
            "tool": "onnxruntime.quantization.quantize_static",
            "format": "QDQ",
            "weights": "int8 per channel",
            "activations": "uint8 per tensor",
            "method": ORT_CALIBRATION,
            "quantized_op_types": list(QUANTIZED_OPS),
            "float_grid_path": grid,
            "float_by_sensitivity": kept,
            "calibration_snr_db": snr,
            "budget_snr_db": budget,
        },
    }


def openvino_grid_path(model) -> list[str]:
    """Friendly names of the OpenVINO ops that compute a GridSample's sampling grid (as grid_path_nodes)."""
    todo = [
        op.input(1).get_source_output().get_node()
        for op in model.get_ordered_ops()
        if op.get_type_name() == "GridSample"
    ]
    seen: set[str] = set()
    while todo:
        op = todo.pop()
        if op.get_friendly_name() in seen or op.get_type_name() in ("Convolution", "Parameter", "Constant"):
            continue
        seen.add(op.get_friendly_name())
        todo.extend(i.get_source_output().get_node() for i in op.inputs())
    return sorted(seen)


def _vnni() -> bool:
    """Whether this CPU multiplies uint8 x int8 without 16-bit saturation (AVX-512 VNNI / AVX-VNNI / AMX)."""

    return any(f in cpu_info()["isa"] for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


# op types NNCF puts quantizers on, kept float by measured sensitivity when the budget is missed
OPENVINO_CANDIDATE_TYPES = (
    "Add",
    "Multiply",
    "Subtract",
    "Divide",
    "Interpolate",
    "Concat",
    "MatMul",
    "Convolution",
)


def quantize_openvino(network: str, model, weights: str | Path | None = None) -> tuple[object, dict]:
    """NNCF post-training INT8 of an OpenVINO model; returns (quantized model, the manifest's fields)."""

    os.environ.setdefault("NNCF_CI", "1")  # NNCF's switch for its usage telemetry: nothing leaves the machine
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    calib = calibration_set()
    feeds = calib.feeds(network, weights)

    names = port_names(model.inputs, feeds[0])
    dataset = nncf.Dataset(feeds, lambda f: [f[k] for k in names])
    grid = openvino_grid_path(model)
    # without VNNI, u8 x s8 products saturate at 16 bits; overflow_fix uses 7-bit weights to stay clear
    overflow = OverflowFix.DISABLE if _vnni() else OverflowFix.ENABLE
    config = {"INFERENCE_PRECISION_HINT": "f32"}
    core = ov.Core()
    fp32 = core.compile_model(model, "CPU", config)
    reference = np.stack([fp32([f[k] for k in names])[0] for f in feeds])

    def attempt(float_types: list[str]) -> tuple[object, float]:
        quantized = nncf.quantize(
            model,
            dataset,
            subset_size=len(feeds),
            model_type=nncf.ModelType.TRANSFORMER if network == "motion_step" else None,
            ignored_scope=nncf.IgnoredScope(names=grid, types=float_types, validate=False),
            advanced_parameters=AdvancedQuantizationParameters(overflow_fix=overflow),
        )
        int8 = core.compile_model(quantized, "CPU", config)
        return quantized, snr_db(reference, np.stack([int8([f[k] for k in names])[0] for f in feeds]))

    budget = INT8_BUDGET_DB[network]
    kept: list[str] = []
    quantized, snr = attempt(kept)
    if snr < budget:  # rank op types by how much keeping each alone in float helps, then add in that order
        present = {op.get_type_name() for op in model.get_ordered_ops()}
        gains = {t: attempt([t])[1] for t in OPENVINO_CANDIDATE_TYPES if t in present}
        for t in sorted(gains, key=gains.get, reverse=True):
            kept.append(t)
            quantized, snr = attempt(kept)
            if snr >= budget:
                break
    return quantized, {
        "calibration": calib.describe(),
        "quantization": {
            "tool": f"nncf.quantize {nncf.__version__}",
            "weights": "int8 per channel",
            "activations": "uint8",
            "overflow_fix": overflow.value,
            "float_grid_path": grid,
            "float_by_sensitivity": [f"all {t} ops" for t in kept],
            "calibration_snr_db": snr,
            "budget_snr_db": budget,
        },
    }
