"""The benchmark's accuracy: every variant against the reference path on held-out clips.

* decoder fidelity: the reference motion drawn by the variant's encoder + decoder against the teacher's
  frames: PSNR over every frame, SSIM and landmark distance over FIDELITY_FRAMES spread over the clip;
  and PSNR against the PyTorch student on the same motion, which tells conversion error from distillation;
* the edge chain: the variant's motion step from the audio, then its decoder, with the step's trained
  chunk and look-ahead (OFFLINE_CHUNKING, what generate and eval run): lip sync, blinks (the generator's
  own and the keeper's apart), head motion, jitter and identity distance measured on the frames, the same
  statistics as the reference path's own; its wall time gives offline speed (seconds of video per second);
* the same chain as `live` streams the motion (LIVE_CHUNKING: 2 frames per step, no look-ahead): lip
  sync on its frames, which is what a live viewer sees.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from edge_vasa.bench.schema import (
    FIDELITY_FRAMES,
    AccuracySummary,
    ChainStats,
    ClipFailure,
    ClipResult,
    ReferenceScores,
    VariantScores,
)
from edge_vasa.bench.subjects import Clip, ReferencePath, Variant
from edge_vasa.calibration.dataset import spread
from edge_vasa.conversion.accuracy import artifact_motion
from edge_vasa.core.options import GenerateOptions
from edge_vasa.evaluation.metrics import psnr_db
from edge_vasa.evaluation.scoring import compare_to_reference, evaluate_frames, generate_motion, render_motion
from edge_vasa.evaluation.tracking import Track, track_landmarks
from edge_vasa.pipeline.avatar import Avatar
from edge_vasa.pipeline.face_layers import LayeredRenderer
from edge_vasa.pipeline.postprocess import keep_and_count_blinks
from edge_vasa.pipeline.student_motion import StudentMotionGenerator
from edge_vasa.runtimes.renderer import EdgeRenderer

DETECT_EVERY = 5  # frames per face detection when tracking whole clips (tracking.track_landmarks)
FPS = 25.0  # the motion and frame rate every clip is scored at
WALL_TIME = ("motion_s", "render_s")  # per-clip timings: summed into speeds, never averaged


def _chain_stats(scores: dict) -> dict:
    """The ChainStats fields of an ``evaluate_frames`` result; head pose as the mean over its three axes."""
    out = {f.name: scores.get(f.name) for f in dataclasses.fields(ChainStats)}
    out["head_pose_std_deg"] = round(float(np.mean(scores["head_pose_std_deg"])), 3)
    return out


@dataclass
class ClipReference:
    """What every variant is compared with on one clip."""

    motion: np.ndarray  # the teacher's motion from the clip's audio
    frames: np.ndarray  # the teacher decoder's frames of it
    picks: np.ndarray  # the frames scored for SSIM and landmark distance
    track: Track  # the teacher frames' landmarks at picks
    student_frames: np.ndarray  # the PyTorch student decoder on the same motion
    student_motion: np.ndarray  # the PyTorch student's streaming motion from the audio


def score_variant(v: Variant, clip: Clip, ref: ClipReference) -> VariantScores:
    """Decoder fidelity on the reference motion, and the variant's whole chain from the clip's audio."""
    face = clip.face
    renderer = LayeredRenderer(EdgeRenderer(face.image, face.landmarks, v.models), face.image, face.landmarks)
    drawn = renderer.render(ref.motion)
    track = track_landmarks(drawn[ref.picks])
    fidelity = compare_to_reference(
        drawn[ref.picks], ref.frames[ref.picks], track.landmarks, track.found, ref.track
    )
    start = time.perf_counter()
    own = artifact_motion(v.models, clip.audio, keep_blinks=False)
    motion, blinks = keep_and_count_blinks(own, GenerateOptions().seed)
    motion_s = time.perf_counter() - start
    frames = renderer.render(motion)
    render_s = time.perf_counter() - start - motion_s
    n = min(len(motion), len(ref.student_motion))
    track = track_landmarks(frames, DETECT_EVERY)
    scores = evaluate_frames(
        frames, clip.audio, FPS, clip.face.image, generated_motion=motion, track=track, blinks=blinks
    )
    live_frames = renderer.render(artifact_motion(v.models, clip.audio, live=True))
    live = evaluate_frames(live_frames, clip.audio, FPS, track=track_landmarks(live_frames, DETECT_EVERY))
    rms = float(np.sqrt(np.mean((motion[:n] - ref.student_motion[:n]) ** 2)))
    return VariantScores(
        psnr_db=round(float(np.mean([psnr_db(a, b) for a, b in zip(drawn, ref.frames)])), 2),
        ssim=fidelity["ssim"],
        landmark_distance_px=fidelity["landmark_distance_px"],
        psnr_vs_student_db=round(
            float(np.mean([psnr_db(a, b) for a, b in zip(drawn, ref.student_frames)])), 2
        ),
        **_chain_stats(scores),
        live_lip_sync_correlation=live["lip_sync_correlation"],
        live_lip_sync_lag_frames=live["lip_sync_lag_frames"],
        motion_rms_vs_student=round(rms, 5),
        motion_s=motion_s,
        render_s=render_s,
    )


def measure_accuracy(
    variants: list[Variant], clips: list[Clip], reference: ReferencePath, progress: bool = True
) -> list[ClipResult]:
    """Per clip: the reference path's chain statistics and timing, and each variant's scores (see the module
    doc). A variant that fails on a clip gets its error in place of scores; the others are still scored."""
    student = StudentMotionGenerator.load()
    out = []
    bar = tqdm(total=len(clips) * (len(variants) + 1), desc="accuracy", unit="run", disable=not progress)
    for clip in clips:
        bar.set_postfix_str(f"{clip.name}: reference")
        avatar = reference.avatar(clip.face)
        start = time.perf_counter()
        motion, blinks = generate_motion(avatar, clip.audio, GenerateOptions())
        motion_s = time.perf_counter() - start
        frames = render_motion(avatar, motion)
        render_s = time.perf_counter() - start - motion_s
        track = track_landmarks(frames, DETECT_EVERY)
        scores = evaluate_frames(
            frames, clip.audio, FPS, clip.face.image, generated_motion=motion, track=track, blinks=blinks
        )
        row = ClipResult(
            clip=clip.name,
            seconds=round(clip.seconds, 2),
            frames=len(motion),
            reference=ReferenceScores(**_chain_stats(scores), motion_s=motion_s, render_s=render_s),
        )
        bar.update()
        picks = spread(len(frames), FIDELITY_FRAMES)
        ref = ClipReference(
            motion,
            frames,
            picks,
            track_landmarks(frames[picks]),
            render_motion(Avatar.load(clip.face, "student", generator=student), motion),
            student(clip.audio, GenerateOptions()),
        )
        for v in variants:
            bar.set_postfix_str(f"{clip.name}: {v.name}")
            try:
                row.variants[v.name] = score_variant(v, clip, ref)
            except Exception as e:  # reported in its row; one broken variant does not end the run
                row.variants[v.name] = ClipFailure(
                    f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                )
            bar.update()
        out.append(row)
    bar.close()
    return out


def _mean(values: list[float | None]) -> float | None:
    finite = [float(v) for v in values if v is not None and np.isfinite(v)]
    return round(float(np.mean(finite)), 4) if finite else None


def summarize_accuracy(clips: list[ClipResult], names: list[str]) -> dict[str, AccuracySummary]:
    """Means over clips per variant (and "reference"); offline speed in seconds of video per second.
    Clips where a variant failed are left out of its means."""
    out = {}
    for name in ["reference", *names]:
        scored = [(c.seconds, c.reference if name == "reference" else c.variants.get(name)) for c in clips]
        scored = [(seconds, r) for seconds, r in scored if r is not None and not isinstance(r, ClipFailure)]
        if not scored:
            continue
        rows = [r for _, r in scored]
        video_s = sum(seconds for seconds, _ in scored)
        wall_s = sum(r.motion_s + r.render_s for r in rows)
        measured = {f.name for f in dataclasses.fields(rows[0])} - set(WALL_TIME)  # no fidelity: reference
        means = {
            f.name: _mean([getattr(r, f.name) for r in rows])
            for f in dataclasses.fields(AccuracySummary)
            if f.name in measured
        }
        out[name] = AccuracySummary(
            **means,
            offline_x_realtime=round(video_s / wall_s, 3),
            motion_s_per_video_s=round(sum(r.motion_s for r in rows) / video_s, 4),
        )
    return out
