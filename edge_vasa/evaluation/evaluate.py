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
* with ground truth: PSNR, SSIM and mean landmark distance against the reference frames;
* controls (``evaluate_controls``): whether emotion and gaze change what they claim to change. Emotion:
  expression coefficients fitted to the output landmarks, per-clip mean and std, classified
  leave-one-seed-out by nearest centroid (accuracy vs chance, confusion). Gaze: the iris (darkest blob
  inside each eye's landmark polygon) relative to the eye corners, shifted against the straight-ahead
  clip of the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from edge_vasa.core.audio import HOP, SAMPLE_RATE
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import detect_faces, detect_landmarks, landmark_model_path
from edge_vasa.core.files import atomic_output, pyplot, save_figure
from edge_vasa.core.motion import (
    EXPRESSION_NAMES,
    EYE_L,
    EYE_R,
    INDEX,
    NEUTRAL,
    SLICES,
    FaceGeometry,
    count_closures,
    landmarks_to_motion,
)
from edge_vasa.core.options import MODELS

MAX_LAG = 5
VOICED_MEL_BANDS = 30  # of the 80 Slaney mel bands, the first 30 lie below about 1.2 kHz


def speech_activity(audio: np.ndarray, n_frames: int, fps: float = 25.0) -> np.ndarray:
    """(n_frames,) voiced speech energy per video frame, in dB (floored at -80).

    Only mel bands below about 1.2 kHz count: vowels and voiced sounds, where the mouth opens, carry their
    energy there, while /s/, /f/ and other hiss (mouth nearly closed) sit higher. Lightly smoothed.
    """
    from scipy.ndimage import gaussian_filter1d

    from edge_vasa.core.audio import log_mel

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

    from edge_vasa.core.face import _models

    shape = _models()[1](np.ascontiguousarray(rgb), dlib.rectangle(*landmarks_box))
    return np.array(_face_encoder().compute_face_descriptor(np.ascontiguousarray(rgb), shape))


def render_motion(avatar, motion: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) frames of an ``Avatar`` under (T, MOTION_DIM) motion, drawn by whichever
    renderer the avatar uses: what ``Avatar.render`` shows for that motion, without sampling it again."""
    return np.stack(list(avatar.frames(motion)))


@dataclass
class Track:
    landmarks: np.ndarray  # (T, 68, 2), NaN where no face was found
    found: np.ndarray  # (T,) bool


def track_landmarks(frames: np.ndarray, detect_every: int = 1) -> Track:
    """Detect the face and its 68 landmarks on every frame (the previous box helps when detection fails).

    DETECT_EVERY > 1 runs the face detector (most of the time per frame) only on every so many frames and
    fits the landmarks in the last box between them: a talking head moves a few pixels in that time."""
    out = np.full((len(frames), 68, 2), np.nan)
    found = np.zeros(len(frames), bool)
    box, detected = None, False
    for i, frame in enumerate(frames):
        if i % detect_every == 0 or not detected:
            boxes = detect_faces(frame)
            detected = bool(boxes)
            box = boxes[0] if boxes else box
        found[i] = detected
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


def compare_to_reference(
    frames: np.ndarray,
    reference: np.ndarray,
    lm: np.ndarray,
    ok: np.ndarray,
    reference_track: Track | None = None,
) -> dict:
    """PSNR, SSIM and landmark distance over up to 20 frames spread over the clip. REFERENCE_TRACK: the
    reference's landmarks on those frames, when the caller compares several videos to one reference."""
    from skimage.metrics import structural_similarity

    n = min(len(frames), len(reference))
    picks = np.linspace(0, n - 1, min(n, 20)).astype(int)
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
    opts=None,
    weights=None,
    renderer="decoder",
    model: str = MODELS[0],
) -> dict:
    """Generate every held-out clip of a corpus from its photo and audio, and score it against the
    corpus render (ground truth). Groups: held-out identities, held-out language. Writes out/eval.json."""
    import json

    from tqdm import tqdm

    from edge_vasa.core.audio import load_audio
    from edge_vasa.core.face import load_image, prepare_face
    from edge_vasa.core.options import GenerateOptions
    from edge_vasa.core.video import read_video
    from edge_vasa.data.corpus import read_manifest
    from edge_vasa.pipeline.avatar import Avatar
    from edge_vasa.pipeline.loaders import load_generator

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
        motion = avatar.motion(audio, clip_opts)
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
    opts=None,
    weights=None,
    renderer="decoder",
    model: str = MODELS[0],
) -> dict:
    """Generate one video from a photo and speech and score it (no ground truth). Writes out/eval.json."""
    import json

    from edge_vasa.core.audio import load_audio
    from edge_vasa.core.face import load_image, prepare_face
    from edge_vasa.core.options import GenerateOptions
    from edge_vasa.pipeline.avatar import Avatar
    from edge_vasa.pipeline.loaders import load_generator

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    opts = opts or GenerateOptions()
    photo, audio = load_image(image), load_audio(audio_path)
    generator = load_generator(model, weights)
    avatar = Avatar.load(prepare_face(photo, name=str(image)), model, renderer, generator=generator)
    motion = avatar.motion(audio, opts)
    frames = render_motion(avatar, motion)
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


# --- controls: do emotion and gaze change what they claim to change? ----------------------------------

CONTROL_SEEDS = 4
GAZE_AMOUNT = 0.6  # within what the generator reproduces closely; the corpus mostly looks within +-0.3
# image directions (the gaze control's axes): + x toward image right, + y down
GAZE_DIRECTIONS = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}
# the darkest 15 % of the eye opening: pupil and inner iris. A larger share takes in iris rim and lash
# shadow that the lids hold in place (the iris often fills the opening's height), which dilutes the shift
IRIS_DARK_FRACTION = 0.15
BLINK_SKIP = 0.2  # frames whose generated lids are closed further than this hide the iris


def expression_features(coefficients: np.ndarray) -> np.ndarray:
    """(T, K) expression coefficients of one clip -> (2K,) features: per-coefficient mean, then std."""
    return np.concatenate([coefficients.mean(0), coefficients.std(0)])


def separability(features: np.ndarray, labels, groups, classes=None) -> dict:
    """How well ``labels`` can be told apart from ``features`` (N, F): leave-one-group-out nearest centroid.

    Each group (a seed) is held out in turn; class centroids come from the other groups, features scaled by
    their pooled within-class standard deviation there (a diagonal LDA with equal priors). Returns the
    accuracy, the chance level (1 / classes), the confusion matrix (rows: true, columns: predicted, counts)
    and the class order.
    """
    x = np.asarray(features, dtype=np.float64)
    labels, groups = np.asarray(labels), np.asarray(groups)
    classes = list(classes) if classes is not None else list(dict.fromkeys(labels.tolist()))
    y = np.array([classes.index(v) for v in labels.tolist()])
    if len(np.unique(groups)) < 2:
        raise EdgeVasaError("separability needs at least 2 groups (seeds) to hold one out")
    confusion = np.zeros((len(classes), len(classes)), int)
    for g in np.unique(groups):
        train, test = groups != g, groups == g
        present = [c for c in range(len(classes)) if np.any(y[train] == c)]
        centroids = np.stack([x[train][y[train] == c].mean(0) for c in present])
        residual = x[train] - centroids[[present.index(c) for c in y[train]]]
        var = (residual**2).mean(0)
        var = var + 1e-3 * x[train].var(0) + 1e-12  # a feature constant within classes must not dominate
        d2 = (((x[test][:, None] - centroids[None]) ** 2) / var).sum(-1)
        for true, pred in zip(y[test], np.asarray(present)[d2.argmin(1)]):
            confusion[true, pred] += 1
    return {
        "accuracy": round(float(np.trace(confusion) / confusion.sum()), 4),
        "chance": round(1 / len(classes), 4),
        "classes": classes,
        "confusion": confusion.tolist(),
    }


def iris_offset(gray: np.ndarray, eye: np.ndarray, dark_fraction: float = IRIS_DARK_FRACTION) -> np.ndarray:
    """Iris centre of one eye relative to the midpoint of its corners, in eye widths: (along, down).

    ``gray`` (H, W) luminance, ``eye`` (6, 2) the eye's landmarks in dlib order (corner, 2 upper lid,
    corner, 2 lower lid). The iris is the darkest ``dark_fraction`` of the pixels inside that polygon,
    each weighted by how much darker than the polygon's median it is. ``along`` points from the first to
    the second corner (image right for both eyes of an upright face), ``down`` 90 degrees clockwise of it.
    A dark blob the polygon cuts off is underestimated, never reversed. NaN when the eye is too small.
    """
    import cv2

    eye = np.asarray(eye, dtype=np.float64)
    width = float(np.linalg.norm(eye[3] - eye[0]))
    if not np.isfinite(width) or width < 4:
        return np.full(2, np.nan)
    along = (eye[3] - eye[0]) / width
    down = np.array([-along[1], along[0]])
    h, w = gray.shape
    x0, y0 = np.maximum(np.floor(eye.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(eye.max(0)).astype(int) + 2, (w, h))
    if x1 - x0 < 3 or y1 - y0 < 3:
        return np.full(2, np.nan)
    patch = cv2.GaussianBlur(np.asarray(gray[y0:y1, x0:x1], np.float32), (3, 3), 0.7)
    mask = np.zeros(patch.shape, np.uint8)
    cv2.fillPoly(mask, [np.round((eye - [x0, y0]) * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    inside = mask.astype(bool)
    if inside.sum() < 10:
        return np.full(2, np.nan)
    values = patch[inside]
    weight = np.where(inside & (patch <= np.quantile(values, dark_fraction)), np.median(values) - patch, 0)
    weight = np.maximum(weight, 0)
    if weight.sum() <= 0:
        return np.full(2, np.nan)
    ys, xs = np.mgrid[y0:y1, x0:x1]
    centre = np.array([(xs * weight).sum(), (ys * weight).sum()]) / weight.sum()
    offset = centre - (eye[0] + eye[3]) / 2
    return np.array([offset @ along, offset @ down]) / width


def iris_offsets(frames: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) frames and their (T, 68, 2) landmarks -> (T, 2) iris offset, mean of both eyes."""
    out = np.full((len(frames), 2), np.nan)
    for i, (frame, lm) in enumerate(zip(frames, landmarks)):
        if not np.isfinite(lm).all():
            continue
        gray = frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        out[i] = np.nanmean([iris_offset(gray, lm[eye]) for eye in (EYE_R, EYE_L)], axis=0)
    return out


def measure_clip(frames: np.ndarray, motion: np.ndarray, geometry: FaceGeometry) -> dict:
    """What the controls should change, measured on output frames (with the motion that drew them, used
    only to skip blinks for the iris): expression coefficients fitted to the re-detected landmarks (T', K),
    the iris offset per frame (T, 2; NaN without a face or with closing lids) and its median (2,), in eye
    widths."""
    track = track_landmarks(frames)
    ok = track.found & np.isfinite(track.landmarks).all(axis=(1, 2))
    if ok.sum() < 2:
        raise EdgeVasaError(
            f"a face was found in only {int(ok.sum())} of {len(frames)} frames; cannot measure the controls"
        )
    coefficients = landmarks_to_motion(track.landmarks[ok], geometry)[:, SLICES["expression"]]
    open_eyes = ok & (motion[:, SLICES["blink"]].max(1) < BLINK_SKIP)
    iris = iris_offsets(frames[open_eyes], track.landmarks[open_eyes])
    per_frame = np.full((len(frames), 2), np.nan)
    per_frame[open_eyes] = iris
    return {
        "frames_with_face": int(ok.sum()),
        "coefficients": coefficients,
        "iris": np.nanmedian(iris, axis=0) if np.isfinite(iris).any() else np.full(2, np.nan),
        "iris_per_frame": per_frame,
    }


def evaluate_controls(
    image,
    out: str | Path,
    audio=None,
    opts=None,
    seeds: int = CONTROL_SEEDS,
    weights=None,
    emotions=None,
    gaze_directions=tuple(GAZE_DIRECTIONS),
    gaze_amount: float = GAZE_AMOUNT,
    frame_step: int = 2,
    progress: bool = True,
    renderer: str = "decoder",
    model: str = MODELS[0],
) -> dict:
    """Do emotion and gaze change what they claim to change, on the output frames?

    ``image``: photo path or RGB array; ``audio``: speech path, 16 kHz array, or None for the bundled
    speech. Every emotion (default: all the generator knows) is generated with seeds 0..seeds-1 under
    ``opts`` (gaze straight ahead), and each gaze direction with the neutral emotion at ``gaze_amount``.
    Every ``frame_step``-th frame is drawn (by ``renderer``, as in ``Avatar``) and measured; the
    features are clip statistics. Emotion separability: leave-one-seed-out nearest centroid on the mean
    and std of the expression coefficients fitted to the output, and on the generated motion's own
    coefficients (which tells generator problems from renderer and landmark-fit problems). Gaze: iris
    shift against the straight-ahead clip of the same seed; a direction passes when the shift along its
    axis has the expected sign in every seed. A still neutral face with exactly each gaze gives the
    shift the frame drawing alone produces, for scale.
    Writes OUT/controls.json, OUT/controls_confusion.png and OUT/controls_expression.png.
    """
    import json

    from tqdm import tqdm

    from edge_vasa.core.audio import load_audio
    from edge_vasa.core.face import load_image, prepare_face
    from edge_vasa.core.motion import EMOTIONS
    from edge_vasa.core.options import GenerateOptions
    from edge_vasa.core.shipped import BUNDLED_SPEECH
    from edge_vasa.pipeline.avatar import Avatar
    from edge_vasa.pipeline.loaders import load_generator

    emotions = list(emotions or EMOTIONS)
    unknown = [d for d in gaze_directions if d not in GAZE_DIRECTIONS]
    if unknown:
        raise EdgeVasaError(f"unknown gaze direction {unknown[0]!r}; use {', '.join(GAZE_DIRECTIONS)}")
    if seeds < 2:
        raise EdgeVasaError(f"--seeds must be at least 2 (one is held out at a time), got {seeds}")
    if frame_step < 1:
        raise EdgeVasaError(f"frame step must be at least 1, got {frame_step}")
    if not 0 < gaze_amount <= 1:
        raise EdgeVasaError(f"gaze amount must be within 0..1 (exclusive of 0), got {gaze_amount}")
    opts = opts or GenerateOptions()
    audio = BUNDLED_SPEECH if audio is None else audio
    audio_name = "array" if isinstance(audio, np.ndarray) else str(audio)
    if not isinstance(audio, np.ndarray):
        audio = load_audio(audio)
    name = "image" if isinstance(image, np.ndarray) else str(image)
    photo = image if isinstance(image, np.ndarray) else load_image(image)
    generator = load_generator(model, weights)
    avatar = Avatar.load(prepare_face(photo, name=name), model, renderer, generator=generator)
    geometry = FaceGeometry.from_landmarks(avatar.face.landmarks, avatar.face.image.shape[0])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    jobs = [(e, (0.0, 0.0), s) for e in emotions for s in range(seeds)]
    if gaze_directions:
        jobs += [("neutral", (0.0, 0.0), s) for s in range(seeds) if "neutral" not in emotions]
        jobs += [
            ("neutral", (gaze_amount * dx, gaze_amount * dy), s)
            for dx, dy in (GAZE_DIRECTIONS[d] for d in gaze_directions)
            for s in range(seeds)
        ]
    clips = {}
    for emotion, gaze, seed in tqdm(jobs, desc="controls", unit="clip", disable=not progress):
        clip_opts = GenerateOptions(**{**opts.__dict__, "emotion": emotion, "gaze": gaze, "seed": seed})
        motion = avatar.motion(audio, clip_opts)[::frame_step]
        measured = measure_clip(render_motion(avatar, motion), motion, geometry)
        measured["motion"] = motion
        clips[emotion, gaze, seed] = measured

    rows = [(e, s, clips[e, (0.0, 0.0), s]) for e in emotions for s in range(seeds)]
    labels, groups = [r[0] for r in rows], [r[1] for r in rows]
    expression = SLICES["expression"]
    result_emotion = separability(
        [expression_features(c["coefficients"]) for _, _, c in rows], labels, groups, emotions
    )
    generated = separability(
        [expression_features(c["motion"][:, expression]) for _, _, c in rows], labels, groups, emotions
    )
    result_emotion["accuracy_generated_motion"] = generated["accuracy"]
    means = np.array(
        [np.mean([c["coefficients"].mean(0) for e2, _, c in rows if e2 == e], 0) for e in emotions]
    )
    means_generated = np.array(
        [np.mean([c["motion"][:, expression].mean(0) for e2, _, c in rows if e2 == e], 0) for e in emotions]
    )
    for key, table in (("mean_coefficients", means), ("mean_coefficients_generated", means_generated)):
        result_emotion[key] = {
            e: {k: round(float(v), 4) for k, v in zip(EXPRESSION_NAMES, m)} for e, m in zip(emotions, table)
        }
    result_emotion["clips"] = [
        {
            "emotion": e,
            "seed": s,
            "frames_with_face": c["frames_with_face"],
            "mean_coefficients": [round(float(v), 4) for v in c["coefficients"].mean(0)],
        }
        for e, s, c in rows
    ]

    result_gaze = {"amount": gaze_amount, "units": "eye widths; + x toward image right, + y down"}
    directions = {}
    for direction in gaze_directions:
        dx, dy = GAZE_DIRECTIONS[direction]
        gaze = (gaze_amount * dx, gaze_amount * dy)
        axis, sign = (0, int(np.sign(dx))) if dx else (1, int(np.sign(dy)))
        shifts = np.array(
            [
                clips["neutral", gaze, s]["iris"] - clips["neutral", (0.0, 0.0), s]["iris"]
                for s in range(seeds)
            ]
        )
        asked = np.mean(
            [clips["neutral", gaze, s]["motion"][:, SLICES["gaze"]].mean(0) for s in range(seeds)], 0
        )
        right_sign = int(np.sum(np.sign(shifts[:, axis]) == sign))
        directions[direction] = {
            "gaze": list(gaze),
            "generated_gaze": [round(float(v), 3) for v in asked],
            "iris_shift": [round(float(v), 4) for v in np.nanmean(shifts, 0)],
            "iris_shift_per_seed": [[round(float(v), 4) for v in row] for row in shifts],
            "expected": f"{'xy'[axis]} {'>' if sign > 0 else '<'} 0",
            "seeds_with_expected_sign": right_sign,
            "pass": right_sign == seeds,
        }
    result_gaze["directions"] = directions
    still = _still_face_iris_shifts(avatar, geometry, [directions[d]["gaze"] for d in directions])
    for d, shift in zip(directions.values(), still):
        d["still_face_shift"] = [round(float(v), 4) for v in shift]
    result_gaze["pass"] = all(d["pass"] for d in directions.values()) if directions else None

    result = {
        "image": name,
        "audio": audio_name,
        "seeds": seeds,
        "frame_step": frame_step,
        "renderer": renderer,
        "model": model,
        "options": {k: v for k, v in opts.__dict__.items() if k not in ("emotion", "gaze", "seed")},
        "emotion": result_emotion,
        "gaze": result_gaze,
    }
    title = f"{Path(name).name}, {seeds} seeds, {model} {renderer}"
    plot_confusion(result_emotion, out / "controls_confusion.png", title)
    plot_expression_means(means, emotions, out / "controls_expression.png", title)
    with atomic_output(out / "controls.json") as tmp:
        Path(tmp).write_text(json.dumps(result, indent=1))
    return result


def _still_face_iris_shifts(avatar, geometry: FaceGeometry, gazes: list) -> np.ndarray:
    """(len(gazes), 2) iris shift of a still, neutral face whose motion has exactly each gaze (and nothing
    else) against gaze (0, 0): what the frame drawing alone makes of the gaze channel."""
    if not gazes:
        return np.zeros((0, 2))
    motion = np.tile(NEUTRAL, (len(gazes) + 1, 1))
    motion[1:, SLICES["gaze"]] = gazes
    iris = measure_clip(render_motion(avatar, motion), motion, geometry)["iris_per_frame"]
    return iris[1:] - iris[0]


def plot_confusion(result: dict, path: str | Path, subtitle: str) -> None:
    """Confusion matrix of a ``separability`` result: counts, rows = asked for, columns = recognised."""
    plt = pyplot()
    confusion, classes = np.array(result["confusion"]), result["classes"]
    fig, ax = plt.subplots(figsize=(6.4, 5.2), dpi=100)
    im = ax.imshow(confusion, cmap="Blues", vmin=0)
    for (i, j), v in np.ndenumerate(confusion):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > confusion.max() / 2 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=30)
    ax.set_yticks(range(len(classes)), classes)
    ax.set(
        xlabel="emotion recognised from output expression",
        ylabel="emotion asked for",
        title=f"accuracy {result['accuracy']:.2f} (chance {result['chance']:.2f})\n{subtitle}",
    )
    from matplotlib.ticker import MaxNLocator

    fig.colorbar(im, ax=ax, label="clips", ticks=MaxNLocator(integer=True))
    save_figure(fig, path)


def plot_expression_means(means: np.ndarray, emotions: list[str], path: str | Path, subtitle: str) -> None:
    """Per-emotion mean expression coefficients fitted to the output, and their difference from neutral."""
    plt = pyplot()
    panels = [(means, "mean coefficient")]
    if "neutral" in emotions:
        panels.append((means - means[emotions.index("neutral")], "difference from neutral"))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.4), dpi=100, squeeze=False)
    fig.suptitle(f"expression coefficients fitted to the output landmarks, per emotion: {subtitle}")
    for ax, (values, label) in zip(axes[0], panels):
        lim = max(float(np.abs(values).max()), 1e-3)
        im = ax.imshow(values, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(EXPRESSION_NAMES)), EXPRESSION_NAMES, rotation=45, ha="right")
        ax.set_yticks(range(len(emotions)), emotions)
        ax.set(xlabel="expression coefficient", ylabel="emotion asked for", title=label)
        fig.colorbar(im, ax=ax, label="coefficient (1 = full mode)")
    save_figure(fig, path)


def format_controls(result: dict) -> str:
    """A readable summary of ``evaluate_controls``: accuracy, confusion table, gaze shifts."""
    emo, gaze = result["emotion"], result["gaze"]
    classes, n = emo["classes"], result["seeds"]
    lines = [
        f"emotion from output expression coefficients ({len(classes)} emotions x {n} seeds, "
        "leave-one-seed-out nearest centroid)",
        f"  accuracy {emo['accuracy']:.2f} (chance {emo['chance']:.2f}); "
        f"on the generated motion itself: {emo['accuracy_generated_motion']:.2f}",
        "  confusion (rows: asked for, columns: recognised)",
        "  " + " " * 10 + "".join(f"{c[:9]:>10s}" for c in classes),
    ]
    lines += [
        "  " + f"{c[:9]:10s}" + "".join(f"{v:10d}" for v in row) for c, row in zip(classes, emo["confusion"])
    ]
    if gaze["directions"]:
        lines += [
            f"gaze {gaze['amount']:.2f} each way: iris shift vs straight ahead, in {gaze['units']}",
            "  (generated: mean gaze channel of the motion; still face: that gaze on a still neutral face)",
            f"  {'direction':10s}{'generated':>14s}{'iris shift':>16s}{'still face':>16s}{'expected':>10s}"
            f"{'seeds ok':>10s}  result",
        ]
        for name, d in gaze["directions"].items():
            pairs = ["{:+.2f} {:+.2f}".format(*d["generated_gaze"])]
            pairs += ["{:+.3f} {:+.3f}".format(*d[k]) for k in ("iris_shift", "still_face_shift")]
            lines.append(
                f"  {name:10s}{pairs[0]:>14s}{pairs[1]:>16s}{pairs[2]:>16s}{d['expected']:>10s}"
                f"{d['seeds_with_expected_sign']:>7d}/{n:<2d}  " + ("pass" if d["pass"] else "FAIL")
            )
    return "\n".join(lines)
