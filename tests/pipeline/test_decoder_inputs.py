"""pipeline.decoder_inputs: the numpy inputs the edge runtime feeds equal what the PyTorch definitions used in
training compute (antialiased resizes, the thin-plate spline's coefficients)."""

from __future__ import annotations

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
