"""Shared benchmark inputs: the held-out astronaut's prepared face and a talking motion; every benchmark
records the CPU model and ISA flags, since speed claims only compare within one machine."""

import warnings

# isort: off
import edge_vasa  # noqa: F401  first: it limits BLAS threads before numpy and OpenCV load

# isort: on
import numpy as np
import pytest
import skimage.data

from edge_vasa.core import motion as M
from edge_vasa.core.face import PreparedFace, prepare_face
from edge_vasa.runtimes.selector import cpu_info


@pytest.fixture(autouse=True)
def _record_cpu(request):
    if "benchmark" in request.fixturenames:
        cpu = cpu_info()
        request.getfixturevalue("benchmark").extra_info.update(cpu=cpu["model"], isa=cpu["isa"])


@pytest.fixture(scope="session")
def face() -> PreparedFace:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the astronaut photo also holds a tiny second 'face'
        return prepare_face(skimage.data.astronaut())


@pytest.fixture(scope="session")
def talking_motion() -> np.ndarray:
    """4 s of motion: the jaw at 3 Hz, a slow head turn, a blink every 0.8 s."""
    t = np.arange(100) / 25
    m = M.neutral(100)
    m[:, M.INDEX["jaw_open"]] = 0.4 + 0.4 * np.sin(2 * np.pi * 3 * t)
    m[:, M.INDEX["yaw"]] = 0.1 * np.sin(2 * np.pi * 0.3 * t)
    m[::20, M.INDEX["blink_left"]] = m[::20, M.INDEX["blink_right"]] = 1.0
    return m
