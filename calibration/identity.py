"""What an INT8 artifact's manifest records about how it was quantized, torch-free: the fidelity budgets
and the calibration set's file. The artifact cache checks these at every start (conversion.freshness), so
they must not pull in the set's builder (PyTorch, the corpus): calibration.dataset and .quantize import
them from here.
"""

from __future__ import annotations

from pathlib import Path

from edge_vasa.runtimes.artifacts import cache_root

CALIBRATION_VERSION = 1
# Budgets on the calibration set (SNR of the int8 output against the fp32 output, dB). The decoder's is
# set so that a frame's PSNR against the teacher drops by well under 1 dB: its output variance is about
# 0.06, so SNR 30 dB is PSNR ~42 dB against the fp32 student, whose own PSNR against the teacher is ~36.
# The motion step's, measured on held-out speech (conversion.accuracy, onnxruntime): lip sync fell 4.4 % at
# 23 dB (plain static QDQ), 3.3 % at 31 dB, 1.0 % at 38 dB (35 dB budget, 6 layers in float); allowed: 3 %.
INT8_BUDGET_DB = {"decoder_student": 30.0, "appearance_encoder": 25.0, "motion_step": 35.0}


def calibration_path() -> Path:
    return cache_root().parent / "calibration" / f"calibration-v{CALIBRATION_VERSION}.safetensors"
