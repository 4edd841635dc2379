"""Pitch analysis: checks that sung output really spans a wider F0 range than speech."""

from __future__ import annotations

import numpy as np


def f0_track(
    audio: np.ndarray,
    sample_rate: int,
    *,
    fmin: float = 50.0,
    fmax: float = 400.0,
    frame: float = 0.04,
    hop: float = 0.01,
) -> np.ndarray:
    """F0 in Hz of the voiced frames only, by normalised autocorrelation (simple, no octave correction)."""
    n, h = int(frame * sample_rate), int(hop * sample_rate)
    lo, hi = int(sample_rate / fmax), int(sample_rate / fmin)
    x = np.asarray(audio, np.float64)
    if len(x) < n:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::h]
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = (frames**2).sum(axis=1)
    loud = energy > 0.05 * np.percentile(energy, 95)
    f0 = []
    for fr in frames[loud]:
        spec = np.fft.rfft(fr, 2 * n)
        ac = np.fft.irfft(spec * np.conj(spec))[:n]
        ac /= ac[0] + 1e-12
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5:  # clearly periodic: a voiced frame
            f0.append(sample_rate / lag)
    return np.asarray(f0)


def f0_range_semitones(audio: np.ndarray, sample_rate: int) -> float:
    """Spread of F0 over the voiced frames: 5th to 95th percentile, in semitones."""
    f0 = f0_track(audio, sample_rate)
    if len(f0) < 5:
        return 0.0
    lo, hi = np.percentile(f0, [5, 95])
    return float(12 * np.log2(hi / lo))
