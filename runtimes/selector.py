"""Which backend runs the edge models here: probe the machine, time each candidate briefly, pick the fastest.

    ranking = rank_candidates()                    # every runtime x device x precision present here
    models = FallbackModels(ranking)               # the fastest usable one, the rest as fallbacks

A candidate is RUNTIME:DEVICE at a precision ("openvino:cpu int8"). It is usable when its three artifacts
exist and passed parity at export (the exporters refuse the others, so a verified, current artifact in the
cache has passed). The candidates are timed in turns, so that the machine's load weighs on all of them
alike; the timing is cached per machine and artifact hash, so it runs once.

By default only artifacts already in the cache are timed. Given a BUILDER (conversion.export.ensure_artifact,
where the export tools are installed), missing fp32 artifacts are exported on demand (seconds), and with
``build=True`` every precision (minutes: INT8 calibrates and measures layers). The torch-free edge install
has no builder: it runs what was exported before.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from importlib import metadata
from pathlib import Path

import numpy as np

from edge_vasa.core.audio import SILENT_MEL
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import example_face
from edge_vasa.core.files import atomic_output, file_sha256
from edge_vasa.core.motion import INDEX, MOTION_DIM, NEUTRAL
from edge_vasa.core.options import LIVE_HOP
from edge_vasa.core.shipped import EDGE_NETWORKS, source_weights
from edge_vasa.pipeline.decoder_inputs import DecoderInputs
from edge_vasa.runtimes.artifacts import PRECISIONS, cache_root, find_artifact
from edge_vasa.runtimes.backends import (
    COREML_UNITS,
    Backend,
    compute_providers,
    default_threads,
    open_artifact,
    openvino_devices,
    provider_device,
)

Builder = Callable[
    [str, str, str], Path
]  # (network, format, precision) -> a current artifact, exported if need be
RUNTIME_FORMATS = {"onnxruntime": "onnx", "openvino": "openvino", "coreml": "coreml", "torch": None}
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8")
WARMUP_RUNS, TIMED_RUNS = 2, 7


@dataclass(frozen=True)
class Candidate:
    runtime: str
    device: str
    precision: str

    @property
    def backend(self) -> str:
        return f"{self.runtime}:{self.device}"

    def __str__(self) -> str:
        return f"{self.backend} {self.precision}"


@dataclass
class Ranked:
    """A candidate and what the warm-up found: ``status`` is "ok", or why it cannot be used."""

    candidate: Candidate
    status: str = "ok"
    decoder_ms: float | None = None
    motion_ms: float | None = None
    artifacts: dict[str, str] = field(default_factory=dict)
    cached: bool = False

    @property
    def usable(self) -> bool:
        return self.status == "ok"

    @property
    def frame_ms(self) -> float:
        """Compute per displayed frame: one decoder pass plus its share of a motion step (live, one step
        commits LIVE_HOP frames)."""
        return self.decoder_ms + self.motion_ms / LIVE_HOP

    @property
    def fps(self) -> float:
        return 1000.0 / self.frame_ms


def cpu_info() -> dict:
    """CPU model, usable cores and the ISA flags that decide INT8 and bf16 behaviour."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:  # macOS / Windows: no /proc
        pass
    return {"model": model, "cores": default_threads(), "isa": [f for f in ISA_FLAGS if f in flags]}


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except Exception:  # not installed, or broken: either way not a candidate
        return None


def runtime_devices() -> dict[str, list[str]]:
    """Short device names per installed runtime (absent runtimes are left out)."""
    devices: dict[str, list[str]] = {}
    if _version("onnxruntime"):
        devices["onnxruntime"] = [provider_device(p) for p in compute_providers()]
    if _version("openvino"):
        import openvino as ov

        devices["openvino"] = [d.lower() for d in openvino_devices(ov.Core())]
    if platform.system() == "Darwin" and _version("coremltools"):
        devices["coreml"] = list(COREML_UNITS)
    if torch_version():  # the reference backend; the edge install has no torch
        devices["torch"] = torch_devices()
    return devices


def torch_version() -> str | None:
    """PyTorch's version (torch.__version__) from its package metadata, None where it is absent: importing
    it to ask took 2-3 s of every start, and the edge runtime does not run it."""
    try:
        if importlib.util.find_spec("torch") is None:
            return None
        return metadata.version("torch")
    except (ImportError, ValueError, metadata.PackageNotFoundError):  # blocked, or a stray folder named torch
        return _version("torch")


def torch_devices() -> list[str]:
    """PyTorch's devices, fastest first. A CPU-only build ("+cpu"), macOS, or Linux without the NVIDIA
    driver has no CUDA, which is known without importing torch; elsewhere torch is asked."""
    version = torch_version() or ""
    no_nvidia = platform.system() == "Linux" and not Path("/proc/driver/nvidia").exists()
    if version.endswith("+cpu") or platform.system() == "Darwin" or no_nvidia:
        return ["cpu"]
    from edge_vasa.runtimes import reference

    return reference.devices()


def probe() -> dict:
    """This machine as the selector sees it: CPU, GPU, OS, runtimes with versions and devices."""
    devices = runtime_devices()
    gpu = None
    if "cuda" in devices.get("torch", []):
        from edge_vasa.runtimes import reference

        gpu = reference.gpu_name()
    modules = {"coreml": "coremltools"}
    versions = {r: torch_version() if r == "torch" else _version(modules.get(r, r)) for r in devices}
    return {
        "cpu": cpu_info(),
        "gpu": gpu,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "runtimes": {r: {"version": versions[r], "devices": d} for r, d in devices.items()},
    }


def candidates(machine: dict) -> list[Candidate]:
    out = []
    for runtime, info in machine["runtimes"].items():
        precisions = ("fp32",) if runtime == "torch" else PRECISIONS
        out += [Candidate(runtime, d, p) for d in info["devices"] for p in precisions]
    return out


def parse_backend(spec: str, machine: dict) -> tuple[str, str | None]:
    """'onnxruntime:cpu' -> ('onnxruntime', 'cpu'); 'openvino' -> ('openvino', None); absent ones refused."""
    runtime, _, device = spec.lower().partition(":")
    present = machine["runtimes"]
    if runtime not in RUNTIME_FORMATS:
        raise EdgeVasaError(
            f"unknown backend {spec!r}; use RUNTIME[:DEVICE], RUNTIME one of {', '.join(RUNTIME_FORMATS)}"
        )
    if runtime not in present:
        raise EdgeVasaError(f"backend {runtime} is not installed here; run `edge-vasa doctor` to see what is")
    if device and device not in present[runtime]["devices"]:
        raise EdgeVasaError(
            f"{runtime} has no device {device!r} here; present: {', '.join(present[runtime]['devices'])}"
        )
    return runtime, device or None


def artifacts_for(candidate: Candidate, build: bool, builder: Builder | None = None) -> dict[str, Path]:
    """The candidate's three files (artifacts, or the source weights for torch). With a BUILDER, missing or
    outdated artifacts are exported when BUILD; otherwise a missing one is an EdgeVasaError saying how to
    build it."""
    fmt = RUNTIME_FORMATS[candidate.runtime]
    if fmt is None:
        return {n: source_weights(n) for n in EDGE_NETWORKS}
    out = {}
    for network in EDGE_NETWORKS:
        if build and builder is not None:
            out[network] = builder(network, fmt, candidate.precision)
            continue
        path = find_artifact(network, fmt, candidate.precision)
        if path is None:
            raise EdgeVasaError(
                f"not built; run `edge-vasa export --format {fmt} --precision {candidate.precision}`"
            )
        out[network] = path
    return out


def open_backend(candidate: Candidate, network: str, path: Path, threads: int | None = None) -> Backend:
    if candidate.runtime == "torch":
        from edge_vasa.runtimes.reference import TorchBackend  # only where torch is installed

        return TorchBackend(network, candidate.device, threads)
    return open_artifact(path, candidate.device, threads)


def example_feeds(decoder: Backend, motion: Backend) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Real per-call inputs for timing (shapes from the backends' manifests): a prepared photo under an
    open-mouthed, turned frame for the decoder (where it samples decides how it reads memory), a step of
    silence for the motion step. The appearance features are zeros: their values do not change the work."""
    face = example_face()
    inputs = DecoderInputs(face.image, face.landmarks)
    pose = NEUTRAL.copy()
    pose[[INDEX["yaw"], INDEX["jaw_open"]]] = 0.15, 0.7
    features = np.zeros(decoder.shapes["features"], np.float32)
    frame = inputs.identity(features) | inputs.frames(pose[None])
    rng = np.random.default_rng(0)
    step = {
        "past": np.tile(NEUTRAL, (motion.shapes["past"][0], 1)).astype(np.float32),
        "mel": np.full(motion.shapes["mel"], SILENT_MEL, np.float32),
        "emotion": np.array(0, np.int64),
        "controls": np.zeros(4, np.float32),
        "guidance": np.array([2.0, 1.5], np.float32),
        "noise": rng.standard_normal((motion.shapes["noise"][0], MOTION_DIM), dtype=np.float32),
    }
    return frame, step


def interleaved_ms(fns: dict, rounds: int = 20) -> dict[object, np.ndarray]:
    """Milliseconds per call of each zero-argument callable, ROUNDS calls each, run in turn (interleaved) so
    that the machine's load affects them alike: ratios between them hold on a noisy machine. Each timed
    call follows an untimed one of the same callable, so the previous one's spinning threads and cache
    misses are not counted."""
    times: dict = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            fn()
            start = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - start)
    return {k: np.array(v) * 1e3 for k, v in times.items()}


def _timing_key(candidate: Candidate, paths: dict[str, Path], machine: dict) -> str:
    digest = {n: file_sha256(p) for n, p in sorted(paths.items())}
    text = json.dumps([asdict(candidate), digest, machine], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def timings_path() -> Path:
    return cache_root().parent / "backend-timings.json"


def _load_timings() -> dict:
    try:
        return json.loads(timings_path().read_text())
    except (OSError, ValueError):
        return {}


def measure_together(
    pending: dict[Candidate, dict[str, Path]],
) -> dict[Candidate, tuple[float, float] | Exception]:
    """(decoder ms per frame, motion step ms per step) of each candidate, all cores: medians of TIMED_RUNS
    rounds in which the candidates take turns (interleaved_ms), after WARMUP_RUNS calls each. Timed one after
    the other, a load that came and went during the first candidates' turn (this machine's neighbours) ranked
    a slower precision first, and the ranking is cached. A candidate that fails to load or run its warm-up
    gets its exception instead."""
    results: dict[Candidate, tuple[float, float] | Exception] = {}
    calls = {}
    for cand, paths in pending.items():
        try:
            decoder = open_backend(cand, "decoder_student", paths["decoder_student"])
            motion = open_backend(cand, "motion_step", paths["motion_step"])
            frame, step = example_feeds(decoder, motion)
            for _ in range(WARMUP_RUNS):
                decoder(frame)
                motion(step)
        except Exception as e:  # reported as the candidate's status
            results[cand] = e
            continue
        calls[cand, "decoder"], calls[cand, "motion"] = partial(decoder, frame), partial(motion, step)
    if calls:
        ms = interleaved_ms(calls, TIMED_RUNS)
        for cand in dict.fromkeys(c for c, _ in calls):
            results[cand] = (float(np.median(ms[cand, "decoder"])), float(np.median(ms[cand, "motion"])))
    return results


def _status(error: Exception) -> str:
    if isinstance(error, EdgeVasaError):
        return str(error)
    # a runtime that cannot load or run this artifact: not usable here
    return f"failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def rank_candidates(
    backend: str | None = None,
    precision: str | None = None,
    build: bool = False,
    remeasure: bool = False,
    progress=None,
    machine: dict | None = None,
    builder: Builder | None = None,
) -> list[Ranked]:
    """Every candidate here (or those matching BACKEND / PRECISION), usable ones first, fastest first.

    With a BUILDER, fp32 artifacts, and any the caller asked for by name, are exported when missing; other
    precisions only with BUILD. PROGRESS, if given, is called with a line per candidate. MACHINE: probe()'s
    result, when the caller has it already."""
    if precision is not None and precision not in PRECISIONS:
        raise EdgeVasaError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    machine = machine or probe()
    runtime, device = parse_backend(backend, machine) if backend else (None, None)
    chosen = [
        c
        for c in candidates(machine)
        if (runtime is None or c.runtime == runtime)
        and (device is None or c.device == device)
        and (precision is None or c.precision == precision)
    ]
    if not chosen:
        raise EdgeVasaError(f"no backend matches {backend or ''} {precision or ''}; see `edge-vasa doctor`")
    explicit = backend is not None and precision is not None
    timings, fingerprint = _load_timings(), {"cpu": machine["cpu"], "runtimes": machine["runtimes"]}
    ranked, pending = [], {}
    for cand in chosen:
        entry = Ranked(cand)
        try:
            paths = artifacts_for(cand, build or explicit or cand.precision == "fp32", builder)
            entry.artifacts = {n: str(p) for n, p in paths.items()}
            key = _timing_key(cand, paths, fingerprint)
            if key in timings and not remeasure:
                entry.decoder_ms, entry.motion_ms = timings[key]
                entry.cached = True
            else:
                pending[cand] = (entry, paths, key)
        except Exception as e:
            entry.status = _status(e)
        ranked.append(entry)
    measured = measure_together({cand: paths for cand, (_, paths, _) in pending.items()})
    for cand, result in measured.items():
        entry, _, key = pending[cand]
        if isinstance(result, Exception):
            entry.status = _status(result)
        else:
            entry.decoder_ms, entry.motion_ms = result
            timings[key] = list(result)
    for entry in ranked if progress else ():
        progress(f"{entry.candidate}: {f'{entry.fps:.1f} FPS' if entry.usable else entry.status}")
    _save_timings(timings)
    return sorted(ranked, key=lambda r: (not r.usable, r.frame_ms if r.usable else 0.0))


def _save_timings(timings: dict) -> None:
    path = timings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(timings, indent=1))
