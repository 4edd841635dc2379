"""Distillation of the slim decoder (student) from the reference decoder (teacher).

    edge-vasa distill decoder --corpus DIR --out runs/decoder_student --steps 1500

The student learns the teacher's frames, not the corpus frames: its job is to look like the reference
path, which is what every edge variant is scored against. Samples are the teacher decoder's training
frames (same clips, same choice of open mouths and blinks); the teacher renders each once, up front,
and the student then trains on those targets with the teacher's loss (L1 + image gradients, weighted up
around mouth and eyes). The targets are rebuilt on resume (deterministic), not stored: 2 GB of frames
would cost more to write than to render. The appearance encoder is the teacher's, frozen, and is shipped
inside the student's weights so they stand alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from skimage.metrics import structural_similarity
from tqdm import tqdm

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.files import atomic_output, pyplot, save_figure
from edge_vasa.core.motion import INDEX
from edge_vasa.core.shipped import DECODER_WEIGHTS
from edge_vasa.data.corpus import read_manifest
from edge_vasa.evaluation.metrics import psnr_db
from edge_vasa.models.student_decoder import StudentDecoder, StudentDecoderConfig, flow_photo
from edge_vasa.models.warp_decoder import tps_coefficients
from edge_vasa.models.weights import export_modules
from edge_vasa.pipeline.avatar import RENDER_BATCH
from edge_vasa.pipeline.decoder import load_decoder_models
from edge_vasa.training.loop import resume_training, run_training, warmup_cosine
from edge_vasa.training.train_decoder import (
    DecoderSamples,
    DecoderTrainConfig,
    _batch,
    _mouth_box,
    blink_emphasis,
    decoder_loss,
    load_decoder_samples,
    nothing_held_out,
    psnr,
)


@dataclass
class DecoderDistillConfig:
    steps: int = 1500
    batch: int = 8
    lr: float = 1e-3
    seed: int = 0
    frames_per_clip: int = 6
    region_weight: float = 4.0
    gradient_weight: float = 0.5
    blink_emphasis: float = 12.0
    save_every: int = 100

    def loss_config(self) -> DecoderTrainConfig:
        return DecoderTrainConfig(
            region_weight=self.region_weight,
            gradient_weight=self.gradient_weight,
            blink_emphasis=self.blink_emphasis,
        )


def teacher_frames(encoder, teacher, samples: DecoderSamples, progress: bool = True) -> np.ndarray:
    """The teacher's rendering of every sample: (S, size, size, 3) uint8."""
    out = np.empty_like(samples.frames)
    with torch.inference_mode():
        for start in tqdm(
            range(0, len(samples), RENDER_BATCH), desc="teacher frames", unit="batch", disable=not progress
        ):
            b = _batch(samples, np.arange(start, min(start + RENDER_BATCH, len(samples))))
            features = encoder(b["photo"])
            frames = teacher(features, b["photo"], b["src"], b["dst"], b["landmarks"], b["motion"])
            out[start : start + len(frames)] = (
                (frames.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()
            )
    return out


def student_render(encoder, student: StudentDecoder, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """A training batch (``train_decoder._batch``) through the student."""
    with torch.no_grad():
        features = encoder(batch["photo"])
        small = flow_photo(batch["photo"])
        coef = tps_coefficients(batch["dst"], batch["src"])
    return student(features, batch["photo"], small, coef, batch["dst"], batch["landmarks"], batch["motion"])


def distill_decoder(
    corpus: str | Path,
    out: str | Path,
    cfg: DecoderDistillConfig | None = None,
    teacher_weights: str | Path = DECODER_WEIGHTS,
) -> Path:
    """Distil (or resume distilling) the student decoder; returns OUT/decoder_student.safetensors."""
    cfg = cfg or DecoderDistillConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "decoder_student.safetensors"
    torch.manual_seed(cfg.seed)
    encoder, teacher, _ = load_decoder_models(teacher_weights)
    samples = load_decoder_samples(corpus, "train", cfg.frames_per_clip, cfg.seed)
    samples.frames = teacher_frames(encoder, teacher, samples)
    student = StudentDecoder(StudentDecoderConfig(feature_dim=encoder.cfg.feature_dim))
    modules = {"appearance_encoder": encoder, "student_decoder": student}
    opt = torch.optim.AdamW(student.parameters(), lr=cfg.lr, weight_decay=0.01)
    step, history = resume_training(ckpt, modules, opt)
    rng = np.random.default_rng([cfg.seed, step])
    meta = {
        "appearance_encoder": asdict(encoder.cfg),
        "student_decoder": asdict(student.cfg),
        "distill": asdict(cfg),
        "corpus": str(corpus),
        "samples": len(samples),
    }
    loss_cfg = cfg.loss_config()
    emphasis = blink_emphasis(samples.motion, cfg.blink_emphasis)

    def next_loss() -> torch.Tensor:
        batch = _batch(samples, rng.choice(len(samples), cfg.batch, p=emphasis))
        return decoder_loss(student_render(encoder, student, batch), batch, loss_cfg)

    student.train()
    run_training(
        ckpt,
        modules,
        opt,
        meta,
        history,
        cfg.steps,
        cfg.save_every,
        next_loss,
        lambda s: warmup_cosine(cfg.lr, s, cfg.steps),
        "distill decoder",
        "loss vs teacher",
    )
    student.eval()
    scores = held_out_comparison(corpus, encoder, teacher, student, cfg.seed, picture=out / "compare.png")
    with atomic_output(out / "eval.json") as tmp:
        Path(tmp).write_text(json.dumps(scores, indent=1))
    return ckpt


def held_out_comparison(
    corpus: str | Path,
    encoder,
    teacher,
    student: StudentDecoder,
    seed: int,
    max_clips: int = 20,
    picture: Path | None = None,
) -> dict:
    """Student vs teacher on eval-split frames of the held-out identities (never seen by either): PSNR and
    SSIM of the whole frame, PSNR of the mouth box; and both against the corpus frames for context.
    ``picture``: also save teacher | student | difference for the frames with the widest-open mouths."""

    held_out = set(read_manifest(Path(corpus)).get("held_out", {}).get("identities", []))
    try:
        samples = load_decoder_samples(corpus, "eval", 4, seed, max_clips=max_clips, sources=held_out)
    except EdgeVasaError:
        return nothing_held_out(corpus)
    reference = teacher_frames(encoder, teacher, samples, progress=False)
    scores: dict[str, list[float]] = {"psnr": [], "ssim": [], "mouth_psnr": [], "teacher_vs_corpus": []}
    scores["student_vs_corpus"] = []
    rendered = np.empty_like(reference)
    with torch.inference_mode():
        for start in range(0, len(samples), RENDER_BATCH):
            idx = np.arange(start, min(start + RENDER_BATCH, len(samples)))
            b = _batch(samples, idx)
            frames = student_render(encoder, student, b).clamp(0, 1)
            teacher_out = torch.from_numpy(reference[idx]).permute(0, 3, 1, 2).float() / 255
            for i in range(len(idx)):
                scores["psnr"].append(psnr(frames[i : i + 1], teacher_out[i : i + 1]))
                mouths = [_mouth_box(x[i : i + 1], b["landmarks"][i : i + 1]) for x in (frames, teacher_out)]
                scores["mouth_psnr"].append(psnr(*mouths))
                scores["student_vs_corpus"].append(psnr(frames[i : i + 1], b["target"][i : i + 1]))
                scores["teacher_vs_corpus"].append(psnr(teacher_out[i : i + 1], b["target"][i : i + 1]))
            rendered[idx] = (frames * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()
            for j in idx:
                scores["ssim"].append(structural_similarity(reference[j], rendered[j], channel_axis=2))
    summary = {k: round(float(np.mean(v)), 4) for k, v in scores.items()}
    summary["psnr_min"] = round(float(np.min(scores["psnr"])), 4)
    summary["frames"] = len(samples)
    if picture is not None:
        widest = np.argsort(-samples.motion[:, INDEX["jaw_open"]])[:4]
        plot_comparison(reference[widest], rendered[widest], picture)
    return summary


def plot_comparison(teacher: np.ndarray, student: np.ndarray, path: Path) -> None:
    """One row per frame: teacher, student, and their difference amplified 4x."""
    fig, axes = pyplot().subplots(len(teacher), 3, figsize=(7.5, 2.5 * len(teacher)), dpi=100, squeeze=False)
    for row, a, b in zip(axes, teacher, student):
        diff = np.clip(4 * np.abs(a.astype(np.int16) - b.astype(np.int16)), 0, 255).astype(np.uint8)
        for ax, image, title in zip(row, (a, b, diff), ("teacher", "student", "|difference| x 4")):
            ax.imshow(image)
            ax.set_title(
                f"{title}" + (f" ({psnr_db(a, b):.1f} dB)" if title == "student" else ""), fontsize=9
            )
            ax.axis("off")
    save_figure(fig, path)


def export_student_decoder(checkpoint: str | Path, dest: str | Path) -> Path:
    """The shipped student weights (student + the frozen appearance encoder), plus a manifest."""
    encoder, student, meta = load_decoder_models(checkpoint)
    return export_modules({"appearance_encoder": encoder, "student_decoder": student}, meta, dest)
