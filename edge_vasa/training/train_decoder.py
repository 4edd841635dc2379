"""Training of the reference decoder (appearance encoder + warping decoder) on a corpus.

    edge-vasa train decoder --corpus DIR --out runs/decoder --steps 1500

A sample is (identity photo, motion of one frame, the frame). Frames are drawn from every training clip,
favouring open mouths and blinks (the parts a warp alone cannot draw), and held in memory at the training
resolution of the crop (512: the networks' cost does not depend on it). The loss
is L1 on pixels and on image gradients (against blur), weighted up around the mouth and eyes. Checkpoints,
resume, history and loss.png work as for the motion generator.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.files import atomic_output
from edge_vasa.core.motion import EYE_L, EYE_R, INDEX, MOUTH_INNER
from edge_vasa.core.video import read_video
from edge_vasa.models.warp_decoder import heatmaps, identity_grid
from edge_vasa.models.weights import export_modules
from edge_vasa.pipeline.analytic import Renderer
from edge_vasa.pipeline.decoder import build_decoder_models, load_decoder_models
from edge_vasa.pipeline.decoder_inputs import decoder_inputs
from edge_vasa.training.loop import resume_training, run_training, warmup_cosine

REGION_SIZE = 128  # resolution of the loss weight map (smooth: no need for more)


@dataclass
class DecoderTrainConfig:
    steps: int = 1500
    batch: int = 8
    lr: float = 3e-4
    seed: int = 0
    frames_per_clip: int = 6
    region_weight: float = 4.0  # extra loss weight on the mouth and eyes
    gradient_weight: float = 0.5
    blink_emphasis: float = 12.0
    save_every: int = 100


@dataclass
class DecoderSamples:
    photos: np.ndarray  # (I, size, size, 3) uint8 identity photos
    identity: np.ndarray  # (S,) index into photos
    frames: np.ndarray  # (S, size, size, 3) uint8 targets
    src: np.ndarray  # (S, N, 2) float32
    dst: np.ndarray  # (S, N, 2) float32
    landmarks: np.ndarray  # (S, 68, 2) float32
    motion: np.ndarray  # (S, MOTION_DIM) float32
    clips: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.identity)


def _pick_frames(motion: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct frames, open mouths and blinks drawn more often than their share of time."""
    interest = 0.3 + np.clip(motion[:, INDEX["jaw_open"]], 0, None) * 2
    interest += motion[:, [INDEX["blink_left"], INDEX["blink_right"]]].max(1)
    k = min(k, len(motion))
    return np.sort(rng.choice(len(motion), size=k, replace=False, p=interest / interest.sum()))


def load_decoder_samples(
    corpus: str | Path,
    split: str,
    frames_per_clip: int,
    seed: int,
    max_clips: int | None = None,
    sources: set[str] | None = None,
) -> DecoderSamples:
    """Frames + decoder inputs from the clips of one split of a corpus (or of ingested footage), only of
    identities made from ``sources`` (photo names, e.g. the corpus's held-out identities) when given."""
    corpus = Path(corpus)
    metas = sorted(corpus.glob("clips/*/meta.json"))
    if not metas:
        raise EdgeVasaError(f"no finished clips in {corpus}; build a corpus with `edge-vasa corpus build`")
    rng = np.random.default_rng(seed)
    photos, photo_index, renderers = [], {}, {}
    out: dict[str, list] = {
        k: [] for k in ("identity", "frames", "src", "dst", "landmarks", "motion", "clips")
    }

    def wanted(meta: dict) -> bool:
        return meta["split"] == split and (sources is None or meta["identity"].rsplit("_", 1)[0] in sources)

    chosen = [m for m in metas if wanted(json.loads(m.read_text()))][:max_clips]
    for meta_path in tqdm(chosen, desc=f"loading {split} frames", unit="clip", leave=False):
        meta = json.loads(meta_path.read_text())
        ident = meta["identity"]
        if ident not in renderers:
            rgb = cv2.cvtColor(cv2.imread(str(corpus / "identities" / f"{ident}.png")), cv2.COLOR_BGR2RGB)
            renderers[ident] = Renderer(rgb, np.load(corpus / "identities" / f"{ident}.npy"))
            photo_index[ident] = len(photos)
            photos.append(rgb)
        motion = np.load(meta_path.parent / "motion.npy").astype(np.float32)
        video, _, _ = read_video(meta_path.parent / "video.mp4")
        n = min(len(video), len(motion))
        for t in _pick_frames(motion[:n], frames_per_clip, rng):
            src, dst, landmarks = decoder_inputs(renderers[ident], motion[t])
            out["identity"].append(photo_index[ident])
            out["frames"].append(video[t].copy())  # not a view: it would keep the whole video alive
            out["src"].append(src)
            out["dst"].append(dst)
            out["landmarks"].append(landmarks)
            out["motion"].append(motion[t])
            out["clips"].append(meta["clip"])
    if not out["frames"]:
        raise EdgeVasaError(f"{corpus} has no {split} clips")
    arrays = {k: np.stack(v) for k, v in out.items() if k != "clips"}
    return DecoderSamples(np.stack(photos), clips=out["clips"], **arrays)


def blink_emphasis(motion: np.ndarray, emphasis: float) -> np.ndarray:
    """Sampling probabilities of frames: a closed eye covers a few hundred pixels for a few frames a minute,
    so without emphasis the lids are learned last; blink frames are drawn (1 + emphasis) times more often."""
    closure = motion[:, [INDEX["blink_left"], INDEX["blink_right"]]].max(1)
    weights = 1 + emphasis * closure
    return weights / weights.sum()


def _batch(samples: DecoderSamples, idx: np.ndarray) -> dict[str, torch.Tensor]:
    def image(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255

    return {
        "photo": image(samples.photos[samples.identity[idx]]),
        "target": image(samples.frames[idx]),
        "src": torch.from_numpy(samples.src[idx]),
        "dst": torch.from_numpy(samples.dst[idx]),
        "landmarks": torch.from_numpy(samples.landmarks[idx]),
        "motion": torch.from_numpy(samples.motion[idx]),
    }


def _render(encoder, decoder, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    features = encoder(batch["photo"])
    return decoder(features, batch["photo"], batch["src"], batch["dst"], batch["landmarks"], batch["motion"])


def decoder_loss(out: torch.Tensor, batch: dict[str, torch.Tensor], cfg: DecoderTrainConfig) -> torch.Tensor:
    target = batch["target"]
    # mouth and eyes (blobs around their landmarks) count region_weight times more
    grid = identity_grid(REGION_SIZE)[None]
    iod = (batch["landmarks"][:, EYE_L].mean(1) - batch["landmarks"][:, EYE_R].mean(1)).norm(dim=-1)
    parts = batch["landmarks"][:, EYE_R + EYE_L + MOUTH_INNER]
    region = heatmaps(parts, grid, 0.12 * iod).amax(1, keepdim=True)
    weight = 1 + cfg.region_weight * F.interpolate(region, size=target.shape[-1], mode="bilinear")
    loss = (weight * (out - target).abs()).mean()

    def grads(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]

    for g_out, g_target in zip(grads(out), grads(target)):
        loss = loss + cfg.gradient_weight * (g_out - g_target).abs().mean()
    return loss


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean PSNR in dB of [0, 1] images."""
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return float((10 * torch.log10(1 / mse)).mean())


def evaluate_decoder(encoder, decoder, samples: DecoderSamples, batch: int = 8) -> dict[str, float]:
    """PSNR of the decoder's frames against the corpus frames, whole frame and mouth box."""
    scores, mouth = [], []
    with torch.inference_mode():
        for start in range(0, len(samples), batch):
            b = _batch(samples, np.arange(start, min(start + batch, len(samples))))
            out = _render(encoder, decoder, b)
            scores.append(psnr(out, b["target"]) * len(out))
            mouth.append(psnr(*(_mouth_box(x, b["landmarks"]) for x in (out, b["target"]))) * len(out))
    return {
        "psnr": sum(scores) / len(samples),
        "mouth_psnr": sum(mouth) / len(samples),
        "frames": len(samples),
    }


def _mouth_box(images: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
    """A fixed-size box around each frame's mouth (landmarks 48-67)."""
    size = images.shape[-1]
    half = size // 8
    centres = ((landmarks[:, 48:68].mean(1) + 1) / 2 * size).round().long().clamp(half, size - half)
    return torch.stack(
        [
            im[:, cy - half : cy + half, cx - half : cx + half]
            for im, (cx, cy) in zip(images, centres.tolist())
        ]
    )


def train_decoder(corpus: str | Path, out: str | Path, cfg: DecoderTrainConfig | None = None) -> Path:
    """Train (or resume) the decoder; returns the checkpoint path (out/decoder.safetensors)."""
    cfg = cfg or DecoderTrainConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "decoder.safetensors"
    torch.manual_seed(cfg.seed)
    samples = load_decoder_samples(corpus, "train", cfg.frames_per_clip, cfg.seed)
    encoder, decoder = build_decoder_models()
    modules = {"appearance_encoder": encoder, "warp_decoder": decoder}
    opt = torch.optim.AdamW([*encoder.parameters(), *decoder.parameters()], lr=cfg.lr, weight_decay=0.01)
    step, history = resume_training(ckpt, modules, opt)
    rng = np.random.default_rng([cfg.seed, step])
    meta = {
        "appearance_encoder": asdict(encoder.cfg),
        "warp_decoder": asdict(decoder.cfg),
        "train": asdict(cfg),
        "corpus": str(corpus),
        "samples": len(samples),
    }
    emphasis = blink_emphasis(samples.motion, cfg.blink_emphasis)

    def next_loss() -> torch.Tensor:
        batch = _batch(samples, rng.choice(len(samples), cfg.batch, p=emphasis))
        return decoder_loss(_render(encoder, decoder, batch), batch, cfg)

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
        "train decoder",
        "loss (weighted L1)",
    )
    encoder.eval()
    decoder.eval()
    scores = held_out_scores(corpus, encoder, decoder, cfg.seed)
    with atomic_output(out / "eval.json") as tmp:
        Path(tmp).write_text(json.dumps(scores, indent=1))
    return ckpt


def held_out_scores(corpus: str | Path, encoder, decoder, seed: int, max_clips: int = 20) -> dict:
    """PSNR on frames of the eval split (held-out identities and language); no scores when there is none."""
    try:
        samples = load_decoder_samples(corpus, "eval", 4, seed, max_clips=max_clips)
    except EdgeVasaError:
        return nothing_held_out(corpus)
    return evaluate_decoder(encoder, decoder, samples)


def nothing_held_out(corpus: str | Path) -> dict:
    """The scores of a corpus without held-out clips: none, said aloud (a silent 0 frames reads as a pass)."""
    note = f"{corpus} has no held-out (eval) clips (every tenth clip is one): nothing scored"
    warnings.warn(note, RuntimeWarning, stacklevel=2)
    return {"frames": 0, "note": note}


def export_decoder_weights(checkpoint: str | Path, dest: str | Path) -> Path:
    """The shipped decoder weights: the checkpoint without optimizer state, plus a manifest."""
    encoder, decoder, meta = load_decoder_models(checkpoint)
    return export_modules({"appearance_encoder": encoder, "warp_decoder": decoder}, meta, dest)
