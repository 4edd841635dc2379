"""Export of the edge models to ONNX / OpenVINO / Core ML, parity checks and artifact manifests.

Installed as ``edge_vasa.conversion``. Filled in by the conversion work (after the student models exist).
"""
