"""OpenVINO's device list without loading the GPU and NPU plugins where Linux has no such device."""

from __future__ import annotations

import pytest

from edge_vasa.runtimes import backends


class FakeCore:
    def __init__(self, cpu_works: bool = True):
        self.cpu_works, self.listed = cpu_works, False

    @property
    def available_devices(self) -> list[str]:
        self.listed = True  # what loads every plugin
        return ["CPU", "GPU.0", "GPU.1"]

    def get_property(self, device: str, name: str) -> str:
        if device != "CPU" or not self.cpu_works:
            raise RuntimeError(f"no {device}")
        return "a CPU"


@pytest.fixture
def linux(monkeypatch):
    monkeypatch.setattr(backends.platform, "system", lambda: "Linux")


def test_without_device_nodes_only_the_cpu_plugin_is_asked(linux, monkeypatch):
    monkeypatch.setattr(backends.glob, "glob", lambda pattern: [])
    core = FakeCore()
    assert backends.openvino_devices(core) == ["CPU"]
    assert not core.listed
    assert backends.openvino_devices(FakeCore(cpu_works=False)) == []


def test_with_a_render_node_every_device_is_listed(linux, monkeypatch):
    monkeypatch.setattr(
        backends.glob, "glob", lambda pattern: ["/dev/dri/renderD128"] if "dri" in pattern else []
    )
    core = FakeCore()
    assert backends.openvino_devices(core) == ["CPU", "GPU.0", "GPU.1"]
    assert core.listed
