"""The motion student: the teacher's 20-step, 3-way-guided sampler distilled into one streaming forward pass.

    stream = StudentMotionGenerator.load().stream(GenerateOptions())
    for block in microphone:                 # any block size
        frames = stream.push(block)          # (k, MOTION_DIM) newly committed motion at 25 Hz, k >= 0
    frames = stream.flush()                  # the rest, the audio's end padded with silence

Why: the teacher (generate.MotionGenerator) costs 20 DDIM steps x 3 guidance branches = 60 network passes
per 2 s window and needs the whole window's audio before it starts. The student commits CHUNK frames per
network pass and sees only LOOKAHEAD frames of future audio, so it runs live from a microphone.

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
from torch import nn
from tqdm import tqdm

from edge_vasa.atomic import atomic_output
from edge_vasa.audio import N_MELS, SAMPLE_RATE, LogMelStream
from edge_vasa.checkpoint import (
    export_modules,
    load_modules,
    read_checkpoint,
    resume_training,
    run_training,
    warmup_cosine,
)
from edge_vasa.errors import EdgeVasaError
from edge_vasa.generate import (
    MOTION_FPS,
    WEIGHTS,
    BlinkKeeper,
    MotionGenerator,
    _scale_head_motion,
)
from edge_vasa.models.audio_encoder import MEL_FRAMES_PER_VIDEO_FRAME, AudioEncoder
from edge_vasa.models.motion_dit import MotionDiT, MotionGeneratorConfig
from edge_vasa.motion import EMOTIONS, INDEX, MOTION_DIM, NEUTRAL, RANGES, clip
from edge_vasa.options import GenerateOptions
from edge_vasa.train import SILENT_MEL, WindowSampler, build_motion_models, load_corpus_clips

STUDENT_WEIGHTS = Path(__file__).parent / "weights" / "motion_student.safetensors"
SAMPLES_PER_FRAME = SAMPLE_RATE // MOTION_FPS  # 640


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
    teacher = MotionGenerator.load(WEIGHTS)
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
        "teacher": WEIGHTS.name,
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


def load_motion_student(path: str | Path = STUDENT_WEIGHTS) -> tuple[AudioEncoder, MotionDiT, dict]:
    """Student weights + config from a distillation checkpoint or the shipped file (safetensors)."""
    tensors, meta = read_checkpoint(path, "motion student", "edge_vasa.distill_motion.distill_motion")
    if "student" not in meta:
        raise EdgeVasaError(f"{path} is not a motion student (no chunk/look-ahead in its config)")
    encoder, model = build_motion_models(meta)
    load_modules(path, {"audio_encoder": encoder, "motion_dit": model}, tensors)
    return encoder.eval(), model.eval(), meta


def export_motion_student(checkpoint: str | Path, dest: str | Path = STUDENT_WEIGHTS) -> Path:
    """The shipped student weights: the checkpoint without optimizer state, plus a manifest."""
    encoder, model, meta = load_motion_student(checkpoint)
    return export_modules({"audio_encoder": encoder, "motion_dit": model}, meta, dest)


class MotionStep(nn.Module):
    """One streaming step with fixed shapes (traceable / exportable):

    past (PAST, D) motion, mel (4 (PAST + CHUNK + LOOKAHEAD + 2), N_MELS) log-mel (one video frame of margin
    each side), emotion () index, controls (4,), guidance (2,) scales, noise (CHUNK + LOOKAHEAD, D)
    -> (CHUNK, D) motion (unclipped, as the next step's past expects it)."""

    def __init__(self, encoder: AudioEncoder, model: MotionDiT, chunk: int):
        super().__init__()
        self.encoder, self.model, self.chunk = encoder.eval(), model.eval(), chunk

    @property
    def mel_frames(self) -> int:
        return (self.model.cfg.past + self.model.cfg.window + 2) * MEL_FRAMES_PER_VIDEO_FRAME

    def forward(self, past, mel, emotion, controls, guidance, noise) -> torch.Tensor:
        features = self.encoder(mel[None])[:, 1:-1]
        yes = torch.ones(1, dtype=torch.bool)
        x = self.model(
            noise[None],
            self.model.normalize(past)[None],
            features,
            torch.ones(1),
            emotion[None],
            controls[None],
            yes,
            yes,
            guidance[None],
        )
        return self.model.denormalize(x[0, : self.chunk])


def check_audio(audio: np.ndarray) -> np.ndarray:
    """16 kHz mono float samples, or a one-line EdgeVasaError."""
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise EdgeVasaError(f"audio must be mono 16 kHz samples (1-D), got shape {audio.shape}")
    if audio.dtype not in (np.float32, np.float64):
        raise EdgeVasaError(f"audio must be float samples in [-1, 1], got {audio.dtype}")
    return audio.astype(np.float32)


class MotionStream:
    """Live motion: push audio blocks of any size, get the motion frames committed so far.

    State carried from chunk to chunk: the last PAST motion frames, the log-mel not yet consumed, the noise
    generator and the blink keeper. The audio before the start counts as silence and the face starts at rest.
    """

    def __init__(
        self, step: MotionStep, opts: GenerateOptions, hop: int | None = None, lookahead: int | None = None
    ):
        """HOP frames are committed per step (default: the step's chunk). LOOKAHEAD frames of audio after
        them are waited for (default: all the step was trained with); the rest counts as silence. Live use
        takes options.LIVE_HOP / LIVE_LOOKAHEAD: less waiting, the same lip sync (measured there)."""
        opts.check()
        self.step, self.opts = step, opts
        full = step.model.cfg.window - step.chunk
        self.hop = min(hop or step.chunk, step.chunk)
        self.lookahead = full if lookahead is None else min(lookahead, full)
        self.emotion = torch.tensor(EMOTIONS.index(opts.emotion))
        self.controls = torch.tensor(
            [*opts.gaze, opts.distance - 1.0, opts.motion_scale], dtype=torch.float32
        )
        self.guidance = torch.tensor([opts.cfg_audio, opts.cfg_control], dtype=torch.float32)
        self.reset()

    def reset(self) -> None:
        """Back to the start: a face at rest after silence, the seed's noise and blinks from the beginning."""
        p = self.step.model.cfg.past
        self.mel_stream = LogMelStream()
        self.mel = np.full(((p + 1) * MEL_FRAMES_PER_VIDEO_FRAME, N_MELS), SILENT_MEL, np.float32)
        self.past = torch.from_numpy(np.tile(NEUTRAL, (p, 1)))
        self.gen = torch.Generator().manual_seed(self.opts.seed)
        self.blinks = BlinkKeeper(np.random.default_rng(self.opts.seed))
        self.samples = self.committed = 0

    @torch.no_grad()
    def _run(self) -> np.ndarray:
        """Every chunk whose audio (with look-ahead) is buffered."""
        out = [np.empty((0, MOTION_DIM), np.float32)]
        k, hop, p = MEL_FRAMES_PER_VIDEO_FRAME, self.hop, self.step.model.cfg.past
        while len(self.mel) >= (p + hop + self.lookahead + 2) * k:
            noise = torch.randn((self.step.model.cfg.window, MOTION_DIM), generator=self.gen)
            mel = self.mel[: self.step.mel_frames]
            if len(mel) < self.step.mel_frames:  # look-ahead not waited for counts as silence
                silence = np.full((self.step.mel_frames - len(mel), N_MELS), SILENT_MEL, np.float32)
                mel = np.concatenate([mel, silence])
            raw = self.step(
                self.past,
                torch.from_numpy(np.ascontiguousarray(mel)),
                self.emotion,
                self.controls,
                self.guidance,
                noise,
            )[:hop]
            self.past = torch.cat([self.past, raw])[-p:]
            self.mel = self.mel[hop * k :]
            motion = self.blinks(clip(raw.numpy()))
            out.append(_scale_head_motion(motion, self.opts.motion_scale))
            self.committed += hop
        return np.concatenate(out)

    def push(self, audio: np.ndarray) -> np.ndarray:
        """Add 16 kHz mono samples; returns the (k, MOTION_DIM) newly committed frames (k may be 0)."""
        audio = check_audio(audio)
        self.samples += len(audio)
        self.mel = np.concatenate([self.mel, self.mel_stream.push(audio)])
        return self._run()

    def flush(self) -> np.ndarray:
        """End of speech: the remaining frames (ceil(seconds * 25) in all); then the stream starts over."""
        total = max(1, -(-self.samples // SAMPLES_PER_FRAME))
        remaining = total - self.committed
        chunks = -(-remaining // self.hop)
        self.mel = np.concatenate([self.mel, self.mel_stream.flush()])
        want = self.step.mel_frames + (chunks - 1) * self.hop * MEL_FRAMES_PER_VIDEO_FRAME
        if len(self.mel) < want:  # silence after the end, as the teacher pads it
            silence = np.full((want - len(self.mel), N_MELS), SILENT_MEL, np.float32)
            self.mel = np.concatenate([self.mel, silence])
        out = self._run()[:remaining]
        self.reset()
        return out


class StudentMotionGenerator:
    """The distilled student: a drop-in for generate.MotionGenerator, and live streams."""

    def __init__(self, encoder: AudioEncoder, model: MotionDiT, chunk: int):
        self.step = MotionStep(encoder, model, chunk)

    @classmethod
    def load(cls, weights: str | Path = STUDENT_WEIGHTS) -> StudentMotionGenerator:
        encoder, model, meta = load_motion_student(weights)
        return cls(encoder, model, meta["student"]["chunk"])

    def stream(self, opts: GenerateOptions) -> MotionStream:
        return MotionStream(self.step, opts)

    def __call__(self, audio: np.ndarray, opts: GenerateOptions, progress: bool = False) -> np.ndarray:
        """16 kHz mono audio -> (T, MOTION_DIM) motion at 25 Hz, T = ceil(seconds * 25); the live stream
        run over the whole audio, so offline and live output agree. ``opts.steps`` is not used."""
        audio = check_audio(audio)
        stream = self.stream(opts)
        block = self.step.chunk * SAMPLES_PER_FRAME
        out = [
            stream.push(audio[i : i + block])
            for i in tqdm(range(0, len(audio), block), desc="motion", unit="chunk", disable=not progress)
        ]
        return np.concatenate([*out, stream.flush()])
