"""Core ML export (ML program for iOS 17 / macOS 14) of the edge networks: fp16, int8 weights or fp32.

    pkg = export_coreml("decoder_student", "artifacts/coreml-fp16")   # NAME.mlpackage/ + NAME.json

The network is captured with ``torch.export`` (the TorchScript path of coremltools 9.0 fails on numpy 2.4)
and converted by ``coremltools.convert`` with fp16 compute (fp32 for "fp32"). "int8" is the fp16 program
with its weights quantized per output channel, symmetric int8 (``linear_quantize_weights``): Core ML
dequantizes them at load, so the package is about half the size while the arithmetic stays fp16.
Activations are not quantized: calibrating them needs Core ML's predict, which only exists on macOS.

Inputs and outputs stay float32 at the boundary (the runtime hands over the same arrays as to ONNX).
Core ML has neither 0-d nor int64 inputs, so the motion step's ``emotion`` index (a 0-d int64 tensor in
PyTorch) becomes a (1,) int32 input: coremltools wraps the scalar and squeezes it back inside the graph.
The manifest's inputs and outputs describe the Core ML model, i.e. what the runtime must feed.

Checks before anything is written: the package is saved into a temporary folder beside the target, loaded
back without compiling it, and its spec must be an ML program whose input and output names, shapes and
dtypes are those of the manifest, with int8 weights really stored as int8 (constexpr dequantize ops, a
smaller package). On macOS the package also runs on the example inputs and is compared with PyTorch
(fp32/fp16: max abs error; int8: SNR); on Linux there is no Core ML runtime, so the manifest says
the package was validated by its spec only.

coremltools 9.0 needs three value-preserving adjustments to these graphs (see ``_decompositions`` and
``_adapt_graph``): lerp is decomposed, aten.alias is dropped, and int clamp bounds become floats.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import platform
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from edge_vasa.conversion.artifacts import (
    FP16_MAX_ABS,
    FP32_MAX_ABS,
    INT8_MIN_SNR_DB,
    export_fields,
    write_manifest,
)
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.evaluation.metrics import snr_db
from edge_vasa.pipeline.edge_networks import OUTPUT_NAMES, example_run
from edge_vasa.runtimes.artifacts import PRECISIONS, artifact_files, manifest_path

if TYPE_CHECKING:
    import coremltools as ct

DEPLOYMENT_TARGET = "iOS17"  # Core ML spec 8 (macOS 14); int8 constexpr weights need at least iOS 16

# coremltools log lines that say nothing about this export: a torch newer than its last tested one (each
# export is checked here instead), its runtime missing off macOS (known: no predict there), its
# scikit-learn converters (unused), the wrapped 0-d emotion input (described above) and int64 index
# constants stored as int32 (Core ML has no int64; the decoder's landmark indices are small).
_KNOWN_NOISE = re.compile(
    r"^Torch version .* has not been tested with coremltools"
    r"|^Failed to load _ML\w+: No module named 'coremltools\.libcoremlpython'"
    r"|^scikit-learn version .* is not supported"
    r"|^Core ML does not support scalar input"
    r"|^Saving value type of int64 into a builtin type of int32"
)
logging.getLogger("coremltools").addFilter(lambda record: not _KNOWN_NOISE.match(record.getMessage()))

# coremltools draws a tqdm bar on stderr for each conversion stage and pass pipeline, with no switch to turn
# them off
_PROGRESS_BAR = re.compile(
    r"^(Converting PyTorch Frontend ==> MIL Ops|Running MIL \w+ pipeline|Running compression pass)"
)


def export_coreml(
    name: str, out_dir: str | Path, precision: str = "fp16", weights: str | Path | None = None
) -> Path:
    """Export one network to OUT_DIR/NAME.mlpackage (+ NAME.json manifest) at PRECISION ("fp16", "int8"
    weights on the fp16 program, or "fp32") after checking its spec and, on macOS, its outputs against
    PyTorch; refused with nothing written when a check fails. WEIGHTS default to the shipped student's."""
    if precision not in PRECISIONS:
        raise EdgeVasaError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    network, source, inputs, expected = example_run(name, weights)
    io_spec = {
        "inputs": {k: _coreml_array(v.numpy()) for k, v in inputs.items()},
        "outputs": {OUTPUT_NAMES[name]: _coreml_array(expected)},
    }
    model = _convert(name, network, inputs, io_spec, precision)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}.mlpackage"
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=out_dir))
    try:
        sizes = {}
        if precision == "int8":
            # the fp16 program is saved too: int8 weights must make the package smaller than it
            model.save(str(staging / "fp16.mlpackage"))
            sizes["fp16_size_bytes"] = _package_size(staging / "fp16.mlpackage")
            model = _quantize(model)
        staged = staging / target.name
        model.save(str(staged))
        checked = _check_spec(staged, io_spec, precision)
        sizes["size_bytes"] = _package_size(staged)
        if precision == "int8" and not sizes["size_bytes"] < sizes["fp16_size_bytes"]:
            raise EdgeVasaError(
                f"Core ML int8 export of {name} is not smaller than its fp16 program; nothing written"
            )
        parity = _parity(staged, inputs, io_spec, expected, precision)
        manifest_path(target).unlink(missing_ok=True)  # an old manifest never meets new files
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staged, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    fields = {
        **export_fields(name, "coreml", precision, source),
        **io_spec,
        "coreml": {
            "spec_version": checked["spec_version"],
            "minimum_deployment_target": DEPLOYMENT_TARGET,
            "compute_precision": "float32" if precision == "fp32" else "float16",
        },
        **({"quantized_ops": checked["quantized_ops"]} if precision == "int8" else {}),
        **sizes,
        "parity": parity,
    }
    write_manifest(target, fields)
    return target


def _coreml_array(array: np.ndarray) -> dict:
    """Shape and dtype of the Core ML array for a PyTorch tensor: no 0-d arrays and no int64 there."""
    dtype = np.dtype(np.int32) if array.dtype == np.int64 else array.dtype
    return {"shape": list(array.shape) or [1], "dtype": str(dtype)}


def _convert(
    name: str, network: torch.nn.Module, inputs: dict[str, torch.Tensor], io_spec: dict, precision: str
) -> ct.models.MLModel:
    """The ML program (fp16 compute, or fp32 for "fp32") of NETWORK traced on INPUTS."""
    import coremltools as ct

    with warnings.catch_warnings():
        # torch's own deprecation inside torch.export's pytree handling: nothing to do with this network
        warnings.filterwarnings("ignore", r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning)
        program = torch.export.export(network, tuple(inputs.values())).run_decompositions(_decompositions())
    _adapt_graph(program)
    # the names given here replace the forward() argument names; explicit dtypes keep the boundary float32
    # (coremltools would otherwise make fp16 programs' outputs fp16) and the emotion index int32
    ct_inputs = [
        ct.TensorType(name=k, shape=spec["shape"], dtype=np.dtype(spec["dtype"]).type)
        for k, spec in io_spec["inputs"].items()
    ]
    ct_outputs = [
        ct.TensorType(name=k, dtype=np.dtype(v["dtype"]).type) for k, v in io_spec["outputs"].items()
    ]
    with _without_progress_bars(), warnings.catch_warnings():
        # coremltools 9.0 calling its own deprecated op registry lookup, once per node
        warnings.filterwarnings("ignore", r"Function _TORCH_OPS_REGISTRY\.__contains__", DeprecationWarning)
        try:
            return ct.convert(
                program,
                inputs=ct_inputs,
                outputs=ct_outputs,
                convert_to="mlprogram",
                minimum_deployment_target=getattr(ct.target, DEPLOYMENT_TARGET),
                compute_precision=ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16,
            )
        except (NotImplementedError, ValueError, RuntimeError) as e:
            first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise EdgeVasaError(f"coremltools cannot convert {name} ({first_line})") from e


def _decompositions() -> dict:
    """Rewrites of the ATen ops coremltools 9.0 has no converter for (the decoder's final blend is a lerp),
    into ones it has; every other op is kept whole, e.g. grid_sampler_2d, which becomes MIL resample."""
    table = torch.export.default_decompositions()
    return {op: table[op] for op in (torch.ops.aten.lerp.Scalar, torch.ops.aten.lerp.Tensor)}


def _adapt_graph(program: torch.export.ExportedProgram) -> None:
    """Two in-place rewrites for coremltools 9.0, neither changing a value:
    - aten.alias (the motion step's ``position[:, :T]`` with T the full length) has no converter: its uses
      read its input instead;
    - clamp_min with an int bound (the decoder's ``d2.clamp_min(0)``) fails coremltools' own dtype check
      against the float tensor: the bound becomes a float."""
    graph = program.graph_module.graph
    for node in list(graph.nodes):
        if node.target is torch.ops.aten.alias.default:
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)
        elif node.target is torch.ops.aten.clamp_min.default and type(node.args[1]) is int:
            node.args = (node.args[0], float(node.args[1]))
    program.graph_module.recompile()


def _quantize(model: ct.models.MLModel) -> ct.models.MLModel:
    """MODEL with its weights stored as per-channel symmetric int8 (Core ML dequantizes them at load)."""
    import coremltools.optimize.coreml as cto

    config = cto.OptimizationConfig(
        global_config=cto.OpLinearQuantizerConfig(
            mode="linear_symmetric", dtype="int8", granularity="per_channel"
        )
    )
    with _without_progress_bars():
        return cto.linear_quantize_weights(model, config=config)


@contextlib.contextmanager
def _without_progress_bars() -> Iterator[None]:
    """Capture stderr, then pass on everything but coremltools' progress bars (warnings, log lines)."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            yield
    finally:
        kept = [
            part
            for line in captured.getvalue().splitlines()
            for part in line.split("\r")
            if part.strip() and not _PROGRESS_BAR.match(part)
        ]
        if kept:
            print("\n".join(kept), file=sys.stderr)


def _package_size(package: Path) -> int:
    return sum(p.stat().st_size for p in artifact_files(package))


def _check_spec(package: Path, io_spec: dict, precision: str) -> dict:
    """Load the saved PACKAGE's spec (no compilation: that needs macOS) and check it against the manifest's
    inputs and outputs; {"spec_version", "quantized_ops"}. A mismatch raises EdgeVasaError."""
    import coremltools as ct
    from coremltools.proto.FeatureTypes_pb2 import ArrayFeatureType

    spec = ct.models.MLModel(str(package), skip_model_load=True).get_spec()
    if spec.WhichOneof("Type") != "mlProgram":
        raise EdgeVasaError(
            f"{package.name} is a Core ML {spec.WhichOneof('Type')}, not an ML program; nothing written"
        )
    for kind, features in (("inputs", spec.description.input), ("outputs", spec.description.output)):
        got = [
            (
                f.name,
                {
                    "shape": list(f.type.multiArrayType.shape),
                    "dtype": ArrayFeatureType.ArrayDataType.Name(f.type.multiArrayType.dataType).lower(),
                },
            )
            for f in features
        ]
        want = list(io_spec[kind].items())
        if got != want:
            raise EdgeVasaError(
                f"the {kind} of {package.name} do not match its manifest ({got} != {want}); nothing written"
            )
    ops = [
        op.type
        for function in spec.mlProgram.functions.values()
        for block in function.block_specializations.values()
        for op in block.operations
    ]
    # constexpr_affine_dequantize (iOS 17) or constexpr_blockwise_shift_scale (iOS 18): int8 weights
    quantized = sum(op in ("constexpr_affine_dequantize", "constexpr_blockwise_shift_scale") for op in ops)
    if precision == "int8" and not quantized:
        raise EdgeVasaError(
            f"{package.name} holds no int8 weights (no constexpr dequantize ops); nothing written"
        )
    return {"spec_version": spec.specificationVersion, "quantized_ops": quantized}


def _parity(
    package: Path, inputs: dict[str, torch.Tensor], io_spec: dict, expected: np.ndarray, precision: str
) -> dict:
    """On macOS: run PACKAGE on INPUTS and compare with PyTorch's EXPECTED output (refused beyond the budget).
    Elsewhere Core ML cannot run, so the record says the package was validated by its spec only."""
    if platform.system() != "Darwin":
        return {"backend": "none on Linux (Core ML prediction needs macOS)", "validated": "spec"}
    import coremltools as ct

    model = ct.models.MLModel(str(package), compute_units=ct.ComputeUnit.CPU_ONLY)
    feeds = {
        k: inputs[k].numpy().reshape(v["shape"]).astype(v["dtype"]) for k, v in io_spec["inputs"].items()
    }
    got = model.predict(feeds)[next(iter(io_spec["outputs"]))]
    record = {"backend": "Core ML CPU (macOS)", "validated": "outputs"}
    if precision == "int8":
        snr = snr_db(expected, got)
        if not snr >= INT8_MIN_SNR_DB:
            raise EdgeVasaError(
                f"Core ML int8 export of {package.stem} has an SNR of {snr:.1f} dB "
                f"(< {INT8_MIN_SNR_DB:g}) against PyTorch; nothing written"
            )
        return {**record, "snr_db": snr, "min_snr_db": INT8_MIN_SNR_DB}
    tolerance = FP32_MAX_ABS if precision == "fp32" else FP16_MAX_ABS
    error = float(np.abs(got - expected).max())
    if not error <= tolerance:
        raise EdgeVasaError(
            f"Core ML {precision} export of {package.stem} is off by {error:.2e} (> {tolerance:g}) against "
            "PyTorch; nothing written"
        )
    return {**record, "max_abs_error": error, "tolerance": tolerance}
