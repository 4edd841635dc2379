"""The decoder's float output as a uint8 frame: the same bytes as the plain formula, contiguous."""

from __future__ import annotations

import numpy as np

from edge_vasa.runtimes.renderer import to_rgb8


def test_to_rgb8_is_the_rounded_saturated_formula_and_contiguous():
    rng = np.random.default_rng(0)
    frame = rng.uniform(-0.2, 1.2, (3, 64, 48)).astype(np.float32)
    frame[0, 0, :4] = [0.5 / 255, 254.5 / 255, 0.0, 1.0]  # rounding ties and the ends
    expected = (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0)
    got = to_rgb8(frame)
    assert got.shape == (64, 48, 3) and got.dtype == np.uint8 and got.flags.c_contiguous
    assert np.array_equal(got, expected)
