"""Student decoder: compute budget, export-friendly ops, patch placement, distillation, shipped weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge_vasa.core.motion import INDEX, MOUTH_INNER, MOUTH_OUTER, NEUTRAL
from edge_vasa.core.shipped import STUDENT_DECODER_WEIGHTS
from edge_vasa.evaluation.metrics import psnr_db
from edge_vasa.models.student_decoder import (
    StudentDecoder,
    StudentDecoderConfig,
    separable_heatmaps,
)
from edge_vasa.models.warp_decoder import heatmaps, identity_grid
from edge_vasa.pipeline.decoder import NeuralRenderer, load_decoder_models
from edge_vasa.training.distill_decoder import (
    DecoderDistillConfig,
    distill_decoder,
    export_student_decoder,
)

FLOP_BUDGET = 1.5e9  # per 512x512 frame (issue: edge students)


def _motion(**values: float) -> np.ndarray:
    m = NEUTRAL.copy()
    for name, v in values.items():
        m[INDEX[name]] = v
    return m


def _inputs(face, motions: list[np.ndarray], encoder=None):
    """Student decoder inputs for a batch of motions of one prepared face."""
    renderer = NeuralRenderer(face.image, face.landmarks, (encoder or load_decoder_models()[0], None))
    return tuple(renderer.student_inputs(np.stack(motions)).values())


def test_student_fits_the_flop_budget_and_uses_plain_ops(grace_hopper_prepared):
    from torch.utils.flop_counter import FlopCounterMode

    student = StudentDecoder(StudentDecoderConfig()).eval()
    inputs = _inputs(grace_hopper_prepared, [_motion(jaw_open=0.5)])
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        student(*inputs)
    assert 1e8 < counter.get_total_flops() <= FLOP_BUDGET
    # no normalisation layers in the per-frame path: they convert and quantize badly
    kinds = {type(m).__name__ for m in student.modules()}
    assert not kinds & {"GroupNorm", "BatchNorm2d", "LayerNorm", "InstanceNorm2d"}
    assert "Conv2d" in kinds


def test_student_traces_to_a_static_graph(grace_hopper_prepared):
    """No data-dependent Python control flow: an exported graph gives the eager output for new inputs."""
    torch.manual_seed(0)
    student = StudentDecoder(StudentDecoderConfig()).eval()
    for p in student.parameters():  # non-zero heads, so the painters and flow correction matter
        p.data.add_(0.01 * torch.randn_like(p))
    face = grace_hopper_prepared
    with torch.no_grad():
        graph = torch.export.export(student, _inputs(face, [_motion(jaw_open=0.3)])).module()
        other = _inputs(face, [_motion(jaw_open=0.9, yaw=0.2, blink_left=1.0)])
        torch.testing.assert_close(graph(*other), student(*other), atol=1e-5, rtol=0)


def test_separable_heatmaps_equal_the_teachers():
    points = torch.rand(2, 5, 2) * 1.6 - 0.8
    sigma = torch.tensor([0.05, 0.1])
    line = ((torch.arange(32) + 0.5) / 32 * 2 - 1)[None].expand(2, -1)
    torch.testing.assert_close(
        separable_heatmaps(points, line, line, sigma), heatmaps(points, identity_grid(32)[None], sigma)
    )


def test_patches_are_placed_around_the_mouth_through_one_atlas(grace_hopper_prepared):
    """A mouth painter that paints solid red with full alpha colours the middle of the mouth red and
    leaves the frame far from the mouth and eyes untouched."""
    student = StudentDecoder(StudentDecoderConfig()).eval()
    head = student.painters["mouth"].head
    with torch.no_grad():
        head.bias.copy_(torch.tensor([20.0, -20.0, -20.0, 20.0]))  # sigmoid: RGB (1, 0, 0), alpha 1
    inputs = _inputs(grace_hopper_prepared, [_motion(jaw_open=0.6)])
    with torch.inference_mode():
        frame = student(*inputs)[0]
    lm = (inputs[5][0] + 1) / 2 * 512 - 0.5
    cx, cy = lm[MOUTH_OUTER + MOUTH_INNER].mean(0).round().long().tolist()
    torch.testing.assert_close(frame[:, cy, cx], torch.tensor([1.0, 0.0, 0.0]), atol=0.02, rtol=0)
    corner = frame[:, :40, :40]
    plain = StudentDecoder(StudentDecoderConfig()).eval()
    with torch.inference_mode():
        torch.testing.assert_close(corner, plain(*inputs)[0][:, :40, :40])
    red = (frame[0] > 0.9) & (frame[1] < 0.1)
    assert 400 < int(red.sum()) < 40000  # one patch, not the frame


def test_decoder_distillation_resumes_and_exports(tmp_path, held_out_corpus):
    run = tmp_path / "run"
    cfg = dict(batch=2, frames_per_clip=2, save_every=2)
    distill_decoder(held_out_corpus, run, DecoderDistillConfig(steps=2, **cfg))
    distill_decoder(held_out_corpus, run, DecoderDistillConfig(steps=3, **cfg))
    history = json.loads((run / "history.json").read_text())
    assert [s for s, _ in history] == [1, 2, 3]
    assert (run / "loss.png").stat().st_size > 1000
    scores = json.loads((run / "eval.json").read_text())
    assert scores["frames"] == 4, "4 frames of the held-out identity's clip are scored"
    assert all(np.isfinite(v) and v > 0 for k, v in scores.items() if k != "frames"), scores
    assert (run / "compare.png").exists()
    weights = export_student_decoder(run / "decoder_student.safetensors", tmp_path / "s.safetensors")
    encoder, student, meta = load_decoder_models(weights)
    assert isinstance(student, StudentDecoder) and meta["step"] == 3


@pytest.mark.skipif(not STUDENT_DECODER_WEIGHTS.exists(), reason="student decoder not shipped yet")
def test_shipped_student_is_close_to_the_teacher(grace_hopper_prepared):
    """On a face it never saw, the shipped student renders what the teacher renders (same motion)."""
    face = grace_hopper_prepared
    teacher = NeuralRenderer(face.image, face.landmarks)
    student = NeuralRenderer(face.image, face.landmarks, load_decoder_models(STUDENT_DECODER_WEIGHTS)[:2])
    motion = np.stack([NEUTRAL, _motion(jaw_open=0.8, yaw=0.15), _motion(blink_left=1, blink_right=1)])
    ours = student.render(motion)
    theirs = teacher.render(motion)
    for a, b in zip(ours, theirs):
        assert psnr_db(a, b) > 28
    manifest = json.loads(STUDENT_DECODER_WEIGHTS.with_suffix(".json").read_text())
    assert "student_decoder" in manifest and manifest["parameters"] < 1_000_000
