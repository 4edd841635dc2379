"""Distillation of the motion student: the teacher's 20-step, 3-way-guided sampler into one streaming pass.

    edge-vasa distill motion --corpus corpus --out runs/motion-student

The student itself (its streaming step and how it runs) is pipeline/student_motion.py.

Distillation method: direct (Luhman-style) regression of the teacher's deterministic DDIM map
noise -> sample. The teacher's sampler is deterministic given its noise, so a pool of (noise, sample)
pairs can be computed once and the student trained on it with plain supervised steps; that fits the
budget of this machine (one CPU core, ~30 minutes in all). Progressive distillation needs log2(20)
rounds of training, each on fresh teacher calls; consistency distillation needs teacher ODE steps inside
every training step; both cost many times the budget. The classifier-free guidance is folded in by
sampling the two guidance scales per pool item and giving them to the student as an input
(MotionDiT ``guidance=True``), so the student needs no uncond / audio-only passes.

Streaming shapes are fixed: past motion (PAST, D), log-mel of PAST + CHUNK + LOOKAHEAD video frames plus
one frame of margin on each side (the audio encoder's two k=5 convolutions see +-4 mel frames, one video
frame, so the margin makes each feature equal to the one computed on the whole file), emotion, controls
(4), guidance scales (2) and noise (CHUNK + LOOKAHEAD, D) -> CHUNK frames. The student denoises
CHUNK + LOOKAHEAD frames and commits the first CHUNK; the next call continues from them. Training targets
are teacher windows cut the same way: at offsets 0, CHUNK, 2 CHUNK, ... of a 50-frame teacher window,
past = the frames before (the corpus past, or the teacher's own output), noise = the teacher's noise for
those frames, target = the teacher's sample. The loss also matches frame-to-frame differences and the
spread of the motion (student_loss), so that blinks and head sway are not averaged into a still face.

Latency (CHUNK = 10, LOOKAHEAD = 8): a chunk is computed once the audio reaches the end of its look-ahead
plus the last mel window's tail (120 samples) and the encoder margin (one video frame): 0.72 s + 47.5 ms
after the start of the chunk's first frame. So a frame's motion is ready 0.37 s (last frame of a chunk)
to 0.77 s (first frame) after its audio, plus one network pass per chunk; a player holding audio back by
a constant 0.77 s + compute shows every frame in sync.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from edge_vasa.core.files import atomic_output
from edge_vasa.core.motion import EMOTIONS, INDEX, RANGES
from edge_vasa.core.options import GenerateOptions
from edge_vasa.core.shipped import MOTION_WEIGHTS, STUDENT_WEIGHTS
from edge_vasa.models.motion_dit import MotionDiT, MotionGeneratorConfig
from edge_vasa.models.weights import export_modules
from edge_vasa.pipeline.student_motion import load_motion_student
from edge_vasa.pipeline.teacher_motion import MotionGenerator
from edge_vasa.training.loop import resume_training, run_training, warmup_cosine
from edge_vasa.training.train_motion import WindowSampler, load_corpus_clips


@dataclass
class DistillConfig:
    """The shipped weights: 1500 steps with these defaults, then resumed to steps=3500 with rollout=2."""

    chunk: int = 10  # frames committed per call: 0.4 s
    lookahead: int = 8  # frames of future audio (and motion) denoised but not committed: 0.32 s
    pool_windows: int = 1500  # teacher windows (20 DDIM steps x 3 guidance branches each)
    steps: int = 4000
    batch: int = 32
    lr: float = 3e-4
    seed: int = 0
    neutral_past: float = 0.15  # as in teacher training: this often the window starts from rest
    default_guidance: float = 0.3  # this share of the pool uses exactly the default guidance scales
    random_controls: float = 0.4  # this share uses random user controls instead of the clip's own
    velocity_weight: float = 1.0  # loss on frame-to-frame differences: keeps blinks and head sway
    spread_weight: float = 4.0  # loss on the batch spread of the motion away from the past (see student_loss)
    rollout: int = 1  # chunks chained per training example (2: the second continues from the student's own)
    save_every: int = 250


def _sample_conditions(
    rng: np.random.Generator, emotion: int, controls: np.ndarray, cfg: DistillConfig
) -> tuple[int, np.ndarray, np.ndarray]:
    """(emotion, controls, guidance scales) for one teacher window: the clip's own or random user choices."""
    if rng.random() < cfg.random_controls:
        lo, hi = RANGES[INDEX["scale"]]
        emotion = int(rng.integers(len(EMOTIONS)))
        controls = np.array(
            [*rng.uniform(-1, 1, 2), rng.uniform(lo, hi) - 1.0, rng.uniform(0, 2)], dtype=np.float32
        )
    defaults = GenerateOptions()
    if rng.random() < cfg.default_guidance:
        scales = [defaults.cfg_audio, defaults.cfg_control]
    else:
        scales = [rng.uniform(1.0, 3.0), rng.uniform(0.5, 2.5)]
    return emotion, controls, np.array(scales, dtype=np.float32)


@torch.no_grad()
def teacher_pool(teacher: MotionGenerator, corpus: Path, cfg: DistillConfig) -> dict[str, torch.Tensor]:
    """Teacher windows from the corpus's training split with their noise: the student's training data.

    Audio features are computed on one extra video frame each side, as the whole-file encoder sees them.
    """
    p, w = teacher.model.cfg.past, teacher.model.cfg.window
    sampler = WindowSampler(load_corpus_clips(corpus), p + 1, w + 1, seed=cfg.seed)
    batch = sampler.batch(cfg.pool_windows, cfg.neutral_past)
    features = torch.cat([teacher.encoder(m)[:, 1:-1] for m in batch["mel"].split(64)])  # (N, p + w, A)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    use_audio, use_controls = torch.tensor([False, True, True]), torch.tensor([False, False, True])
    pool: dict[str, list] = {k: [] for k in ("past", "noise", "sample", "emotion", "controls", "guidance")}
    for i in tqdm(range(cfg.pool_windows), desc="teacher pool", unit="window"):
        emotion, controls, scales = _sample_conditions(
            rng, int(batch["emotion"][i]), batch["controls"][i].numpy(), cfg
        )
        past = teacher.model.normalize(batch["motion"][i, 1 : p + 1])
        state = gen.get_state()
        noise = torch.randn((w, teacher.model.cfg.motion_dim), generator=gen)  # the noise sample_window draws
        gen.set_state(state)
        opts = GenerateOptions(cfg_audio=float(scales[0]), cfg_control=float(scales[1]))
        sample = teacher.sample_window(
            past,
            features[i][None].expand(3, -1, -1),
            torch.tensor([emotion] * 3),
            torch.from_numpy(controls)[None].expand(3, -1),
            use_audio,
            use_controls,
            opts,
            gen,
        )
        for key, value in zip(pool, (past, noise, sample, emotion, controls, scales)):
            pool[key].append(torch.as_tensor(value))
    return {"features": features, **{k: torch.stack(v) for k, v in pool.items()}}


def build_student(teacher: MotionDiT, cfg: DistillConfig) -> MotionDiT:
    """A guidance-conditioned MotionDiT over CHUNK + LOOKAHEAD frames, starting from the teacher's weights."""
    window = cfg.chunk + cfg.lookahead
    student = MotionDiT(MotionGeneratorConfig(**{**asdict(teacher.cfg), "window": window, "guidance": True}))
    state = teacher.state_dict()
    state["position"] = state["position"][:, : student.position.shape[1]]  # fewer tokens
    missing, unexpected = student.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith("guidance_mlp.") for k in missing), (missing, unexpected)
    return student


def student_loss(
    model: MotionDiT, pool: dict[str, torch.Tensor], chunk: int, cfg: DistillConfig, rng: np.random.Generator
) -> torch.Tensor:
    """Regression onto the teacher's committed frames (values and frame-to-frame differences), plus a
    spread term: the teacher's sample also depends on noise and audio the student never sees (the rest of
    its window), so plain regression learns their average, a stiller head and fewer blinks. Matching the
    per-channel spread, over the batch, of how far the motion moves from its past keeps that variety,
    drawn from the noise the student does see. With ``cfg.rollout`` > 1 the student continues from its
    own chunks, as it does live, and the spread is matched over the whole rollout (slow head sway)."""
    p, n = model.cfg.past, model.cfg.window
    span = (cfg.rollout - 1) * chunk + n
    offsets = np.arange(0, pool["sample"].shape[1] - span + 1, chunk)
    idx = torch.from_numpy(rng.integers(len(pool["sample"]), size=cfg.batch))
    off = rng.choice(offsets, size=cfg.batch)
    tokens = torch.cat([pool["past"][idx], pool["sample"][idx]], 1)  # (B, p + w, D)
    past = torch.stack([tokens[b, o : o + p] for b, o in enumerate(off)])
    target = torch.stack([tokens[b, o + p : o + p + cfg.rollout * chunk] for b, o in enumerate(off)])
    yes = torch.ones(cfg.batch, dtype=torch.bool)
    context, preds = past, []
    for r in range(cfg.rollout):
        start = off + r * chunk
        pred = model(
            torch.stack([pool["noise"][i, o : o + n] for i, o in zip(idx, start)]),
            context,
            torch.stack([pool["features"][i, o : o + p + n] for i, o in zip(idx, start)]),
            torch.ones(cfg.batch),
            pool["emotion"][idx],
            pool["controls"][idx],
            yes,
            yes,
            pool["guidance"][idx],
        )[:, :chunk]
        preds.append(pred)
        context = torch.cat([context, pred], 1)[:, -p:]
    pred = torch.cat(preds, 1)

    def diffs(m: torch.Tensor) -> torch.Tensor:
        return torch.diff(torch.cat([past[:, -1:], m], 1), dim=1)

    def spread(m: torch.Tensor) -> torch.Tensor:
        return (m - past[:, -1:]).std(dim=(0, 1))

    loss = torch.mean((pred - target) ** 2)
    loss = loss + cfg.velocity_weight * torch.mean((diffs(pred) - diffs(target)) ** 2)
    return loss + cfg.spread_weight * torch.mean((spread(pred) - spread(target)) ** 2)


def distill_motion(corpus: str | Path, out: str | Path, cfg: DistillConfig | None = None) -> Path:
    """Distil (or resume distilling) the shipped teacher into a streaming student; returns
    out/motion_student.safetensors. The teacher pool is cached in out/teacher_pool.safetensors."""
    cfg = cfg or DistillConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt, pool_path = out / "motion_student.safetensors", out / "teacher_pool.safetensors"
    torch.manual_seed(cfg.seed)
    teacher = MotionGenerator.load(MOTION_WEIGHTS)
    started = time.time()
    if pool_path.exists():
        pool = load_file(str(pool_path))
    else:
        pool = teacher_pool(teacher, Path(corpus), cfg)
        with atomic_output(pool_path) as tmp:
            save_file(pool, tmp)
    encoder, model = teacher.encoder, build_student(teacher.model, cfg)
    modules = {"audio_encoder": encoder, "motion_dit": model}
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    step, history = resume_training(ckpt, modules, opt)
    rng = np.random.default_rng(cfg.seed + step)
    meta = {
        "audio_encoder": asdict(encoder.cfg),
        "motion_dit": asdict(model.cfg),
        "student": {"chunk": cfg.chunk, "lookahead": cfg.lookahead},
        "distill": asdict(cfg),
        "teacher": MOTION_WEIGHTS.name,
        "corpus": str(corpus),
    }
    model.train()
    run_training(
        ckpt,
        modules,
        opt,
        meta,
        history,
        cfg.steps,
        cfg.save_every,
        lambda: student_loss(model, pool, cfg.chunk, cfg, rng),
        lambda s: warmup_cosine(cfg.lr, s, cfg.steps, floor=0.1),  # decays to 10 %
        "distill motion",
        "loss",
        started,  # the teacher pool counts
    )
    return ckpt


def export_motion_student(checkpoint: str | Path, dest: str | Path = STUDENT_WEIGHTS) -> Path:
    """The shipped student weights: the checkpoint without optimizer state, plus a manifest."""
    encoder, model, meta = load_motion_student(checkpoint)
    return export_modules({"audio_encoder": encoder, "motion_dit": model}, meta, dest)
