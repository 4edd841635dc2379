"""OpenVINO IR export: parity with PyTorch on the CPU at export, manifests over the .xml and .bin."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
ov = pytest.importorskip("openvino")

from edge_vasa.conversion.onnx_export import NETWORKS, PARITY_TOLERANCE, verify_artifact  # noqa: E402
from edge_vasa.conversion.openvino_export import CPU_CONFIG, export_openvino  # noqa: E402
from edge_vasa.errors import EdgeVasaError  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("openvino")
    return {name: export_openvino(name, out) for name in NETWORKS}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_ir_compiles_on_cpu_within_tolerance(exported, name):
    manifest = verify_artifact(exported[name])
    assert manifest["format"] == "openvino" and set(manifest["files"]) == {f"{name}.xml", f"{name}.bin"}
    assert manifest["parity"]["max_abs_error"] <= PARITY_TOLERANCE
    compiled = ov.Core().compile_model(str(exported[name]), "CPU", CPU_CONFIG)
    assert {p.get_any_name() for p in compiled.inputs} <= set(manifest["inputs"])


def test_a_changed_weights_file_is_refused(exported, tmp_path):
    import shutil

    for suffix in (".xml", ".bin", ".json"):
        shutil.copy(exported["appearance_encoder"].with_suffix(suffix), tmp_path / f"a{suffix}")
    manifest = (tmp_path / "a.json").read_text().replace("appearance_encoder.", "a.")
    (tmp_path / "a.json").write_text(manifest)
    verify_artifact(tmp_path / "a.xml")
    data = bytearray((tmp_path / "a.bin").read_bytes())
    data[100] ^= 0x01
    (tmp_path / "a.bin").write_bytes(bytes(data))
    with pytest.raises(EdgeVasaError, match="does not match its manifest"):
        verify_artifact(tmp_path / "a.xml")
