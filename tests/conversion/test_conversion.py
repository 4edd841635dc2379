"""Export round trips on tiny random-weight students, for each format and precision this machine has:
the artifact cache, manifests that refuse tampering, INT8 calibration and its determinism."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from edge_vasa.conversion.artifacts import FP16_MAX_ABS, FP32_MAX_ABS
from edge_vasa.conversion.export import ensure_artifact
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.pipeline.edge_networks import NETWORKS, OUTPUT_NAMES, load_network
from edge_vasa.runtimes.artifacts import artifact_path, verify_artifact
from edge_vasa.runtimes.backends import open_artifact


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    """A private artifact cache (and calibration set) for this module."""
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("cache")
    mp.setenv("EDGE_VASA_CACHE", str(root))
    yield root
    mp.undo()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, object]:
    """Random-weight students a few times narrower than the shipped ones (same inputs and outputs)."""
    from edge_vasa.core.shipped import STUDENT_DECODER_WEIGHTS, STUDENT_WEIGHTS
    from edge_vasa.models.weights import export_modules, read_checkpoint
    from edge_vasa.pipeline.decoder import build_decoder_models
    from edge_vasa.pipeline.teacher_motion import build_motion_models

    out = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    _, meta = read_checkpoint(STUDENT_DECODER_WEIGHTS, "decoder", "")
    meta["appearance_encoder"] = {"width": 8, "feature_dim": 4}
    meta["student_decoder"] |= {"feature_dim": 4, "width": 4, "paint_width": 4}
    encoder, decoder = build_decoder_models(meta)
    decoder_path = export_modules(
        {"appearance_encoder": encoder, "student_decoder": decoder}, meta, out / "decoder.safetensors"
    )
    _, meta = read_checkpoint(STUDENT_WEIGHTS, "motion student", "")
    meta["audio_encoder"] |= {"width": 16, "dim": 16}
    meta["motion_dit"] |= {"audio_dim": 16, "dim": 32, "depth": 1, "heads": 2}
    audio_encoder, dit = build_motion_models(meta)
    motion_path = export_modules(
        {"audio_encoder": audio_encoder, "motion_dit": dit}, meta, out / "motion.safetensors"
    )
    return {
        "decoder_student": decoder_path,
        "appearance_encoder": decoder_path,
        "motion_step": motion_path,
    }


def _torch_output(name: str, weights) -> tuple[dict, np.ndarray]:
    network, source = load_network(name, weights)
    inputs = NETWORKS[name](network, source)
    with torch.no_grad():
        return {k: v.numpy() for k, v in inputs.items()}, network(*inputs.values()).numpy()


CASES = [
    ("onnx", "fp32"),
    ("onnx", "int8"),
    ("openvino", "fp32"),
    ("openvino", "fp16"),
    ("openvino", "int8"),
]


def _round_trip_case(fmt: str, precision: str, name: str):
    """INT8 calibration of the decoder takes 20-25 s per format on 2 cores: `-m 'not slow'` keeps the other
    networks' INT8 round trips and leaves the decoder's to CI."""
    slow = precision == "int8" and name == "decoder_student"
    return pytest.param(fmt, precision, name, marks=pytest.mark.slow if slow else ())


@pytest.mark.parametrize(
    ("fmt", "precision", "name"), [_round_trip_case(*case, name) for case in CASES for name in NETWORKS]
)
def test_round_trip_on_tiny_students(tiny, tmp_path, name, fmt, precision):
    pytest.importorskip(fmt)
    path = ensure_artifact(name, fmt, precision, tmp_path, weights=tiny[name])
    manifest = verify_artifact(path)
    assert (manifest["network"], manifest["format"], manifest["precision"]) == (name, fmt, precision)
    backend = open_artifact(path, threads=1)
    inputs, want = _torch_output(name, tiny[name])
    got = backend(inputs)
    assert got.shape == want.shape == tuple(manifest["outputs"][OUTPUT_NAMES[name]]["shape"])
    error = np.abs(got - want).max()
    if precision == "int8":
        assert manifest["calibration"]["sha256"] and "quantization" in manifest
        assert manifest["quantization"]["calibration_snr_db"] >= manifest["quantization"]["budget_snr_db"]
        assert error < 0.5 * np.abs(want).max()  # close, yet not the fp32 result
    else:
        assert error <= (FP32_MAX_ABS if precision == "fp32" else FP16_MAX_ABS)


def test_exported_decoder_is_not_specialised_to_its_example(tiny, tmp_path):
    """Other motion than the traced example (static shapes, but no frozen values)."""
    path = ensure_artifact("decoder_student", "openvino", "fp32", tmp_path, weights=tiny["decoder_student"])
    inputs, _ = _torch_output("decoder_student", tiny["decoder_student"])
    network, _ = load_network("decoder_student", tiny["decoder_student"])
    inputs["motion"] = inputs["motion"] * 0.5
    with torch.no_grad():
        want = network(*(torch.from_numpy(v) for v in inputs.values())).numpy()
    assert np.abs(open_artifact(path, threads=1)(inputs) - want).max() <= FP32_MAX_ABS


def test_fp16_onnx_of_the_motion_step(tiny, tmp_path):
    path = ensure_artifact("motion_step", "onnx", "fp16", tmp_path, weights=tiny["motion_step"])
    import onnx

    initializers = onnx.load(str(path)).graph.initializer
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in initializers)
    inputs, want = _torch_output("motion_step", tiny["motion_step"])
    assert np.abs(open_artifact(path, threads=1)(inputs) - want).max() <= FP16_MAX_ABS


def test_decoder_grid_path_stays_float_in_int8(tiny, tmp_path):
    """The coordinates GridSample reads are never quantized: no QuantizeLinear feeds a grid input."""
    import onnx

    path = ensure_artifact("decoder_student", "onnx", "int8", tmp_path, weights=tiny["decoder_student"])
    manifest = verify_artifact(path)
    assert manifest["quantization"]["float_grid_path"]
    graph = onnx.load(str(path)).graph
    producer = {o: n for n in graph.node for o in n.output}
    assert any(n.op_type == "QuantizeLinear" for n in graph.node)
    for node in graph.node:
        if node.op_type == "GridSample":
            assert producer[node.input[1]].op_type != "DequantizeLinear"


def built_then_reused(precision: str, weights, root) -> tuple:
    """The appearance encoder exported into ROOT, then asked for again: the same file comes back untouched.
    Returns (its path, its modification stamp)."""
    path = ensure_artifact("appearance_encoder", "onnx", precision, root, weights=weights)
    stamp = path.stat().st_mtime_ns
    again = ensure_artifact("appearance_encoder", "onnx", precision, root, weights=weights)
    assert again == path and again.stat().st_mtime_ns == stamp
    return path, stamp


def test_cache_reuses_a_matching_artifact_and_rebuilds_a_changed_one(tiny, tmp_path):
    weights = tiny["appearance_encoder"]
    path, stamp = built_then_reused("fp32", weights, tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    rebuilt = ensure_artifact("appearance_encoder", "onnx", "fp32", tmp_path, weights=weights)
    verify_artifact(rebuilt)
    assert rebuilt.stat().st_mtime_ns != stamp


def test_cache_rebuilds_int8_when_its_budget_changes(tiny, tmp_path):
    weights = tiny["appearance_encoder"]
    path, stamp = built_then_reused("int8", weights, tmp_path)
    manifest_file = path.with_suffix(".json")
    manifest = json.loads(manifest_file.read_text())
    manifest["quantization"]["budget_snr_db"] -= 5
    manifest_file.write_text(json.dumps(manifest))
    rebuilt = ensure_artifact("appearance_encoder", "onnx", "int8", tmp_path, weights=weights)
    assert rebuilt.stat().st_mtime_ns != stamp
    assert (
        json.loads(manifest_file.read_text())["quantization"]["budget_snr_db"]
        == manifest["quantization"]["budget_snr_db"] + 5
    )


def test_a_flipped_byte_is_refused_with_a_clear_error(tiny, tmp_path):
    xml = ensure_artifact(
        "appearance_encoder", "openvino", "fp32", tmp_path, weights=tiny["appearance_encoder"]
    )
    bin_file = xml.with_suffix(".bin")
    data = bytearray(bin_file.read_bytes())
    data[100] ^= 0x01
    bin_file.write_bytes(bytes(data))
    with pytest.raises(EdgeVasaError, match="does not match its manifest"):
        open_artifact(xml)
    xml.with_suffix(".json").unlink()
    with pytest.raises(EdgeVasaError, match="no manifest"):
        verify_artifact(xml)


def test_unknown_names_and_teacher_weights_are_refused(tmp_path):
    from edge_vasa.core.shipped import DECODER_WEIGHTS

    with pytest.raises(EdgeVasaError, match="unknown network"):
        ensure_artifact("warp_decoder", "onnx", "fp32", tmp_path)
    with pytest.raises(EdgeVasaError, match="unknown format"):
        artifact_path(tmp_path, "decoder_student", "tflite", "fp32")
    with pytest.raises(EdgeVasaError, match="teacher decoder"):
        ensure_artifact("decoder_student", "onnx", "fp32", tmp_path, weights=DECODER_WEIGHTS)
    assert not list(tmp_path.rglob("*.onnx"))


def test_calibration_set_is_deterministic(tmp_path):
    """Rebuilt from the same sources, the set is the same: the photos, landmarks, audio features, noise and
    labels bit for bit, the motion the student computes to float rounding (BLAS sums differ by ~1e-7)."""
    from safetensors.numpy import load_file

    from edge_vasa.calibration.dataset import build_calibration_set, calibration_set

    cached = calibration_set()
    assert calibration_set().sha256 == cached.sha256  # reused from the cache, not rebuilt
    again = load_file(str(build_calibration_set(tmp_path / "again.safetensors")))
    assert set(again) == set(cached.arrays)
    for name, array in cached.arrays.items():
        if name in ("frame_motion", "step_past"):
            np.testing.assert_allclose(again[name], array, atol=1e-5)
        else:
            np.testing.assert_array_equal(again[name], array)
    described = cached.describe()
    assert described["faces"] and any(s.startswith("tts:") for s in described["speech"])
    assert not set(described["faces"]) & {"astronaut", "studio_f15", "cruise"}  # held out for evaluation
    feeds = cached.feeds("motion_step")
    assert len(feeds) == described["motion_chunks"] >= 32
    assert set(feeds[0]) == {"past", "mel", "emotion", "controls", "guidance", "noise"}


def test_shipped_decoder_exports_within_parity(tmp_path):
    """The real student (not only tiny ones): fp32 ONNX matches PyTorch on a real face within 1e-3."""
    path = ensure_artifact("decoder_student", "onnx", "fp32", tmp_path)
    manifest = verify_artifact(path)
    assert manifest["opset"] == 17 and manifest["outputs"]["frame"]["shape"] == [1, 3, 512, 512]
    run = manifest["parity"]["runs"]["onnxruntime:CPUExecutionProvider"]
    assert run["max_abs_error"] <= FP32_MAX_ABS
    manifest_text = json.dumps(manifest)
    assert "source_weights_sha256" in manifest_text
    shutil.rmtree(path.parent)
