"""The learned decoder: keypoint warp geometry, determinism, training/resume, and the shipped weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import rendered

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.motion import INDEX, MOUTH_INNER, NEUTRAL
from edge_vasa.core.shipped import DECODER_WEIGHTS
from edge_vasa.evaluation.metrics import psnr_db
from edge_vasa.models.warp_decoder import identity_grid, pixels_to_grid, tps_flow
from edge_vasa.pipeline.analytic import Renderer, tps_backward_map
from edge_vasa.pipeline.decoder import NeuralRenderer, build_decoder_models, load_decoder_models
from edge_vasa.pipeline.decoder_inputs import decoder_inputs
from edge_vasa.training.train_decoder import (
    DecoderTrainConfig,
    export_decoder_weights,
    train_decoder,
)


def _motion(**values: float) -> np.ndarray:
    m = NEUTRAL.copy()
    for name, v in values.items():
        m[INDEX[name]] = v
    return m


def test_tps_flow_is_identity_when_nothing_moves():
    pts = torch.rand(2, 30, 2) * 1.6 - 0.8
    flow = tps_flow(pts, pts, 32)
    torch.testing.assert_close(flow, identity_grid(32)[None].expand(2, -1, -1, -1), atol=1e-4, rtol=0)


def test_tps_flow_agrees_with_the_renderers_spline(grace_hopper_prepared):
    """The decoder's keypoint flow is the same thin-plate spline the corpus renderer warps with."""
    r = Renderer(grace_hopper_prepared.image, grace_hopper_prepared.landmarks)
    dst, src, _, _ = r.controls(_motion(yaw=0.2, jaw_open=0.8, smile=0.5))
    map_x, map_y = tps_backward_map(dst, src, 512, grid=64)
    flow = tps_flow(*(torch.from_numpy(pixels_to_grid(x, 512)).float()[None] for x in (dst, src)), 64)[0]
    # sample the renderer's per-pixel map at the centres of the 64x64 flow cells
    centres = (np.arange(64) + 0.5) * 8 - 0.5
    ix = np.round(centres).astype(int)
    ours = (flow.numpy() + 1) / 2 * 512 - 0.5
    np.testing.assert_allclose(ours[..., 0], map_x[np.ix_(ix, ix)], atol=1.5)
    np.testing.assert_allclose(ours[..., 1], map_y[np.ix_(ix, ix)], atol=1.5)


def test_untrained_decoder_is_the_keypoint_warp(grace_hopper_prepared):
    """Flow correction and paint start at zero: a fresh decoder renders the analytic renderer's warp, so
    training starts from a good answer. Away from the mouth and eyes the two agree closely."""
    torch.manual_seed(0)
    face = grace_hopper_prepared
    neural = NeuralRenderer(face.image, face.landmarks, build_decoder_models())
    analytic = Renderer(face.image, face.landmarks)
    m = _motion(yaw=0.15, pitch=-0.05, smile=0.6)
    ours, theirs = neural.render(m[None])[0], analytic.draw(m)[0]
    assert ours.shape == (512, 512, 3) and ours.dtype == np.uint8
    assert psnr_db(ours, theirs) > 28


def test_decoder_is_deterministic_and_teeth_come_back(grace_hopper_prepared):
    """The same mouth shape gives the same pixels after the mouth has closed in between."""
    face = grace_hopper_prepared
    neural = NeuralRenderer(face.image, face.landmarks)
    open_, closed = _motion(jaw_open=0.9), _motion()
    frames, landmarks = rendered(neural, np.stack([open_, closed, open_]))
    assert frames.shape == (3, 512, 512, 3) and landmarks.shape == (3, 68, 2)
    np.testing.assert_array_equal(frames[0], frames[2])
    assert not np.array_equal(frames[0], frames[1])


def test_shipped_decoder_paints_an_open_mouth_dark(grace_hopper_prepared):
    """The trained decoder fills the opening between the lips with a mouth interior (darker than the lips
    on average), and it renders the neutral face close to the photo."""
    face = grace_hopper_prepared
    neural = NeuralRenderer(face.image, face.landmarks)
    frames, lm = rendered(neural, np.stack([NEUTRAL, _motion(jaw_open=1.0)]))
    assert psnr_db(frames[0], face.image) > 27
    import cv2

    inner = np.zeros((512, 512), np.uint8)
    cv2.fillPoly(inner, [np.round(lm[1][MOUTH_INNER]).astype(np.int32)], 1)
    lips = np.zeros_like(inner)
    cv2.fillPoly(lips, [np.round(lm[1][48:60]).astype(np.int32)], 1)
    lips &= 1 - inner
    gray = frames[1].mean(-1)
    assert inner.sum() > 200
    assert gray[inner > 0].mean() < gray[lips > 0].mean() - 10


def test_shipped_decoder_manifest_matches():
    manifest = json.loads(DECODER_WEIGHTS.with_suffix(".json").read_text())
    encoder, decoder, meta = load_decoder_models()
    assert manifest["parameters"] == sum(p.numel() for m in (encoder, decoder) for p in m.parameters())
    assert meta["step"] == manifest["step"]


def test_corrupted_decoder_weights_give_a_clear_error(tmp_path):
    bad = tmp_path / "d.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(EdgeVasaError, match="cannot load decoder"):
        load_decoder_models(bad)
    with pytest.raises(EdgeVasaError, match="train decoder"):
        load_decoder_models(tmp_path / "missing.safetensors")


def test_decoder_training_resumes_and_exports(tmp_path, held_out_corpus):
    run = tmp_path / "run"
    cfg = dict(batch=2, frames_per_clip=2, save_every=2)
    train_decoder(held_out_corpus, run, DecoderTrainConfig(steps=2, **cfg))
    train_decoder(held_out_corpus, run, DecoderTrainConfig(steps=3, **cfg))
    history = json.loads((run / "history.json").read_text())
    assert [s for s, _ in history] == [1, 2, 3]
    assert (run / "loss.png").stat().st_size > 1000
    scores = json.loads((run / "eval.json").read_text())
    assert scores["frames"] == 4, "4 frames of the held-out clip are scored"
    assert all(np.isfinite(scores[k]) and scores[k] > 10 for k in ("psnr", "mouth_psnr")), scores
    weights = export_decoder_weights(run / "decoder.safetensors", tmp_path / "d.safetensors")
    _, _, meta = load_decoder_models(weights)
    assert meta["step"] == 3


def test_decoder_inputs_are_grid_coordinates(grace_hopper_prepared):
    r = Renderer(grace_hopper_prepared.image, grace_hopper_prepared.landmarks)
    src, dst, lm = decoder_inputs(r, _motion(blink_left=1.0))
    assert src.shape == dst.shape and lm.shape == (68, 2)
    assert np.all(np.abs(lm) < 1) and np.all(np.abs(src) <= 1)
