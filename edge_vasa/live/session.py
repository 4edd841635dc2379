"""The live session: audio in, talking-face frames out, in real time.

    session = LiveSession(face, MicrophoneSource(), [WindowSink()], EdgeStudio())
    session.run()                                   # until the source ends, stop() or a window closes

Four threads joined by bounded queues:

    capture:  source -> (16 kHz block, capture time)            reopens a lost device; records the audio
    motion:   voice-activity gate -> motion stream (past carried) -> resample to the display rate
    render:   newest motion frame -> edge decoder -> frame       older frames are dropped, not queued
    display:  frame -> sinks                                    latency measured here, per frame

Every frame carries the capture time of its audio, so latency is measured at hand-over to the sinks.
When no audio comes (silence, a stalled or unplugged microphone) the motion thread feeds silence in real
time: the avatar stays alive (idle head motion, blinks) and picks up speech again when audio returns.
A watchdog notices stalled stages: a stalled capture is closed and reopened, a stalled renderer is
replaced by a fresh one on the next backend.
"""

from __future__ import annotations

import queue
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge_vasa.core.audio import SAMPLE_RATE
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import PreparedFace
from edge_vasa.core.heap import trim_heap
from edge_vasa.core.motion import MOTION_DIM, MOTION_FPS
from edge_vasa.core.options import LIVE_HOP, LIVE_LOOKAHEAD, OUTPUT_FPS, GenerateOptions
from edge_vasa.live.sinks import FrameInfo, Sink
from edge_vasa.live.sources import BLOCK, Source, SourceLost
from edge_vasa.pipeline.pasteback import PasteBack
from edge_vasa.pipeline.postprocess import interpolate_motion
from edge_vasa.provenance.record import Marker, Provenance
from edge_vasa.runtimes.assembler import EdgeStudio

RETRY_S = 1.0  # between attempts to reopen a lost microphone
GAP_S = 0.2  # no audio for this long: feed silence so the avatar keeps moving
STALL_S = 3.0  # a stage that has not progressed for this long is stalled
TRIM_EVERY_S = 30.0  # return freed heap to the system (measured: -16 MB after start-up)
MAX_LATENCY_S = 0.3  # a frame that would reach the sinks later than this after its audio is dropped
LIVE_MAX_SIDE = 1280  # whole-photo frames live: 720p-class, what call apps and virtual cameras take


class SessionLog:
    """What happened in a session, one timestamped line per event (speech started or cut, a microphone lost,
    a stage stalled): the status page shows the last lines, the CLI prints them as they come. Sources and
    sinks get it as a plain callable, so they need not know the session."""

    def __init__(self, echo: Callable[[str], None] | None = None, keep: int = 200):
        self.lines: deque[str] = deque(maxlen=keep)
        self.echo, self.lock = echo, threading.Lock()

    def __call__(self, message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {message}"
        with self.lock:
            self.lines.append(line)
        if self.echo is not None:
            self.echo(line)

    def tail(self, n: int = 20) -> list[str]:
        with self.lock:
            return list(self.lines)[-n:]


class VoiceActivity:
    """Energy gate with an adaptive noise floor: speech when the last 40 ms are 10 dB above the floor (and
    above -55 dBFS); a 0.3 s hangover keeps word endings. Non-speech is passed on as silence, so background
    noise does not make the lips chatter while idle motion continues. Blocks of any size: the level is
    taken over the last WINDOW samples and the hangover and the floor's rise go by samples, so 10 ms blocks
    are judged as 40 ms blocks were (the same decisions on 40 ms blocks)."""

    WINDOW = 640  # samples the level is measured over (40 ms)

    def __init__(self, hangover: int = 8 * 640, rise_db_per_s: float = 1.0):
        self.floor, self.hangover, self.left = -60.0, hangover, 0
        self.rise = rise_db_per_s / SAMPLE_RATE  # dB per sample
        self.recent = np.zeros(0, np.float64)

    def __call__(self, block: np.ndarray) -> bool:
        self.recent = np.concatenate([self.recent, block.astype(np.float64)])[-self.WINDOW :]
        level = 10 * np.log10(np.mean(self.recent**2) + 1e-12)
        # the floor follows quiet stretches at once and rises only slowly
        self.floor = min(level, self.floor + self.rise * len(block))
        if level > max(self.floor + 10, -55):
            self.left = self.hangover
        else:
            self.left = max(0, self.left - len(block))
        return self.left > 0


class Timeline:
    """Maps a sample of the session's audio to the monotonic time it was captured."""

    def __init__(self):
        self.blocks: deque[tuple[int, float]] = deque(maxlen=4096)  # (first sample, capture time)
        self.samples = 0

    def add(self, n: int, captured: float) -> None:
        self.blocks.append((self.samples, captured))
        self.samples += n

    def capture_time(self, sample: float) -> float:
        for start, captured in reversed(self.blocks):
            if start <= sample:
                return captured + (sample - start) / SAMPLE_RATE
        start, captured = self.blocks[0]
        return captured + (sample - start) / SAMPLE_RATE


class DisplayResampler:
    """25 Hz motion frames -> display-rate frames (25, 30 or 40 FPS), online, by linear interpolation."""

    def __init__(self, fps: int):
        self.fps, self.motion, self.first, self.next = fps, [], 0, 0

    def _ready(self, index: int, last: int, final: bool) -> bool:
        """Whether display frame INDEX can be made from motion frames up to LAST: both neighbours known, or
        only the one it falls on. A display frame on a motion frame (every frame at 25 FPS) does not wait
        for the next one, whose weight is 0: with 2 frames committed per step that wait was a whole step
        (80 ms) for every second frame, the tail of the latency at 25 FPS (docs/speed/before-after.md)."""
        i0, rest = divmod(index * MOTION_FPS, self.fps)
        return i0 + 1 <= last or (i0 <= last and (rest == 0 or final))

    def push(self, frames: np.ndarray, final: bool = False) -> list[tuple[int, np.ndarray]]:
        """Add 25 Hz frames; returns (display index, motion) for every display frame whose two neighbours
        are known, or that falls on a known frame (at the FINAL push, also those past the last frame, which
        is held)."""
        self.motion.extend(frames)
        last = self.first + len(self.motion) - 1
        ready = self.next
        while self._ready(ready, last, final):
            ready += 1
        indices = np.arange(self.next, ready)
        rows = interpolate_motion(np.asarray(self.motion), indices * MOTION_FPS / self.fps - self.first)
        self.next = ready
        keep = max(0, int(np.floor(self.next * MOTION_FPS / self.fps)) - self.first)
        self.motion, self.first = self.motion[keep:], self.first + keep
        return list(zip(indices.tolist(), rows))


@dataclass
class LiveStats:
    shown: int = 0
    dropped: int = 0
    silence_fed_s: float = 0.0
    latencies: deque = field(default_factory=lambda: deque(maxlen=100_000))
    shown_at: deque = field(default_factory=lambda: deque(maxlen=400))
    max_queue: dict = field(default_factory=dict)
    dropped_full: dict = field(default_factory=dict)  # drops because a queue was full, by queue
    busy_s: dict = field(default_factory=dict)  # seconds each stage spent working (not waiting)
    parts: deque = field(default_factory=lambda: deque(maxlen=100_000))  # each frame's latency, by PARTS

    def busy(self, stage: str, seconds: float) -> None:
        self.busy_s[stage] = self.busy_s.get(stage, 0.0) + seconds

    def breakdown(self) -> dict:
        """What the latency of a median and of a p95 frame is made of: each part's mean over the frames
        whose latency lies within 2 percentiles of it (ms; the parts add up to that latency)."""
        if not self.parts:
            return {}
        parts = np.array(self.parts) * 1e3
        total = parts.sum(1)
        out = {}
        for q in (50, 95):
            lo, hi = np.percentile(total, [max(0, q - 2), min(100, q + 2)])
            near = parts[(total >= lo) & (total <= hi)]
            out[f"p{q}"] = {name: round(float(v), 1) for name, v in zip(PARTS, near.mean(0))}
        return out

    def summary(self) -> dict:
        lat = np.array(self.latencies) * 1e3 if self.latencies else np.zeros(1)
        t = list(self.shown_at)
        fps = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0
        return {
            "frames_shown": self.shown,
            "frames_dropped": self.dropped,
            "dropped_queue_full": dict(self.dropped_full),
            "fps": round(fps, 2),
            "latency_ms": {q: round(float(np.percentile(lat, int(q[1:]))), 1) for q in ("p50", "p95", "p99")},
            "silence_fed_s": round(self.silence_fed_s, 2),
            "stage_ms_per_frame": {k: round(v * 1e3 / max(1, self.shown), 2) for k, v in self.busy_s.items()},
            "max_queue": dict(self.max_queue),
            "latency_breakdown_ms": self.breakdown(),
        }


END = object()
# A frame's capture-to-frame latency, part by part (LiveStats.parts), from the stamps it collects on its way:
#   audio:        its audio captured -> the block that completes its motion dequeued by the motion thread
#                 (the block's own length, the step's look-ahead, the audio queue)
#   motion:       voice gate, log-mel, motion step and display resampling of that block
#   motion queue: waiting for the render thread
#   render:       decoder inputs, decoder, uint8 conversion
#   frame queue:  waiting for the display thread
PARTS = ("audio", "motion", "motion queue", "render", "frame queue")


class LiveSession:
    """FACE driven live by SOURCE through the edge models of STUDIO (runtimes.assembler), shown on SINKS."""

    def __init__(
        self,
        face: PreparedFace,
        source: Source,
        sinks: list[Sink],
        studio: EdgeStudio,
        opts: GenerateOptions | None = None,
        fps: int = 25,
        vad: bool = True,
        max_latency: float = MAX_LATENCY_S,
        marker: Marker | None = None,
        log: SessionLog | None = None,
        photo: np.ndarray | None = None,
    ):
        """MARKER (provenance.record.Marker) watermarks, and may label, every frame shown; default: a new
        one that records the artifacts the studio runs. LOG collects the session's events (give the one the
        source and sinks write to, so all land in one place). PHOTO, the whole photo FACE was prepared
        from: each frame is pasted back into it (pipeline.pasteback, long side at most LIVE_MAX_SIDE) by
        the display thread; None shows the face crop."""
        if fps not in OUTPUT_FPS:
            raise EdgeVasaError(f"--fps {fps} is not offered; use one of {', '.join(map(str, OUTPUT_FPS))}")
        self.face, self.source, self.sinks, self.models = face, source, sinks, studio.models
        self.mark = marker or Marker(Provenance.for_files("live", studio.files()))
        self.fps, self.max_latency = fps, max_latency
        self.opts = opts or GenerateOptions(fps=fps)
        self.stream = studio.stream(self.opts, LIVE_HOP, LIVE_LOOKAHEAD)
        self.renderer = studio.renderer(face)
        size = face.image.shape[0]
        self.paste = None if photo is None else PasteBack(photo, face.transform, size, LIVE_MAX_SIDE)
        self.frame_size = self.paste.size if self.paste else (size, size)
        self.vad = VoiceActivity() if vad else None
        self.audio_q: queue.Queue = queue.Queue(maxsize=800)  # 8 s of 10 ms blocks: capture never waits
        self.motion_q: queue.Queue = queue.Queue(maxsize=500)  # 20 s: dropping is the latency rule's job
        self.frame_q: queue.Queue = queue.Queue(maxsize=4)
        self.stats, self.timeline, self.log = LiveStats(), Timeline(), log or SessionLog()
        self.stopping, self.finished = threading.Event(), threading.Event()
        self.source_state, self.problems = "opening", {}
        self.beats: dict[str, float] = {}
        self.render_generation = 0
        self.render_s = 0.04  # running estimate of one frame's render time
        self.stage_threads: dict[str, threading.Thread] = {}
        self.spawned: list[threading.Thread] = []
        self.error: BaseException | None = None
        self.started = time.time()

    # ----- control
    def start(self) -> LiveSession:
        for name, target in (
            ("capture", self._capture),
            ("motion", self._motion),
            ("display", self._display),
        ):
            self._spawn(name, target)
        self._spawn("render", self._render, 0)
        self._spawn("watchdog", self._watchdog)
        return self

    def _spawn(self, name: str, target, *args) -> None:
        self.beats[name] = time.monotonic()
        thread = threading.Thread(target=self._guard, args=(name, target, *args), name=name, daemon=True)
        self.stage_threads[name] = thread
        self.spawned.append(thread)
        thread.start()

    def _guard(self, name: str, target, *args) -> None:
        try:
            target(*args)
        except BaseException as e:  # a stage that dies ends the session, with its error kept for run()
            if not self.stopping.is_set():
                self.error = e
                self.stop()
        finally:
            if threading.current_thread() is self.stage_threads.get(name):
                self.beats.pop(name, None)  # done: no longer watched

    def stop(self) -> None:
        self.stopping.set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the session has ended (source finished, stop() or a sink closed by the user). After
        stop(), it also lets the stage threads finish their current call (up to TIMEOUT): an interpreter
        that exits while a thread is inside a native runtime call can abort."""
        deadline = None if timeout is None else time.monotonic() + timeout
        done = self.finished.wait(timeout)
        if done and self.stopping.is_set():
            for thread in self.spawned:
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return done

    def run(self, duration: float | None = None) -> dict:
        """Start, run until the end (or DURATION s), stop cleanly; returns the summary."""
        self.start()
        try:
            self.finished.wait(duration)
        finally:
            self.stop()
            self.wait(10)
        if self.error is not None:
            raise self.error
        return self.summary()

    def status(self) -> dict:
        """What a status page shows: state, backend, problems (empty when all is well: a backend fallback
        stays a problem, since the session runs degraded), and when the session started (a page sees a
        restart by it)."""
        fallbacks = list(getattr(self.models, "fallbacks", []))
        problems = list(self.problems.values()) + (
            [f"Backend fallback: {fallbacks[-1]}"] if fallbacks else []
        )
        extra = {}  # what a source or sink adds: a text source's queue, the speakers' delay
        for part in (self.source, *self.sinks):
            if hasattr(part, "status_fields"):
                extra.update(part.status_fields())
        return {
            "source": self.source_state,
            "backend": str(getattr(self.models, "candidate", "")),
            "problems": problems,
            "started": self.started,
            "log": self.log.tail(),
            **extra,
            **self.stats.summary(),
        }

    def summary(self) -> dict:
        out = self.status()
        out["fallbacks"] = list(getattr(self.models, "fallbacks", []))
        return out

    def _beat(self, name: str) -> None:
        self.beats[name] = time.monotonic()

    def _put(self, q: queue.Queue, item, name: str) -> None:
        """Put, dropping the oldest item when full (never blocks a stage on a slower one)."""
        while True:
            try:
                q.put_nowait(item)
                break
            except queue.Full:
                try:
                    old = q.get_nowait()
                    if old is not END and name != "audio":
                        self.stats.dropped += 1
                        self.stats.dropped_full[name] = self.stats.dropped_full.get(name, 0) + 1
                except queue.Empty:
                    pass
        self.stats.max_queue[name] = max(self.stats.max_queue.get(name, 0), q.qsize())

    # ----- stages
    def _capture(self) -> None:
        opened = False
        while not self.stopping.is_set():
            self._beat("capture")
            if not opened:
                try:
                    self.source.open()
                    opened = True
                    self.source_state = self.source.name
                    self.problems.pop("source", None)
                except SourceLost as e:
                    self._lost(str(e))
                    self.stopping.wait(RETRY_S)
                    continue
            try:
                got = self.source.read()
            except SourceLost as e:
                self.source.close()
                opened = False
                self._lost(str(e))
                continue
            if got is None:
                break
            self._put(self.audio_q, got, "audio")
        self.source.close()
        self._put(self.audio_q, END, "audio")

    def _lost(self, why: str) -> None:
        if self.source_state != "lost":
            self.log(f"source lost ({why}); retrying every {RETRY_S:g} s")
        self.source_state = "lost"
        self.problems["source"] = f"Microphone lost ({why}); retrying"

    def _feed(self, block: np.ndarray, captured: float, out: list) -> None:
        self.timeline.add(len(block), captured)
        for sink in self.sinks:
            sink.audio(block, captured)
        started = time.perf_counter()
        gated = block if self.vad is None or self.vad(block) else np.zeros_like(block)
        out.extend(self.stream.push(gated))
        self.stats.busy("motion", time.perf_counter() - started)

    def _motion(self) -> None:
        display = DisplayResampler(self.fps)
        heard_until = None  # monotonic time up to which audio (or fed silence) is accounted for
        while not self.stopping.is_set():
            self._beat("motion")
            try:
                item = self.audio_q.get(timeout=0.05)
            except queue.Empty:
                item = None
            heard = time.monotonic()
            frames: list[np.ndarray] = []
            final = item is END
            if final:
                frames.extend(self.stream.flush())
            elif item is not None:
                block, captured = item
                if heard_until is not None and captured - heard_until > GAP_S:  # a hole: fill with silence
                    self._silence(heard_until, captured, frames)
                self._feed(block, captured, frames)
                heard_until = captured + len(block) / SAMPLE_RATE
            else:
                now = time.monotonic()
                if heard_until is None:
                    heard_until = now
                if now - heard_until > GAP_S:  # nothing arrives: keep the avatar alive on silence
                    until = now - GAP_S / 2
                    self._silence(heard_until, until, frames)
                    heard_until = until
            emitted = time.monotonic()
            for index, motion in display.push(np.asarray(frames).reshape(-1, MOTION_DIM), final):
                stream_time = index / self.fps
                captured = self.timeline.capture_time(stream_time * SAMPLE_RATE)
                self._put(self.motion_q, (index, motion, stream_time, captured, [heard, emitted]), "motion")
            if final:
                self._put(self.motion_q, END, "motion")
                return

    def _silence(self, start: float, end: float, out: list) -> None:
        n = int((end - start) * SAMPLE_RATE)
        self.stats.silence_fed_s += n / SAMPLE_RATE
        for i in range(0, n, BLOCK):
            block = np.zeros(min(BLOCK, n - i), np.float32)
            self._feed(block, start + i / SAMPLE_RATE, out)

    def _render(self, generation: int) -> None:
        name = "render"
        while not self.stopping.is_set() and generation == self.render_generation:
            self._beat(name)
            try:
                item = self.motion_q.get(timeout=0.05)
            except queue.Empty:
                continue
            if item is END:
                self._put(self.frame_q, END, "frames")
                return
            # behind? skip towards the newest frame while this one would be shown too late (drop, never
            # queue up); "too late" counts the time the render itself will take
            while time.monotonic() + self.render_s - item[3] > self.max_latency:
                try:
                    newer = self.motion_q.get_nowait()
                except queue.Empty:
                    break
                if newer is END:
                    self.motion_q.put(END)
                    break
                self.stats.dropped += 1
                item = newer
            index, motion, stream_time, captured, stamps = item
            started = time.monotonic()
            frame = self.renderer.render(motion[None])[0]
            took = time.monotonic() - started
            stamps += [started, started + took]
            self.render_s = 0.9 * self.render_s + 0.1 * took
            self.stats.busy("render", took)
            if generation != self.render_generation:
                return  # replaced by the watchdog while this call hung
            self._put(self.frame_q, (frame, index, stream_time, captured, stamps), "frames")

    def _display(self) -> None:
        try:
            for sink in self.sinks:
                sink.open(self.frame_size, self.fps, self.mark.provenance)
            while not self.stopping.is_set():
                self._beat("display")
                try:
                    item = self.frame_q.get(timeout=0.05)
                except queue.Empty:
                    continue
                if item is END:
                    break
                frame, index, stream_time, captured, stamps = item
                now = time.monotonic()
                self.stats.parts.append(np.diff([captured, *stamps, now]))
                frame = self.mark(self.paste(frame) if self.paste else frame)
                info = FrameInfo(index, stream_time, captured, now - captured)
                for sink in self.sinks:
                    sink.frame(frame, info)
                self.stats.busy("display", time.monotonic() - now)
                self.stats.shown += 1
                self.stats.latencies.append(info.latency)
                self.stats.shown_at.append(now)
                if any(s.closed_by_user for s in self.sinks):
                    break
        finally:
            self.stopping.set()
            for sink in self.sinks:
                try:
                    sink.close()
                except Exception as e:  # one failing sink must not keep the others (a recording) open
                    warnings.warn(f"closing {type(sink).__name__} failed: {e}", RuntimeWarning, stacklevel=1)
            self.finished.set()

    def _watchdog(self) -> None:
        reported: set[str] = set()
        trimmed = time.monotonic() - TRIM_EVERY_S + 5  # the first soon after start-up, then regularly
        while not self.stopping.wait(0.5):
            now = time.monotonic()
            if now - trimmed > TRIM_EVERY_S:  # start-up's freed heap, then whatever accumulates
                trim_heap(collect=False)  # ctypes releases the GIL: the other stages run on
                trimmed = now
            for name, beat in list(self.beats.items()):
                if name == "watchdog":
                    continue
                stalled = now - beat > STALL_S
                if stalled and name not in reported:
                    reported.add(name)
                    self.problems[name] = f"{name} stage stalled"
                    self.log(f"the {name} stage has stalled")
                    warnings.warn(f"live: the {name} stage has stalled", RuntimeWarning, stacklevel=1)
                    if name == "capture":  # unblock a hung read; the capture thread reopens the device
                        self.source.close()
                    elif name == "render" and hasattr(self.models, "skip"):
                        self.models.skip(f"{self.models.candidate} stalled for {STALL_S:.0f} s")
                        self.render_generation += 1
                        self._spawn("render", self._render, self.render_generation)
                elif not stalled and name in reported:
                    reported.discard(name)
                    self.problems.pop(name, None)
