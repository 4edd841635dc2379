"""`edge-vasa export --compare`: what a precision costs, scored on a held-out face and held-out speech."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from edge_vasa.conversion import accuracy
from edge_vasa.core.audio import SAMPLE_RATE
from edge_vasa.evaluation.metrics import PSNR_CAP_DB


@pytest.mark.slow  # exports the shipped students at fp32 and int8, then scores: 1.5-2.5 min here
def test_int8_is_scored_against_fp32_and_the_reference(monkeypatch):
    """One held-out face and one second of held-out speech (the function's own inputs, cut short): fp32
    against itself is the PSNR cap, INT8 close to it but not equal; both near the teacher's frames."""
    faces, speech = accuracy.prepared_faces, accuracy.held_out_speech
    monkeypatch.setattr(accuracy, "prepared_faces", lambda names: faces(names[:1]))
    monkeypatch.setattr(accuracy, "held_out_speech", lambda: [(n, a[:SAMPLE_RATE]) for n, a in speech()[-1:]])
    r = accuracy.compare_precisions("onnx", ("fp32", "int8"))
    assert r["identities"] == ["astronaut"] and r["speech"] == ["tts:vi"]
    assert [(row["face"], row["frames"]) for row in r["clips"]] == [("astronaut", 25)]
    fp32, int8 = r["summary"]["fp32"], r["summary"]["int8"]
    assert fp32["psnr_vs_fp32_db"] == PSNR_CAP_DB
    assert 30 < int8["psnr_vs_fp32_db"] < PSNR_CAP_DB, "INT8 differs from fp32, a little"
    for v in (fp32, int8):
        assert v["psnr_vs_reference_db"] > 28, v  # the student's frames against the teacher's (~33 dB)
        assert 0 < v["lip_sync"] <= 1, v  # about 0.4; -1 would mean the mouth never moved with the voice
    assert np.isfinite(int8["psnr_drop_db"]) and np.isfinite(int8["lip_sync_change"])
    for key in ("decoder_ms", "motion_step_ms"):
        assert all(0 < r["speed"][key][p] < 10_000 for p in ("fp32", "int8")), r["speed"]
