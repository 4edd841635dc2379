"""What every command's start imports, live's included: not the heavy libraries only some commands use
(issue 21: a live session in <= 350 MB resident on the torch-free install), and the stand-ins that replaced
them give the same results."""

from __future__ import annotations

import subprocess
import sys

import matplotlib.cbook
import numpy as np
import pytest
import scipy.linalg

from edge_vasa.apps.cli.common import bundled_photo
from edge_vasa.provenance.watermark import CELLS, hadamard

HEAVY = ("scipy.linalg", "scipy.ndimage", "scipy.signal", "matplotlib")


def test_the_cli_imports_no_scipy_linalg_ndimage_signal_or_matplotlib():
    probe = (
        "import sys\n"
        "from edge_vasa.apps.cli import main\n"
        f"print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("n", [1, 2, 8, CELLS * CELLS])
def test_hadamard_is_scipys(n):
    assert np.array_equal(hadamard(n), scipy.linalg.hadamard(n))


def test_the_bundled_photo_is_matplotlibs_sample():
    assert bundled_photo() == str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
