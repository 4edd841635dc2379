"""Lip sync of the motion student as `live` streams it, beside the offline chunking that generate, eval and
the bench's "lip sync offline" use, on inputs training never saw.

    python scripts/live_lipsync.py --out live_lipsync.json          # 2 held-out faces (about 5 min)

Why: `live` commits LIVE_HOP frames per student step and waits for LIVE_LOOKAHEAD frames of future audio
(core.options), where offline generation uses the step's trained chunk (10 frames) with 8 frames of
look-ahead. The figure that justified live's setting came from the motion (jaw opening against voiced
energy); this one is measured as every other lip-sync figure is, on rendered frames: the PyTorch student's
motion in each setting (live: the audio pushed in 40 ms blocks, then flushed), drawn by the student decoder,
landmarks tracked, mouth opening correlated with voiced speech energy at the best lag within 3 frames
(evaluation.scoring.evaluate_frames). Inputs: conversion.accuracy.held_out_speech() (the held-out alsa
recordings joined, a Vietnamese sentence) on the first --faces held-out identities. The motion's own
jaw/voice correlation is reported beside it. Writes --out (JSON) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edge_vasa.calibration.dataset import prepared_faces
from edge_vasa.conversion.accuracy import HELD_OUT_IDENTITIES, held_out_speech
from edge_vasa.core.motion import INDEX
from edge_vasa.core.options import GenerateOptions
from edge_vasa.evaluation.metrics import best_lag_correlation, speech_activity
from edge_vasa.evaluation.scoring import evaluate_frames, render_motion
from edge_vasa.pipeline.avatar import Avatar
from edge_vasa.pipeline.motion_stream import LIVE_CHUNKING, OFFLINE_CHUNKING
from edge_vasa.pipeline.student_motion import StudentMotionGenerator

FPS = 25.0  # the motion rate: frames are scored without resampling


def measure(n_faces: int, seed: int) -> dict:
    """Per (speech, face, setting): lip sync on the frames and jaw/voice correlation of the motion; means
    per setting over those clips."""
    student = StudentMotionGenerator.load()
    faces = prepared_faces(HELD_OUT_IDENTITIES[:n_faces])
    if len(faces) < n_faces:
        sys.exit(f"error: {n_faces} held-out faces asked for, {len(faces)} installed; run ./install.sh")
    opts = GenerateOptions(seed=seed)
    avatars = {name: Avatar.load(face, "student", generator=student) for name, face in faces}
    clips = []
    for speech_name, audio in held_out_speech():
        motions = {OFFLINE_CHUNKING: student(audio, opts), LIVE_CHUNKING: student.live(audio, opts)}
        for setting, motion in motions.items():
            activity = speech_activity(audio, len(motion), FPS)
            jaw, _ = best_lag_correlation(motion[:, INDEX["jaw_open"]], activity)
            for face_name, avatar in tqdm(avatars.items(), desc=f"{speech_name}, {setting}", unit="face"):
                scores = evaluate_frames(render_motion(avatar, motion), audio, FPS)
                clips.append(
                    {
                        "speech": speech_name,
                        "face": face_name,
                        "setting": setting,
                        "frames": len(motion),
                        "lip_sync_correlation": scores["lip_sync_correlation"],
                        "lip_sync_lag_frames": scores["lip_sync_lag_frames"],
                        "jaw_voice_correlation_motion": round(jaw, 4),
                    }
                )
    summary = {}
    for setting in (OFFLINE_CHUNKING, LIVE_CHUNKING):
        rows = [c for c in clips if c["setting"] == setting]
        sync = [c["lip_sync_correlation"] for c in rows]
        summary[setting] = {
            "clips": len(rows),
            "lip_sync_correlation": round(float(np.mean(sync)), 4),
            "lip_sync_min": round(float(np.min(sync)), 4),
            "lip_sync_max": round(float(np.max(sync)), 4),
            "lag_within_1_frame": round(
                float(np.mean([abs(c["lip_sync_lag_frames"]) <= 1 for c in rows])), 2
            ),
            "jaw_voice_correlation_motion": round(
                float(np.mean([c["jaw_voice_correlation_motion"] for c in rows])), 4
            ),
        }
    return {
        "models": "PyTorch student motion + student decoder (shipped weights)",
        "faces": list(avatars),
        "seed": seed,
        "summary": summary,
        "clips": clips,
    }


def table(result: dict) -> str:
    """The summary, one row per setting."""
    head = (
        f"{'setting':28} {'clips':>5} {'lip sync':>9} {'min':>7} {'max':>7} {'lag<=1':>7} {'jaw/voice':>10}"
    )
    lines = [head, "-" * len(head)]
    for setting, s in result["summary"].items():
        lines.append(
            f"{setting:28} {s['clips']:5d} {s['lip_sync_correlation']:9.3f} {s['lip_sync_min']:7.3f} "
            f"{s['lip_sync_max']:7.3f} {s['lag_within_1_frame']:7.2f} "
            f"{s['jaw_voice_correlation_motion']:10.3f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description="Lip sync of the PyTorch motion student + student decoder on held-out speech and faces, "
        f"in two settings: {OFFLINE_CHUNKING} (the step's trained chunk and look-ahead, as generate runs "
        f"it) and {LIVE_CHUNKING} (as `edge-vasa live` streams it); measured on rendered frames (tracked "
        "mouth opening vs voiced speech energy).",
    )
    p.add_argument("--out", default="live_lipsync.json", help="JSON to write (default: %(default)s)")
    p.add_argument("--faces", type=int, default=2, help="held-out identities to use, 1-3 (default: 2)")
    p.add_argument(
        "--seed", type=int, default=GenerateOptions().seed, help="motion seed (default: %(default)s)"
    )
    argv = sys.argv[1:] if argv is None else argv
    args = p.parse_args(argv)
    if not 1 <= args.faces <= len(HELD_OUT_IDENTITIES):
        p.error(f"--faces must be 1-{len(HELD_OUT_IDENTITIES)}")
    started = time.time()
    result = measure(args.faces, args.seed)
    result["command"] = shlex.join(["python3", "scripts/live_lipsync.py", *argv])
    result["wall_s"] = round(time.time() - started, 1)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(table(result))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
