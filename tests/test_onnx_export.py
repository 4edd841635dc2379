"""ONNX export of the edge networks: parity with PyTorch at export, manifests that refuse tampered files."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from edge_vasa.conversion.onnx_export import (  # noqa: E402
    NETWORKS,
    PARITY_TOLERANCE,
    export_onnx,
    verify_artifact,
)
from edge_vasa.errors import EdgeVasaError  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx")
    return {name: export_onnx(name, out) for name in NETWORKS}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_export_runs_in_onnxruntime_within_tolerance(exported, name):
    manifest = verify_artifact(exported[name])
    assert manifest["format"] == "onnx" and manifest["precision"] == "fp32"
    assert manifest["parity"]["max_abs_error"] <= PARITY_TOLERANCE
    session = ort.InferenceSession(str(exported[name]), providers=["CPUExecutionProvider"])
    declared = {i.name: i.shape for i in session.get_inputs()}
    for input_name, shape in declared.items():
        assert manifest["inputs"][input_name]["shape"] == shape  # static shapes, as the manifest says


def test_exported_decoder_renders_a_face_like_pytorch(exported):
    """Fresh inputs (not the export's): the graph is not specialised to the example it was traced on."""
    import torch

    from edge_vasa.conversion.onnx_export import decoder_student_inputs, load_network

    decoder, _ = load_network("decoder_student")
    inputs = decoder_student_inputs(decoder)
    inputs["motion"] = inputs["motion"] * 0.5
    session = ort.InferenceSession(str(exported["decoder_student"]), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    got = session.run(None, {k: v.numpy() for k, v in inputs.items() if k in names})[0]
    with torch.no_grad():
        want = decoder(*inputs.values()).numpy()
    assert got.shape == (1, 3, 512, 512)
    assert np.abs(got - want).max() <= PARITY_TOLERANCE


def test_a_flipped_byte_is_refused(exported, tmp_path):
    import shutil

    path = tmp_path / "appearance_encoder.onnx"
    shutil.copy(exported["appearance_encoder"], path)
    shutil.copy(exported["appearance_encoder"].with_suffix(".json"), path.with_suffix(".json"))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(EdgeVasaError, match="does not match its manifest"):
        verify_artifact(path)
    path.with_suffix(".json").unlink()
    with pytest.raises(EdgeVasaError, match="no manifest"):
        verify_artifact(path)


def test_unknown_network_and_teacher_weights_are_refused(tmp_path):
    with pytest.raises(EdgeVasaError, match="unknown network"):
        export_onnx("warp_decoder", tmp_path)
    from edge_vasa.decoder import DECODER_WEIGHTS

    with pytest.raises(EdgeVasaError, match="teacher decoder"):
        export_onnx("decoder_student", tmp_path, weights=DECODER_WEIGHTS)
    assert not list(tmp_path.glob("*.onnx"))


def test_manifest_records_the_source_weights(exported):
    import hashlib

    from edge_vasa.decoder import STUDENT_DECODER_WEIGHTS

    manifest = json.loads(exported["decoder_student"].with_suffix(".json").read_text())
    assert (
        manifest["source_weights_sha256"] == hashlib.sha256(STUDENT_DECODER_WEIGHTS.read_bytes()).hexdigest()
    )
    assert manifest["opset"] == 17 and manifest["outputs"]["frame"]["shape"] == [1, 3, 512, 512]
