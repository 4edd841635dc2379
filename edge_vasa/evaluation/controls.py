"""Controls: do emotion and gaze change what they claim to change, on the output frames?

Emotion: expression coefficients fitted to the output landmarks, per-clip mean and std, classified
leave-one-seed-out by nearest centroid (accuracy vs chance, confusion). Gaze: the iris (darkest blob inside
each eye's landmark polygon) relative to the eye corners, shifted against the straight-ahead clip of the
same seed. `edge-vasa verify --controls` runs ``evaluate_controls`` and prints ``format_controls``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from matplotlib.ticker import MaxNLocator
from tqdm import tqdm

from edge_vasa.core.audio import load_audio
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import load_image, prepare_face
from edge_vasa.core.files import atomic_output, pyplot, save_figure
from edge_vasa.core.motion import (
    EMOTIONS,
    EXPRESSION_NAMES,
    EYE_L,
    EYE_R,
    NEUTRAL,
    SLICES,
    FaceGeometry,
    landmarks_to_motion,
)
from edge_vasa.core.options import MODELS, GenerateOptions
from edge_vasa.core.shipped import BUNDLED_SPEECH
from edge_vasa.evaluation.scoring import render_motion
from edge_vasa.evaluation.tracking import track_landmarks
from edge_vasa.pipeline.avatar import Avatar
from edge_vasa.pipeline.loaders import load_generator

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


def separability(
    features: np.ndarray | list[np.ndarray],
    labels: Sequence[str],
    groups: Sequence[int],
    classes: Sequence[str] | None = None,
) -> dict:
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
    image: str | Path | np.ndarray,
    out: str | Path,
    audio: str | Path | np.ndarray | None = None,
    opts: GenerateOptions | None = None,
    seeds: int = CONTROL_SEEDS,
    weights: str | Path | None = None,
    emotions: Sequence[str] | None = None,
    gaze_directions: Sequence[str] = tuple(GAZE_DIRECTIONS),
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


def _still_face_iris_shifts(avatar: Avatar, geometry: FaceGeometry, gazes: list) -> np.ndarray:
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
