"""The artifact freshness check that every start runs: the versions it compares are the ones manifests
record, and neither it nor the selector's probe imports torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from edge_vasa.conversion.freshness import TOOLS, tool_versions


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_tool_versions_are_the_modules_versions(fmt):
    torch = pytest.importorskip("torch")
    modules = {name: pytest.importorskip(name) for name in TOOLS[fmt]}
    expected = {"torch": torch.__version__.split("+")[0]} | {n: m.__version__ for n, m in modules.items()}
    assert tool_versions(fmt) == expected


def test_the_start_up_check_imports_no_torch():
    """The warm start's path: probe the runtimes, take the exporter, judge a built artifact's manifest."""
    pytest.importorskip("torch")
    code = (
        "import sys\n"
        "from edge_vasa.apps.studio import artifact_builder\n"
        "from edge_vasa.conversion.freshness import still_current, tool_versions\n"
        "from edge_vasa.runtimes.selector import probe\n"
        "assert artifact_builder() is not None and 'torch' in probe()['runtimes']\n"
        "manifest = {'tools': tool_versions('onnx'), 'quantization': {'budget_snr_db': 35.0}}\n"
        "assert still_current(manifest, 'motion_step', 'onnx')\n"
        "assert not still_current(manifest | {'tools': {}}, 'motion_step', 'onnx')\n"
        "print('torch' in sys.modules, 'onnx' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "False"]
