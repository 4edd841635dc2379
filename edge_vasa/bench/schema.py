"""The bench report as types: what run.py measures, report.py reads, and report.json holds.

    report = BenchReport.from_json(json.loads(text))    # validated: a ReportError names the bad field
    text = json.dumps(report.to_json())                 # the same keys as every report since version 1

The JSON keys are the field names. Reading is lenient about what is missing and strict about what is
there: a figure or section a report lacks takes its empty default (a baseline trimmed to what --compare
reads, speed ratios and per-clip accuracy, still compares), a key this version does not know is ignored
(adding a key does not need a new REPORT_VERSION), and a value of the wrong type is an error naming its
place in the document. Figures are ``float | None``: None where a variant failed, had no yardstick, or the
report left the figure out; the tables show those as "-".
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

REPORT_VERSION = 1  # bumped only when a key changes meaning or moves; load_report refuses other versions


class ReportError(ValueError):
    """A report.json that does not fit the schema; the message names the place, e.g. speed.rounds."""


# --- the machine ----------------------------------------------------------------------------------


@dataclass
class Cpu:
    model: str = ""
    cores: int = 0
    isa: list[str] = field(default_factory=list)  # the flags that decide INT8 and bf16 behaviour


@dataclass
class RuntimeInfo:
    version: str | None = None
    devices: list[str] = field(default_factory=list)


@dataclass
class Machine:
    """The runtime selector's probe() with library versions and where the reference path ran."""

    cpu: Cpu = field(default_factory=Cpu)
    gpu: str | None = None
    os: str = ""
    python: str = ""
    runtimes: dict[str, RuntimeInfo] = field(default_factory=dict)
    edge_vasa: str = ""
    libraries: dict[str, str] = field(default_factory=dict)
    reference_device: str | None = None


# --- speed ----------------------------------------------------------------------------------------


@dataclass
class VariantSpeed:
    """Median ms per call of one variant's networks, and its fastest calls over the yardstick's."""

    encoder_ms: float | None = None
    motion_step_ms: float | None = None
    decoder_ms: float | None = None
    frame_ms: float | None = None  # decoder + motion step / LIVE_HOP
    fps_estimate: float | None = None
    decoder_vs_yardstick: float | None = None  # None: no yardstick variant in the run
    motion_step_vs_yardstick: float | None = None
    frame_vs_yardstick: float | None = None


@dataclass
class Speed:
    rounds: int = 0
    yardstick: str | None = None
    variants: dict[str, VariantSpeed] = field(default_factory=dict)
    reference_decoder_ms: float | None = None  # the teacher decoder per frame


# --- live -----------------------------------------------------------------------------------------


@dataclass
class Percentiles:
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


@dataclass
class LiveRun:
    """One live session from a real-time file source."""

    fps_requested: int = 0
    seconds: float = 0.0
    fps: float | None = None
    frames_shown: int = 0
    frames_dropped: int = 0
    latency_ms: Percentiles = field(default_factory=Percentiles)
    latency_cdf_ms: list[float] = field(default_factory=list)  # percentiles 0..100
    stage_ms_per_frame: dict[str, float] = field(default_factory=dict)


@dataclass
class LiveResult:
    """A variant's two live sessions: FPS from the one at the goal rate, latency from the default rate."""

    fps: float | None = None
    latency_ms: Percentiles = field(default_factory=Percentiles)
    latency_cdf_ms: list[float] = field(default_factory=list)
    sessions: list[LiveRun] = field(default_factory=list)


# --- accuracy -------------------------------------------------------------------------------------


FIDELITY_FRAMES = 16  # frames spread over each clip for Fidelity's SSIM and landmark distance


@dataclass
class Fidelity:
    """A variant's decoder against the teacher's frames on the reference motion: PSNR over every frame,
    SSIM and landmark distance over FIDELITY_FRAMES."""

    psnr_db: float | None = None
    ssim: float | None = None
    landmark_distance_px: float | None = None
    psnr_vs_student_db: float | None = None  # against the PyTorch student: conversion error alone


@dataclass
class ChainStats:
    """Statistics of a whole chain (audio -> motion -> frames) measured on its frames; an edge variant's
    with its motion step's trained chunk and look-ahead (pipeline.motion_stream.OFFLINE_CHUNKING).
    Blinks are counted in the motion: all of them, the generator's own and those the blink keeper
    inserted (None in reports made before the last two were)."""

    lip_sync_correlation: float | None = None
    lip_sync_lag_frames: float | None = None
    blinks_per_minute_motion: float | None = None
    blinks_per_minute_generated: float | None = None
    blinks_per_minute_inserted: float | None = None
    jitter_px_per_frame2: float | None = None
    identity_distance: float | None = None
    head_pose_std_deg: float | None = None


@dataclass
class LiveLipSync:
    """Lip sync of an edge variant's chain as `live` streams the motion (pipeline.motion_stream.
    LIVE_CHUNKING: fewer frames per step, no look-ahead), measured on its frames as ChainStats' is; None
    in reports made before it was."""

    live_lip_sync_correlation: float | None = None
    live_lip_sync_lag_frames: float | None = None


@dataclass
class ReferenceScores(ChainStats):
    """The reference path on one clip, with its wall time."""

    motion_s: float | None = None
    render_s: float | None = None


@dataclass
class VariantScores(LiveLipSync, ChainStats, Fidelity):
    """One variant on one clip: decoder fidelity, its own chain (offline and live chunking), and its wall
    time (offline chunking)."""

    motion_rms_vs_student: float | None = None
    motion_s: float | None = None
    render_s: float | None = None


@dataclass
class ClipFailure:
    """A variant that raised on a clip: reported in its place and left out of the means."""

    error: str


@dataclass
class ClipResult:
    clip: str = ""
    seconds: float = 0.0
    frames: int = 0
    reference: ReferenceScores = field(default_factory=ReferenceScores)
    variants: dict[str, ClipFailure | VariantScores] = field(default_factory=dict)


@dataclass
class AccuracySummary(LiveLipSync, ChainStats, Fidelity):
    """Means over the clips a variant (or the reference path, without fidelity) was scored on."""

    motion_rms_vs_student: float | None = None
    offline_x_realtime: float | None = None  # seconds of video per second of motion + rendering
    motion_s_per_video_s: float | None = None


# --- conclusions ----------------------------------------------------------------------------------


@dataclass
class FastestDecoder:
    variant: str = ""
    ratio: float | None = None


@dataclass
class Int8Ratio:
    decoder: float | None = None
    frame: float | None = None


@dataclass
class Ratios:
    """Speed ratios from the same run (> 1: the first named is faster)."""

    # in JSON each int8_vs_fp32 entry is a key of its own, "int8_vs_fp32 RUNTIME:DEVICE", as in version 1
    FLATTENED: ClassVar[tuple[str, ...]] = ("int8_vs_fp32",)

    decoder_student_vs_teacher_pytorch: float | None = None
    decoder_fastest_edge_vs_teacher: FastestDecoder | None = None
    motion_student_vs_teacher_pytorch: float | None = None
    int8_vs_fp32: dict[str, Int8Ratio] = field(default_factory=dict)  # by runtime:device
    offline_edge_vs_reference: dict[str, float] = field(default_factory=dict)


@dataclass
class Target:
    """One of the card's targets on this machine: met or not, by which variant, with the number."""

    target: str = ""
    met: bool = False
    best: str | None = None
    value: float | None = None
    passing: list[str] | None = None  # the variants meeting it, where every variant must


@dataclass
class Comparison:
    """One figure of one variant against a baseline report."""

    variant: str
    figure: str
    baseline: float
    now: float
    worse_by: float  # fraction of the baseline; < 0: better
    regression: bool


@dataclass(kw_only=True)
class BenchReport:
    """Everything `edge-vasa bench` measured. ``rows`` (one flat table row per variant) is derived from
    speed, live and accuracy; report.json holds it for readers of the file and loading ignores it."""

    version: int
    mode: str = ""
    command: str = ""
    date: str = ""
    machine: Machine = field(default_factory=Machine)
    reference_path: str = ""
    skipped: dict[str, str] = field(default_factory=dict)  # variant -> why it was not benchmarked
    sizes_mb: dict[str, float] = field(default_factory=dict)
    speed: Speed
    live: dict[str, LiveResult] = field(default_factory=dict)
    clips: list[ClipResult] = field(default_factory=list)
    accuracy: dict[str, AccuracySummary] = field(default_factory=dict)  # variants and "reference"
    ratios: Ratios = field(default_factory=Ratios)
    targets: list[Target] = field(default_factory=list)
    wall_s: float = 0.0
    comparison: list[Comparison] | None = None  # with --compare
    tolerance: float | None = None

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One row per variant, fastest first (estimated FPS): size, speed, live and accuracy together."""
        rows = []
        for name, speed in self.speed.variants.items():
            live = self.live.get(name, LiveResult())
            acc = self.accuracy.get(name, AccuracySummary())
            rows.append(
                {"variant": name, "size_mb": self.sizes_mb.get(name)}
                | dataclasses.asdict(speed)
                | {
                    "live_fps": live.fps,
                    "latency_p50_ms": live.latency_ms.p50,
                    "latency_p95_ms": live.latency_ms.p95,
                }
                | dataclasses.asdict(acc)
            )
        return sorted(rows, key=lambda r: -(r["fps_estimate"] or 0.0))

    def to_json(self) -> dict[str, Any]:
        """The report as report.json holds it: every field by name, and the rows after accuracy."""
        out = {}
        for key, value in _encode(self).items():
            out[key] = value
            if key == "accuracy":
                out["rows"] = self.rows
        return out

    @classmethod
    def from_json(cls, document: object) -> BenchReport:
        """A report from parsed report.json; ReportError when it is not one of this REPORT_VERSION."""
        if not isinstance(document, dict):
            raise ReportError(f"it is {_kind(document)}, not an object")
        if type(document.get("version")) is not int or document["version"] != REPORT_VERSION:
            raise ReportError(f"it has version {_kind(document.get('version'))}")
        if "speed" not in document:
            raise ReportError("it has no speed section")
        return _decode(cls, document, "")


# --- JSON <-> dataclasses -------------------------------------------------------------------------


def _decode(tp: Any, value: object, where: str) -> Any:
    """VALUE (parsed JSON) as type TP, checked all the way down; WHERE: its place, for the error."""
    place = where or "the report"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _decode(option, value, where)
            except ReportError as e:
                errors.append(str(e))
        raise ReportError(errors[-1])
    if dataclasses.is_dataclass(tp):
        return _decode_dataclass(tp, value, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise ReportError(f"{place} is {_kind(value)}, not an object")
        return {k: _decode(args[1], v, f"{where}[{k!r}]") for k, v in value.items()}
    if origin is list:
        if not isinstance(value, list):
            raise ReportError(f"{place} is {_kind(value)}, not a list")
        return [_decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        try:
            float(value)
        except OverflowError:  # an integer beyond any float
            raise ReportError(f"{place} is out of range") from None
        return value  # an integer stays one (a lag in frames), as the numeric tower allows
    if tp is str and isinstance(value, str):
        return str(value)  # a str subclass (torch's version) as a plain string
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is bool and isinstance(value, bool):
        return value
    raise ReportError(f"{place} is {_kind(value)}, not {_TYPE_NAMES.get(tp, tp)}")


def _decode_dataclass(cls: type, value: object, where: str) -> Any:
    if not isinstance(value, dict):
        raise ReportError(f"{where or 'the report'} is {_kind(value)}, not an object")
    hints = _hints(cls)
    value = _unflatten(cls, value)
    kwargs = {}
    for f in dataclasses.fields(cls):
        place = f"{where}.{f.name}" if where else f.name
        if f.name in value:
            kwargs[f.name] = _decode(hints[f.name], value[f.name], place)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ReportError(f"{place} is missing")
    return cls(**kwargs)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """CLS's field types, resolved once (the annotations are strings here)."""
    return typing.get_type_hints(cls)


def _unflatten(cls: type, value: dict) -> dict:
    """Gather the "NAME KEY" entries of a FLATTENED field NAME into one object."""
    flattened = getattr(cls, "FLATTENED", ())
    if not flattened:
        return value
    value = dict(value)
    for name in flattened:
        prefix = f"{name} "
        value[name] = {k[len(prefix) :]: value.pop(k) for k in list(value) if k.startswith(prefix)}
    return value


def _encode(value: Any) -> Any:
    """VALUE in JSON's types: a dataclass as an object by field name, its FLATTENED fields spread out."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name in getattr(value, "FLATTENED", ()):
            out |= {f"{name} {k}": v for k, v in out.pop(name).items()}
        return out
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


_TYPE_NAMES = {float: "a number", int: "an integer", str: "a string", bool: "true or false"}


def _kind(value: object) -> str:
    """VALUE for an error message: short, whatever it is."""
    text = repr(value)
    return text if len(text) <= 40 else f"{type(value).__name__} {text[:30]}..."
