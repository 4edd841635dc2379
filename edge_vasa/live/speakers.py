"""Sound out, in sync with the picture: the session's audio on an output device (PyAudio), delayed so that
each sample leaves the device when the frame made from it is shown.

A frame reaches the screen a measured latency after its audio was captured (FrameInfo.latency, 0.1-0.3 s
depending on the backend), so the sound waits just as long: each sample is due to leave at its capture
time + the recent frames' median latency + the hand-set offset. Where it lands is known from what the
device still holds (its queue) and its reported latency, so a playing device is kept fed, with silence
where the sound is early, and an idle one is written just in time. The delay follows the measurement
(with a little hysteresis, since every change is a short gap or skip in the sound); a sample that is
already too late is skipped rather than letting the sound fall behind for good. A device that plays in
real time gets a deeper buffer and is fed (silence when nothing is due) from the moment it opens: through
PortAudio, PulseAudio's ALSA plugin holds the first write after every start or underrun for about 2 s, and
that much sound is then lost.
"""

from __future__ import annotations

import contextlib
import os
import platform
import queue
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from edge_vasa.core.audio import SAMPLE_RATE
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.live.sinks import FrameInfo, Sink
from edge_vasa.live.sources import (
    StreamResampler,
    audio_devices,
    close_stream,
    match_device,
    pyaudio_module,
    quiet_stderr,
)
from edge_vasa.provenance.record import Provenance

CHUNK = SAMPLE_RATE // 100  # 10 ms written at a time: the schedule's resolution
PACED_CHUNK = 3 * CHUNK  # periods of a device that plays in real time: it then holds ~90 ms
START_DELAY_S = 0.25  # until the first frames have measured the latency
MEASURE_FRAMES = 50  # the delay is the median latency of this many recent frames (2 s at 25 FPS)
HYSTERESIS_S = 0.02  # the delay moves only when the measurement is this far from it
LATE_S = 0.02  # a chunk this late is skipped
IDLE_LEAD_S = 0.03  # silence kept queued while nothing is due. One 10 ms chunk per 10 ms wait, as before, let
# the device run dry whenever the wait woke late (CI's fresh-clone run, 12-04, under a loaded suite)
REOPEN_S = 1.0  # between attempts to reopen a failed device
MAX_OFFSET_MS = 2000
END = object()
MIC_SINK = "edge_vasa_mic"  # the PulseAudio/PipeWire null sink (or ALSA PCM) --virtual-mic looks for
# playback sides of virtual microphones, by platform: an ALSA PCM of that name, snd-aloop, BlackHole, VB-CABLE
MIC_DEVICES = (MIC_SINK, "Loopback", "BlackHole", "CABLE Input")
MAKE_MIC = {
    "Linux": f"pactl load-module module-null-sink sink_name={MIC_SINK} "
    "sink_properties=device.description=edge-vasa-mic (PulseAudio or PipeWire), or sudo modprobe snd-aloop",
    "Darwin": "brew install blackhole-2ch (then pick 'BlackHole 2ch' as the call's microphone)",
    "Windows": "install VB-CABLE from vb-audio.com/Cable (then pick 'CABLE Output' as the call's microphone)",
}
_open_lock = threading.Lock()  # environment variables set for one stream's opening are not another's


def output_devices() -> list[dict]:
    """PyAudio's playback devices: index, name, channels, default rate."""
    return audio_devices("Output")


def find_output(device: str | int | None, what: str = "--play") -> str | int | None:
    """Check now, before the session starts, that DEVICE (index, name or part of one; None: the default)
    is a playback device; returns what to open."""
    if device is None:
        return None
    present = output_devices()
    found = match_device(present, device)
    if found is None:
        names = ", ".join(d["name"] for d in present) or "none"
        raise EdgeVasaError(f"{what} {device}: no such output device (present: {names}); see --list-devices")
    return found["index"]


def pulse_sink_exists(name: str = MIC_SINK) -> bool:
    """Whether a PulseAudio (or PipeWire's pulse) server here has a sink called NAME."""
    if shutil.which("pactl") is None:
        return False
    try:
        listed = subprocess.run(
            ["pactl", "list", "short", "sinks"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(line.split("\t")[1:2] == [name] for line in listed.stdout.splitlines())


def find_virtual_mic(device: str | None) -> tuple[int, dict[str, str]]:
    """The playback side of a virtual microphone, and the environment its stream opens with: DEVICE when
    named, else an output called edge_vasa_mic, Loopback (snd-aloop), BlackHole or CABLE Input, else
    PulseAudio's or PipeWire's sink edge_vasa_mic through the ALSA "pulse" device (PULSE_SINK picks it).
    None there: one line naming the command that makes one."""
    if device:
        return find_output(device, "--virtual-mic"), {}
    present = output_devices()
    for name in MIC_DEVICES:
        found = match_device(present, name)
        if found is not None:
            return found["index"], {}
    pulse = match_device(present, "pulse")
    if pulse is not None and pulse_sink_exists():
        return pulse["index"], {"PULSE_SINK": MIC_SINK}
    make = MAKE_MIC.get(platform.system(), MAKE_MIC["Linux"])
    raise EdgeVasaError(
        f"no virtual microphone here; make one with: {make}; or name it: --virtual-mic DEVICE"
    )


class SpeakerSink(Sink):
    """The session's audio on DEVICE (a PyAudio index, or None for the default output), delayed to leave
    with the picture; OFFSET_MS shifts it by hand (positive: later). NAME labels it in the log and status
    ("speakers", "virtual microphone")."""

    def __init__(
        self,
        device: int | None = None,
        offset_ms: float = 0.0,
        name: str = "speakers",
        log: Callable[[str], None] | None = None,
        env: dict[str, str] | None = None,
    ):
        """ENV: environment variables set while the stream opens (PULSE_SINK for a PulseAudio sink)."""
        if not -MAX_OFFSET_MS <= offset_ms <= MAX_OFFSET_MS:
            raise EdgeVasaError(f"--audio-offset {offset_ms:g} is out of range; use -2000..2000 ms")
        pyaudio_module()  # a missing PyAudio is one clear error now, not at the first sample
        self.device, self.offset, self.name = device, offset_ms / 1000, name
        self.log, self.env = log or (lambda line: None), env or {}
        self.blocks: queue.Queue = queue.Queue(maxsize=1600)  # 16 s of 10 ms blocks
        self.latencies: deque[float] = deque(maxlen=MEASURE_FRAMES)
        self.delay = START_DELAY_S + self.offset  # capture -> leaving the device
        self.measured = False
        self.out_latency, self.skipped, self.rate, self.capacity = 0.0, 0, SAMPLE_RATE, 0
        self.paced = False  # plays in real time (a sound card, PulseAudio), rather than draining at once
        self.stopping = threading.Event()
        self.pa = self.stream = self.resampler = None
        self.thread: threading.Thread | None = None
        try:  # now, not when the session runs: opening can take a second or two (PulseAudio), and the
            # sound captured meanwhile would be late and skipped; a device that fails is one clear error
            self._open_stream()
        except (OSError, ValueError) as e:
            self._close_stream()
            where = "the default output" if device is None else f"output device {device}"
            raise EdgeVasaError(f"{name}: cannot open {where} ({e}); see --list-devices") from None
        if self.paced:  # fed from now on, so it never stops (and restarts slowly) before the session
            self._start()

    def _start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._play, name=f"{self.name}-out", daemon=True)
            self.thread.start()

    # ----- the Sink protocol
    def open(self, size: tuple[int, int], fps: int, provenance: Provenance | None = None) -> None:
        self._start()

    def audio(self, samples: np.ndarray, captured: float) -> None:
        with contextlib.suppress(queue.Full):  # a stuck device must not hold up the session
            self.blocks.put_nowait((samples, captured))

    def frame(self, frame: np.ndarray, info: FrameInfo) -> None:
        self.latencies.append(info.latency)
        target = float(np.median(self.latencies)) + self.offset
        if not self.measured or abs(target - self.delay) > HYSTERESIS_S:
            self.log(f"{self.name}: audio delayed {target * 1e3:.0f} ms to leave with the picture")
            self.delay, self.measured = target, True

    def close(self) -> None:
        """Plays what is queued to its end (the last words of a file or sentence), then stops."""
        if self.thread is not None:
            with contextlib.suppress(queue.Full):
                self.blocks.put(END, timeout=1)
            self.thread.join(self.delay + 2)
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(5)
        self._close_stream()

    def status_fields(self) -> dict:
        """What the status page shows: the delay in force and how much sound was skipped to keep it."""
        return {
            self.name: {
                "delay_ms": round(self.delay * 1e3, 1),
                "device_latency_ms": round(self.out_latency * 1e3, 1),
                "skipped_ms": round(self.skipped * 1e3 / SAMPLE_RATE),
            }
        }

    # ----- the output thread
    def _open_stream(self) -> None:
        pyaudio = pyaudio_module()
        with quiet_stderr():
            self.pa = pyaudio.PyAudio()
        info = (
            self.pa.get_device_info_by_index(self.device)
            if self.device is not None
            else self.pa.get_default_output_device_info()
        )
        rate = SAMPLE_RATE
        try:
            self.pa.is_format_supported(
                rate, output_device=info["index"], output_channels=1, output_format=pyaudio.paInt16
            )
        except ValueError:
            rate = int(info["defaultSampleRate"])
        self.resampler = StreamResampler(SAMPLE_RATE, to=rate)
        self._open_at(info["index"], rate, CHUNK)
        self._put(np.zeros(CHUNK, np.float32))  # a device that plays in real time keeps it queued a while
        self.paced = self.capacity - self.stream.get_write_available() > 0
        if self.paced:
            # a deeper buffer, so a writer held up by a busy CPU does not let it run dry, primed now:
            # PulseAudio's ALSA plugin holds the first write after every start (or underrun) for ~2 s
            latency = self.out_latency  # the device's own, beyond its queue, as the short buffer showed
            self.stream.close()
            self._open_at(info["index"], rate, PACED_CHUNK)
            self.out_latency = latency
            self._put(np.zeros(self.capacity * SAMPLE_RATE // rate + CHUNK, np.float32))
        into = "".join(f" ({key}={value})" for key, value in self.env.items())
        self.log(f"{self.name}: playing on {info['name']!r}{into} at {rate} Hz")

    def _open_at(self, index: int, rate: int, frames: int) -> None:
        """A stream on device INDEX at RATE with periods of FRAMES (at 16 kHz), opened with self.env set."""
        pyaudio = pyaudio_module()
        with _open_lock, quiet_stderr():
            saved = {key: os.environ.get(key) for key in self.env}
            os.environ.update(self.env)
            try:
                self.stream = self.pa.open(
                    format=pyaudio.paInt16,
                    channels=1,
                    rate=rate,
                    output=True,
                    output_device_index=index,
                    frames_per_buffer=int(round(frames * rate / SAMPLE_RATE)),
                )
            finally:
                for key, value in saved.items():
                    if value is None:
                        del os.environ[key]
                    else:
                        os.environ[key] = value
        self.out_latency = self.stream.get_output_latency()
        self.rate, self.capacity = rate, self.stream.get_write_available()  # frames it holds, empty now

    def _close_stream(self) -> None:
        stream, pa, self.stream, self.pa = self.stream, self.pa, None, None
        close_stream(stream, pa)

    def _play(self) -> None:
        """Write every block on its schedule; a failing device is logged and reopened, never fatal."""
        while not self.stopping.is_set():
            try:
                if self.stream is None:
                    self._open_stream()
                item = self.blocks.get(timeout=0.01 if self.paced else 0.1)
                if item is END:
                    return
                self._write(*item)
            except queue.Empty:
                lead = min(IDLE_LEAD_S, self.capacity / 2 / self.rate)  # a small buffer: at most half full
                while self.paced and self.stream is not None and self._queued() < lead:
                    self._put(np.zeros(CHUNK, np.float32))  # nothing due yet: silence keeps it playing
            except (OSError, ValueError) as e:  # unplugged, busy, refused format
                self.log(f"{self.name}: output failed ({e}); retrying in {REOPEN_S:g} s")
                self._close_stream()
                self.stopping.wait(REOPEN_S)

    def _write(self, block: np.ndarray, captured: float) -> None:
        """BLOCK in 10 ms chunks, each placed to leave the device when it is due.

        A sample written now leaves after what the device still holds (its queue) and its latency. A
        device that is playing is kept fed: the chunk goes in at once, after silence up to its time if it
        is early, so it never runs dry (a gap is a click). An idle or instantly draining device (nothing
        queued) is written just in time instead. A chunk already too late is skipped."""
        for start in range(0, len(block), CHUNK):
            chunk = block[start : start + CHUNK]
            due = captured + start / SAMPLE_RATE + self.delay
            while True:
                queued = self._queued()
                early = due - (time.monotonic() + queued + self.out_latency)
                if queued > 0 or early <= 0:
                    break
                if self.stopping.wait(early):
                    return
            if early < -LATE_S:
                self.skipped += len(chunk)
                continue
            if early > 0:
                self._put(np.zeros(int(early * SAMPLE_RATE), np.float32))
            self._put(chunk)

    def _queued(self) -> float:
        """Seconds of sound the device holds, not yet played (0 for one that drains at once)."""
        return (self.capacity - self.stream.get_write_available()) / self.rate

    def _put(self, samples: np.ndarray) -> None:
        pcm = (np.clip(self.resampler(samples), -1, 1) * 32767).astype("<i2")
        self.stream.write(pcm.tobytes(), exception_on_underflow=False)
