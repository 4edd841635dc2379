"""Audio sources for the live session: a microphone (PyAudio), a file played in real time, raw PCM on stdin.

A source is opened, then read block by block; each block is 16 kHz mono float32 with the time.monotonic()
at which its first sample was captured, so the session measures capture-to-frame latency instead of
guessing it. ``read`` returns None at the end of a finite source and raises ``SourceLost`` when the device
fails or disappears (the session then keeps the avatar idle and reopens it).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Protocol

import numpy as np

from edge_vasa.core.audio import SAMPLE_RATE, load_audio
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.options import LIVE_BLOCK

BLOCK = LIVE_BLOCK  # samples per read: 10 ms (core.options: why)


class SourceLost(Exception):
    """The audio device failed, vanished or cannot be opened right now."""


class Source(Protocol):
    """What the live session reads audio from."""

    name: str

    def open(self) -> None: ...

    def read(self) -> tuple[np.ndarray, float] | None:
        """(16 kHz mono float32 block, monotonic capture time of its first sample); None at the end."""
        ...

    def close(self) -> None: ...


class StreamResampler:
    """Any rate -> 16 kHz (or 16 kHz -> any rate), block by block without seams: an anti-alias low-pass
    with carried state, then linear interpolation that carries its fractional position and last sample
    across blocks."""

    def __init__(self, rate: int, to: int = SAMPLE_RATE):
        """RATE -> TO Hz (TO above RATE for speakers that do not take 16 kHz)."""
        from scipy.signal import butter, sosfilt_zi  # 0.65 s to import: only for a device not at 16 kHz

        self.rate, self.to, self.step, self.pos = rate, to, rate / to, 0.0
        self.last = np.zeros(1, np.float32)
        self.sos = butter(8, 0.45 * to, fs=rate, output="sos") if rate > to else None
        self.zi = sosfilt_zi(self.sos) * 0 if self.sos is not None else None

    def __call__(self, block: np.ndarray) -> np.ndarray:
        if self.rate == self.to:
            return block.astype(np.float32)
        if self.sos is not None:
            from scipy.signal import sosfilt

            block, self.zi = sosfilt(self.sos, block, zi=self.zi)
        buffer = np.concatenate([self.last, block.astype(np.float32)])  # buffer[0] is the previous sample
        positions = np.arange(self.pos, len(buffer) - 1, self.step)
        out = np.interp(positions, np.arange(len(buffer)), buffer).astype(np.float32)
        self.pos = (positions[-1] + self.step if len(positions) else self.pos) - (len(buffer) - 1)
        self.last = buffer[-1:]
        return out


@contextlib.contextmanager
def quiet_stderr():
    """Silence C libraries writing to fd 2 (ALSA and JACK print ~80 harmless lines when PortAudio probes)."""
    try:
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def pyaudio_module():
    try:
        import pyaudio
    except ImportError:
        raise EdgeVasaError(
            "PyAudio is not installed; run `apt-get install portaudio19-dev` then `pip install pyaudio`"
        ) from None
    return pyaudio


def _input_infos(pa) -> list[dict]:
    """PortAudio's device records of the devices that can capture."""
    infos = (pa.get_device_info_by_index(i) for i in range(pa.get_device_count()))
    return [d for d in infos if d["maxInputChannels"] > 0]


def match_device(infos: list[dict], device: str | int) -> dict | None:
    """The device record DEVICE names: an index, an exact name, or a part of one (case ignored)."""
    if isinstance(device, int) or str(device).isdigit():
        found = [d for d in infos if d["index"] == int(device)]
    else:
        exact = [d for d in infos if d["name"] == device]
        found = exact or [d for d in infos if str(device).lower() in d["name"].lower()]
    return found[0] if found else None


def close_stream(stream, pa) -> None:
    """Stop and close a PyAudio stream and end its PyAudio instance, whichever of them still exist: a
    device that vanished raises from any of the three, and closing must still reach the others."""
    with contextlib.suppress(Exception):
        stream.stop_stream()
    with contextlib.suppress(Exception):
        stream.close()
    with contextlib.suppress(Exception):
        pa.terminate()


def pcm16(data: bytes) -> np.ndarray:
    """Signed 16-bit little-endian PCM bytes -> float32 samples in [-1, 1)."""
    return np.frombuffer(data[: len(data) // 2 * 2], "<i2").astype(np.float32) / 32768


def audio_devices(direction: str = "Input") -> list[dict]:
    """PyAudio's capture ("Input") or playback ("Output") devices: index, name, channels, default rate."""
    pyaudio = pyaudio_module()
    with quiet_stderr():
        pa = pyaudio.PyAudio()
    try:
        infos = [pa.get_device_info_by_index(i) for i in range(pa.get_device_count())]
    finally:
        pa.terminate()
    channels = f"max{direction}Channels"
    return [
        {"index": d["index"], "name": d["name"], "channels": d[channels], "rate": int(d["defaultSampleRate"])}
        for d in infos
        if d[channels] > 0
    ]


def input_devices() -> list[dict]:
    """PyAudio's capture devices: index, name, channels, default rate."""
    return audio_devices("Input")


class MicrophoneSource:
    """A PyAudio capture device, chosen by index, by (part of) its name, or the default one. Opened at
    16 kHz when the device takes it, else at its native rate and resampled."""

    def __init__(self, device: str | int | None = None, block: int = BLOCK):
        self.device, self.block = device, block
        self.pa = self.stream = None
        self.name = f"microphone {device}" if device is not None else "default microphone"

    def _find(self, pa) -> dict:
        inputs = _input_infos(pa)
        if self.device is None:
            try:
                return pa.get_default_input_device_info()
            except OSError:
                raise SourceLost("no default input device") from None
        found = match_device(inputs, self.device)
        if found is None:
            raise SourceLost(
                f"no input device {self.device!r} (present: {', '.join(d['name'] for d in inputs)})"
            )
        return found

    def open(self) -> None:
        pyaudio = pyaudio_module()
        with quiet_stderr():  # a fresh PortAudio each time, so a re-plugged device is enumerated again
            self.pa = pyaudio.PyAudio()
        try:
            info = self._find(self.pa)
            rate = SAMPLE_RATE
            try:
                self.pa.is_format_supported(
                    rate, input_device=info["index"], input_channels=1, input_format=pyaudio.paInt16
                )
            except ValueError:
                rate = int(info["defaultSampleRate"])
            self.rate, self.resampler = rate, StreamResampler(rate)
            self.frames = int(round(self.block * rate / SAMPLE_RATE))
            with quiet_stderr():
                self.stream = self.pa.open(
                    format=pyaudio.paInt16,
                    channels=1,
                    rate=rate,
                    input=True,
                    input_device_index=info["index"],
                    frames_per_buffer=self.frames,
                )
            self.name = f"microphone {info['name']!r} at {rate} Hz"
        except SourceLost:
            self.close()
            raise
        except (OSError, ValueError) as e:
            self.close()
            raise SourceLost(f"cannot open {self.device or 'the default input'}: {e}") from None

    def read(self) -> tuple[np.ndarray, float]:
        if self.stream is None:
            raise SourceLost("not open")
        try:
            data = self.stream.read(self.frames, exception_on_overflow=False)
        except (OSError, AttributeError) as e:  # AttributeError: closed under us by the watchdog
            raise SourceLost(f"{self.name} failed: {e}") from None
        captured = time.monotonic() - self.frames / self.rate
        return self.resampler(pcm16(data)), captured

    def close(self) -> None:
        stream, pa, self.stream, self.pa = self.stream, self.pa, None, None
        close_stream(stream, pa)


class FileSource:
    """A speech file played in real time (as if spoken into a microphone), or as fast as it is read."""

    def __init__(self, path: str | Path, realtime: bool = True, loop: bool = False, block: int = BLOCK):

        self.audio, self.realtime, self.loop, self.block = load_audio(path), realtime, loop, block
        self.name = f"file {Path(path).name}" + (" (real time)" if realtime else "")
        self.pos, self.start = 0, None

    def open(self) -> None:
        if self.start is None:
            self.start = time.monotonic()

    def read(self) -> tuple[np.ndarray, float] | None:
        if self.pos >= len(self.audio):
            if not self.loop:
                return None
            self.pos, self.start = 0, time.monotonic()
        block = self.audio[self.pos : self.pos + self.block]
        begins = self.start + self.pos / SAMPLE_RATE
        self.pos += len(block)
        if not self.realtime:
            return block, time.monotonic()
        time.sleep(max(0.0, begins + len(block) / SAMPLE_RATE - time.monotonic()))  # "captured" by now
        return block, begins

    def close(self) -> None:
        pass


class StdinSource:
    """Raw signed 16-bit little-endian mono PCM on stdin (e.g. `arecord -f S16_LE -r 16000 | edge-vasa live
    --source stdin`), at RATE Hz."""

    def __init__(self, rate: int = SAMPLE_RATE, stream=None, block: int = BLOCK):
        if rate < 8000 or rate > 192000:
            raise EdgeVasaError(f"--stdin-rate {rate} is out of range; use 8000-192000 Hz")
        self.stream = stream or sys.stdin.buffer
        self.rate, self.resampler, self.name = rate, StreamResampler(rate), f"stdin PCM at {rate} Hz"
        self.bytes = 2 * int(round(block * rate / SAMPLE_RATE))

    def open(self) -> None:
        pass

    def read(self) -> tuple[np.ndarray, float] | None:
        data = self.stream.read(self.bytes)
        if not data:
            return None
        samples = pcm16(data)
        return self.resampler(samples), time.monotonic() - len(samples) / self.rate

    def close(self) -> None:
        pass


def open_source(spec: str, device: str | None = None, stdin_rate: int = SAMPLE_RATE, loop: bool = False):
    """'mic' (DEVICE: name or index), 'file:PATH' or 'stdin' -> a source."""
    if spec == "mic":
        return MicrophoneSource(device)
    if spec == "stdin":
        return StdinSource(stdin_rate)
    if spec.startswith("file:"):
        return FileSource(spec[5:], loop=loop)
    raise EdgeVasaError(f"unknown source {spec!r}; use mic, file:PATH, stdin or tts")
