"""Every edge variant against the reference path, speed and accuracy side by side: `edge-vasa bench`.

    report = run_bench(quick=True)                      # every backend x precision built here
    write_report(report, "bench/")                      # report.py: report.md, .json, four plots

The reference path is the teacher pair in fp32 PyTorch (its decoder on CUDA when present): the diffusion
motion generator and the warping decoder. An edge variant is one of the runtime selector's candidates
(runtime x device x precision) with its three networks. Each is scored on held-out inputs (identities and
speech the training and INT8 calibration never saw: real recordings, TTS in three languages, a sung clip);
accuracy.py says how.

Speed: median latency of each network per variant, measured interleaved in one run, and as ratios to the
YARDSTICK variant's from the same run, so reports from noisy or different machines compare; and short live
sessions from a real-time file source (FPS, capture-to-frame latency, time per pipeline stage).
The report's types are in schema.py; its targets and ratios in targets.py.
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np
from tqdm import tqdm

from edge_vasa import __version__
from edge_vasa.bench.accuracy import measure_accuracy, summarize_accuracy
from edge_vasa.bench.schema import (
    REPORT_VERSION,
    BenchReport,
    Cpu,
    LiveResult,
    LiveRun,
    Machine,
    Percentiles,
    RuntimeInfo,
    Speed,
    VariantSpeed,
)
from edge_vasa.bench.subjects import Clip, ReferencePath, Variant
from edge_vasa.bench.targets import LATENCY_FPS, LIVE_FPS, speed_ratios, targets
from edge_vasa.calibration.dataset import prepared_faces
from edge_vasa.conversion.accuracy import HELD_OUT_IDENTITIES, held_out_speech
from edge_vasa.conversion.export import ensure_artifact
from edge_vasa.core.audio import resample
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import PreparedFace, example_face
from edge_vasa.core.options import LIVE_HOP
from edge_vasa.core.shipped import BUNDLED_SPEECH, EDGE_NETWORKS
from edge_vasa.core.speech import LANGUAGES, sing, synthesize
from edge_vasa.live.session import LiveSession
from edge_vasa.live.sinks import FrameInfo, Sink
from edge_vasa.live.sources import FileSource
from edge_vasa.pipeline.decoder_inputs import DecoderInputs
from edge_vasa.runtimes.assembler import EdgeStudio
from edge_vasa.runtimes.models import EdgeModels
from edge_vasa.runtimes.selector import (
    Ranked,
    artifacts_for,
    candidates,
    example_feeds,
    interleaved_ms,
    parse_backend,
    probe,
)

YARDSTICK = ("onnxruntime:cpu fp32", "torch:cpu fp32")  # the first one present: speed ratios divide by it
QUICK = {"speech": ("tts:vi",), "speed_rounds": 15, "live_seconds": 6.0, "live_variants": 1}
FULL = {"speech": None, "speed_rounds": 30, "live_seconds": 15.0, "live_variants": None}
SUNG = ("la la la, the sun is up, la la la", "en")
TTS = (("ja", 0), ("fr", 1))  # beside the held-out set's vi: sentences the INT8 calibration never used
LIBRARIES = ("numpy", "torch", "onnxruntime", "openvino", "coremltools", "cv2", "dlib")  # versions reported


# --- inputs -------------------------------------------------------------------------------------------


def bench_speech(names: tuple[str, ...] | None = None) -> list[tuple[int, str, np.ndarray]]:
    """(position in the full set, name, 16 kHz audio) of the held-out speech NAMES (default all): real
    recordings, TTS in three languages, a sung clip."""
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


# --- speed ------------------------------------------------------------------------------------------


def measure_speed(
    variants: list[Variant],
    rounds: int,
    reference: ReferencePath | None = None,
    face: PreparedFace | None = None,
) -> Speed:
    """Median ms per call of each variant's networks (and the teacher decoder per frame), interleaved in one
    run; frame cost (decoder + motion step / LIVE_HOP) and estimated FPS. Ratios to the yardstick use the
    fastest of the ROUNDS calls, which the machine's other load disturbs least (measured here: run to run,
    OpenVINO fp32's decoder ratio spread 0.475-0.488 by the fastest call, 0.514-0.586 by the median)."""
    photo = example_face()
    encoder = {"image": DecoderInputs(photo.image, photo.landmarks).encoder_image()}
    fns = {}
    for v in variants:
        frame, step = example_feeds(v.models.networks["decoder_student"], v.models.networks["motion_step"])
        for n, feeds in zip(EDGE_NETWORKS, (encoder, step, frame)):
            fns[(v.name, n)] = partial(v.models.run, n, feeds)
    if reference is not None and face is not None:
        avatar = reference.avatar(face)
        fns[("reference", "decoder_student")] = partial(avatar.renderer.render, frame["motion"])
    ms = interleaved_ms(fns, rounds)
    fastest = {}  # decoder, motion step, frame
    for v in variants:
        dec, mot = (float(ms[(v.name, n)].min()) for n in ("decoder_student", "motion_step"))
        fastest[v.name] = (dec, mot, dec + mot / LIVE_HOP)
    yard = next((y for y in YARDSTICK if y in fastest), None)
    out = {}
    for v in variants:
        enc, mot, dec = (float(np.median(ms[(v.name, n)])) for n in EDGE_NETWORKS)
        frame_ms = dec + mot / LIVE_HOP
        ratios = [round(a / b, 4) for a, b in zip(fastest[v.name], fastest[yard])] if yard else [None] * 3
        out[v.name] = VariantSpeed(
            encoder_ms=round(enc, 2),
            motion_step_ms=round(mot, 2),
            decoder_ms=round(dec, 2),
            frame_ms=round(frame_ms, 2),
            fps_estimate=round(1000 / frame_ms, 1),
            decoder_vs_yardstick=ratios[0],
            motion_step_vs_yardstick=ratios[1],
            frame_vs_yardstick=ratios[2],
        )
    reference_ms = ms.get(("reference", "decoder_student"))
    return Speed(
        rounds=rounds,
        yardstick=yard,
        variants=out,
        reference_decoder_ms=None if reference_ms is None else round(float(np.median(reference_ms)), 2),
    )


# --- live ------------------------------------------------------------------------------------------


class _Discard(Sink):
    """A sink that keeps nothing: the session counts the frames."""

    def frame(self, frame: np.ndarray, info: FrameInfo) -> None:
        pass


def live_session(v: Variant, face: PreparedFace, fps: int, seconds: float) -> LiveRun:
    """One live session of V on FACE at FPS for SECONDS, from the bundled speech as a real-time file source
    (looped): the rate it sustains, drops, capture-to-frame latency (percentiles and CDF), stage busy time."""
    source, studio = FileSource(BUNDLED_SPEECH, loop=True), EdgeStudio(models=v.models)
    session = LiveSession(face, source, [_Discard()], studio, fps=fps)
    session.start()
    time.sleep(seconds)
    session.stop()
    session.wait(10)
    summary = session.summary()
    latencies = np.array(session.stats.latencies) * 1e3
    cdf = np.percentile(latencies, np.arange(101)) if len(latencies) else []
    return LiveRun(
        fps_requested=fps,
        seconds=seconds,
        fps=summary["fps"],
        frames_shown=summary["frames_shown"],
        frames_dropped=summary["frames_dropped"],
        latency_ms=Percentiles(**summary["latency_ms"]),
        latency_cdf_ms=[round(float(x), 1) for x in cdf],
        stage_ms_per_frame=summary["stage_ms_per_frame"],
    )


def measure_live(
    variants: list[Variant], face: PreparedFace, seconds: float, progress: bool = True
) -> dict[str, LiveResult]:
    """Two live sessions per variant: at LIVE_FPS, for the rate it sustains (late frames are dropped, so an
    overloaded backend's latency sits at the drop limit), and at LATENCY_FPS, the default live rate, for
    latency. The top-level FPS comes from the first, latency from the second."""
    out = {}
    for v in tqdm(variants, desc=f"live, 2 x {seconds:.0f} s each", unit="backend", disable=not progress):
        fast, default = (live_session(v, face, fps, seconds) for fps in (LIVE_FPS, LATENCY_FPS))
        out[v.name] = LiveResult(
            fps=fast.fps,
            latency_ms=default.latency_ms,
            latency_cdf_ms=default.latency_cdf_ms,
            sessions=[fast, default],
        )
    return out


# --- the whole run ------------------------------------------------------------------------------------


def machine_description(machine: dict, reference: ReferencePath | None = None) -> Machine:
    """MACHINE (the selector's probe) with library versions and where the reference path runs."""
    libraries = {}
    for module in LIBRARIES:
        try:  # probing what is installed: each of these is optional here
            libraries[module] = getattr(__import__(module), "__version__", "?")
        except Exception:  # not installed (or broken): left out of the list
            continue
    return Machine(
        cpu=Cpu(**machine["cpu"]),
        gpu=machine["gpu"],
        os=machine["os"],
        python=machine["python"],
        runtimes={r: RuntimeInfo(**x) for r, x in machine["runtimes"].items()},
        edge_vasa=__version__,
        libraries=libraries,
        reference_device=reference.device if reference else None,
    )


def run_bench(
    backends: list[str] | None = None,
    precisions: list[str] | None = None,
    quick: bool = False,
    build: bool = False,
    live: bool = True,
    progress: bool = True,
    command: str | None = None,
    machine: dict | None = None,
) -> BenchReport:
    """Everything in the module doc for the variants matching BACKENDS / PRECISIONS; returns the report.
    MACHINE: the selector's probe(), when the caller has it already."""
    mode = QUICK if quick else FULL
    started = time.time()
    reference = ReferencePath()
    machine = machine or probe()
    variants, skipped = open_variants(backends, precisions, build, machine)
    clips = bench_clips(quick)
    speed = measure_speed(variants, mode["speed_rounds"], reference, clips[0].face)
    accuracy = measure_accuracy(variants, clips, reference, progress)
    order = sorted(variants, key=lambda v: speed.variants[v.name].frame_ms)
    live_results = (
        measure_live(order[: mode["live_variants"]], clips[0].face, mode["live_seconds"], progress)
        if live
        else {}
    )
    report = BenchReport(
        version=REPORT_VERSION,
        mode="quick" if quick else "full",
        command=command or "edge-vasa bench" + (" --quick" if quick else ""),
        date=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        machine=machine_description(machine, reference),
        reference_path=reference.describe(),
        skipped=skipped,
        sizes_mb={v.name: round(v.size_mb, 2) for v in variants},
        speed=speed,
        live=live_results,
        clips=accuracy,
        accuracy=summarize_accuracy(accuracy, [v.name for v in variants]),
    )
    report.ratios = speed_ratios(report)
    report.targets = targets(report)
    report.wall_s = round(time.time() - started, 1)
    return report
