"""Metrics as pure numpy functions: no models, no files, no tracking.

Kept apart from the landmark tracking (tracking.py) and whole-run scoring (scoring.py) so that code which
only compares arrays (export and INT8 checks, the decoder's training report, tests) gets one definition of
each figure without loading dlib or the generators.

* lip sync: mouth opening (inner lips / inter-ocular distance) against speech activity (voiced energy of
  the audio per frame): the best Pearson correlation over lags of +-MAX_LAG frames, and that lag
  (> 0: the mouth moves after the sound);
* blinks: eye-aspect-ratio dips;
* images: PSNR of two uint8 images; SNR of any output against its reference.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from edge_vasa.core.audio import HOP, SAMPLE_RATE, log_mel
from edge_vasa.core.motion import EYE_L, EYE_R, count_closures

MAX_LAG = 5
VOICED_MEL_BANDS = 30  # of the 80 Slaney mel bands, the first 30 lie below about 1.2 kHz
PSNR_CAP_DB = 100.0  # identical images: JSON has no infinity


def snr_db(reference: np.ndarray, got: np.ndarray) -> float:
    """10 log10(variance of the reference / mean squared error): how far the output's variation stands above
    the error it carries (inf when equal)."""
    err = float(np.mean((np.asarray(got, np.float64) - reference) ** 2))
    return float("inf") if err == 0 else 10 * np.log10(float(np.var(reference)) / err)


def psnr_db(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of two uint8 images (or any same-shape arrays on the 0..255 scale), capped at PSNR_CAP_DB so
    identical images give a finite number that JSON reports and means can hold."""
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float(min(PSNR_CAP_DB, 10 * np.log10(255.0**2 / max(mse, 1e-10))))


def speech_activity(audio: np.ndarray, n_frames: int, fps: float = 25.0) -> np.ndarray:
    """(n_frames,) voiced speech energy per video frame, in dB (floored at -80).

    Only mel bands below about 1.2 kHz count: vowels and voiced sounds, where the mouth opens, carry their
    energy there, while /s/, /f/ and other hiss (mouth nearly closed) sit higher. Lightly smoothed.
    """
    power = np.exp(log_mel(audio)[:, :VOICED_MEL_BANDS]).sum(1)
    per_frame = SAMPLE_RATE / HOP / fps
    edges = np.round(np.arange(n_frames + 1) * per_frame).astype(int)
    energy = np.array(
        [power[a:b].mean() if b > a and a < len(power) else 0.0 for a, b in zip(edges[:-1], edges[1:])]
    )
    return gaussian_filter1d(10 * np.log10(np.maximum(energy, 1e-8)), 1.0)


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) -> (T,) inner-lip gap (62-66) in units of the inter-ocular distance, so that faces of
    any size in the frame compare."""
    iod = np.linalg.norm(landmarks[:, EYE_L].mean(1) - landmarks[:, EYE_R].mean(1), axis=1)
    return np.linalg.norm(landmarks[:, 66] - landmarks[:, 62], axis=1) / iod


def best_lag_correlation(
    opening: np.ndarray, activity: np.ndarray, max_lag: int = MAX_LAG
) -> tuple[float, int]:
    """Highest Pearson correlation of opening[t + lag] with activity[t] over |lag| <= max_lag, and that lag:
    a fixed audio-video offset should show as a lag, not as poor sync."""
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
    """(T, 68, 2) -> (T,) mean eye opening / eye width of both eyes: scale-free, dips when the lids close."""
    out = []
    for eye in (EYE_R, EYE_L):
        p = landmarks[:, eye]
        vertical = np.linalg.norm(p[:, 1] - p[:, 5], axis=1) + np.linalg.norm(p[:, 2] - p[:, 4], axis=1)
        out.append(vertical / (2 * np.linalg.norm(p[:, 0] - p[:, 3], axis=1)))
    return np.mean(out, axis=0)


def count_blinks(ear: np.ndarray) -> int:
    """Dips of the eye aspect ratio below 60 % of its median (a closed eye), counted once each; relative to
    the median because eye shapes differ from face to face."""
    return count_closures(ear < 0.6 * np.median(ear))
