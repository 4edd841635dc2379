"""Speech -> motion script: the ground-truth motion of a corpus clip, at 25 Hz.

* Mouth: each phone's viseme has an expression target; targets are blended with a dominance
  co-articulation model (Cohen & Massaro style: every phone exerts an exponentially decaying influence
  around its centre, and lip closures (p, b, m, f, v) dominate their neighbours so they really close).
* Blinks: a renewal process of 10-25 blinks per minute (rate drawn per clip), 100-200 ms each, fast
  close and slower open; the first blink comes early so short clips blink too.
* Head: slow Ornstein-Uhlenbeck drift, plus nods on loud syllable onsets and a tilt that follows pitch.
* Emotion: a per-clip expression offset (and livelier or calmer head motion); gaze: fixations with
  saccades every 1-4 s.
Silence gives a closed, still mouth while blinks and head drift go on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_vasa.core.audio import SAMPLE_RATE, frame_rms, pitch_track, resample
from edge_vasa.core.motion import EMOTIONS, EXPRESSION_NAMES, INDEX, SLICES, blink_shape, clip, neutral
from edge_vasa.core.speech import VISEMES, Utterance


def gaussian_filter1d(values: np.ndarray, sigma: float, axis: int = -1) -> np.ndarray:
    """scipy.ndimage's, imported at the first call: every command's start (live's too) imports this module
    through the CLI, and scipy.ndimage cost each of them 20 MB resident and 70 ms."""
    from scipy.ndimage import gaussian_filter1d as smooth

    return smooth(values, sigma, axis=axis)


FPS = 25


def _expr(**kw: float) -> np.ndarray:
    v = np.zeros(len(EXPRESSION_NAMES))
    for k, x in kw.items():
        v[EXPRESSION_NAMES.index(k)] = x
    return v


# Mouth shape of each viseme class (expression coefficients), how strongly it dominates its neighbours,
# and how far (decay time constant, s) that influence reaches: lip closures dominate hard but only
# briefly; vowels reach further; pauses pull the mouth shut.
VISEME_TARGETS: dict[str, tuple[np.ndarray, float, float]] = {
    "sil": (_expr(), 1.5, 0.04),
    "PP": (_expr(jaw_open=-0.05, lip_press=0.7), 6.0, 0.02),
    "FF": (_expr(jaw_open=0.05, lower_lip_depress=-0.45, upper_lip_raise=0.2), 3.0, 0.02),
    "TH": (_expr(jaw_open=0.18, lip_spread=0.1), 0.8, 0.03),
    "DD": (_expr(jaw_open=0.2, lip_spread=0.15), 0.6, 0.03),
    "kk": (_expr(jaw_open=0.28), 0.5, 0.03),
    "CH": (_expr(jaw_open=0.15, lip_round=0.55, upper_lip_raise=0.2), 1.2, 0.03),
    "SS": (_expr(jaw_open=0.08, lip_spread=0.35), 0.9, 0.03),
    "nn": (_expr(jaw_open=0.16, lip_spread=0.1), 0.5, 0.03),
    "RR": (_expr(jaw_open=0.15, lip_round=0.35), 0.8, 0.03),
    "aa": (_expr(jaw_open=0.85, lip_spread=0.1), 1.0, 0.05),
    "E": (_expr(jaw_open=0.55, lip_spread=0.35), 1.0, 0.05),
    "I": (_expr(jaw_open=0.22, lip_spread=0.6), 1.0, 0.05),
    "O": (_expr(jaw_open=0.6, lip_round=0.7), 1.0, 0.05),
    "U": (_expr(jaw_open=0.2, lip_round=0.9), 1.2, 0.05),
}
assert set(VISEME_TARGETS) == set(VISEMES)

EMOTION_OFFSETS = {
    "neutral": _expr(),
    "happy": _expr(smile=0.7, brow_raise=0.15),
    "sad": _expr(mouth_frown=0.6, brow_frown=0.35, brow_raise=0.2),
    "angry": _expr(brow_frown=0.85, lip_press=0.25, mouth_frown=0.25),
    "surprised": _expr(brow_raise=0.9, jaw_open=0.12),
}
EMOTION_HEAD_ENERGY = {"neutral": 1.0, "happy": 1.2, "sad": 0.6, "angry": 1.3, "surprised": 1.1}


@dataclass
class ScriptStyle:
    """Per-clip randomness: drawn once per clip from the seed, recorded in the corpus labels."""

    emotion: str = "neutral"
    articulation: float = 1.0  # how wide the mouth moves
    blink_rate: float = 17.0  # per minute
    head_amplitude: float = 1.0  # 0 = still head


def draw_style(rng: np.random.Generator, emotion: str | None = None) -> ScriptStyle:
    return ScriptStyle(
        emotion=emotion or str(rng.choice(EMOTIONS)),
        articulation=float(rng.uniform(0.75, 1.25)),
        blink_rate=float(rng.uniform(10, 25)),
        head_amplitude=float(rng.uniform(0.5, 1.3)),
    )


def mouth_track(utt: Utterance, n_frames: int, articulation: float = 1.0) -> np.ndarray:
    """(n_frames, K) expression coefficients for the lips and jaw, from the phone timings."""
    # blend at 100 Hz and average into 25 Hz frames, so a 60 ms closure is not missed between samples
    t = (np.arange(4 * n_frames) + 0.5) / (4 * FPS)
    num = np.zeros((len(t), len(EXPRESSION_NAMES)))
    den = np.full(len(t), 1e-3)  # a faint pull toward rest fills gaps between phones
    for viseme, start, end in utt.visemes():
        target, dominance, reach = VISEME_TARGETS[viseme]
        centre, half = (start + end) / 2, max((end - start) / 2, 0.01)
        # influence is flat inside the phone and decays exponentially outside it
        dist = np.maximum(np.abs(t - centre) - half, 0)
        w = dominance * np.exp(-dist / reach)
        num += w[:, None] * target
        den += w
    mouth = (num / den[:, None]).reshape(n_frames, 4, -1).mean(1)
    mouth[:, EXPRESSION_NAMES.index("jaw_open")] *= articulation
    return gaussian_filter1d(mouth, sigma=0.5, axis=0)


def blink_track(rng: np.random.Generator, n_frames: int, rate_per_min: float) -> np.ndarray:
    """(n_frames,) eyelid closure 0..1 (both eyes together; the script adds a tiny asymmetry)."""
    out = np.zeros(n_frames)
    mean_gap = 60.0 / rate_per_min
    t = rng.uniform(0.3, min(1.8, mean_gap))  # an early first blink, so even 2 s clips blink
    duration_s = n_frames / FPS
    while t < duration_s:
        length = rng.uniform(0.10, 0.20)
        out = np.maximum(out, blink_shape(n_frames, t, length))
        t += length + rng.gamma(4.0, mean_gap / 4.0)
    return out


def _ou(rng: np.random.Generator, n: int, tau_s: float, sigma: float) -> np.ndarray:
    """An Ornstein-Uhlenbeck track (stationary std ``sigma``, correlation time ``tau_s``) at 25 Hz."""
    a = np.exp(-1.0 / (FPS * tau_s))
    x = np.empty(n)
    x[0] = rng.normal(0, sigma)
    noise = rng.normal(0, sigma * np.sqrt(1 - a * a), n)
    for i in range(1, n):
        x[i] = a * x[i - 1] + noise[i]
    return x


def _per_video_frame(x100: np.ndarray, n_frames: int) -> np.ndarray:
    """Average a 100 Hz track into 25 Hz frames."""
    x = np.resize(x100, n_frames * 4) if len(x100) < n_frames * 4 else x100[: n_frames * 4]
    return x.reshape(n_frames, 4).mean(1)


def head_track(audio: np.ndarray, rng: np.random.Generator, n_frames: int, amplitude: float) -> np.ndarray:
    """(n_frames, 6) yaw, pitch, roll, tx, ty, scale: drift + speech-driven nods and pitch-following tilt."""
    rms = _per_video_frame(frame_rms(audio), n_frames)
    f0, voiced = pitch_track(audio)
    f0 = _per_video_frame(np.where(voiced, f0, 0.0), n_frames)
    loud = rms / (rms.max() + 1e-9)
    onsets = np.maximum(np.diff(gaussian_filter1d(loud, 1.5), prepend=0), 0)
    nod = gaussian_filter1d(onsets, 2.5) * 1.2
    voiced_f0 = f0[f0 > 0]
    rel_pitch = np.zeros(n_frames)
    if len(voiced_f0) > 3:
        rel_pitch = np.where(f0 > 0, np.log(np.maximum(f0, 1) / np.median(voiced_f0)), 0)
        rel_pitch = gaussian_filter1d(rel_pitch, 3)
    pose = np.zeros((n_frames, 6))
    pose[:, 0] = _ou(rng, n_frames, 2.5, 0.07) + 0.03 * gaussian_filter1d(loud, 6) * rng.choice([-1, 1])
    pose[:, 1] = _ou(rng, n_frames, 2.0, 0.04) + nod - 0.12 * rel_pitch
    pose[:, 2] = _ou(rng, n_frames, 3.0, 0.035)
    pose[:, 3] = _ou(rng, n_frames, 3.0, 0.012)
    pose[:, 4] = _ou(rng, n_frames, 3.0, 0.008) + 0.01 * nod
    pose[:, :5] *= amplitude
    pose[:, 5] = 1.0 + amplitude * _ou(rng, n_frames, 4.0, 0.025)
    return pose


def gaze_track(rng: np.random.Generator, n_frames: int) -> np.ndarray:
    """(n_frames, 2) fixations mostly near the camera, with quick saccades every 1-4 s."""
    out = np.zeros((n_frames, 2))
    i = 0
    while i < n_frames:
        hold = int(rng.uniform(1.0, 4.0) * FPS)
        target = rng.normal(0, [0.3, 0.15]) if rng.random() < 0.7 else rng.normal(0, [0.7, 0.35])
        out[i : i + hold] = target
        i += hold
    # a saccade takes about 2 frames; smooth just enough to avoid a one-frame jump
    return gaussian_filter1d(out, 0.7, axis=0)


def motion_script(utt: Utterance, style: ScriptStyle, seed: int, n_frames: int | None = None) -> np.ndarray:
    """The full (n_frames, MOTION_DIM) motion for an utterance at 25 Hz."""
    rng = np.random.default_rng(seed)
    audio = resample(utt.audio, utt.sample_rate)
    n = n_frames or int(np.ceil(len(audio) / SAMPLE_RATE * FPS))
    m = neutral(n).astype(np.float64)
    expr = mouth_track(utt, n, style.articulation)
    ramp = np.clip(np.arange(n) / (0.5 * FPS), 0, 1)[:, None]  # emotions settle in over half a second
    expr += ramp * EMOTION_OFFSETS[style.emotion] * rng.uniform(0.7, 1.0)
    m[:, SLICES["expression"]] = expr
    blink = blink_track(rng, n, style.blink_rate)
    m[:, INDEX["blink_left"]] = blink
    m[:, INDEX["blink_right"]] = np.clip(blink * rng.uniform(0.92, 1.0), 0, 1)
    m[:, SLICES["pose"]] = head_track(
        audio, rng, n, style.head_amplitude * EMOTION_HEAD_ENERGY[style.emotion]
    )
    m[:, SLICES["gaze"]] = gaze_track(rng, n)
    return clip(m)
