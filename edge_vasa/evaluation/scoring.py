"""Whole-run scoring of talking-face videos: one clip's metrics, a photo + speech pair, a held-out corpus.

Everything is measured on the output *frames* (landmarks re-detected by tracking.py), so the numbers
describe what a viewer sees, whatever produced the video:

* lip sync (metrics.best_lag_correlation of mouth opening against voiced speech energy) and its lag;
* silent-lip stability: standard deviation of the mouth opening over silent frames;
* blink rate (eye-aspect-ratio dips per minute), head-pose variation (fitted motion, degrees) and its
  correlation with audio energy, temporal jitter (mean landmark acceleration, px / frame^2);
* from the motion itself, blinks per minute: all, the generator's own and those the blink keeper
  inserted (pipeline.postprocess), since a rate after the keeper cannot show a generator that stares;
* identity: distance between dlib face descriptors of the photo and of frames (same person < 0.6);
* with ground truth: PSNR, SSIM and mean landmark distance against the reference frames.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from skimage.metrics import structural_similarity
from tqdm import tqdm

from edge_vasa.core.audio import load_audio
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import load_image, prepare_face
from edge_vasa.core.files import pyplot, save_figure
from edge_vasa.core.motion import INDEX, FaceGeometry, count_closures, landmarks_to_motion
from edge_vasa.core.options import MODELS, GenerateOptions
from edge_vasa.core.video import read_video
from edge_vasa.data.corpus import read_manifest
from edge_vasa.evaluation.metrics import (
    best_lag_correlation,
    count_blinks,
    eye_aspect_ratio,
    mouth_opening,
    psnr_db,
    speech_activity,
)
from edge_vasa.evaluation.tracking import Track, identity_distance, track_landmarks
from edge_vasa.pipeline.avatar import Avatar
from edge_vasa.pipeline.loaders import load_generator
from edge_vasa.pipeline.postprocess import BlinkCount, keep_and_count_blinks, resample_motion

REFERENCE_FRAMES = 20  # frames spread over a clip for SSIM and landmark distance (tracking dominates)
AGGREGATED = (
    "lip_sync_correlation",
    "lip_sync_lag_frames",
    "blinks_per_minute",
    "blinks_per_minute_motion",
    "blinks_per_minute_generated",
    "blinks_per_minute_inserted",
    "identity_distance",
    "psnr_db",
    "ssim",
    "landmark_distance_px",
    "jitter_px_per_frame2",
)


def render_motion(avatar: Avatar, motion: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) frames of an ``Avatar`` under (T, MOTION_DIM) motion, drawn by whichever
    renderer the avatar uses: what ``Avatar.render`` shows for that motion, without sampling it again."""
    return np.stack(list(avatar.frames(motion)))


def generate_motion(
    avatar: Avatar, audio: np.ndarray, opts: GenerateOptions
) -> tuple[np.ndarray, BlinkCount]:
    """What ``avatar.motion(audio, opts)`` returns, and whose blinks it shows (the generator's own, the
    keeper's), from one generator run: its motion before the keeper, then the keeper it applies."""
    opts.check()
    motion, blinks = keep_and_count_blinks(avatar.generator(audio, opts, keep_blinks=False), opts.seed)
    return resample_motion(motion, opts.fps), blinks


def evaluate_frames(
    frames: np.ndarray,
    audio: np.ndarray,
    fps: float,
    photo: np.ndarray | None = None,
    reference: np.ndarray | None = None,
    generated_motion: np.ndarray | None = None,
    track: Track | None = None,
    blinks: BlinkCount | None = None,
) -> dict:
    """All metrics for one video: (T, H, W, 3) uint8 frames, 16 kHz audio, optional photo and reference.
    TRACK: the frames' landmarks, when the caller has tracked them already (tracking is most of the cost).
    GENERATED_MOTION: the motion rendered; BLINKS: whose blinks it shows (``generate_motion``)."""
    track = track or track_landmarks(frames)
    lm = track.landmarks
    ok = track.found & np.isfinite(lm).all(axis=(1, 2))
    if ok.sum() < 5:
        raise EdgeVasaError(
            f"a face was found in only {int(ok.sum())} of {len(frames)} frames; cannot score it"
        )
    activity = speech_activity(audio, len(frames), fps)
    opening = mouth_opening(np.nan_to_num(lm))
    r, lag = best_lag_correlation(opening[ok], activity[ok])
    silent = ok & (activity < np.percentile(activity, 20) + 3) & (activity < activity.max() - 30)
    ear = eye_aspect_ratio(np.nan_to_num(lm))[ok]
    geometry = FaceGeometry.from_landmarks(lm[ok][0], frames.shape[1])
    motion = landmarks_to_motion(lm[ok], geometry)
    pose_deg = np.degrees(motion[:, [INDEX["yaw"], INDEX["pitch"], INDEX["roll"]]])
    head_speed = np.linalg.norm(np.diff(pose_deg, axis=0), axis=1)
    accel = np.linalg.norm(np.diff(lm[ok], n=2, axis=0), axis=2).mean() if ok.sum() > 2 else float("nan")
    minutes = len(frames) / fps / 60
    result = {
        "frames": len(frames),
        "frames_with_face": int(ok.sum()),
        "lip_sync_correlation": round(r, 4),
        "lip_sync_lag_frames": lag,
        "silent_lip_std": round(float(opening[silent].std()), 4) if silent.sum() > 3 else None,
        "blinks_per_minute": round(count_blinks(ear) / minutes, 1),
        "head_pose_std_deg": [round(float(v), 3) for v in pose_deg.std(0)],
        "head_motion_energy_correlation": round(
            float(np.corrcoef(head_speed, activity[ok][1:])[0, 1]) if head_speed.std() > 0 else 0.0, 4
        ),
        "jitter_px_per_frame2": round(float(accel), 3),
        "expression_mean": {
            k: round(float(motion[:, INDEX[k]].mean()), 4)
            for k in ("smile", "mouth_frown", "brow_raise", "brow_frown")
        },
    }
    if generated_motion is not None:
        # the generator's own blink channel: dlib's eye landmarks do not follow the renderer's painted lids
        result["blinks_per_minute_motion"] = round(
            count_closures(generated_motion[:, INDEX["blink_left"]] > 0.5) / minutes, 1
        )
    if blinks is not None:
        result["blinks_per_minute_generated"] = round(blinks.own / minutes, 1)
        result["blinks_per_minute_inserted"] = round(blinks.inserted / minutes, 1)
    if photo is not None:
        result["identity_distance"] = round(identity_distance(photo, frames, lm, ok), 4)
    if reference is not None:
        result.update(compare_to_reference(frames, reference, lm, ok))
    return result


def compare_to_reference(
    frames: np.ndarray,
    reference: np.ndarray,
    lm: np.ndarray,
    ok: np.ndarray,
    reference_track: Track | None = None,
) -> dict:
    """PSNR, SSIM and landmark distance over up to REFERENCE_FRAMES frames spread over the clip.
    REFERENCE_TRACK: the reference's landmarks on those frames, when the caller compares several videos to
    one reference."""
    n = min(len(frames), len(reference))
    picks = np.linspace(0, n - 1, min(n, REFERENCE_FRAMES)).astype(int)
    psnr = [psnr_db(reference[i], frames[i]) for i in picks]
    ssim = [structural_similarity(reference[i], frames[i], channel_axis=2) for i in picks]
    ref_track = reference_track or track_landmarks(reference[picks])
    both = ok[picks] & ref_track.found
    dist = (
        np.linalg.norm(lm[picks][both] - ref_track.landmarks[both], axis=2).mean() if both.any() else np.nan
    )
    return {
        "psnr_db": round(float(np.mean(psnr)), 2),
        "ssim": round(float(np.mean(ssim)), 4),
        "landmark_distance_px": round(float(dist), 3),
    }


def plot_sync(opening: np.ndarray, activity: np.ndarray, path: str | Path, title: str) -> None:
    """Mouth opening and speech activity over time, for looking rather than reading."""
    t = np.arange(len(opening)) / 25
    fig, ax = pyplot().subplots(figsize=(9, 3), dpi=100)
    ax.plot(t, opening, label="mouth opening (inner lips / IOD)")
    ax.set(xlabel="time (s)", ylabel="mouth opening", title=title)
    ax2 = ax.twinx()
    ax2.plot(t, activity, color="tab:orange", alpha=0.6, label="speech energy (dB)")
    ax2.set_ylabel("speech energy (dB)")
    fig.legend(loc="upper right")
    save_figure(fig, path)


def evaluate_corpus(
    corpus: str | Path,
    out: str | Path,
    max_clips: int = 10,
    opts: GenerateOptions | None = None,
    weights: str | Path | None = None,
    renderer: str = "decoder",
    model: str = MODELS[0],
) -> dict:
    """Generate every held-out clip of a corpus from its photo and audio, and score it against the
    corpus render (ground truth). Groups: held-out identities, held-out language. Writes out/eval.json."""
    corpus, out = Path(corpus), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(corpus)
    held_ids = set(manifest["held_out"]["identities"])
    metas = [json.loads(p.read_text()) for p in sorted(corpus.glob("clips/*/meta.json"))]
    metas = [m for m in metas if m["split"] == "eval"][:max_clips]
    if not metas:
        raise EdgeVasaError(f"{corpus} has no eval clips; build at least 10 clips")
    generator = load_generator(model, weights)
    opts = opts or GenerateOptions()
    rows = []
    for meta in tqdm(metas, desc=f"eval {model}", unit="clip"):
        clip = corpus / "clips" / meta["clip"]
        photo = load_image(corpus / "identities" / f"{meta['identity']}.png")
        audio = load_audio(clip / "audio.wav")
        avatar = Avatar.load(prepare_face(photo), model, renderer, generator=generator)
        clip_opts = GenerateOptions(**{**opts.__dict__, "emotion": meta["emotion"]})
        motion, blinks = generate_motion(avatar, audio, clip_opts)
        frames = render_motion(avatar, motion)
        reference, _, _ = read_video(clip / "video.mp4")
        track = track_landmarks(frames)
        row = evaluate_frames(
            frames,
            audio,
            clip_opts.fps,
            photo=photo,
            reference=reference,
            generated_motion=motion,
            track=track,
            blinks=blinks,
        )
        source = meta["identity"].rsplit("_", 1)[0]
        row.update(
            clip=meta["clip"],
            identity=meta["identity"],
            language=meta["language"],
            emotion=meta["emotion"],
            group="identity" if source in held_ids else "language",
        )
        rows.append(row)
        if len(rows) == 1:
            plot_sync(
                mouth_opening(np.nan_to_num(track.landmarks)),
                speech_activity(audio, len(frames)),
                out / f"sync_{meta['clip']}.png",
                f"clip {meta['clip']} ({meta['language']})",
            )
    summary = {g: _aggregate([r for r in rows if r["group"] == g]) for g in ("identity", "language")}
    result = {"model": model, "renderer": renderer, "clips": rows, "summary": summary}
    (out / "eval.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    return result


def evaluate_pair(
    image: str | Path,
    audio_path: str | Path,
    out: str | Path,
    opts: GenerateOptions | None = None,
    weights: str | Path | None = None,
    renderer: str = "decoder",
    model: str = MODELS[0],
) -> dict:
    """Generate one video from a photo and speech and score it (no ground truth). Writes out/eval.json."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    opts = opts or GenerateOptions()
    photo, audio = load_image(image), load_audio(audio_path)
    generator = load_generator(model, weights)
    avatar = Avatar.load(prepare_face(photo, name=str(image)), model, renderer, generator=generator)
    motion, blinks = generate_motion(avatar, audio, opts)
    frames = render_motion(avatar, motion)
    track = track_landmarks(frames)
    result = evaluate_frames(
        frames, audio, opts.fps, photo=photo, generated_motion=motion, track=track, blinks=blinks
    )
    plot_sync(
        mouth_opening(np.nan_to_num(track.landmarks)),
        speech_activity(audio, len(frames), opts.fps),
        out / "sync.png",
        f"{Path(image).name} + {Path(audio_path).name}",
    )
    (out / "eval.json").write_text(json.dumps(result, indent=1))
    return result


def _aggregate(rows: list[dict]) -> dict:
    """Means over a group's clips of the AGGREGATED figures (clips without one are left out of its mean),
    the mean head-pose spread, and the share of clips whose lip-sync lag is within one frame."""
    if not rows:
        return {}
    agg = {k: round(float(np.nanmean([r[k] for r in rows if r.get(k) is not None])), 4) for k in AGGREGATED}
    agg["head_pose_std_deg"] = [
        round(float(v), 3) for v in np.mean([r["head_pose_std_deg"] for r in rows], 0)
    ]
    agg["lag_within_1_frame"] = round(float(np.mean([abs(r["lip_sync_lag_frames"]) <= 1 for r in rows])), 2)
    agg["clips"] = len(rows)
    return agg
