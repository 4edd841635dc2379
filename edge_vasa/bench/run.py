"""Every edge variant against the reference path, speed and accuracy side by side: `edge-vasa bench`.

    report = run_bench(quick=True)                      # every backend x precision built here
    write_report(report, "bench/")                      # bench_report.py: report.md, .json, four plots

The reference path is the teacher pair in fp32 PyTorch (its decoder on CUDA when present): the diffusion
motion generator and the warping decoder. An edge variant is one of the runtime selector's candidates
(runtime x device x precision) with its three networks. Each is scored on held-out inputs (identities and
speech the training and INT8 calibration never saw: real recordings, TTS in three languages, a sung clip):

* decoder fidelity: the reference motion drawn by the variant's encoder + decoder against the teacher's
  frames: PSNR over every frame, SSIM and landmark distance over FIDELITY_FRAMES spread over the clip;
  and PSNR against the PyTorch student on the same motion, which tells conversion error from distillation;
* the edge chain: the variant's motion step from the audio, then its decoder (what `live` runs): lip
  sync, blinks, head motion, jitter and identity distance measured on the frames, the same statistics as
  the reference path's own; its wall time gives offline speed (seconds of video per second).

Speed: median latency of each network per variant, measured interleaved in one run, and as ratios to the
YARDSTICK variant's from the same run, so reports from noisy or different machines compare; and short live
sessions from a real-time file source (FPS, capture-to-frame latency, time per pipeline stage).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

import numpy as np
from tqdm import tqdm

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import PreparedFace
from edge_vasa.core.options import LIVE_HOP
from edge_vasa.runtimes.selector import Candidate

REPORT_VERSION = 1
YARDSTICK = ("onnxruntime:cpu fp32", "torch:cpu fp32")  # the first one present: speed ratios divide by it
TARGET_FPS, MIN_FPS, TARGET_LATENCY_MS, TARGET_PSNR_DB = 40.0, 25.0, 170.0, 30.0
LIVE_FPS = 40  # a live session asks for the goal; what a backend cannot render in time is dropped
LATENCY_FPS = 25  # and one at the default live rate measures latency
FPS_SLACK = 0.5  # a sustained rate this close to the target meets it (the display clock is exact)
FIDELITY_FRAMES = 16
DETECT_EVERY = 5  # frames per face detection when tracking whole clips (evaluate.track_landmarks)
QUICK = {"speech": ("tts:vi",), "speed_rounds": 15, "live_seconds": 6.0, "live_variants": 1}
FULL = {"speech": None, "speed_rounds": 30, "live_seconds": 15.0, "live_variants": None}
SUNG = ("la la la, the sun is up, la la la", "en")
TTS = (("ja", 0), ("fr", 1))  # beside the held-out set's vi: sentences the INT8 calibration never used


@dataclass
class Clip:
    speech: str
    audio: np.ndarray  # 16 kHz mono
    identity: str
    face: PreparedFace

    @property
    def name(self) -> str:
        return f"{self.speech} @ {self.identity}"

    @property
    def seconds(self) -> float:
        return len(self.audio) / 16000


@dataclass
class Variant:
    """One edge variant, loaded: its candidate, networks (an EdgeModels) and the files they came from."""

    candidate: Candidate
    models: object
    artifacts: dict[str, str]

    @property
    def name(self) -> str:
        return str(self.candidate)

    @property
    def size_mb(self) -> float:
        from edge_vasa.runtimes.artifacts import artifact_files

        files = {f for p in self.artifacts.values() for f in artifact_files(p)}
        return sum(f.stat().st_size for f in files) / 2**20


# --- inputs -------------------------------------------------------------------------------------------


def bench_speech(names: tuple[str, ...] | None = None) -> list[tuple[int, str, np.ndarray]]:
    """(position in the full set, name, 16 kHz audio) of the held-out speech NAMES (default all): real
    recordings, TTS in three languages, a sung clip."""
    from edge_vasa.conversion.accuracy import held_out_speech
    from edge_vasa.core.audio import resample
    from edge_vasa.core.speech import LANGUAGES, sing, synthesize

    makers = [(name, lambda a=audio: a) for name, audio in held_out_speech()]  # real recordings, tts:vi
    makers += [(f"tts:{code}", partial(synthesize, LANGUAGES[code].sentences[i], code)) for code, i in TTS]
    makers.append((f"sung:{SUNG[1]}", partial(sing, SUNG[0], SUNG[1], seed=0)))
    out = []
    for i, (name, make) in enumerate(makers):
        if names is None or name in names:
            audio = make()
            if not isinstance(audio, np.ndarray):  # an Utterance
                audio = resample(audio.audio, audio.sample_rate)
            out.append((i, name, audio))
    return out


def bench_clips(quick: bool) -> list[Clip]:
    """The held-out speech, each clip on one held-out identity in turn, by its place in the full set, so a
    clip is the same in quick and full runs and their accuracy compares (QUICK: one short clip)."""
    from edge_vasa.calibration.dataset import prepared_faces
    from edge_vasa.conversion.accuracy import HELD_OUT_IDENTITIES

    faces = prepared_faces(HELD_OUT_IDENTITIES)
    if not faces:
        raise EdgeVasaError("no held-out identity photo is installed; run ./install.sh")
    speech = bench_speech((QUICK if quick else FULL)["speech"])
    return [Clip(name, audio, *faces[i % len(faces)]) for i, name, audio in speech]


def open_variants(
    backends: list[str] | None = None,
    precisions: list[str] | None = None,
    build: bool = False,
    machine: dict | None = None,
) -> tuple[list[Variant], dict[str, str]]:
    """The selector's candidates matching BACKENDS (RUNTIME[:DEVICE]) and PRECISIONS, loaded; and why each
    other one was skipped. fp32 artifacts are exported when missing, others only with BUILD."""
    from edge_vasa.conversion.export import ensure_artifact
    from edge_vasa.runtimes.models import EdgeModels
    from edge_vasa.runtimes.selector import Ranked, artifacts_for, candidates, parse_backend, probe

    machine = machine or probe()
    wanted = [parse_backend(b, machine) for b in backends or []]
    variants, skipped = [], {}
    for c in candidates(machine):
        if wanted and not any(c.runtime == r and d in (None, c.device) for r, d in wanted):
            continue
        if precisions and c.precision not in precisions:
            continue
        try:
            paths = artifacts_for(c, build or c.precision == "fp32", ensure_artifact)
            paths = {n: str(p) for n, p in paths.items()}
            models = EdgeModels.open(Ranked(c, artifacts=paths))  # threads as live runs them
        except EdgeVasaError as e:
            skipped[str(c)] = str(e)
            continue
        except Exception as e:  # a runtime that cannot load this artifact: reported, not fatal
            skipped[str(c)] = (
                f"failed to load: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            )
            continue
        variants.append(Variant(c, models, paths))
    if not variants:
        reasons = "; ".join(f"{k}: {v}" for k, v in skipped.items()) or "nothing matches"
        raise EdgeVasaError(f"no backend to benchmark ({reasons}); see `edge-vasa doctor`")
    return variants, skipped


# --- the reference path -------------------------------------------------------------------------------


class ReferencePath:
    """The teacher pair in fp32 PyTorch: diffusion motion (CPU) and warping decoder (CUDA when present)."""

    def __init__(self, device: str | None = None):
        import torch

        from edge_vasa.pipeline.loaders import load_generator

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.gpu = torch.cuda.get_device_name(0) if self.device == "cuda" else None
        self.generator = load_generator("teacher")

    def avatar(self, face: PreparedFace):
        from edge_vasa.core.shipped import DECODER_WEIGHTS
        from edge_vasa.pipeline.avatar import Avatar

        avatar = Avatar.load(face, decoder_weights=DECODER_WEIGHTS, generator=self.generator)
        avatar.renderer.to(self.device)
        return avatar

    def describe(self) -> str:
        where = f"decoder on cuda ({self.gpu})" if self.gpu else "decoder on cpu (no GPU here)"
        return f"teacher motion generator + teacher decoder, fp32 PyTorch; motion on cpu, {where}"


# --- speed ------------------------------------------------------------------------------------------


def measure_speed(
    variants: list[Variant],
    rounds: int,
    reference: ReferencePath | None = None,
    face: PreparedFace | None = None,
) -> dict:
    """Median ms per call of each variant's networks (and the teacher decoder per frame), interleaved in one
    run; frame cost (decoder + motion step / LIVE_HOP) and estimated FPS. Ratios to the yardstick use the
    fastest of the ROUNDS calls, which the machine's other load disturbs least (measured here: run to run,
    OpenVINO fp32's decoder ratio spread 0.475-0.488 by the fastest call, 0.514-0.586 by the median)."""
    from edge_vasa.core.face import example_face
    from edge_vasa.core.shipped import EDGE_NETWORKS
    from edge_vasa.pipeline.decoder_inputs import DecoderInputs
    from edge_vasa.runtimes.selector import example_feeds, interleaved_ms

    photo = example_face()
    fns = {}
    for v in variants:
        frame, step = example_feeds(v.models.networks["decoder_student"], v.models.networks["motion_step"])
        encoder = {"image": DecoderInputs(photo.image, photo.landmarks).encoder_image()}
        for n, feeds in zip(EDGE_NETWORKS, (encoder, step, frame)):
            fns[(v.name, n)] = partial(v.models.run, n, feeds)
    if reference is not None and face is not None:
        avatar = reference.avatar(face)
        fns[("reference", "decoder_student")] = partial(avatar.renderer.render, frame["motion"])
    ms = interleaved_ms(fns, rounds)
    out, fastest = {}, {}
    for v in variants:
        enc, mot, dec = (float(np.median(ms[(v.name, n)])) for n in EDGE_NETWORKS)
        frame = dec + mot / LIVE_HOP
        out[v.name] = {
            "encoder_ms": round(enc, 2),
            "motion_step_ms": round(mot, 2),
            "decoder_ms": round(dec, 2),
            "frame_ms": round(frame, 2),
            "fps_estimate": round(1000 / frame, 1),
        }
        best_dec, best_mot = (float(ms[(v.name, n)].min()) for n in ("decoder_student", "motion_step"))
        fastest[v.name] = {
            "decoder": best_dec,
            "motion_step": best_mot,
            "frame": best_dec + best_mot / LIVE_HOP,
        }
    yard = next((y for y in YARDSTICK if y in out), None)
    for name, row in out.items():
        for key, value in fastest[name].items():
            row[f"{key}_vs_yardstick"] = round(value / fastest[yard][key], 4) if yard else None
    result = {"rounds": rounds, "yardstick": yard, "variants": out}
    if ("reference", "decoder_student") in ms:
        result["reference_decoder_ms"] = round(float(np.median(ms[("reference", "decoder_student")])), 2)
    return result


# --- accuracy ---------------------------------------------------------------------------------------


CHAIN_KEYS = (
    "lip_sync_correlation",
    "lip_sync_lag_frames",
    "blinks_per_minute_motion",
    "jitter_px_per_frame2",
    "identity_distance",
)


def _chain_stats(scores: dict) -> dict:
    out = {k: scores.get(k) for k in CHAIN_KEYS}
    out["head_pose_std_deg"] = round(float(np.mean(scores["head_pose_std_deg"])), 3)
    return out


@dataclass
class ClipReference:
    """What every variant is compared with on one clip."""

    motion: np.ndarray  # the teacher's motion from the clip's audio
    frames: np.ndarray  # the teacher decoder's frames of it
    picks: np.ndarray  # the frames scored for SSIM and landmark distance
    track: object  # evaluate.Track: the teacher frames' landmarks at picks
    student_frames: np.ndarray  # the PyTorch student decoder on the same motion
    student_motion: np.ndarray  # the PyTorch student's streaming motion from the audio


def score_variant(v: Variant, clip: Clip, ref: ClipReference) -> dict:
    """Decoder fidelity on the reference motion, and the variant's whole chain from the clip's audio."""
    from edge_vasa.conversion.accuracy import artifact_motion
    from edge_vasa.evaluation.evaluate import compare_to_reference, evaluate_frames, psnr_db, track_landmarks
    from edge_vasa.runtimes.renderer import EdgeRenderer

    renderer = EdgeRenderer(clip.face.image, clip.face.landmarks, v.models)
    drawn = renderer.render(ref.motion)
    track = track_landmarks(drawn[ref.picks])
    out = compare_to_reference(
        drawn[ref.picks], ref.frames[ref.picks], track.landmarks, track.found, ref.track
    )
    out["psnr_db"] = round(float(np.mean([psnr_db(a, b) for a, b in zip(drawn, ref.frames)])), 2)
    out["psnr_vs_student_db"] = round(
        float(np.mean([psnr_db(a, b) for a, b in zip(drawn, ref.student_frames)])), 2
    )
    start = time.perf_counter()
    motion = artifact_motion(v.models, clip.audio)
    motion_s = time.perf_counter() - start
    frames = renderer.render(motion)
    render_s = time.perf_counter() - start - motion_s
    n = min(len(motion), len(ref.student_motion))
    track = track_landmarks(frames, DETECT_EVERY)
    scores = evaluate_frames(frames, clip.audio, 25.0, clip.face.image, generated_motion=motion, track=track)
    rms = float(np.sqrt(np.mean((motion[:n] - ref.student_motion[:n]) ** 2)))
    return (
        out
        | _chain_stats(scores)
        | {"motion_rms_vs_student": round(rms, 5), "motion_s": motion_s, "render_s": render_s}
    )


def measure_accuracy(
    variants: list[Variant], clips: list[Clip], reference: ReferencePath, progress: bool = True
) -> dict:
    """Per clip: the reference path's chain statistics and timing, and each variant's scores (see the module
    doc). A variant that fails on a clip gets its error in place of scores; the others are still scored."""
    from edge_vasa.calibration.dataset import spread
    from edge_vasa.core.options import GenerateOptions
    from edge_vasa.evaluation.evaluate import evaluate_frames, render_motion, track_landmarks
    from edge_vasa.pipeline.avatar import Avatar
    from edge_vasa.pipeline.student_motion import StudentMotionGenerator

    student = StudentMotionGenerator.load()
    clips_out = []
    bar = tqdm(total=len(clips) * (len(variants) + 1), desc="accuracy", unit="run", disable=not progress)
    for clip in clips:
        bar.set_postfix_str(f"{clip.name}: reference")
        avatar = reference.avatar(clip.face)
        start = time.perf_counter()
        motion = avatar.motion(clip.audio, GenerateOptions())
        motion_s = time.perf_counter() - start
        frames = render_motion(avatar, motion)
        render_s = time.perf_counter() - start - motion_s
        track = track_landmarks(frames, DETECT_EVERY)
        scores = evaluate_frames(
            frames, clip.audio, 25.0, clip.face.image, generated_motion=motion, track=track
        )
        row = {
            "clip": clip.name,
            "seconds": round(clip.seconds, 2),
            "frames": len(motion),
            "reference": _chain_stats(scores) | {"motion_s": motion_s, "render_s": render_s},
            "variants": {},
        }
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
                row["variants"][v.name] = score_variant(v, clip, ref)
            except Exception as e:  # reported in its row; one broken variant does not end the run
                row["variants"][v.name] = {
                    "error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                }
            bar.update()
        clips_out.append(row)
    bar.close()
    return {"reference_path": reference.describe(), "clips": clips_out}


def _mean(values: list) -> float | None:
    finite = [float(v) for v in values if v is not None and np.isfinite(v)]
    return round(float(np.mean(finite)), 4) if finite else None


def summarize_accuracy(clips: list[dict], names: list[str]) -> dict:
    """Means over clips per variant (and "reference"); offline speed in seconds of video per second.
    Clips where a variant failed are left out of its means."""
    out = {}
    for name in ["reference", *names]:
        scored = [
            (c["seconds"], c["reference"] if name == "reference" else c["variants"].get(name, {}))
            for c in clips
        ]
        scored = [(seconds, r) for seconds, r in scored if r and "error" not in r]
        if not scored:
            continue
        rows = [r for _, r in scored]
        video_s = sum(seconds for seconds, _ in scored)
        out[name] = {k: _mean([r[k] for r in rows]) for k in rows[0] if k not in ("motion_s", "render_s")}
        out[name]["offline_x_realtime"] = round(video_s / sum(r["motion_s"] + r["render_s"] for r in rows), 3)
        out[name]["motion_s_per_video_s"] = round(sum(r["motion_s"] for r in rows) / video_s, 4)
    return out


# --- live ------------------------------------------------------------------------------------------


def live_session(v: Variant, face: PreparedFace, fps: int, seconds: float) -> dict:
    """One live session of V on FACE at FPS for SECONDS, from the bundled speech as a real-time file source
    (looped): the rate it sustains, drops, capture-to-frame latency (percentiles and CDF), stage busy time."""
    from edge_vasa.core.shipped import BUNDLED_SPEECH
    from edge_vasa.live.session import LiveSession
    from edge_vasa.live.sinks import Sink
    from edge_vasa.live.sources import FileSource
    from edge_vasa.runtimes.assembler import EdgeStudio

    class Discard(Sink):  # the session counts frames; nothing is kept
        def frame(self, frame, info) -> None:
            pass

    source, studio = FileSource(BUNDLED_SPEECH, loop=True), EdgeStudio(models=v.models)
    session = LiveSession(face, source, [Discard()], studio, fps=fps)
    session.start()
    time.sleep(seconds)
    session.stop()
    session.wait(10)
    summary = session.summary()
    latencies = np.array(session.stats.latencies) * 1e3
    cdf = np.percentile(latencies, np.arange(101)) if len(latencies) else []
    return {
        "fps_requested": fps,
        "seconds": seconds,
        "fps": summary["fps"],
        "frames_shown": summary["frames_shown"],
        "frames_dropped": summary["frames_dropped"],
        "latency_ms": summary["latency_ms"],
        "latency_cdf_ms": [round(float(x), 1) for x in cdf],
        "stage_ms_per_frame": summary["stage_ms_per_frame"],
    }


def measure_live(variants: list[Variant], face: PreparedFace, seconds: float, progress: bool = True) -> dict:
    """Two live sessions per variant: at LIVE_FPS, for the rate it sustains (late frames are dropped, so an
    overloaded backend's latency sits at the drop limit), and at LATENCY_FPS, the default live rate, for
    latency. The top-level FPS comes from the first, latency from the second."""
    out = {}
    for v in tqdm(variants, desc=f"live, 2 x {seconds:.0f} s each", unit="backend", disable=not progress):
        fast, default = (live_session(v, face, fps, seconds) for fps in (LIVE_FPS, LATENCY_FPS))
        out[v.name] = {
            "fps": fast["fps"],
            "latency_ms": default["latency_ms"],
            "latency_cdf_ms": default["latency_cdf_ms"],
            "sessions": [fast, default],
        }
    return out


# --- the whole run ------------------------------------------------------------------------------------


def machine_description(machine: dict, reference: ReferencePath | None = None) -> dict:
    """MACHINE (the selector's probe) with library versions and where the reference path runs."""
    from edge_vasa import __version__

    libraries = {}
    for module in ("numpy", "torch", "onnxruntime", "openvino", "coremltools", "cv2", "dlib"):
        try:
            libraries[module] = getattr(__import__(module), "__version__", "?")
        except Exception:  # not installed (or broken): left out of the list
            continue
    return machine | {
        "edge_vasa": __version__,
        "libraries": libraries,
        "reference_device": reference.device if reference else None,
    }


def run_bench(
    backends: list[str] | None = None,
    precisions: list[str] | None = None,
    quick: bool = False,
    build: bool = False,
    live: bool = True,
    progress: bool = True,
    command: str | None = None,
    machine: dict | None = None,
) -> dict:
    """Everything in the module doc for the variants matching BACKENDS / PRECISIONS; returns the report.
    MACHINE: the selector's probe(), when the caller has it already."""
    from edge_vasa.runtimes.selector import probe

    mode = QUICK if quick else FULL
    started = time.time()
    reference = ReferencePath()
    machine = machine or probe()
    variants, skipped = open_variants(backends, precisions, build, machine)
    names = [v.name for v in variants]
    clips = bench_clips(quick)
    speed = measure_speed(variants, mode["speed_rounds"], reference, clips[0].face)
    accuracy = measure_accuracy(variants, clips, reference, progress)
    order = sorted(variants, key=lambda v: speed["variants"][v.name]["frame_ms"])
    live_result = (
        measure_live(order[: mode["live_variants"]], clips[0].face, mode["live_seconds"], progress)
        if live
        else {}
    )
    report = {
        "version": REPORT_VERSION,
        "mode": "quick" if quick else "full",
        "command": command or "edge-vasa bench" + (" --quick" if quick else ""),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine_description(machine, reference),
        "reference_path": accuracy["reference_path"],
        "skipped": skipped,
        "sizes_mb": {v.name: round(v.size_mb, 2) for v in variants},
        "speed": speed,
        "live": live_result,
        "clips": accuracy["clips"],
        "accuracy": summarize_accuracy(accuracy["clips"], names),
    }
    report["rows"] = table_rows(report)
    report["ratios"] = speed_ratios(report)
    report["targets"] = targets(report)
    report["wall_s"] = round(time.time() - started, 1)
    return report


def table_rows(report: dict) -> list[dict]:
    """One row per variant, fastest first (estimated FPS): speed, size, live and accuracy together."""
    rows = []
    for name, speed in report["speed"]["variants"].items():
        live = report["live"].get(name, {})
        acc = report["accuracy"].get(name, {})
        rows.append(
            {"variant": name, "size_mb": report["sizes_mb"].get(name)}
            | speed
            | {
                "live_fps": live.get("fps"),
                "latency_p50_ms": live.get("latency_ms", {}).get("p50"),
                "latency_p95_ms": live.get("latency_ms", {}).get("p95"),
            }
            | acc
        )
    return sorted(rows, key=lambda r: -r["fps_estimate"])


def speed_ratios(report: dict) -> dict:
    """Student vs teacher and INT8 vs fp32, from timings of the same run (> 1: the first is faster)."""
    speed, acc = report["speed"]["variants"], report["accuracy"]
    out: dict = {}
    reference_ms = report["speed"].get("reference_decoder_ms")
    if reference_ms and "torch:cpu fp32" in speed:
        out["decoder_student_vs_teacher_pytorch"] = round(
            reference_ms / speed["torch:cpu fp32"]["decoder_ms"], 2
        )
    if reference_ms and speed:
        best = min(speed, key=lambda n: speed[n]["decoder_ms"])
        out["decoder_fastest_edge_vs_teacher"] = {
            "variant": best,
            "ratio": round(reference_ms / speed[best]["decoder_ms"], 2),
        }
    if "reference" in acc and "torch:cpu fp32" in acc:
        out["motion_student_vs_teacher_pytorch"] = round(
            acc["reference"]["motion_s_per_video_s"] / acc["torch:cpu fp32"]["motion_s_per_video_s"], 2
        )
    for name, row in speed.items():
        if name.endswith(" int8"):
            fp32 = name.replace(" int8", " fp32")
            if fp32 in speed:
                out[f"int8_vs_fp32 {name.rsplit(' ', 1)[0]}"] = {
                    "decoder": round(speed[fp32]["decoder_ms"] / row["decoder_ms"], 3),
                    "frame": round(speed[fp32]["frame_ms"] / row["frame_ms"], 3),
                }
    if "reference" in acc:
        out["offline_edge_vs_reference"] = {
            n: round(a["offline_x_realtime"] / acc["reference"]["offline_x_realtime"], 2)
            for n, a in acc.items()
            if n != "reference"
        }
    return out


def targets(report: dict) -> list[dict]:
    """The card's targets on this machine: met or not, by which variant, with the numbers."""
    rows, live, out = report["rows"], report["live"], []
    fps_source = f"live, {LIVE_FPS} FPS requested" if live else "estimated from decoder + motion step"

    def best(values: dict[str, float], better) -> tuple[str | None, float | None]:
        name = better(values, key=values.get) if values else None
        return name, values.get(name)

    fps = {n: x["fps"] for n, x in live.items()} or {r["variant"]: r["fps_estimate"] for r in rows}
    name, value = best(fps, max)
    for target in (TARGET_FPS, MIN_FPS):
        out.append(
            {
                "target": f"{target:.0f} FPS at 512x512 ({fps_source})",
                "met": value is not None and value >= target - FPS_SLACK,
                "best": name,
                "value": value,
            }
        )
    p95 = {n: x["latency_ms"]["p95"] for n, x in live.items()}
    name, value = best(p95, min)
    out.append(
        {
            "target": f"capture-to-frame latency p95 <= {TARGET_LATENCY_MS:.0f} ms (live, {LATENCY_FPS} FPS)",
            "met": value is not None and value <= TARGET_LATENCY_MS,
            "best": name,
            "value": value,
        }
    )
    psnr = {r["variant"]: r["psnr_db"] for r in rows if r.get("psnr_db") is not None}
    passing = sorted(n for n, v in psnr.items() if v >= TARGET_PSNR_DB)
    out.append(
        {
            "target": f"PSNR vs reference >= {TARGET_PSNR_DB:.0f} dB",
            "met": bool(psnr) and len(passing) == len(psnr),
            "best": max(psnr, key=psnr.get) if psnr else None,
            "value": max(psnr.values()) if psnr else None,
            "passing": passing,
        }
    )
    return out
