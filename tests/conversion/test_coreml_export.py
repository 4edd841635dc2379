"""Core ML export: ML programs whose saved spec matches the manifest, int8 weights, refused tampering.

Core ML itself only runs on macOS: on Linux these tests check the saved packages' specs, and the
comparison with PyTorch is skipped.
"""

from __future__ import annotations

import platform

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ct = pytest.importorskip("coremltools")

from edge_vasa.conversion.coreml_export import export_coreml
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.files import file_sha256
from edge_vasa.models.weights import export_modules
from edge_vasa.pipeline.decoder import build_decoder_models
from edge_vasa.pipeline.edge_networks import NETWORKS, OUTPUT_NAMES, load_network
from edge_vasa.runtimes import artifacts

PRECISIONS = ("fp16", "int8")
CASES = [(name, precision) for name in NETWORKS for precision in PRECISIONS]
DEQUANTIZE_OPS = ("constexpr_affine_dequantize", "constexpr_blockwise_shift_scale")


# the tests of `exported` (every shipped network converted twice, about a minute on 2 cores) run in CI; the
# quick loop (-m "not slow") keeps the tiny model's round trip
shipped = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Every shipped network at fp16 and int8, converted once (about a minute on 2 cores)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("coreml")
    return {(name, p): export_coreml(name, root / p, p) for name, p in CASES}


def _spec(package):
    return ct.models.MLModel(str(package), skip_model_load=True).get_spec()


def _io(features) -> dict:
    names = ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name
    return {
        f.name: {
            "shape": list(f.type.multiArrayType.shape),
            "dtype": names(f.type.multiArrayType.dataType).lower(),
        }
        for f in features
    }


def _ops(spec) -> list[str]:
    return [
        op.type
        for function in spec.mlProgram.functions.values()
        for block in function.block_specializations.values()
        for op in block.operations
    ]


@shipped
@pytest.mark.parametrize(("name", "precision"), CASES)
def test_saved_package_is_the_ml_program_its_manifest_describes(exported, name, precision):
    package = exported[name, precision]
    manifest = artifacts.verify_artifact(package)
    assert package == package.parent / f"{name}.mlpackage" and package.is_dir()
    assert (manifest["network"], manifest["format"], manifest["precision"]) == (name, "coreml", precision)
    assert manifest["coreml"] == {
        "spec_version": 8,
        "minimum_deployment_target": "iOS17",
        "compute_precision": "float16",
    }
    spec = _spec(package)
    assert spec.WhichOneof("Type") == "mlProgram" and spec.specificationVersion == 8
    assert list(_io(spec.description.input).items()) == list(manifest["inputs"].items())
    assert _io(spec.description.output) == manifest["outputs"]
    assert list(manifest["outputs"]) == [OUTPUT_NAMES[name]]
    assert manifest["size_bytes"] == sum(p.stat().st_size for p in artifacts.artifact_files(package))
    if platform.system() != "Darwin":
        assert manifest["parity"]["validated"] == "spec"


@shipped
def test_inputs_keep_the_networks_names_with_emotion_as_a_1_element_int32(exported):
    """Core ML has no 0-d or int64 inputs: the runtime feeds the emotion index as np.array([i], np.int32)."""
    manifest = artifacts.verify_artifact(exported["motion_step", "fp16"])
    assert list(manifest["inputs"]) == ["past", "mel", "emotion", "controls", "guidance", "noise"]
    assert manifest["inputs"]["emotion"] == {"shape": [1], "dtype": "int32"}
    decoder = artifacts.verify_artifact(exported["decoder_student", "fp16"])
    assert decoder["inputs"]["image"] == {"shape": [1, 3, 512, 512], "dtype": "float32"}
    assert decoder["outputs"] == {"frame": {"shape": [1, 3, 512, 512], "dtype": "float32"}}


@shipped
@pytest.mark.parametrize("name", list(NETWORKS))
def test_int8_weights_are_quantized_and_the_package_is_smaller(exported, name):
    int8, fp16 = (exported[name, p] for p in ("int8", "fp16"))
    manifest = artifacts.verify_artifact(int8)
    quantized = sum(op in DEQUANTIZE_OPS for op in _ops(_spec(int8)))
    assert quantized > 0 and manifest["quantized_ops"] == quantized
    assert not any(op in DEQUANTIZE_OPS for op in _ops(_spec(fp16)))
    size = {p: sum(f.stat().st_size for f in artifacts.artifact_files(exported[name, p])) for p in PRECISIONS}
    assert size["int8"] < 0.6 * size["fp16"]
    assert manifest["fp16_size_bytes"] == size["fp16"]


@shipped
def test_a_flipped_byte_in_the_weights_is_refused(exported, tmp_path):
    import shutil

    package = exported["appearance_encoder", "fp16"]
    copy = tmp_path / package.name
    shutil.copytree(package, copy)
    shutil.copy(artifacts.manifest_path(package), artifacts.manifest_path(copy))
    artifacts.verify_artifact(copy)
    weights = copy / "Data" / "com.apple.CoreML" / "weights" / "weight.bin"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(EdgeVasaError, match="does not match its manifest"):
        artifacts.verify_artifact(copy)


@shipped
@pytest.mark.skipif(platform.system() != "Darwin", reason="Core ML prediction runs only on macOS")
@pytest.mark.parametrize(("name", "precision"), CASES)
def test_prediction_matches_pytorch(exported, name, precision):
    network, _ = load_network(name)
    inputs = NETWORKS[name](network)
    with torch.no_grad():
        expected = network(*inputs.values()).numpy()
    manifest = artifacts.verify_artifact(exported[name, precision])
    model = ct.models.MLModel(str(exported[name, precision]), compute_units=ct.ComputeUnit.CPU_ONLY)
    feeds = {
        k: inputs[k].numpy().reshape(v["shape"]).astype(v["dtype"]) for k, v in manifest["inputs"].items()
    }
    got = model.predict(feeds)[OUTPUT_NAMES[name]]
    if precision == "int8":
        assert artifacts.snr_db(expected, got) >= artifacts.INT8_MIN_SNR_DB
    else:
        assert np.abs(got - expected).max() <= artifacts.FP16_MAX_ABS


def test_tiny_model_round_trip_replaces_the_package_and_leaves_no_temporaries(tmp_path):
    """A random-weight encoder too small for int8 (every weight under coremltools' 2048-element threshold):
    fp16 exports from the given weights and re-exports in place; int8 is refused with nothing written."""
    torch.set_num_threads(1)
    meta = {
        "appearance_encoder": {"width": 8, "feature_dim": 4},
        "student_decoder": {"feature_dim": 4, "width": 8, "paint_width": 8},
    }
    encoder, student = build_decoder_models(meta)
    weights = export_modules(
        {"appearance_encoder": encoder, "student_decoder": student}, meta, tmp_path / "tiny.safetensors"
    )
    out = tmp_path / "out"
    for _ in range(2):
        package = export_coreml("appearance_encoder", out, "fp16", weights=weights)
        manifest = artifacts.verify_artifact(package)
        assert manifest["source_weights_sha256"] == file_sha256(weights)
        assert manifest["outputs"] == {"features": {"shape": [1, 4, 128, 128], "dtype": "float32"}}
        assert sorted(p.name for p in out.iterdir()) == [
            "appearance_encoder.json",
            "appearance_encoder.mlpackage",
        ]
    with pytest.raises(EdgeVasaError, match="holds no int8 weights"):
        export_coreml("appearance_encoder", tmp_path / "int8", "int8", weights=weights)
    assert list((tmp_path / "int8").iterdir()) == []
    with pytest.raises(EdgeVasaError, match="unknown precision"):
        export_coreml("appearance_encoder", out, "int4", weights=weights)
