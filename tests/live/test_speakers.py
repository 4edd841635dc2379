"""Sound out in sync with the picture: the session's audio through a real PyAudio output stream into a
capture device, timed against the frames.

The output device is an ALSA `file` PCM the test defines in its own $HOME/.asoundrc (no sound card here;
see the shared platform notes): PortAudio writes into it and the plugin passes the samples on to a FIFO
once they are through ALSA's buffer (measured: 20 ms after the write, where PortAudio reports 10 ms of
output latency), and a reader thread of the test notes when each sample arrived: that is when it leaves
the device. Each frame's display time (capture time + latency) is compared with the time the audio under
that frame left.
"""

from __future__ import annotations

import bisect
import json
import os
import queue
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_error_line, run

from edge_vasa.core.audio import SAMPLE_RATE
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.shipped import BUNDLED_SPEECH
from edge_vasa.live.sinks import FrameCollector, FrameInfo
from edge_vasa.live.sources import BLOCK, FileSource
from edge_vasa.live.speakers import SpeakerSink, find_output

pytest.importorskip("pyaudio")
ARTIFACTS = Path(os.environ.get("EDGE_VASA_TEST_ARTIFACTS", "test-artifacts")) / "speakers"


class FifoDevice:
    """An ALSA playback PCM named NAME whose samples land in a FIFO; a thread reads them as they come and
    notes (arrival time, first sample index) per read."""

    def __init__(self, folder: Path, name: str):
        self.name, self.fifo = name, folder / f"{name}.fifo"
        os.mkfifo(self.fifo)
        self.config = (
            f'pcm.{name} {{\n type file\n slave.pcm "null"\n file "{self.fifo}"\n format "raw"\n}}\n'
        )
        self.data, self.arrivals = bytearray(), []  # arrivals: (monotonic time, first sample index)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        while not self.stop.is_set():
            fd = os.open(self.fifo, os.O_RDONLY)  # waits for a writer; PortAudio's probes open and close
            try:
                while chunk := os.read(fd, 640):  # at most 20 ms a read, so a read is timed on its own
                    self.arrivals.append((time.monotonic(), len(self.data) // 2))
                    self.data += chunk
            finally:
                os.close(fd)

    def samples(self) -> np.ndarray:
        return np.frombuffer(bytes(self.data[: len(self.data) // 2 * 2]), "<i2").astype(np.float32) / 32768

    def arrival(self, sample: int) -> float:
        """When SAMPLE arrived: its read's time (the samples of one read came together)."""
        starts = [first for _, first in self.arrivals]
        return self.arrivals[max(0, bisect.bisect_right(starts, sample) - 1)][0]

    def close(self) -> None:
        self.stop.set()
        try:  # unblock a reader waiting for a writer
            os.close(os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


@pytest.fixture()
def alsa_devices(tmp_path, monkeypatch):
    """Make FifoDevices: call with a name; all are in this test's own ~/.asoundrc (ALSA reads $HOME's)."""
    made: list[FifoDevice] = []
    monkeypatch.setenv("HOME", str(tmp_path))

    def make(name: str) -> FifoDevice:
        device = FifoDevice(tmp_path, name)
        made.append(device)
        (tmp_path / ".asoundrc").write_text("".join(d.config for d in made))
        device.thread.start()
        return device

    yield make
    for device in made:
        device.close()


def offsets(device: FifoDevice, sink: SpeakerSink, collector: FrameCollector) -> np.ndarray:
    """For every shown frame over speech: when its audio left the device minus when it was shown (s)."""
    from scipy.signal import correlate

    stream, recorded = np.concatenate(collector.samples), device.samples()
    half, lag, out = SAMPLE_RATE // 10, None, []
    for info in collector.infos:
        n = int(round(info.stream_time * SAMPLE_RATE))
        window = stream[n - half : n + half]
        if n < half or len(window) < 2 * half or np.sqrt(np.mean(window**2)) < 0.02:
            continue  # silence: nothing to recognise it by
        lo = 0 if lag is None else max(0, n - half + lag - SAMPLE_RATE // 2)
        region = recorded[lo : lo + (len(recorded) if lag is None else SAMPLE_RATE + 2 * half)]
        if len(region) < len(window):
            continue  # past the end of what was played
        corr = correlate(region, window, "valid", method="fft")
        at = int(np.argmax(corr))
        found = region[at : at + len(window)]
        if np.dot(found, window) / (np.linalg.norm(found) * np.linalg.norm(window) + 1e-12) < 0.95:
            continue  # this stretch was skipped (the delay shrank)
        lag = lo + at - (n - half)
        left = device.arrival(lo + at + half)
        out.append(left - (info.capture_time + info.latency))
    return np.array(out)


@pytest.fixture(scope="module")
def torch_studio(private_cache):
    """The PyTorch reference backend: nothing has to be exported first."""
    pytest.importorskip("torch")
    from edge_vasa.runtimes.assembler import EdgeStudio

    return EdgeStudio("torch:cpu")


@pytest.mark.slow
def test_played_sound_leaves_with_its_frames(alsa_devices, grace_hopper_prepared, torch_studio, monkeypatch):
    from edge_vasa.live.session import LiveSession

    # a starting guess far off: only following the measured latency can bring the sound in sync
    monkeypatch.setattr("edge_vasa.live.speakers.START_DELAY_S", 1.0)
    device = alsa_devices("edge_vasa_test_speakers")
    collector = FrameCollector(downscale=16)
    lines: list[str] = []
    sink = SpeakerSink(find_output(device.name), log=lines.append)
    session = LiveSession(grace_hopper_prepared, FileSource(BUNDLED_SPEECH), [collector, sink], torch_studio)
    summary = session.run()
    off = offsets(device, sink, collector)
    mean, p95 = float(np.mean(np.abs(off))), float(np.percentile(np.abs(off), 95))
    result = {
        "frames_measured": len(off),
        "frames_shown": summary["frames_shown"],
        "offset_mean_abs_ms": round(mean * 1e3, 1),
        "offset_p95_abs_ms": round(p95 * 1e3, 1),
        "offset_signed_mean_ms": round(float(np.mean(off)) * 1e3, 1),
        "latency_ms": summary["latency_ms"],
        "speakers": sink.status_fields()["speakers"],
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "sync.json").write_text(json.dumps(result, indent=1))
    assert any("playing on 'edge_vasa_test_speakers'" in line for line in lines), lines
    assert len(off) >= 40, result  # most of the 7 s of speech was heard and matched
    assert mean <= 0.040 and p95 <= 0.080, result


def test_the_delay_follows_the_measured_latency(alsa_devices):
    lines: list[str] = []
    sink = SpeakerSink(find_output(alsa_devices("edge_vasa_test_out").name), offset_ms=-30, log=lines.append)
    sink.close()  # no sound needed; a PortAudio left open would keep this test's device list for the next
    assert sink.delay == pytest.approx(0.25 - 0.03)  # before any frame: a starting guess
    for i in range(60):
        sink.frame(None, FrameInfo(i, i / 25, 0.0, 0.4))
    assert sink.delay == pytest.approx(0.4 - 0.03)
    for i in range(60):  # small wobble: the delay stays (every change is a gap or skip in the sound)
        sink.frame(None, FrameInfo(i, i / 25, 0.0, 0.41))
    assert sink.delay == pytest.approx(0.37)
    for i in range(60):
        sink.frame(None, FrameInfo(i, i / 25, 0.0, 0.2))
    assert sink.delay == pytest.approx(0.17)
    delays = [line.split("delayed ")[1].split()[0] for line in lines if "delayed" in line]
    assert delays[0] == "370" and delays[-1] == "170" and "380" not in delays, lines


class FakeStream:
    """A device that plays in real time from a queue (PACED) or drains every write at once; notes each
    write's (time, samples) and what it holds."""

    def __init__(self, paced: bool):
        self.paced, self.writes, self.ends = paced, [], time.monotonic()  # ends: when its queue runs dry

    def queued(self) -> int:
        return int(max(0.0, self.ends - time.monotonic()) * SAMPLE_RATE) if self.paced else 0

    def get_write_available(self) -> int:
        return 10 * SAMPLE_RATE - self.queued()

    def write(self, data, exception_on_underflow=False):
        self.writes.append((time.monotonic(), len(data) // 2))
        self.ends = max(self.ends, time.monotonic()) + len(data) / 2 / SAMPLE_RATE


def fake_sink(alsa_devices, paced: bool) -> SpeakerSink:
    from edge_vasa.live.sources import StreamResampler

    sink = SpeakerSink(find_output(alsa_devices(f"edge_vasa_test_{paced}").name))
    sink._close_stream()
    sink.stream, sink.resampler = FakeStream(paced), StreamResampler(SAMPLE_RATE)
    sink.capacity, sink.out_latency, sink.delay = 10 * SAMPLE_RATE, 0.01, 0.1
    return sink


def test_a_late_chunk_is_skipped_and_a_due_one_written_on_time(alsa_devices):
    sink = fake_sink(alsa_devices, paced=False)
    now = time.monotonic()
    sink._write(np.zeros(640, np.float32), now - 1.0)  # a second late: all of it skipped
    assert sink.skipped == 640 and not sink.stream.writes
    sink._write(np.zeros(640, np.float32), now)  # due at now + 0.1, written 0.01 s before
    times = np.array([t - now for t, _ in sink.stream.writes])
    due = 0.09 + 0.01 * np.arange(4)  # each 10 ms chunk 10 ms before it plays
    # never early (written ahead, audio would drift ahead of the face); late by at most 30 ms, as a machine
    # under load wakes a sleeping writer (a 5 ms bound failed once beside a MediaPipe run at nice 19)
    assert len(times) == 4 and (times >= due - 0.002).all() and (times <= due + 0.03).all(), times


def test_a_playing_device_is_kept_fed_and_each_chunk_lands_on_time(alsa_devices):
    sink = fake_sink(alsa_devices, paced=True)
    now = time.monotonic()
    sink._write(np.full(640, 0.5, np.float32), now)  # the first: just in time, into an idle device
    sink._write(np.full(640, 0.5, np.float32), now + 0.1)  # 60 ms after the first ends: silence between
    writes = sink.stream.writes
    assert writes[0][0] - now == pytest.approx(0.09, abs=0.01)
    assert all(t - now < 0.1 for t, _ in writes[1:]), "a playing device waited for a chunk: it ran dry"
    lengths = [n for _, n in writes]
    # the fake device plays on wall time, and a loaded machine wakes the writer a few ms late (CI saw 3.3 ms
    # less silence): 5 ms of slack, half a chunk; a device left to run dry would get no silence at all
    slack = int(0.005 * SAMPLE_RATE)
    assert lengths[:4] == [160] * 4 and lengths[4] == pytest.approx(0.06 * SAMPLE_RATE, abs=slack)
    assert sum(lengths) == pytest.approx(1280 + 0.06 * SAMPLE_RATE, abs=slack)
    # where each lands: the second block's first chunk leaves 100 ms after the first's, as captured
    assert sum(lengths[:5]) / SAMPLE_RATE == pytest.approx(0.1, abs=0.005)


def test_a_playing_device_is_fed_silence_while_nothing_is_due(alsa_devices):
    sink = fake_sink(alsa_devices, paced=True)
    sink.paced = True
    sink._start()
    try:
        time.sleep(0.3)
        assert sink.stream.queued() > 0, "the device ran dry (a restart costs PulseAudio ~2 s)"
        assert sum(n for _, n in sink.stream.writes) >= 0.25 * SAMPLE_RATE
    finally:
        sink.close()


def test_unknown_output_device_and_bad_offset_are_one_line_errors(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EdgeVasaError, match="no such output device"):
        find_output("no-such-speaker-anywhere")
    rc, _, err = run(capsys, "live", "--serve", "0", "--play", "no-such-speaker-anywhere")
    assert_one_error_line(rc, err, "--play", "no such output device")
    rc, _, err = run(capsys, "live", "--serve", "0", "--audio-offset", "40")
    assert_one_error_line(rc, err, "--audio-offset", "--play", "--virtual-mic")
    rc, _, err = run(capsys, "live", "--serve", "0", "--play", "--audio-offset", "9000")
    assert_one_error_line(rc, err, "--audio-offset", "-2000..2000")


# ------------------------------------------------------------------------------------ virtual microphone


def matched_delays(recorded: np.ndarray, left, source: FileSource) -> tuple[float, np.ndarray]:
    """Window by window (0.5 s of speech each), where the source's audio is in RECORDED: the correlation of
    the recording so aligned with the source, and for each window the time its audio left (LEFT(recorded
    sample)) minus the time the source captured it."""
    from scipy.signal import correlate

    size, got, want, delays = SAMPLE_RATE // 2, [], [], []
    for k in range(0, len(source.audio) - size, size):
        window = source.audio[k : k + size]
        if np.sqrt(np.mean(window**2)) < 0.02:
            continue
        if len(recorded) < size:
            break
        at = int(np.argmax(correlate(recorded, window, "valid", method="fft")))
        got.append(recorded[at : at + size])
        want.append(window)
        delays.append(left(at) - (source.start + k / SAMPLE_RATE))
    if not got or not np.any(np.concatenate(got)):
        return 0.0, np.array(delays)  # nothing of the source came through
    return float(np.corrcoef(np.concatenate(got), np.concatenate(want))[0, 1]), np.array(delays)


def run_file_session(face, studio, sinks: list) -> FileSource:
    from edge_vasa.live.session import LiveSession

    source = FileSource(BUNDLED_SPEECH)
    LiveSession(face, source, [FrameCollector(downscale=16), *sinks], studio).run()
    return source


@pytest.mark.slow
def test_virtual_mic_carries_the_sound_at_the_stated_delay(alsa_devices, grace_hopper_prepared, torch_studio):
    from edge_vasa.live.speakers import find_virtual_mic

    device = alsa_devices("edge_vasa_mic")  # an ALSA virtual microphone, found by its name
    index, env = find_virtual_mic(None)
    lines: list[str] = []
    sink = SpeakerSink(index, name="virtual microphone", log=lines.append, env=env)
    source = run_file_session(grace_hopper_prepared, torch_studio, [sink])
    stated = [float(line.split("delayed ")[1].split()[0]) / 1e3 for line in lines if "delayed" in line]
    corr, delays = matched_delays(device.samples(), device.arrival, source)
    result = {"correlation": round(corr, 4), "delays_ms": (delays * 1e3).round(1).tolist(), "stated": stated}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "virtual_mic_alsa.json").write_text(json.dumps(result, indent=1))
    assert any("virtual microphone: playing on 'edge_vasa_mic'" in line for line in lines), lines
    assert corr >= 0.8 and len(delays) >= 8, result  # 0.991 alone; 0.862 once right after a browser test
    # from the nearest stated; on a loaded machine (CI, 2 cores shared with other tests) 2 of 13 windows were
    # 44 and 70 ms off while the other 11 sat 10-13 ms from the stated delay
    off = np.min(np.abs(delays[:, None] - np.array(stated)[None]), axis=1)
    assert np.median(off) <= 0.02 and np.mean(off <= 0.04) >= 0.75, result


@pytest.fixture()
def pulse_server(tmp_path, monkeypatch):
    """A PulseAudio server of this test's own with a null sink edge_vasa_mic (as README says to make one);
    XDG_RUNTIME_DIR points this process at it."""
    import shutil
    import subprocess

    if shutil.which("pulseaudio") is None or shutil.which("pactl") is None:
        pytest.skip("PulseAudio is not installed (apt-get install pulseaudio pulseaudio-utils)")
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    script = tmp_path / "mic.pa"
    script.write_text(
        "load-module module-native-protocol-unix\n"
        "load-module module-null-sink sink_name=edge_vasa_mic rate=16000 channels=1\n"
        "load-module module-null-sink sink_name=elsewhere\nset-default-sink elsewhere\n"
    )
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("HOME", str(tmp_path))
    server = subprocess.Popen(
        ["pulseaudio", "-n", "-F", str(script), "--exit-idle-time=-1", "--daemonize=no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while subprocess.run(["pactl", "info"], capture_output=True).returncode != 0:
            assert server.poll() is None and time.monotonic() < deadline, "PulseAudio did not start"
            time.sleep(0.2)
        yield
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.slow
def test_virtual_mic_on_a_pulseaudio_sink(pulse_server, monkeypatch, grace_hopper_prepared, torch_studio):
    """What a call app does: record the sink's monitor (through PyAudio) while the session plays into it."""
    from edge_vasa.live.sources import MicrophoneSource
    from edge_vasa.live.speakers import find_virtual_mic

    index, env = find_virtual_mic(None)
    assert env == {"PULSE_SINK": "edge_vasa_mic"}  # not the default sink
    lines: list[str] = []
    sink = SpeakerSink(index, name="virtual microphone", log=lines.append, env=env)
    monkeypatch.setenv("PULSE_SOURCE", "edge_vasa_mic.monitor")
    call = MicrophoneSource("pulse")
    call.open()
    blocks, stop = [], threading.Event()

    def record():
        while not stop.is_set():
            blocks.append(call.read())

    recorder = threading.Thread(target=record, daemon=True)
    recorder.start()
    while len(blocks) < 10:  # the call is listening (a new PulseAudio stream takes a moment to start)
        time.sleep(0.05)
    try:
        source = run_file_session(grace_hopper_prepared, torch_studio, [sink])
    finally:
        stop.set()
        recorder.join(5)
        call.close()
    recorded = np.concatenate([b for b, _ in blocks])
    starts = np.array([t for _, t in blocks])
    stated = [float(line.split("delayed ")[1].split()[0]) / 1e3 for line in lines if "delayed" in line]
    corr, delays = matched_delays(recorded, lambda j: starts[j // BLOCK] + (j % BLOCK) / SAMPLE_RATE, source)
    result = {"correlation": round(corr, 4), "delays_ms": (delays * 1e3).round(1).tolist(), "stated": stated}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "virtual_mic_pulse.json").write_text(json.dumps(result, indent=1))
    # the monitor drops a few ms under load (CI: 0.897 with every window found)
    assert corr >= 0.8 and len(delays) >= 8, result
    # PulseAudio adds its own few tens of ms between the sink and its monitor, more on a loaded machine
    # (CI, 2 cores shared with other tests: 2 of 13 segments 69-70 ms off, the median 32 ms)
    off = np.min(np.abs(delays[:, None] - np.array(stated)[None]), axis=1)
    assert np.median(off) <= 0.04 and np.mean(off <= 0.08) >= 0.8, result


def test_no_virtual_mic_is_one_line_naming_the_command(capsys, monkeypatch, tmp_path):
    from edge_vasa.live.speakers import find_virtual_mic

    monkeypatch.setenv("HOME", str(tmp_path))  # no ALSA PCM of that name
    monkeypatch.setenv("PATH", str(tmp_path))  # no pactl: no PulseAudio or PipeWire sink either
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EdgeVasaError, match="pactl load-module module-null-sink sink_name=edge_vasa_mic"):
        find_virtual_mic(None)
    for system, words in (("Darwin", "blackhole-2ch"), ("Windows", "VB-CABLE")):
        monkeypatch.setattr("platform.system", lambda system=system: system)
        with pytest.raises(EdgeVasaError, match=words):
            find_virtual_mic(None)
    monkeypatch.undo()
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    rc, _, err = run(capsys, "live", "--serve", "0", "--virtual-mic")
    assert_one_error_line(rc, err, "virtual microphone", "pactl load-module")
    rc, _, err = run(capsys, "live", "--serve", "0", "--virtual-mic", "no-such-cable")
    assert_one_error_line(rc, err, "--virtual-mic", "no such output device")


def test_a_writer_that_wakes_late_still_keeps_the_device_fed(alsa_devices, monkeypatch):
    """Each wait for a block wakes 15 ms late (a loaded machine): the silence queued ahead covers it. With one
    10 ms chunk per wait the device ran dry for part of every cycle (CI saw it empty once)."""
    sink = fake_sink(alsa_devices, paced=True)
    sink.paced = True

    def late_get(timeout: float):
        time.sleep(timeout + 0.015)
        raise queue.Empty

    monkeypatch.setattr(sink.blocks, "get", late_get)
    sink._start()
    try:
        time.sleep(0.1)
        levels = []
        for _ in range(20):
            levels.append(sink.stream.queued())
            time.sleep(0.01)
        assert min(levels) > 0, levels
    finally:
        sink.close()
