"""pipeline.decoder_inputs: the numpy inputs the edge runtime feeds equal what the PyTorch definitions used in
training compute (antialiased resizes, the thin-plate spline's coefficients)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from edge_vasa.core.motion import INDEX, NEUTRAL
from edge_vasa.models.shapes import ENCODE_SIZE, FLOW_SIZE
from edge_vasa.pipeline.decoder_inputs import DecoderInputs, resize_antialiased, tps_coefficients

torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.fixture(scope="module")
def inputs(grace_hopper_prepared) -> DecoderInputs:
    return DecoderInputs(grace_hopper_prepared.image, grace_hopper_prepared.landmarks)


@pytest.mark.parametrize("size", [ENCODE_SIZE, FLOW_SIZE, 100])
def test_antialiased_resize_matches_pytorch(inputs, size):
    ours = resize_antialiased(inputs.image, size)
    theirs = F.interpolate(
        torch.from_numpy(inputs.image), size=size, mode="bilinear", antialias=True, align_corners=False
    ).numpy()
    assert ours.shape == theirs.shape == (1, 3, size, size)
    assert np.abs(ours - theirs).max() < 1e-5  # float32 rounding of the filter weights


def test_a_plain_downscale_is_not_what_the_networks_saw(inputs):
    """The comparison above can fail: a resize without antialiasing is far off."""
    plain = F.interpolate(torch.from_numpy(inputs.image), size=FLOW_SIZE, mode="bilinear").numpy()
    assert np.abs(resize_antialiased(inputs.image, FLOW_SIZE) - plain).max() > 0.05


def test_spline_coefficients_match_the_training_solve(inputs):
    from edge_vasa.models.warp_decoder import tps_coefficients as torch_tps

    motion = np.tile(NEUTRAL, (3, 1))
    motion[1, INDEX["jaw_open"]], motion[2, [INDEX["yaw"], INDEX["blink_left"]]] = 0.9, (0.2, 1.0)
    src, dst, _ = inputs.keypoints_of(motion)
    ours = tps_coefficients(dst, src)
    theirs = torch_tps(torch.from_numpy(dst), torch.from_numpy(src)).numpy()
    assert np.abs(ours - theirs).max() < 1e-4 * max(1.0, np.abs(theirs).max())
    frames = inputs.frames(motion)
    assert set(frames) == {"coef", "dst", "landmarks", "motion"} and frames["coef"].dtype == np.float32


SPIN_PROBE = """
import time
import numpy as np
import edge_vasa
from edge_vasa.pipeline.decoder_inputs import resize_antialiased
image = np.random.default_rng(0).uniform(0, 1, (1, 3, 512, 512)).astype(np.float32)
resize_antialiased(image, 256)
began = time.process_time()
for _ in range(25):
    resize_antialiased(image, 256)
    time.sleep(0.02)  # a live session's calls come between frames
print(time.process_time() - began)
"""


def test_importing_edge_vasa_keeps_blas_threads_from_spinning_between_calls():
    """OpenCV's bundled OpenBLAS, multi-threaded, spins its workers between the resize's gemms: 25 calls
    20 ms apart took 0.68 CPU-s that way against 0.14 with one thread (live at 25 FPS: 83 % of two cores
    against 49 %). Importing edge_vasa first must leave one BLAS thread."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out = subprocess.run(
        [sys.executable, "-c", SPIN_PROBE], env=env, capture_output=True, text=True, check=True
    )
    assert float(out.stdout) < 0.4
