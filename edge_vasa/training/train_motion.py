"""Training of the reference motion generator (audio encoder + diffusion transformer) on a corpus.

    edge-vasa train motion --corpus DIR --out runs/motion --steps 2500

Every clip of the corpus's training split is loaded once (motion at 25 Hz, log-mel at 100 Hz); a batch
is random windows of ``past + window`` frames with the clip's controls. The checkpoint (safetensors:
weights, optimizer state, step) is written every ``save_every`` steps and at the end, so an interrupted
run resumes where it stopped; the loss history is plotted to loss.png next to it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from edge_vasa.core.audio import MEL_FRAMES_PER_VIDEO_FRAME, SILENT_MEL, load_audio, mel_for_frames
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.motion import EMOTIONS, INDEX, NEUTRAL, SLICES
from edge_vasa.models.audio_encoder import AudioEncoder
from edge_vasa.models.motion_dit import MotionDiT, alpha_bar
from edge_vasa.models.weights import export_modules
from edge_vasa.pipeline.teacher_motion import build_motion_models, load_motion_models
from edge_vasa.training.loop import resume_training, run_training

HEAD_STD_REFERENCE = 0.04  # rad: head-motion amplitude 1.0 means this yaw/pitch standard deviation


@dataclass
class MotionTrainConfig:
    steps: int = 2500
    batch: int = 32
    lr: float = 3e-4
    seed: int = 0
    audio_dropout: float = 0.1  # classifier-free guidance: train without audio this often
    control_dropout: float = 0.1
    neutral_past: float = 0.15  # this often the past context is the neutral face (as at the start of a clip)
    velocity_weight: float = 0.5  # extra loss on frame-to-frame differences, against jitter
    save_every: int = 250


@dataclass
class Clip:
    motion: np.ndarray  # (T, D) float32
    mel: np.ndarray  # (4 T, 80) float32
    emotion: int
    head_amplitude: float


def clip_controls(motion: np.ndarray) -> np.ndarray:
    """(T, D) motion -> the (4,) control vector it exhibits: mean gaze, mean head distance, head amplitude."""
    head = motion[:, [INDEX["yaw"], INDEX["pitch"]]].std(0).mean() / HEAD_STD_REFERENCE
    return np.array(
        [*motion[:, SLICES["gaze"]].mean(0), motion[:, INDEX["scale"]].mean() - 1.0, head], dtype=np.float32
    )


def load_corpus_clips(corpus: Path, split: str = "train") -> list[Clip]:
    clips = []
    metas = sorted(corpus.glob("clips/*/meta.json"))
    if not metas:
        raise EdgeVasaError(f"no finished clips in {corpus}; build a corpus with `edge-vasa corpus build`")
    for meta_path in tqdm(metas, desc="loading corpus", unit="clip", leave=False):
        meta = json.loads(meta_path.read_text())
        if meta["split"] != split:
            continue
        motion = np.load(meta_path.parent / "motion.npy").astype(np.float32)
        mel = mel_for_frames(load_audio(meta_path.parent / "audio.wav"), len(motion))
        head = float(clip_controls(motion)[3])
        clips.append(Clip(motion, mel, EMOTIONS.index(meta["emotion"]), head))
    return clips


class WindowSampler:
    """Random training windows: (past, window) motion, their audio, emotion and controls."""

    def __init__(self, clips: list[Clip], past: int, window: int, seed: int):
        self.clips, self.past, self.window = clips, past, window
        lengths = np.array([len(c.motion) for c in clips], dtype=np.float64)
        self.weights = lengths / lengths.sum()
        self.rng = np.random.default_rng(seed)

    def _one(self, clip: Clip, neutral_past: bool) -> tuple[np.ndarray, ...]:
        p, w, k = self.past, self.window, MEL_FRAMES_PER_VIDEO_FRAME
        t = len(clip.motion)
        start = int(self.rng.integers(0, max(t - w, 0) + 1))
        idx = np.arange(start - p, start + w)
        # before the clip: its first frame (the script starts from rest); after it: its last frame
        motion = clip.motion[np.clip(idx, 0, t - 1)]
        if neutral_past:
            motion[:p] = NEUTRAL
        mel = np.full(((p + w) * k, clip.mel.shape[1]), SILENT_MEL, np.float32)
        inside = (idx >= 0) & (idx < t)
        frames = np.flatnonzero(inside)
        mel.reshape(p + w, k, -1)[frames] = clip.mel.reshape(t, k, -1)[idx[frames]]
        controls = clip_controls(motion[p:])
        controls[3] = clip.head_amplitude  # amplitude is a property of the whole clip, not of 2 s
        return motion, mel, controls

    def batch(self, size: int, neutral_past: float) -> dict[str, torch.Tensor]:
        picks = self.rng.choice(len(self.clips), size=size, p=self.weights)
        items = [self._one(self.clips[i], self.rng.random() < neutral_past) for i in picks]
        motion, mel, controls = (torch.from_numpy(np.stack(x)) for x in zip(*items))
        emotion = torch.tensor([self.clips[i].emotion for i in picks])
        return {"motion": motion, "mel": mel, "controls": controls, "emotion": emotion}


def motion_loss(
    encoder: AudioEncoder, model: MotionDiT, batch: dict, cfg: MotionTrainConfig, gen: torch.Generator
) -> torch.Tensor:
    p = model.cfg.past
    x = model.normalize(batch["motion"])
    past, target = x[:, :p], x[:, p:]
    b = len(x)
    t = torch.rand(b, generator=gen)
    a = alpha_bar(t)[:, None, None]
    noisy = a.sqrt() * target + (1 - a).sqrt() * torch.randn(target.shape, generator=gen)
    use_audio = torch.rand(b, generator=gen) >= cfg.audio_dropout
    use_controls = torch.rand(b, generator=gen) >= cfg.control_dropout
    pred = model(
        noisy, past, encoder(batch["mel"]), t, batch["emotion"], batch["controls"], use_audio, use_controls
    )
    loss = torch.mean((pred - target) ** 2)

    # frame-to-frame differences, including the step from the last past frame into the window
    def diffs(m: torch.Tensor) -> torch.Tensor:
        return torch.diff(torch.cat([past[:, -1:], m], 1), dim=1)

    return loss + cfg.velocity_weight * torch.mean((diffs(pred) - diffs(target)) ** 2)


def train_motion(corpus: str | Path, out: str | Path, cfg: MotionTrainConfig | None = None) -> Path:
    """Train (or resume) the motion generator; returns the checkpoint path (out/motion.safetensors)."""
    cfg = cfg or MotionTrainConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "motion.safetensors"
    torch.manual_seed(cfg.seed)
    clips = load_corpus_clips(Path(corpus))
    if not clips:
        raise EdgeVasaError(f"{corpus} has no training clips")
    encoder, model = build_motion_models()
    modules = {"audio_encoder": encoder, "motion_dit": model}
    opt = torch.optim.AdamW([*encoder.parameters(), *model.parameters()], lr=cfg.lr, weight_decay=0.01)
    all_motion = np.concatenate([c.motion for c in clips])
    model.motion_mean.copy_(torch.from_numpy(all_motion.mean(0)))
    model.motion_std.copy_(torch.from_numpy(np.maximum(all_motion.std(0), 1e-3)))
    step, history = resume_training(ckpt, modules, opt)  # a resumed run gets its own statistics back
    sampler = WindowSampler(clips, model.cfg.past, model.cfg.window, seed=cfg.seed + step)
    gen = torch.Generator().manual_seed(cfg.seed + step)
    meta = {
        "audio_encoder": asdict(encoder.cfg),
        "motion_dit": asdict(model.cfg),
        "train": asdict(cfg),
        "corpus": str(corpus),
        "clips": len(clips),
    }
    encoder.train()
    model.train()
    run_training(
        ckpt,
        modules,
        opt,
        meta,
        history,
        cfg.steps,
        cfg.save_every,
        lambda: motion_loss(encoder, model, sampler.batch(cfg.batch, cfg.neutral_past), cfg, gen),
        lambda s: cfg.lr * min(1.0, (s + 1) / 200),  # warm-up, then constant
        "train motion",
        "loss (standardised)",
    )
    return ckpt


def export_weights(checkpoint: str | Path, dest: str | Path) -> Path:
    """The shipped motion weights: the checkpoint without optimizer state, plus a manifest."""
    encoder, model, meta = load_motion_models(checkpoint)
    return export_modules({"audio_encoder": encoder, "motion_dit": model}, meta, dest)
