"""Evaluation of talking-face videos: metrics that need no ground truth, and those that do.

Everything is measured on the output *frames*: dlib's 68 landmarks are re-detected on every frame, so
the numbers describe what a viewer sees, whatever produced the video.

* lip sync: mouth opening (inner lips / inter-ocular distance) against speech activity (voiced energy of
  the audio per frame): the best Pearson correlation over lags of +-5 frames, and that lag
  (> 0: the mouth moves after the sound);
* silent-lip stability: standard deviation of the mouth opening over silent frames;
* blink rate (eye-aspect-ratio dips per minute), head-pose variation (fitted motion, degrees) and its
  correlation with audio energy, temporal jitter (mean landmark acceleration, px / frame^2);
* identity: distance between dlib face descriptors of the photo and of frames (same person < 0.6);
* with ground truth: PSNR, SSIM and mean landmark distance against the reference frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from edge_vasa.audio import HOP, SAMPLE_RATE
from edge_vasa.errors import EdgeVasaError
from edge_vasa.face import detect_faces, detect_landmarks, landmark_model_path
from edge_vasa.motion import EYE_L, EYE_R, INDEX, FaceGeometry, count_closures, landmarks_to_motion

MAX_LAG = 5
VOICED_MEL_BANDS = 30  # of the 80 Slaney mel bands, the first 30 lie below about 1.2 kHz


def speech_activity(audio: np.ndarray, n_frames: int, fps: float = 25.0) -> np.ndarray:
    """(n_frames,) voiced speech energy per video frame, in dB (floored at -80).

    Only mel bands below about 1.2 kHz count: vowels and voiced sounds, where the mouth opens, carry their
    energy there, while /s/, /f/ and other hiss (mouth nearly closed) sit higher. Lightly smoothed.
    """
    from scipy.ndimage import gaussian_filter1d

    from edge_vasa.audio import log_mel

    power = np.exp(log_mel(audio)[:, :VOICED_MEL_BANDS]).sum(1)
    per_frame = SAMPLE_RATE / HOP / fps
    edges = np.round(np.arange(n_frames + 1) * per_frame).astype(int)
    energy = np.array(
        [power[a:b].mean() if b > a and a < len(power) else 0.0 for a, b in zip(edges[:-1], edges[1:])]
    )
    return gaussian_filter1d(10 * np.log10(np.maximum(energy, 1e-8)), 1.0)


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) -> (T,) inner-lip gap (62-66) in units of the inter-ocular distance."""
    iod = np.linalg.norm(landmarks[:, EYE_L].mean(1) - landmarks[:, EYE_R].mean(1), axis=1)
    return np.linalg.norm(landmarks[:, 66] - landmarks[:, 62], axis=1) / iod


def best_lag_correlation(
    opening: np.ndarray, activity: np.ndarray, max_lag: int = MAX_LAG
) -> tuple[float, int]:
    """Highest Pearson correlation of opening[t + lag] with activity[t] over |lag| <= max_lag."""
    best = (-1.0, 0)
    for lag in range(-max_lag, max_lag + 1):
        a = activity[max(0, -lag) : len(activity) - max(0, lag)]
        o = opening[max(0, lag) : len(opening) - max(0, -lag)]
        n = min(len(a), len(o))
        if n < 5 or np.std(a[:n]) == 0 or np.std(o[:n]) == 0:
            continue
        r = float(np.corrcoef(a[:n], o[:n])[0, 1])
        if r > best[0]:
            best = (r, lag)
    return best


def eye_aspect_ratio(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) -> (T,) mean eye opening / eye width of both eyes."""
    out = []
    for eye in (EYE_R, EYE_L):
        p = landmarks[:, eye]
        vertical = np.linalg.norm(p[:, 1] - p[:, 5], axis=1) + np.linalg.norm(p[:, 2] - p[:, 4], axis=1)
        out.append(vertical / (2 * np.linalg.norm(p[:, 0] - p[:, 3], axis=1)))
    return np.mean(out, axis=0)


def count_blinks(ear: np.ndarray) -> int:
    """Dips of the eye aspect ratio below 60 % of its median (a closed eye), counted once each."""
    return count_closures(ear < 0.6 * np.median(ear))


@lru_cache(maxsize=1)
def _face_encoder():
    import dlib

    path = landmark_model_path().parent / "dlib_face_recognition_resnet_model_v1.dat"
    return dlib.face_recognition_model_v1(str(path))


def face_descriptor(rgb: np.ndarray, landmarks_box: tuple[int, int, int, int]) -> np.ndarray:
    """dlib's 128-d face descriptor (same person: distance < 0.6)."""
    import dlib

    from edge_vasa.face import _models

    shape = _models()[1](np.ascontiguousarray(rgb), dlib.rectangle(*landmarks_box))
    return np.array(_face_encoder().compute_face_descriptor(np.ascontiguousarray(rgb), shape))


@dataclass
class Track:
    landmarks: np.ndarray  # (T, 68, 2), NaN where no face was found
    found: np.ndarray  # (T,) bool


def track_landmarks(frames: np.ndarray) -> Track:
    """Detect the face and its 68 landmarks on every frame (the previous box helps when detection fails)."""
    out = np.full((len(frames), 68, 2), np.nan)
    found = np.zeros(len(frames), bool)
    box = None
    for i, frame in enumerate(frames):
        boxes = detect_faces(frame)
        if boxes:
            box = boxes[0]
            found[i] = True
        if box is not None:
            out[i] = detect_landmarks(frame, box)
    return Track(out, found)


def evaluate_frames(
    frames: np.ndarray,
    audio: np.ndarray,
    fps: float,
    photo: np.ndarray | None = None,
    reference: np.ndarray | None = None,
    generated_motion: np.ndarray | None = None,
    track: Track | None = None,
) -> dict:
    """All metrics for one video: (T, H, W, 3) uint8 frames, 16 kHz audio, optional photo and reference."""
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
    if photo is not None:
        result["identity_distance"] = round(identity_distance(photo, frames, lm, ok), 4)
    if reference is not None:
        result.update(compare_to_reference(frames, reference, lm, ok))
    return result


def identity_distance(
    photo: np.ndarray, frames: np.ndarray, lm: np.ndarray, ok: np.ndarray, n: int = 8
) -> float:
    """Mean dlib descriptor distance between the photo's face and n evenly spaced frames."""
    boxes = detect_faces(photo)
    if not boxes:
        return float("nan")
    ref = face_descriptor(photo, boxes[0])
    picks = np.flatnonzero(ok)[np.linspace(0, ok.sum() - 1, min(n, ok.sum())).astype(int)]
    dists = []
    for i in picks:
        lo, hi = lm[i].min(0), lm[i].max(0)
        pad = 0.15 * (hi - lo)
        box = tuple(int(v) for v in (*(lo - pad), *(hi + pad)))
        dists.append(np.linalg.norm(face_descriptor(frames[i], box) - ref))
    return float(np.mean(dists))


def psnr_db(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of two uint8 images, capped at 100 dB for identical ones (JSON has no infinity)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(min(100.0, 10 * np.log10(255.0**2 / max(mse, 1e-10))))


def compare_to_reference(frames: np.ndarray, reference: np.ndarray, lm: np.ndarray, ok: np.ndarray) -> dict:
    from skimage.metrics import structural_similarity

    n = min(len(frames), len(reference))
    picks = np.linspace(0, n - 1, min(n, 20)).astype(int)
    psnr = [psnr_db(reference[i], frames[i]) for i in picks]
    ssim = [structural_similarity(reference[i], frames[i], channel_axis=2) for i in picks]
    ref_track = track_landmarks(reference[picks])
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edge_vasa.atomic import atomic_output

    t = np.arange(len(opening)) / 25
    fig, ax = plt.subplots(figsize=(9, 3), dpi=100)
    ax.plot(t, opening, label="mouth opening (inner lips / IOD)")
    ax.set(xlabel="time (s)", ylabel="mouth opening", title=title)
    ax2 = ax.twinx()
    ax2.plot(t, activity, color="tab:orange", alpha=0.6, label="speech energy (dB)")
    ax2.set_ylabel("speech energy (dB)")
    fig.legend(loc="upper right")
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def evaluate_corpus(
    corpus: str | Path, out: str | Path, max_clips: int = 10, opts=None, weights=None
) -> dict:
    """Generate every held-out clip of a corpus from its photo and audio, and score it against the
    corpus render (ground truth). Groups: held-out identities, held-out language. Writes out/eval.json."""
    import json

    from edge_vasa.audio import load_audio
    from edge_vasa.corpus import read_manifest
    from edge_vasa.face import load_image, prepare_face
    from edge_vasa.generate import WEIGHTS, Avatar, GenerateOptions, MotionGenerator
    from edge_vasa.video import read_video

    corpus, out = Path(corpus), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(corpus)
    held_ids = set(manifest["held_out"]["identities"])
    metas = [json.loads(p.read_text()) for p in sorted(corpus.glob("clips/*/meta.json"))]
    metas = [m for m in metas if m["split"] == "eval"][:max_clips]
    if not metas:
        raise EdgeVasaError(f"{corpus} has no eval clips; build at least 10 clips")
    generator = MotionGenerator.load(weights or WEIGHTS)
    opts = opts or GenerateOptions()
    rows = []
    for meta in metas:
        clip = corpus / "clips" / meta["clip"]
        photo = load_image(corpus / "identities" / f"{meta['identity']}.png")
        audio = load_audio(clip / "audio.wav")
        avatar = Avatar(prepare_face(photo), generator)
        clip_opts = GenerateOptions(**{**opts.__dict__, "emotion": meta["emotion"]})
        motion = avatar.motion(audio, clip_opts)
        frames = np.stack([avatar.renderer.render(m)[0] for m in motion])
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
    result = {"clips": rows, "summary": summary}
    (out / "eval.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    return result


def evaluate_pair(
    image: str | Path, audio_path: str | Path, out: str | Path, opts=None, weights=None
) -> dict:
    """Generate one video from a photo and speech and score it (no ground truth). Writes out/eval.json."""
    import json

    from edge_vasa.audio import load_audio
    from edge_vasa.face import load_image, prepare_face
    from edge_vasa.generate import WEIGHTS, Avatar, GenerateOptions, MotionGenerator

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    opts = opts or GenerateOptions()
    photo, audio = load_image(image), load_audio(audio_path)
    avatar = Avatar(prepare_face(photo, name=str(image)), MotionGenerator.load(weights or WEIGHTS))
    motion = avatar.motion(audio, opts)
    frames = np.stack([avatar.renderer.render(m)[0] for m in motion])
    track = track_landmarks(frames)
    result = evaluate_frames(frames, audio, opts.fps, photo=photo, generated_motion=motion, track=track)
    plot_sync(
        mouth_opening(np.nan_to_num(track.landmarks)),
        speech_activity(audio, len(frames), opts.fps),
        out / "sync.png",
        f"{Path(image).name} + {Path(audio_path).name}",
    )
    (out / "eval.json").write_text(json.dumps(result, indent=1))
    return result


def _aggregate(rows: list[dict]) -> dict:
    if not rows:
        return {}
    keys = (
        "lip_sync_correlation",
        "lip_sync_lag_frames",
        "blinks_per_minute",
        "blinks_per_minute_motion",
        "identity_distance",
        "psnr_db",
        "ssim",
        "landmark_distance_px",
        "jitter_px_per_frame2",
    )
    agg = {k: round(float(np.nanmean([r[k] for r in rows if r.get(k) is not None])), 4) for k in keys}
    agg["head_pose_std_deg"] = [
        round(float(v), 3) for v in np.mean([r["head_pose_std_deg"] for r in rows], 0)
    ]
    agg["lag_within_1_frame"] = round(float(np.mean([abs(r["lip_sync_lag_frames"]) <= 1 for r in rows])), 2)
    agg["clips"] = len(rows)
    return agg
