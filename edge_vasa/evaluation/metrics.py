"""Metrics as pure numpy functions: no models, no files, no tracking."""

from __future__ import annotations

import numpy as np


def snr_db(reference: np.ndarray, got: np.ndarray) -> float:
    """10 log10(variance of the reference / mean squared error): how far the output's variation stands above
    the error it carries (inf when equal)."""
    err = float(np.mean((np.asarray(got, np.float64) - reference) ** 2))
    return float("inf") if err == 0 else 10 * np.log10(float(np.var(reference)) / err)
