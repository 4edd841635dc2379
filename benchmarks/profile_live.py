"""Per-stage cost of a live session, measured inside the real session (its threads, queues and sinks), as
`edge-vasa live --crop --source file:SPEECH --no-window --record X.mp4 --fps 40` runs it.

    python3 benchmarks/profile_live.py --seconds 30 --fps 40 --out profile.json      # 512 crop
    python3 benchmarks/profile_live.py --seconds 30 --fps 25 --photo                 # whole photo

Each stage's callable is wrapped by a timer (perf_counter, about 0.1 us per call) and its total wall time is
divided by the frames shown; "render, rest" and "display, rest" are what the session's own stage timers
(LiveStats.busy) saw beyond the wrapped parts. "sink frame" is what the display thread spends in the sinks;
"encode" is the H.264 encoding wherever it runs (the display thread before, the recording's own after).
The session's latency breakdown (LiveStats.breakdown) comes with it. Not a pytest file:
benchmarks/test_bench_live.py holds the figures (test_live_stage_profile runs this).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from edge_vasa.apps.cli.common import bundled_photo
from edge_vasa.core import audio, video
from edge_vasa.core.face import load_image
from edge_vasa.core.face_cache import face_store, prepare_face_cached
from edge_vasa.core.shipped import BUNDLED_SPEECH
from edge_vasa.live import session as live_session
from edge_vasa.live.session import LiveSession
from edge_vasa.live.sinks import RecordingSink
from edge_vasa.live.sources import FileSource
from edge_vasa.provenance.record import Marker, Provenance
from edge_vasa.runtimes import renderer as edge_renderer
from edge_vasa.runtimes.assembler import EdgeStudio

TOTALS: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)


def timed(stage: str, call: Callable) -> Callable:
    """CALL, adding its wall time to TOTALS[STAGE]."""

    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            TOTALS[stage] += time.perf_counter() - began
            CALLS[stage] += 1

    return wrapper


class TimedNetwork:
    """A backend whose calls are timed; every other attribute is the backend's."""

    def __init__(self, stage: str, backend):
        self.backend, self.call = backend, timed(stage, backend.__call__)

    def __call__(self, feeds):
        return self.call(feeds)

    def __getattr__(self, name):
        return getattr(self.backend, name)


def instrument(session: LiveSession) -> None:
    """Timers around every stage of SESSION's frame path."""
    networks = session.models.current.networks
    for network, stage in (("motion_step", "motion step"), ("decoder_student", "decoder run")):
        networks[network] = TimedNetwork(stage, networks[network])
    edge = session.renderer
    while not hasattr(edge, "inputs"):  # a renderer wrapping the edge one (face layers on top)
        edge = edge.inner
    edge.inputs.frames = timed("decoder inputs", edge.inputs.frames)
    session.mark.watermark = timed("watermark", session.mark.watermark)
    if session.paste is not None:
        session.paste = timed("paste back", session.paste)
    if session.vad is not None:
        session.vad = timed("voice activity", session.vad)
    for sink in session.sinks:
        sink.frame = timed("sink frame", sink.frame)
        sink.audio = timed("sink audio", sink.audio)


def profile(seconds: float, fps: int, photo: bool, record: Path) -> dict:
    """A SECONDS live session at FPS (PHOTO: pasted back into the whole photo) recorded to RECORD, timed."""
    TOTALS.clear()
    CALLS.clear()
    to_rgb8, push, add_frame = edge_renderer.to_rgb8, audio.LogMelStream.push, video.Mp4Writer.add_frame
    edge_renderer.to_rgb8 = timed("to_rgb8", to_rgb8)
    audio.LogMelStream.push = timed("features (log-mel)", push)
    video.Mp4Writer.add_frame = timed("encode (H.264, any thread)", add_frame)
    try:
        return _profile(seconds, fps, photo, record)
    finally:
        edge_renderer.to_rgb8, audio.LogMelStream.push, video.Mp4Writer.add_frame = to_rgb8, push, add_frame


def _profile(seconds: float, fps: int, photo: bool, record: Path) -> dict:
    image = bundled_photo()
    face = prepare_face_cached(image)
    studio = EdgeStudio(features=face_store("features"))
    session = LiveSession(
        face,
        FileSource(BUNDLED_SPEECH, loop=True),
        [RecordingSink(record)],
        studio,
        fps=fps,
        marker=Marker(Provenance.for_files("live", studio.files())),
        photo=load_image(image) if photo else None,
    )
    instrument(session)
    cpu_before, wall_before = os.times(), time.monotonic()
    summary = session.run(seconds)
    cpu_after, wall = os.times(), time.monotonic() - wall_before
    cpu_s = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    frames = max(1, summary["frames_shown"])
    per_frame = {stage: 1e3 * total / frames for stage, total in TOTALS.items()}
    busy = summary["stage_ms_per_frame"]
    per_frame["motion step"] = per_frame.get("motion step", 0.0)
    per_frame["render, rest"] = busy["render"] - sum(
        per_frame.get(s, 0.0) for s in ("decoder inputs", "decoder run", "to_rgb8")
    )
    per_frame["display, rest"] = busy["display"] - sum(
        per_frame.get(s, 0.0) for s in ("watermark", "paste back", "sink frame")
    )
    return {
        "command": " ".join(sys.argv),
        "backend": summary["backend"],
        "fps_asked": fps,
        "frame_size": list(session.frame_size),
        "summary": {k: summary[k] for k in ("fps", "frames_shown", "frames_dropped", "latency_ms")},
        # the process's CPU time over the session, as a share of all the cores it may use
        "cpu_percent_of_cores": round(100 * cpu_s / wall / (len(os.sched_getaffinity(0))), 1),
        "cpu_ms_per_frame": round(1e3 * cpu_s / frames, 2),
        "stage_ms_per_frame": {k: round(v, 3) for k, v in per_frame.items()},
        "session_busy_ms_per_frame": busy,
        "calls": dict(CALLS),
        "latency_breakdown_ms": summary.get("latency_breakdown_ms"),
        "audio_block_ms": 1e3 * live_session.BLOCK / audio.SAMPLE_RATE,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fps", type=int, default=40)
    parser.add_argument(
        "--photo", action="store_true", help="paste back into the whole photo (default: crop)"
    )
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = profile(args.seconds, args.fps, args.photo, Path(tmp) / "live.mp4")
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
