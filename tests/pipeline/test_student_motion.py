"""Distilled motion student: streaming == offline, state carried, fixed-shape step, one pass per chunk."""

import hashlib
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge_vasa.core.audio import SAMPLE_RATE, load_audio
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.motion import INDEX, MOTION_DIM, SLICES, count_closures
from edge_vasa.core.options import GenerateOptions
from edge_vasa.core.shipped import BUNDLED_SPEECH, MOTION_WEIGHTS, STUDENT_WEIGHTS
from edge_vasa.pipeline.postprocess import MAX_BLINK_GAP, BlinkKeeper, ensure_blinks, keep_and_count_blinks
from edge_vasa.pipeline.student_motion import StudentMotionGenerator, load_motion_student


@pytest.fixture(scope="module")
def student() -> StudentMotionGenerator:
    return StudentMotionGenerator.load(STUDENT_WEIGHTS)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return load_audio(BUNDLED_SPEECH)[: 4 * SAMPLE_RATE]


def _step_inputs(student: StudentMotionGenerator, seed: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    step = student.module
    return (
        0.1 * torch.randn((step.model.cfg.past, MOTION_DIM), generator=g),
        torch.randn((step.mel_frames, 80), generator=g) * 3 - 6,
        torch.tensor(seed % 5),
        torch.tensor([0.1, -0.2, 0.0, 1.0]),
        torch.tensor([2.0, 1.5]),
        torch.randn((step.model.cfg.window, MOTION_DIM), generator=g),
    )


def test_shipped_weights_have_a_matching_manifest():
    manifest = json.loads(STUDENT_WEIGHTS.with_suffix(".json").read_text())
    assert hashlib.sha256(STUDENT_WEIGHTS.read_bytes()).hexdigest() == manifest["sha256"]
    assert manifest["motion_dit"]["guidance"] and manifest["student"]["chunk"] >= 1


def test_any_block_sizes_give_the_whole_audio_result(student, speech):
    opts = GenerateOptions(seed=3)
    whole = student(speech, opts)
    assert whole.shape == (int(np.ceil(len(speech) / SAMPLE_RATE * 25)), MOTION_DIM)
    stream = student.stream(opts)
    rng, pieces, i = np.random.default_rng(0), [], 0
    while i < len(speech):
        n = int(rng.integers(1, 3000))
        pieces.append(stream.push(speech[i : i + n]))
        i += n
    pieces.append(stream.flush())
    np.testing.assert_allclose(np.concatenate(pieces), whole, atol=1e-4)


@pytest.mark.parametrize("n_samples", [1, 640, 641, SAMPLE_RATE + 5])
def test_length_is_ceil_seconds_times_25(student, n_samples):
    out = student(np.zeros(n_samples, np.float32), GenerateOptions())
    assert out.shape == (max(1, -(-n_samples // 640)), MOTION_DIM)


def test_state_is_carried_and_reset_starts_over(student, speech):
    stream = student.stream(GenerateOptions())
    first = stream.push(speech[: 2 * SAMPLE_RATE])
    chunk = student.module.chunk
    assert len(first) >= 2 * chunk, "two chunks committed before the end of the audio"
    stream.reset()
    again = stream.push(speech[: 2 * SAMPLE_RATE])
    np.testing.assert_array_equal(first, again)
    # the second chunk continues from the first: other past motion, another second chunk
    inputs = list(_step_inputs(student, 0))
    with torch.no_grad():
        a = student.module(*inputs)
        inputs[0] = inputs[0] + 0.3
        b = student.module(*inputs)
    assert (a - b).abs().max() > 1e-2


def test_step_has_fixed_shapes_and_exports(student):
    step = student.module
    with torch.no_grad():
        traced = torch.export.export(step, tuple(_step_inputs(student, 0))).module()
        for seed in (1, 2):
            inputs = _step_inputs(student, seed)
            eager = step(*inputs)
            assert eager.shape == (step.chunk, MOTION_DIM)
            torch.testing.assert_close(traced(*inputs), eager, atol=1e-5, rtol=1e-5)


def test_live_motion_of_a_clip_waits_for_no_future_audio(student, speech):
    """``live`` runs live's settings over a whole clip (LIVE_HOP frames per step, LIVE_LOOKAHEAD = 0): a
    frame does not hear audio 2 frames or more after it (the encoder's margin and the mel window), where
    the trained chunking hears 8 frames ahead."""
    cut = 50  # frames: the audio after 2 s is muted
    muted = speech.copy()
    muted[cut * 640 :] = 0
    opts = GenerateOptions()
    live = student.live(speech, opts)
    assert live.shape == student(speech, opts).shape
    np.testing.assert_array_equal(live[: cut - 2], student.live(muted, opts)[: cut - 2])
    offline = np.abs(student(speech, opts) - student(muted, opts))
    assert offline[cut - 8 : cut - 2].max() > 0.1


def test_one_forward_pass_per_chunk(student, speech):
    calls = []
    handle = student.module.model.register_forward_hook(lambda *_: calls.append(1))
    try:
        out = student(speech, GenerateOptions())
    finally:
        handle.remove()
    assert len(calls) == -(-len(out) // student.module.chunk)


def test_guidance_scales_change_the_face(student, speech):
    weak = student(speech, GenerateOptions(cfg_audio=1.0, cfg_control=0.5))
    strong = student(speech, GenerateOptions(cfg_audio=3.0, cfg_control=2.5))
    expression = SLICES["expression"]
    assert np.abs(weak[:, expression] - strong[:, expression]).mean() > 0.003


def test_a_ten_second_stream_blinks(student):
    """The student's own blinks, before the keeper: measured 2 per eye in 10 s of silence with seed 1, both
    after 8 s (none in the first 8 s for seeds 0-2, and none in 10 s with live's hop 2 and no look-ahead);
    on speech 11-28 a minute. With the keeper (its own guarantee, applied chunk by chunk) no stare
    outlasts MAX_BLINK_GAP."""
    silence = np.zeros(10 * SAMPLE_RATE, np.float32)

    def stream(keep_blinks: bool) -> np.ndarray:
        s = student.stream(GenerateOptions(seed=1), keep_blinks=keep_blinks)
        out = [s.push(silence[i : i + 1600]) for i in range(0, len(silence), 1600)]
        return np.concatenate([*out, s.flush()])

    own, out = stream(False), stream(True)
    np.testing.assert_array_equal(out, keep_and_count_blinks(own, seed=1)[0])
    for eye in ("blink_left", "blink_right"):
        assert count_closures(own[:, INDEX[eye]] > 0.5) >= 2
        closed = out[:, INDEX[eye]] > 0.5
        starts = np.flatnonzero(closed[1:] & ~closed[:-1]) + 1
        gaps = np.diff(np.concatenate([[0], starts, [len(closed)]])) / 25
        assert gaps.max() <= MAX_BLINK_GAP + 0.3, "no stare longer than MAX_BLINK_GAP"


def test_blinks_kept_chunk_by_chunk_equal_the_whole_clip():
    """The blink keeper carries its state (deadline, a blink still closing) across chunks."""
    rng = np.random.default_rng(0)
    motion = rng.uniform(0, 0.3, (25 * 20, MOTION_DIM)).astype(np.float32)
    motion[100:104, [INDEX["blink_left"], INDEX["blink_right"]]] = 1.0
    keeper = BlinkKeeper(np.random.default_rng(7))
    online = np.concatenate([keeper(motion[i : i + 7]) for i in range(0, len(motion), 7)])
    np.testing.assert_array_equal(online, ensure_blinks(motion, np.random.default_rng(7)))


@pytest.mark.parametrize(
    "audio", [np.zeros((1600, 2), np.float32), np.zeros(1600, np.int16)], ids=["stereo", "int16"]
)
def test_bad_audio_is_a_one_line_error(student, audio):
    with pytest.raises(EdgeVasaError, match="audio must be"):
        student(audio, GenerateOptions())
    with pytest.raises(EdgeVasaError, match="audio must be"):
        student.stream(GenerateOptions()).push(audio)


def test_teacher_weights_are_not_a_student(tmp_path):
    with pytest.raises(EdgeVasaError, match="not a motion student"):
        load_motion_student(MOTION_WEIGHTS)
    with pytest.raises(EdgeVasaError, match="not found"):
        load_motion_student(tmp_path / "missing.safetensors")


def test_motion_distillation_resumes_and_exports(tmp_path, tiny_corpus):
    from edge_vasa.pipeline.student_motion import load_motion_student
    from edge_vasa.training.distill_motion import DistillConfig, distill_motion, export_motion_student

    run = tmp_path / "run"
    cfg = dict(pool_windows=3, batch=2, save_every=2)
    distill_motion(tiny_corpus, run, DistillConfig(steps=2, **cfg))
    assert (run / "teacher_pool.safetensors").exists()  # reused on resume, not sampled again
    distill_motion(tiny_corpus, run, DistillConfig(steps=3, **cfg))
    history = json.loads((run / "history.json").read_text())
    assert [s for s, _ in history] == [1, 2, 3]
    assert (run / "loss.png").stat().st_size > 1000
    weights = export_motion_student(run / "motion_student.safetensors", tmp_path / "m.safetensors")
    _, model, meta = load_motion_student(weights)
    assert model.cfg.guidance and meta["step"] == 3
