"""Generation options: one definition, torch-free.

Each control is declared once, on its GenerateOptions field, so the front ends cannot drift apart: the
command line's options (apps/cli/generate.py), the batch jobs' columns (apps/batch.py) and the web page's
widgets (apps/ui.py) are made from the fields' metadata, and check() validates against the same ranges.

Metadata keys, all optional:
  help    command-line help of the option shared by generate and live ({span} and {choices} are filled
          in); fields without it (steps) are added by each command with its own help
  range   (lo, hi), inclusive;  choices: the valid values;  noun: what an error calls the option
  label   the page's widget label; a field with one is a user-facing control: a batch column and a widget
  step    the page slider's step
  axes    a pair of values (gaze): one command-line number, batch column, label and slider per axis
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import Field, dataclass, field, fields

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.motion import EMOTIONS, INDEX, RANGES

OUTPUT_FPS = (25, 30, 40)
RENDERERS = ("decoder", "analytic")  # the learned decoder, or the corpus renderer it learned from
MODELS = ("teacher", "student")  # the reference models, or the distilled edge pair; the first is the default
# Live motion: commit 2 frames per student step and wait for no look-ahead beyond the audio encoder's one
# frame of margin: audio waits 120-160 ms instead of 370-770 ms. Lip sync scored from rendered frames on
# held-out speech and faces (scripts/live_lipsync.py): 0.618 live vs 0.565 with the trained chunk of 10
# and 8 frames of look-ahead; frame-to-frame head jerk rose from 0.0064 to 0.0078 (motion, earlier run).
LIVE_HOP, LIVE_LOOKAHEAD = 2, 0
# Live audio is read in blocks of 160 samples at 16 kHz (10 ms). A step needs the audio up to 7.5 ms past
# its last frame (the log-mel window's tail), and a 40 ms block holding those 7.5 ms arrives 40 ms after its
# start: 10 ms blocks cut that wait by 30 ms (p95 capture-to-frame, docs/speed/before-after.md). The step
# also hears less audio past the minimum (at most one block); lip sync, scored with the same blocks
# (scripts/live_lipsync.py, 2 held-out faces): 0.632 with 10 ms blocks, 0.613 with 40 ms; head jerk +1.6 %.
LIVE_BLOCK = 160
# the motion space's head-scale range, as Python floats: float32 would show 1.2999999523 in help and page
HEAD_SCALE = tuple(round(float(v), 2) for v in RANGES[INDEX["scale"]])


def span(lo: float, hi: float) -> str:
    """A range as help and errors write it: 0..2, 0.75..1.3."""
    return f"{lo:g}..{hi:g}"


def listed(values: Iterable) -> str:
    """Choices as help and errors list them: 25, 30, 40."""
    return ", ".join(map(str, values))


@dataclass
class GenerateOptions:
    """How to animate: the user's controls and the sampler's settings (the metadata: see the module doc)."""

    emotion: str = field(
        default="neutral", metadata={"choices": EMOTIONS, "help": "{choices}", "label": "Emotion"}
    )
    gaze: tuple[float, float] = field(
        default=(0.0, 0.0),
        metadata={
            "range": (-1, 1),
            "axes": ("x", "y"),
            "noun": "gaze values",
            "help": "gaze direction, {span} each (+X toward image right, +Y down)",
            "label": ("Gaze left/right", "Gaze up/down"),
            "step": 0.05,
        },
    )
    distance: float = field(  # head scale: > 1 closer to the camera
        default=1.0,
        metadata={
            "range": HEAD_SCALE,
            "help": "head distance as a scale, {span} (>1 closer)",
            "label": "Head size (larger = closer to the camera)",
            "step": 0.01,
        },
    )
    motion_scale: float = field(  # head-motion amplitude
        default=1.0,
        metadata={
            "range": (0, 2),
            "help": "head-motion amplitude, {span} (0 = still head; eyes and blinks stay alive)",
            "label": "Head motion (0 = still)",
            "step": 0.05,
        },
    )
    seed: int = field(
        default=0, metadata={"help": "seed: the same seed gives the same video", "label": "Seed"}
    )
    fps: int = field(
        default=25,
        metadata={"choices": OUTPUT_FPS, "help": "output frame rate: {choices}", "label": "Frames/s"},
    )
    steps: int = field(default=20, metadata={"range": (1, 200)})  # diffusion sampling steps
    cfg_audio: float = field(
        default=2.0,
        metadata={
            "range": (0, 10),
            "noun": "guidance scales",
            "help": "guidance scale for audio (default: %(default)s)",
        },
    )
    cfg_control: float = field(
        default=1.5,
        metadata={
            "range": (0, 10),
            "noun": "guidance scales",
            "help": "guidance scale for emotion/gaze/distance/motion controls (default: %(default)s)",
        },
    )

    def check(self) -> None:
        """One-line errors for out-of-range options, naming the valid range."""
        for f in fields(self):
            meta, value = f.metadata, getattr(self, f.name)
            noun = meta.get("noun", f.name.replace("_", " "))
            if "choices" in meta and value not in meta["choices"]:
                raise EdgeVasaError(f"{noun} must be one of {listed(meta['choices'])}")
            lo, hi = meta.get("range", (None, None))
            if lo is not None and not all(lo <= v <= hi for v in per_column(f, value)):
                raise EdgeVasaError(f"{noun} must be within {span(lo, hi)}")


CONTROLS = tuple(f for f in fields(GenerateOptions) if "label" in f.metadata)  # the user-facing controls


def columns(f: Field) -> tuple[str, ...]:
    """A control's batch columns (and page widgets): its name, or one per axis (gaze_x, gaze_y)."""
    return tuple(f"{f.name}_{axis}" for axis in f.metadata["axes"]) if "axes" in f.metadata else (f.name,)


def per_column(f: Field, value: object) -> tuple:
    """A field's value (or label) split as its columns are: the pair itself, or a 1-tuple."""
    return tuple(value) if "axes" in f.metadata else (value,)


COLUMNS = tuple(c for f in CONTROLS for c in columns(f))


def from_columns(values: Mapping[str, object]) -> GenerateOptions:
    """Options from controls by column (a batch row, the page's widgets), given as text or numbers and
    converted to each field's type; absent or empty ones keep their defaults. Not checked: call check()."""
    given = {}
    for f in CONTROLS:
        raw = (values.get(c) for c in columns(f))
        parsed = tuple(d if v in (None, "") else type(d)(v) for v, d in zip(raw, per_column(f, f.default)))
        given[f.name] = parsed if "axes" in f.metadata else parsed[0]
    return GenerateOptions(**given)
