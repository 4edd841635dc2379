"""The live session: sources, sinks, selector, and the real-time loop driven by a real PyAudio stream.

The microphone is a virtual ALSA capture device defined by the test itself: a `file` PCM whose input is a
FIFO fed in real time by a writer thread (no sound card, no daemon; see the shared platform notes). The
models run on the PyTorch reference backend, so nothing has to be exported first; a private cache keeps
the selector's timings away from the user's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from edge_vasa.core.audio import SAMPLE_RATE, load_audio
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.shipped import BUNDLED_SPEECH
from edge_vasa.live.session import DisplayResampler, LiveSession, Timeline, VoiceActivity
from edge_vasa.live.sinks import FrameCollector, FrameInfo, MjpegSink, RecordingSink, WindowSink
from edge_vasa.live.sources import BLOCK, FileSource, MicrophoneSource, StdinSource, StreamResampler

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def torch_ranking(private_cache):
    from edge_vasa.runtimes.selector import rank_candidates

    return rank_candidates(backend="torch:cpu")


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return load_audio(BUNDLED_SPEECH)


def session_for(face, source, sinks, ranking, **kw) -> LiveSession:
    from edge_vasa.runtimes.assembler import EdgeStudio
    from edge_vasa.runtimes.models import FallbackModels

    return LiveSession(face, source, sinks, EdgeStudio(models=FallbackModels(ranking)), **kw)


# ------------------------------------------------------------------------------------------ pieces


def test_stream_resampler_matches_whole_signal_and_keeps_pitch():
    rate = 48000
    t = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    resampler = StreamResampler(rate)
    blocks = [resampler(tone[i : i + 1917]) for i in range(0, len(tone), 1917)]  # odd block size
    out = np.concatenate(blocks)
    assert abs(len(out) - SAMPLE_RATE) <= 2
    spectrum = np.abs(np.fft.rfft(out[2000:14000] * np.hanning(12000)))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / 12000
    assert abs(peak_hz - 440) < 3
    # no seams at block borders: the signal stays a clean sine (its second difference stays small)
    curvature = np.abs(np.diff(out[2000:], 2)).max()
    assert curvature < 1.2 * (2 * np.pi * 440 / SAMPLE_RATE) ** 2 * 0.5 + 1e-3


def test_voice_activity_ignores_steady_noise_and_hears_speech(speech):
    rng = np.random.default_rng(0)
    vad = VoiceActivity()
    noise = [vad((0.003 * rng.standard_normal(640)).astype(np.float32)) for _ in range(100)]
    assert sum(noise[25:]) == 0  # after the floor settles, background hiss is not speech
    voiced = [
        vad(speech[i : i + 640] + 0.003 * rng.standard_normal(640).astype(np.float32))
        for i in range(0, len(speech) - 640, 640)
    ]
    assert np.mean(voiced) > 0.5


def test_display_resampler_rates_and_interpolation():
    motion = np.arange(50, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)  # 2 s at 25 Hz
    for fps in (25, 30, 40):
        r = DisplayResampler(fps)
        out = []
        for i in range(0, 50, 2):
            out += r.push(motion[i : i + 2], final=i + 2 >= 50)
        assert [j for j, _ in out] == list(range(len(out)))
        assert abs(len(out) - 2 * fps) <= 1
        for j, m in out:  # linear interpolation of the 25 Hz track at j / fps
            assert np.allclose(m, min(j * 25 / fps, 49), atol=1e-4)


def test_display_frames_on_a_motion_frame_do_not_wait_for_the_next():
    """At 25 FPS every display frame falls on a motion frame: it is out as soon as that frame is, where it
    used to wait for the next one (a whole motion step of latency); between frames both are needed."""
    motion = np.arange(4, dtype=np.float32)[:, None]
    r25 = DisplayResampler(25)
    assert [(j, m[0]) for j, m in r25.push(motion[:2])] == [(0, 0.0), (1, 1.0)]
    r40 = DisplayResampler(40)  # display frames 0 (on frame 0), 1 (0.625) and 2 (1.25)
    assert [j for j, _ in r40.push(motion[:2])] == [0, 1]
    assert [j for j, _ in r40.push(motion[2:3])] == [2, 3]  # 3 falls on frame 1.875: needs frame 2


def test_voice_activity_hangover_is_in_time_whatever_the_block(speech):
    """The gate's 0.3 s hangover and its 40 ms level window hold for 10 ms blocks as for 40 ms ones."""
    voiced = speech[2 * SAMPLE_RATE : 2 * SAMPLE_RATE + 6400]
    signal = np.concatenate([np.zeros(6400, np.float32), voiced, np.zeros(16000, np.float32)])
    open_s = {}
    for block in (160, 640):
        vad = VoiceActivity()
        gate = [vad(signal[i : i + block]) for i in range(0, len(signal), block)]
        last = max(i for i, on in enumerate(gate) if on)
        open_s[block] = (last + 1) * block / SAMPLE_RATE
    assert abs(open_s[160] - open_s[640]) <= 0.07, open_s  # a 40 ms window ends up to 30 ms later
    assert 0.28 <= open_s[640] - (6400 + 6400) / SAMPLE_RATE <= 0.36, open_s


def test_recording_sink_writes_on_its_own_thread(tmp_path):
    """Frames and audio are queued and written in order by the sink's thread; close finishes the file."""
    from edge_vasa.core.video import probe_video

    sink = RecordingSink(tmp_path / "r.mp4")
    sink.audio(np.zeros(800, np.float32), 0.0)  # before open: kept, then written first
    sink.open((64, 96), 25)
    main = threading.current_thread()
    writers = []
    add_frame = sink.writer.add_frame
    sink.writer.add_frame = lambda *a: (writers.append(threading.current_thread()), add_frame(*a))
    for i in range(10):
        sink.frame(np.full((64, 96, 3), 20 * i, np.uint8), FrameInfo(i, i / 25, 0.0, 0.1))
        sink.audio(np.zeros(640, np.float32), 0.0)
    sink.close()
    info = probe_video(tmp_path / "r.mp4")
    assert info["n_frames"] == 10 and (info["height"], info["width"]) == (64, 96), info
    assert writers and all(t is not main for t in writers)


def test_recording_sink_reports_a_failed_write(tmp_path):
    sink = RecordingSink(tmp_path / "r.mp4")
    sink.open((64, 96), 25)
    sink.frame(np.zeros((64, 96, 3), np.uint8), FrameInfo(0, 0.0, 0.0, 0.1))
    sink.frame(np.zeros((32, 32, 3), np.uint8), FrameInfo(1, 0.04, 0.0, 0.1))  # another size: refused
    with pytest.raises(ValueError, match="size changed"):
        sink.close()
    assert not (tmp_path / "r.mp4").exists()


def test_latency_breakdown_adds_up():
    from edge_vasa.live.session import PARTS, LiveStats

    stats = LiveStats()
    for k in range(100):
        stats.parts.append(np.array([0.1 + k * 1e-3, 0.004, 0.001, 0.02, 0.002]))
    stats.latencies.extend(float(p.sum()) for p in stats.parts)
    summary = stats.summary()
    for q in ("p50", "p95"):
        parts = summary["latency_breakdown_ms"][q]
        assert list(parts) == list(PARTS)
        assert abs(sum(parts.values()) - summary["latency_ms"][q]) < 2.5, (q, parts, summary["latency_ms"])


def test_timeline_maps_samples_to_capture_time():
    tl = Timeline()
    tl.add(640, 100.0)
    tl.add(640, 100.5)  # a late block (e.g. after a gap)
    assert tl.capture_time(320) == pytest.approx(100.02)
    assert tl.capture_time(960) == pytest.approx(100.52)


def test_file_source_paces_in_real_time(tmp_path, speech):
    from edge_vasa.core.audio import save_wav

    save_wav(tmp_path / "a.wav", speech[: SAMPLE_RATE // 2])
    src = FileSource(tmp_path / "a.wav")
    src.open()
    start = time.monotonic()
    blocks = []
    while (got := src.read()) is not None:
        blocks.append(got)
    assert time.monotonic() - start == pytest.approx(0.5, abs=0.1)
    assert np.allclose(np.concatenate([b for b, _ in blocks]), speech[: SAMPLE_RATE // 2], atol=1e-4)
    assert np.allclose(np.diff([t for _, t in blocks]), BLOCK / SAMPLE_RATE, atol=1e-6)  # the file's clock


def test_stdin_source_reads_s16le_at_any_rate(speech):
    import io

    pcm48 = (np.repeat(speech[:8000], 3) * 32767).astype("<i2").tobytes()  # crude 48 kHz
    src = StdinSource(48000, io.BytesIO(pcm48))
    out = []
    while (got := src.read()) is not None:
        out.append(got[0])
    assert abs(len(np.concatenate(out)) - 8000) <= 3
    with pytest.raises(EdgeVasaError, match="stdin-rate"):
        StdinSource(100)


def test_recording_sink_refuses_bad_paths(tmp_path):
    with pytest.raises(EdgeVasaError, match=r"\.mp4"):
        RecordingSink(tmp_path / "x.avi")
    with pytest.raises(EdgeVasaError, match="does not exist"):
        RecordingSink(tmp_path / "missing" / "x.mp4")


def test_window_sink_without_display_is_one_clear_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if sys.platform.startswith("linux"):
        with pytest.raises(EdgeVasaError, match="no display"):
            WindowSink()


@pytest.fixture()
def virtual_display(monkeypatch):
    """A headless X server (Xvfb) of this test's own, on a display number no other server holds; the test
    fails if it did not start (rather than drawing on some other server's screen)."""
    import shutil

    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    number = next(
        n
        for n in range(90 + os.getpid() % 400, 1000)
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists()
    )
    display, socket = f":{number}", Path(f"/tmp/.X11-unix/X{number}")
    server = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "800x600x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(100):  # wait for its socket
            if socket.exists() or server.poll() is not None:
                break
            time.sleep(0.1)
        if server.poll() is not None or not socket.exists():
            pytest.fail(f"Xvfb did not start on {display}: {server.stderr.read().decode()[-300:]}")
        monkeypatch.setenv("DISPLAY", display)
        yield display
    finally:
        server.terminate()
        server.wait(10)


def test_window_sink_shows_frames_full_screen(virtual_display):
    pytest.importorskip("tkinter", reason="this Python has no tkinter (Debian: apt-get install python3-tk)")
    sink = WindowSink(fullscreen=True)
    sink.open((512, 512), 25)
    try:
        frame = np.full((512, 512, 3), (0, 200, 0), np.uint8)
        for i in range(3):
            sink.frame(frame, FrameInfo(i, i / 25, 0.0, 0.0))
        # full screen on an 800x600 screen: the picture is scaled to the screen's height
        assert (sink.photo.width(), sink.photo.height()) == (600, 600)
        assert sink.root.attributes("-fullscreen") in (1, True, "1")
        sink.root.event_generate("<Escape>")
        sink.root.update()
        assert sink.closed_by_user  # Esc ends the session
    finally:
        sink.close()


@pytest.mark.slow
def test_a_window_session_that_ends_by_itself_exits_cleanly(virtual_display, tmp_path, speech):
    """The window's Tk objects are freed on the display thread: freed at exit, they abort the process."""
    pytest.importorskip("tkinter", reason="this Python has no tkinter (Debian: apt-get install python3-tk)")
    from edge_vasa.core.audio import save_wav

    save_wav(tmp_path / "short.wav", speech[:SAMPLE_RATE])
    env = dict(os.environ, EDGE_VASA_CACHE=str(tmp_path / "cache"))  # the module's timings stay untouched
    command = [sys.executable, "-m", "edge_vasa", "live", "--source", f"file:{tmp_path / 'short.wav'}"]
    done = subprocess.run(
        [*command, "--kiosk", "--backend", "torch:cpu", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert done.returncode == 0 and "Tcl_AsyncDelete" not in done.stderr, done.stderr[-500:]


def test_mjpeg_sink_serves_page_frames_and_status():
    sink = MjpegSink(0, status=lambda: {"problems": ["Microphone lost"]})
    try:
        frame = np.zeros((64, 64, 3), np.uint8)
        frame[:, :32] = (255, 0, 0)
        sink.frame(frame, FrameInfo(0, 0.0, 0.0, 0.0))
        page = urllib.request.urlopen(sink.url, timeout=5).read().decode()
        assert "stream.mjpg" in page and "status.json" in page
        import cv2

        jpeg = urllib.request.urlopen(sink.url + "frame.jpg", timeout=5).read()
        got = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
        assert np.abs(got.astype(int) - frame).mean() < 6
        status = json.loads(urllib.request.urlopen(sink.url + "status.json", timeout=5).read())
        assert status["problems"] == ["Microphone lost"]
        with urllib.request.urlopen(sink.url + "stream.mjpg", timeout=5) as stream:
            assert "multipart/x-mixed-replace" in stream.headers["Content-Type"]
            head = stream.read(200)
            assert b"--frame" in head and b"image/jpeg" in head
    finally:
        sink.close()


# ---------------------------------------------------------------------------------------- selector


def test_selector_refuses_unknown_and_absent_backends(private_cache):
    from edge_vasa.runtimes.selector import parse_backend, probe, rank_candidates

    machine = probe()
    with pytest.raises(EdgeVasaError, match="unknown backend"):
        parse_backend("tensorflow:cpu", machine)
    with pytest.raises(EdgeVasaError, match="no device"):
        parse_backend("torch:tpu", machine)
    with pytest.raises(EdgeVasaError, match="precision"):
        rank_candidates("torch:cpu", "int4")


def test_selector_times_once_then_uses_the_cache(torch_ranking):
    from edge_vasa.runtimes.selector import rank_candidates

    first = torch_ranking[0]
    assert first.usable and str(first.candidate) == "torch:cpu fp32"
    assert first.decoder_ms > 0 and first.motion_ms > 0 and not first.cached
    again = rank_candidates(backend="torch:cpu")[0]
    assert again.cached and again.decoder_ms == first.decoder_ms


# ------------------------------------------------------------------------------------ live session


@pytest.fixture()
def virtual_mic(tmp_path, monkeypatch, speech):
    """An ALSA PCM 'edge_vasa_test_mic' fed in real time with the bundled speech, then silence. Yields
    (device name, the 16 kHz samples it plays after its leading silence)."""
    pytest.importorskip("pyaudio")
    fifo = tmp_path / "mic.fifo"
    os.mkfifo(fifo)
    (tmp_path / ".asoundrc").write_text(
        f'pcm.edge_vasa_test_mic {{\n type file\n slave.pcm "null"\n file "/dev/null"\n'
        f' infile "{fifo}"\n format "raw"\n}}\n'
    )
    monkeypatch.setenv("HOME", str(tmp_path))  # ALSA reads $HOME/.asoundrc
    pcm = (np.clip(speech, -1, 1) * 32767).astype("<i2")
    stop = threading.Event()

    def writer():
        block = 640
        while not stop.is_set():
            try:  # PortAudio may probe (open and close) the device: reopen after a broken pipe
                with open(fifo, "wb", buffering=0) as f:
                    # 0.3 s of silence at once keeps the FIFO ahead of the reader: the ALSA file plugin
                    # repeats stale samples when a read finds the FIFO short
                    f.write(np.zeros(3 * SAMPLE_RATE // 10, "<i2").tobytes())
                    start = time.monotonic()
                    for k in range(0, len(pcm), block):
                        f.write(pcm[k : k + block].tobytes())
                        time.sleep(max(0.0, start + (k + block) / SAMPLE_RATE - time.monotonic()))
                    while not stop.is_set():
                        f.write(np.zeros(block, "<i2").tobytes())
                        time.sleep(block / SAMPLE_RATE)
            except BrokenPipeError:
                continue

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    yield "edge_vasa_test_mic"
    stop.set()
    try:  # unblock a writer waiting for a reader
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
    except OSError:
        pass


@pytest.mark.slow
def test_pyaudio_microphone_drives_lip_sync(virtual_mic, grace_hopper_prepared, torch_ranking, speech):
    """A real PyAudio input stream from the virtual ALSA device: the frames' mouth follows the WAV."""
    from edge_vasa.evaluation.scoring import evaluate_frames

    collector = FrameCollector()
    session = session_for(
        grace_hopper_prepared,
        MicrophoneSource(virtual_mic),
        [collector],
        torch_ranking,
        max_latency=60.0,  # this test checks lip sync, not speed: keep every frame however slow the CPU
    )
    needed = int((len(speech) / SAMPLE_RATE + 0.6) * 25)  # the writer's lead-in, the speech, a margin
    session.start()
    try:
        deadline = time.monotonic() + 120
        while len(collector.frames) < needed and time.monotonic() < deadline and not session.wait(0.2):
            pass
    finally:
        session.stop()
        session.wait(10)
    summary = session.summary()
    assert session.error is None and "edge_vasa_test_mic" in summary["source"]
    indices = [i.index for i in collector.infos]
    assert len(indices) >= needed and indices == list(range(len(indices))), summary
    captured = np.concatenate(collector.samples)
    # the captured audio holds the speech (after the writer's lead-in) bit-exact up to int16 rounding
    piece = speech[2 * SAMPLE_RATE : 2 * SAMPLE_RATE + 8000]  # a voiced stretch
    at = int(np.argmax(np.correlate(captured[: 5 * SAMPLE_RATE], piece, "valid")))
    assert np.abs(captured[at : at + 8000] - np.round(piece * 32767) / 32768).max() < 1e-4
    n = min(len(collector.frames), int(len(captured) / SAMPLE_RATE * 25))
    scores = evaluate_frames(np.stack(collector.frames[:n]), captured[: n * 640], 25.0)
    assert scores["lip_sync_correlation"] >= 0.5, scores


class FakeStream:
    def __init__(self, mic):
        self.mic = mic

    def read(self, n, exception_on_overflow=False):
        time.sleep(n / 16000)
        if not self.mic.plugged:
            raise OSError(-9999, "Unanticipated host error")
        self.mic.reads += 1
        return (np.sin(np.arange(n) / 3) * 8000).astype("<i2").tobytes()

    def stop_stream(self):
        pass

    def close(self):
        pass


class FakeMic:
    """A PyAudio stand-in whose one device can be unplugged and plugged back in."""

    paInt16 = 8

    def __init__(self):
        self.plugged, self.reads, self.opens = True, 0, 0
        mic = self

        class PyAudio:
            def get_device_count(self):
                return 1 if mic.plugged else 0

            def get_device_info_by_index(self, i):
                return {"index": 0, "name": "USB mic", "maxInputChannels": 1, "defaultSampleRate": 16000.0}

            def is_format_supported(self, *a, **k):
                return True

            def open(self, **kw):
                if not mic.plugged:
                    raise OSError(-9996, "Invalid input device")
                mic.opens += 1
                return FakeStream(mic)

            def terminate(self):
                pass

        self.PyAudio = PyAudio


def test_microphone_unplugged_then_back(monkeypatch, grace_hopper_prepared, torch_ranking):
    mic = FakeMic()
    monkeypatch.setitem(sys.modules, "pyaudio", mic)
    monkeypatch.setattr("edge_vasa.live.session.RETRY_S", 0.2)
    collector = FrameCollector(downscale=8)
    session = session_for(grace_hopper_prepared, MicrophoneSource("USB"), [collector], torch_ranking)
    session.start()
    try:
        time.sleep(1.5)
        assert mic.reads > 0 and session.source_state.startswith("microphone")
        mic.plugged = False
        time.sleep(2.0)
        assert session.source_state == "lost"
        assert any("Microphone lost" in p for p in session.status()["problems"])
        shown_while_lost = session.stats.shown
        time.sleep(1.0)
        assert session.stats.shown > shown_while_lost, "the avatar stopped while the microphone was gone"
        reads_before = mic.reads
        mic.plugged = True
        time.sleep(1.5)
        assert mic.opens >= 2 and mic.reads > reads_before, "the microphone was not reopened"
        assert session.status()["problems"] == []
    finally:
        session.stop()
        assert session.wait(10)
    assert session.error is None
    assert session.stats.silence_fed_s > 1.0  # the gap was bridged with silence, in real time


def misbehaving_candidate(monkeypatch, good, device: str, misbehave):
    """A ranked candidate named DEVICE that runs GOOD's networks, except that its decoder calls
    MISBEHAVE(call number) before each frame (to raise or hang)."""
    import dataclasses

    from edge_vasa.runtimes import models as models_module

    real_open = models_module.open_backend
    calls = {"n": 0}

    def decoder(backend):
        def run(feeds):
            calls["n"] += 1
            misbehave(calls["n"])
            return backend(feeds)

        return run

    def open_backend(candidate, network, path, threads=None):
        if candidate.device != device:
            return real_open(candidate, network, path, threads)
        backend = real_open(dataclasses.replace(candidate, device="cpu"), network, path, threads)
        return decoder(backend) if network == "decoder_student" else backend

    monkeypatch.setattr(models_module, "open_backend", open_backend)
    return dataclasses.replace(good, candidate=dataclasses.replace(good.candidate, device=device))


def test_backend_failing_mid_run_falls_back(monkeypatch, grace_hopper_prepared, torch_ranking, tmp_path):
    from edge_vasa.core.audio import save_wav

    def fail(call: int) -> None:
        if call > 10:
            raise RuntimeError("device lost")

    good = torch_ranking[0]
    flaky = misbehaving_candidate(monkeypatch, good, "flaky", fail)
    save_wav(tmp_path / "s.wav", load_audio(BUNDLED_SPEECH)[: SAMPLE_RATE * 2])
    collector = FrameCollector(downscale=8)
    with pytest.warns(RuntimeWarning, match="falling back to torch:cpu fp32"):
        session = session_for(
            grace_hopper_prepared,
            FileSource(tmp_path / "s.wav", realtime=False),
            [collector],
            [flaky, good],
            max_latency=60.0,
        )
        assert str(session.models.candidate) == "torch:flaky fp32"
        summary = session.run()
    assert summary["fallbacks"] and "device lost" in summary["fallbacks"][0]
    assert summary["backend"] == "torch:cpu fp32"
    assert [i.index for i in collector.infos] == list(range(50)), "a frame was lost in the fallback"


def test_live_pastes_the_face_back_into_the_whole_photo(
    grace_hopper, grace_hopper_prepared, torch_ranking, tmp_path
):
    """With PHOTO, every frame is the whole photo (its framing, long side within LIVE_MAX_SIDE) with the face
    moving in it, and the sinks are opened at that size; the rows above the head stay the photo's."""
    from PIL import Image

    from edge_vasa.core.audio import save_wav
    from edge_vasa.live.session import LIVE_MAX_SIDE

    save_wav(tmp_path / "s.wav", load_audio(BUNDLED_SPEECH)[: SAMPLE_RATE * 2])
    collector = FrameCollector()
    source = FileSource(tmp_path / "s.wav", realtime=False)
    session = session_for(
        grace_hopper_prepared, source, [collector], torch_ranking, max_latency=60.0, photo=grace_hopper
    )
    session.run()
    frames = np.stack(collector.frames)
    h, w = frames.shape[1:3]
    assert collector.size == (h, w) == session.frame_size and max(h, w) <= LIVE_MAX_SIDE
    assert abs(w / h - grace_hopper.shape[1] / grace_hopper.shape[0]) < 0.01
    photo = np.asarray(Image.fromarray(grace_hopper).resize((w, h), Image.BICUBIC))
    assert np.abs(frames[:, : h // 20].astype(int) - photo[None, : h // 20]).mean() < 6
    assert np.abs(np.diff(frames.astype(np.int16), axis=0)).max() > 40  # and the face moves


@pytest.mark.slow
def test_sigterm_during_recording_leaves_a_playable_mp4(tmp_path, private_cache, torch_ranking):
    from edge_vasa.core.video import probe_video
    from edge_vasa.provenance.record import verify

    out = tmp_path / "rec.mp4"
    env = dict(os.environ, EDGE_VASA_CACHE=str(private_cache))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge_vasa",
            "live",
            "--source",
            f"file:{BUNDLED_SPEECH}",
            "--loop",
            "--no-window",
            "--record",
            str(out),
            "--backend",
            "torch:cpu",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("backend: "), line + proc.stderr.read()
        time.sleep(4)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    info = probe_video(out)
    assert info["n_frames"] >= 25 and info["has_audio"], info
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.mp4"]  # no temp file left behind
    verdict = verify(out)  # live frames carry the watermark; the recording has tags and a signed manifest
    assert verdict.synthetic and verdict.watermark["found"] and verdict.watermark["payload"], verdict
    assert verdict.tags["command"] == "live" and verdict.c2pa["ai_generated"] and not verdict.c2pa["tampered"]
    assert verdict.watermark["payload"]["render_id"] == verdict.tags["render_id"]


def test_watchdog_replaces_a_hung_renderer(monkeypatch, grace_hopper_prepared, torch_ranking, tmp_path):
    """A decoder call that never returns: the watchdog notices the stalled stage, moves to the next backend
    and starts a fresh render thread; frames keep coming."""
    monkeypatch.setattr("edge_vasa.live.session.STALL_S", 1.0)
    release = threading.Event()

    def hang(call: int) -> None:
        if call > 5:
            release.wait(30)  # hangs (until the test ends)

    good = torch_ranking[0]
    hangs = misbehaving_candidate(monkeypatch, good, "hangs", hang)
    collector = FrameCollector(downscale=8)
    session = session_for(
        grace_hopper_prepared, FileSource(BUNDLED_SPEECH, loop=True), [collector], [hangs, good]
    )
    try:
        with pytest.warns(RuntimeWarning) as warned:
            session.start()
            deadline = time.monotonic() + 30
            while str(session.models.candidate) != "torch:cpu fp32" and time.monotonic() < deadline:
                time.sleep(0.1)
            shown = session.stats.shown
            time.sleep(2.0)
        messages = [str(w.message) for w in warned]
        assert any("render stage has stalled" in m for m in messages), messages
        assert any("falling back to torch:cpu fp32" in m for m in messages), messages
        assert session.stats.shown > shown + 5, "no frames after the watchdog's switch"
        assert any("stalled" in f for f in session.summary()["fallbacks"])
    finally:
        release.set()
        session.stop()
        session.wait(10)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--no-window"], ["nothing to show"]),
        (["--source", "radio"], ["unknown source"]),
        (["--source", "stdin", "--stdin-rate", "5", "--no-window", "--serve", "0"], ["stdin-rate"]),
        (["--fps", "24", "--no-window"], ["fps"]),
        (["--max-latency", "9", "--no-window"], ["max-latency"]),
        (["--record", "/nonexistent/x.mp4", "--no-window"], ["does not exist"]),
        (["--record", "x.avi", "--no-window"], [".mp4"]),
        (["--emotion", "bored", "--no-window"], ["emotion"]),
        (["--image", "/nonexistent.jpg", "--record", "ok.mp4", "--no-window"], ["nonexistent.jpg"]),
        (["--backend", "tensorflow", "--record", "ok.mp4", "--no-window"], ["unknown backend"]),
    ],
)
def test_live_bad_options_are_one_line_errors(capsys, monkeypatch, tmp_path, argv, words):
    from edge_vasa.apps.cli import main

    monkeypatch.chdir(tmp_path)
    rc = main(["live", *argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    for word in words:
        assert word in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing written
