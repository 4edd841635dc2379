"""edge_vasa.core.video: MP4 writing (H.264 + AAC, atomic, A/V in sync), reading and probing."""

import os
import shutil
import subprocess

import av
import numpy as np
import pytest

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.video import probe_video, read_video, write_mp4

SR = 16000
FPS = 25
FLASHES = (10, 25, 40)  # video frames that flash white; the audio clicks at the same instants


def gradient_frames(n: int, height: int = 64, width: int = 96):
    """A generator (no len) of smooth moving frames that survive compression recognisably."""
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(n):
        yield np.stack([(xx * 2 + i * 4) % 256, (yy * 3) % 256, np.full_like(xx, 128)], axis=-1).astype(
            np.uint8
        )


def click_train(seconds: float = 2.0) -> tuple[list[np.ndarray], np.ndarray]:
    frames = [np.zeros((64, 64, 3), np.uint8) for _ in range(int(seconds * FPS))]
    audio = np.zeros(int(seconds * SR), np.float32)
    for f in FLASHES:
        frames[f][:] = 255
        start = f * SR // FPS
        audio[start : start + 16] = 0.9  # 1 ms click starting exactly with the flash frame
    return frames, audio


def click_times(audio: np.ndarray, start_time: float) -> np.ndarray:
    """Onset of each click: the first sample within 100 ms of the expected time above half its peak."""
    times = []
    for f in FLASHES:
        lo = int((f / FPS - start_time - 0.1) * SR)
        window = np.abs(audio[max(lo, 0) : lo + int(0.2 * SR)])
        times.append(start_time + (max(lo, 0) + np.argmax(window > 0.5 * window.max())) / SR)
    return np.array(times)


def test_write_and_read_back(tmp_path):
    audio = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(1.6 * SR)) / SR)).astype(np.float32)
    path = tmp_path / "out.mp4"
    assert write_mp4(
        path, gradient_frames(40), FPS, audio, metadata={"comment": "hi", "edge_vasa_seed": "7"}
    ) == str(path)
    info = probe_video(path)
    assert info["n_frames"] == 40 and info["fps"] == FPS
    assert (info["width"], info["height"]) == (96, 64)
    assert info["duration"] == pytest.approx(1.6, abs=0.01)
    assert info["has_audio"] and info["sample_rate"] == SR
    assert info["audio_offset"] == 0.0
    assert info["metadata"]["comment"] == "hi" and info["metadata"]["edge_vasa_seed"] == "7"

    frames, fps, decoded = read_video(path)
    assert frames.shape == (40, 64, 96, 3) and frames.dtype == np.uint8 and fps == FPS
    assert np.abs(frames.astype(int) - np.stack(list(gradient_frames(40)))).mean() < 4
    assert decoded.dtype == np.float32 and len(decoded) == len(audio)
    assert np.corrcoef(decoded[2000:-2000], audio[2000:-2000])[0, 1] > 0.99
    assert os.listdir(tmp_path) == ["out.mp4"]


def test_file_layout_and_codecs(tmp_path):
    path = write_mp4(tmp_path / "out.mp4", gradient_frames(5), FPS, np.zeros(SR // 5, np.float32))
    data = open(path, "rb").read()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart
    with av.open(path) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, video.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert (audio.codec_context.name, audio.codec_context.channels) == ("aac", 1)


def test_without_audio_and_fractional_fps(tmp_path):
    path = write_mp4(tmp_path / "mute.mp4", gradient_frames(30), 30000 / 1001)
    info = probe_video(path)
    assert not info["has_audio"] and info["audio_offset"] is None
    assert info["fps"] == pytest.approx(29.97, abs=0.01) and info["n_frames"] == 30
    assert read_video(path)[2] is None


def test_av_offset_with_pyav(tmp_path):
    frames, audio = click_train()
    path = write_mp4(tmp_path / "sync.mp4", iter(frames), FPS, audio)
    with av.open(path) as container:
        flash_times = [f.time for f in container.decode(video=0) if f.to_ndarray().mean() > 128]
    with av.open(path) as container:
        decoded = list(container.decode(audio=0))
    samples = np.concatenate([f.to_ndarray()[0] for f in decoded])
    np.testing.assert_allclose(flash_times, np.array(FLASHES) / FPS, atol=1e-6)
    # Without pts on the audio frames the clicks come 64 ms (1024 samples) late.
    np.testing.assert_allclose(click_times(samples, decoded[0].time), flash_times, atol=0.01)


@pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None, reason="needs ffmpeg")
def test_av_offset_with_ffmpeg_cli(tmp_path):
    frames, audio = click_train()
    path = write_mp4(tmp_path / "sync.mp4", frames, FPS, audio)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,start_time", "-of", "csv=p=0", path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    starts = {kind: float(start) for kind, start in (line.split(",") for line in probe)}
    assert abs(starts["audio"] - starts["video"]) < 0.01
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", path, "-map", "0:a", "-f", "f32le", "-ac", "1", "-ar", str(SR), "-"],
        capture_output=True,
        check=True,
    ).stdout
    decoded = np.frombuffer(raw, np.float32)
    flash_times = starts["video"] + np.array(FLASHES) / FPS
    np.testing.assert_allclose(click_times(decoded, starts["audio"]), flash_times, atol=0.01)


def failing_frames(n_good: int, error: BaseException):
    yield from gradient_frames(n_good)
    raise error


@pytest.mark.parametrize(
    "error", [RuntimeError("model crashed"), KeyboardInterrupt(), FileNotFoundError("input")]
)
def test_failure_mid_write_leaves_nothing(tmp_path, error):
    with pytest.raises(type(error)):  # passes through unchanged, even an OSError
        write_mp4(tmp_path / "out.mp4", failing_frames(10, error), FPS, np.zeros(SR, np.float32))
    assert os.listdir(tmp_path) == []


def test_failure_keeps_the_previous_file(tmp_path):
    path = write_mp4(tmp_path / "out.mp4", gradient_frames(5), FPS)
    before = open(path, "rb").read()
    with pytest.raises(RuntimeError):
        write_mp4(path, failing_frames(3, RuntimeError("boom")), FPS)
    assert open(path, "rb").read() == before and os.listdir(tmp_path) == ["out.mp4"]


def test_odd_size_is_an_error(tmp_path):
    with pytest.raises(EdgeVasaError, match="odd") as info:
        write_mp4(tmp_path / "odd.mp4", [np.zeros((63, 64, 3), np.uint8)], FPS)
    assert "\n" not in str(info.value)
    assert os.listdir(tmp_path) == []


def test_bad_frames_are_programming_errors(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        write_mp4(tmp_path / "a.mp4", iter([]), FPS)
    with pytest.raises(ValueError, match="uint8"):
        write_mp4(tmp_path / "b.mp4", [np.zeros((64, 64, 3), np.float32)], FPS)
    with pytest.raises(ValueError, match="size changed"):
        write_mp4(tmp_path / "c.mp4", [np.zeros((64, 64, 3), np.uint8), np.zeros((32, 64, 3), np.uint8)], FPS)
    assert os.listdir(tmp_path) == []


def test_unwritable_folder(tmp_path):
    (tmp_path / "a_file").write_text("x")
    for folder in (tmp_path / "missing", tmp_path / "a_file"):
        with pytest.raises(EdgeVasaError, match="writable output folder") as info:
            write_mp4(folder / "out.mp4", gradient_frames(2), FPS)
        assert "\n" not in str(info.value)
    with pytest.raises(EdgeVasaError, match="is a folder"):
        write_mp4(tmp_path, gradient_frames(2), FPS)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    with pytest.raises(EdgeVasaError, match="writable output folder"):
        write_mp4(folder / "out.mp4", gradient_frames(2), FPS)


def test_read_errors(tmp_path):
    with pytest.raises(EdgeVasaError, match="not found"):
        read_video(tmp_path / "nope.mp4")
    (tmp_path / "text.mp4").write_text("not a video\n" * 20)
    with pytest.raises(EdgeVasaError, match="cannot read"):
        probe_video(tmp_path / "text.mp4")
    with av.open(str(tmp_path / "sound.wav"), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=SR)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1600), np.int16), "s16", "mono")
        frame.sample_rate = SR
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(EdgeVasaError, match="no video stream"):
        read_video(tmp_path / "sound.wav")
