"""How much a precision costs: exported variants of one format scored on held-out faces and speech.

    result = compare_precisions("openvino", ("fp32", "int8"))

Inputs the calibration never saw: the corpus's three held-out identities, the real recordings kept out of
calibration (joined into one clip), and a sentence in the held-out language. Two measurements per variant:

* frames: the PyTorch student's motion rendered by the variant's appearance encoder + decoder, scored by
  PSNR against the reference path (the teacher decoder on the same motion) and against the fp32 variant;
* lip sync: the whole edge chain on the variant (motion step -> decoder), scored by the correlation of
  the tracked mouth opening with voiced speech energy (edge_vasa.evaluation), as for any generated video;
  once with the step's trained chunk and look-ahead (OFFLINE_CHUNKING: generate, eval) and once as
  `live` streams it (LIVE_CHUNKING), since live commits fewer frames per step and waits for no future
  audio.

Speed: per-frame decoder and per-chunk motion latency of each variant, measured interleaved in one run.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edge_vasa.calibration.dataset import ALSA_SOUNDS, HELD_OUT_SPEECH, calibration_set, prepared_faces
from edge_vasa.conversion.export import ensure_artifact
from edge_vasa.core.audio import SAMPLE_RATE, load_audio, resample
from edge_vasa.core.options import GenerateOptions
from edge_vasa.core.shipped import DECODER_WEIGHTS, EDGE_NETWORKS
from edge_vasa.core.speech import LANGUAGES, synthesize
from edge_vasa.evaluation.metrics import psnr_db
from edge_vasa.evaluation.scoring import evaluate_frames, render_motion
from edge_vasa.pipeline.avatar import Avatar
from edge_vasa.pipeline.motion_stream import LIVE_CHUNKING, OFFLINE_CHUNKING
from edge_vasa.pipeline.student_motion import StudentMotionGenerator
from edge_vasa.runtimes.assembler import EdgeStudio
from edge_vasa.runtimes.backends import open_artifact
from edge_vasa.runtimes.models import EdgeModels
from edge_vasa.runtimes.selector import interleaved_ms

HELD_OUT_IDENTITIES = ("astronaut", "studio_f15", "cruise")
HELD_OUT_LANGUAGE = "vi"


def held_out_speech() -> list[tuple[str, np.ndarray]]:
    """(name, 16 kHz audio): the held-out recordings joined with short pauses, and a Vietnamese sentence."""
    out = []
    pause = np.zeros(SAMPLE_RATE // 4, np.float32)
    recordings = [
        load_audio(ALSA_SOUNDS / f"{n}.wav") for n in HELD_OUT_SPEECH if (ALSA_SOUNDS / f"{n}.wav").is_file()
    ]
    if recordings:
        out.append(
            ("real:" + "+".join(HELD_OUT_SPEECH), np.concatenate([x for r in recordings for x in (r, pause)]))
        )
    utterance = synthesize(LANGUAGES[HELD_OUT_LANGUAGE].sentences[0], HELD_OUT_LANGUAGE)
    out.append((f"tts:{HELD_OUT_LANGUAGE}", resample(utterance.audio, utterance.sample_rate)))
    return out


def artifact_motion(
    models: EdgeModels, audio: np.ndarray, live: bool = False, keep_blinks: bool = True
) -> np.ndarray:
    """(T, MOTION_DIM) motion at 25 Hz from the exported streaming step, with default options: with the
    step's trained chunk and look-ahead (OFFLINE_CHUNKING), or, LIVE, as a live session makes it
    (LIVE_CHUNKING). KEEP_BLINKS=False: without the blink keeper (pipeline.postprocess)."""
    generator = EdgeStudio(models=models).generator
    if live:
        return generator.live(audio, GenerateOptions(), keep_blinks=keep_blinks)
    return generator(audio, GenerateOptions(), keep_blinks=keep_blinks)


def compare_precisions(
    fmt: str, precisions: tuple[str, ...] = ("fp32", "int8"), root: str | Path | None = None
) -> dict:
    """Frames, lip sync (OFFLINE_CHUNKING as "lip_sync", LIVE_CHUNKING as "lip_sync_live") and speed of
    FORMAT's precisions on held-out faces and speech (see module doc)."""
    backends = {
        p: {n: open_artifact(ensure_artifact(n, fmt, p, root)) for n in EDGE_NETWORKS} for p in precisions
    }
    models = {
        p: EdgeModels(None, b["appearance_encoder"], b["motion_step"], b["decoder_student"])
        for p, b in backends.items()
    }
    faces = prepared_faces(HELD_OUT_IDENTITIES)
    speech = held_out_speech()
    student = StudentMotionGenerator.load()
    rows = []
    for speech_name, audio in speech:
        motion = student(audio, GenerateOptions())
        chains = {p: artifact_motion(m, audio) for p, m in models.items()}
        live_chains = {p: artifact_motion(m, audio, live=True) for p, m in models.items()}
        for face_name, face in tqdm(faces, desc=f"held-out faces, {speech_name}", unit="face"):
            teacher = Avatar.load(face, decoder_weights=DECODER_WEIGHTS, generator=student)
            reference = render_motion(teacher, motion)
            row = {"speech": speech_name, "face": face_name, "frames": len(motion), "variants": {}}
            renderers = {p: EdgeStudio(models=m).renderer(face) for p, m in models.items()}
            frames = {p: r.render(motion) for p, r in renderers.items()}
            for p, renderer in renderers.items():
                chain = renderer.render(chains[p])
                scores = evaluate_frames(chain, audio, 25.0)
                live = evaluate_frames(renderer.render(live_chains[p]), audio, 25.0)
                row["variants"][p] = {
                    "psnr_vs_reference_db": psnr_db(frames[p], reference),
                    "psnr_vs_fp32_db": psnr_db(frames[p], frames[precisions[0]]),
                    "lip_sync": scores["lip_sync_correlation"],
                    "lip_sync_live": live["lip_sync_correlation"],
                    "motion_max_abs_vs_fp32": float(np.abs(chains[p] - chains[precisions[0]]).max()),
                }
            rows.append(row)
    summary = {}
    for p in precisions:
        v = [r["variants"][p] for r in rows]
        summary[p] = {
            "psnr_vs_reference_db": float(np.mean([x["psnr_vs_reference_db"] for x in v])),
            "psnr_vs_fp32_db": float(np.mean([x["psnr_vs_fp32_db"] for x in v])),
            "lip_sync": float(np.mean([x["lip_sync"] for x in v])),
            "lip_sync_live": float(np.mean([x["lip_sync_live"] for x in v])),
        }
    base = summary[precisions[0]]
    for p in precisions[1:]:
        summary[p]["psnr_drop_db"] = base["psnr_vs_reference_db"] - summary[p]["psnr_vs_reference_db"]
        summary[p]["lip_sync_change"] = summary[p]["lip_sync"] / base["lip_sync"] - 1
        summary[p]["lip_sync_live_change"] = summary[p]["lip_sync_live"] / base["lip_sync_live"] - 1
    calib = calibration_set()  # speed probes: real inputs; latency does not depend on which
    speed = {
        key: {
            p: float(np.median(t))
            for p, t in interleaved_ms(
                {p: partial(b[network], calib.feeds(network)[0]) for p, b in backends.items()}
            ).items()
        }
        for key, network in (("decoder_ms", "decoder_student"), ("motion_step_ms", "motion_step"))
    }
    return {
        "format": fmt,
        "backend": backends[precisions[0]]["decoder_student"].name,
        "identities": [name for name, _ in faces],
        "speech": [s[0] for s in speech],
        "lip_sync_settings": {"lip_sync": OFFLINE_CHUNKING, "lip_sync_live": LIVE_CHUNKING},
        "summary": summary,
        "speed": speed,
        "clips": rows,
    }
