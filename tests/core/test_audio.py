"""edge_vasa.core.audio: decoding any format to 16 kHz mono, log-mel (whole and streaming), energy, pitch."""

import math
import os
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_vasa.core.audio import (
    HOP,
    LOG_FLOOR,
    N_FFT,
    N_MELS,
    SAMPLE_RATE,
    LogMelStream,
    frame_rms,
    load_audio,
    log_mel,
    mel_filters,
    pitch_track,
    save_wav,
)
from edge_vasa.core.errors import EdgeVasaError

SPEECH = Path("/usr/share/sounds/alsa/Front_Center.wav")


def sine(freq: float, sr: int, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(int(sr * seconds)) / sr)


def encode(path: Path, audio: np.ndarray, sr: int, codec: str, fmt: str, channels: int = 1) -> Path:
    """Write audio with PyAV (the encoder re-frames and converts the sample format as it needs)."""
    layout = "stereo" if channels == 2 else "mono"
    data = np.ascontiguousarray(np.tile(audio.astype(np.float32), (channels, 1)))
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=sr)
        stream.layout = layout
        for k in range(0, data.shape[1], 4096):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[:, k : k + 4096]), "fltp", layout)
            frame.sample_rate, frame.pts = sr, k
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def peak_hz(audio: np.ndarray) -> float:
    """Frequency of the strongest FFT bin of the middle 1 s (avoids the resampler's edges)."""
    mid = audio[max(0, (len(audio) - SAMPLE_RATE) // 2) :][:SAMPLE_RATE]
    spectrum = np.abs(np.fft.rfft(mid * np.hanning(len(mid))))
    return float(np.fft.rfftfreq(len(mid), 1 / SAMPLE_RATE)[spectrum.argmax()])


def middle_rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(audio[len(audio) // 4 : -len(audio) // 4] ** 2)))


# --- load_audio: formats, rates, channels -----------------------------------------------------------------


@pytest.mark.parametrize(
    "sr, channels, subtype",
    [
        (48000, 2, "PCM_16"),
        (8000, 1, "PCM_16"),
        (44100, 1, "PCM_16"),
        (22050, 1, "FLOAT"),
        (16000, 1, "PCM_32"),
    ],
)
def test_wav_any_rate_channels_and_sample_format(tmp_path, sr, channels, subtype):
    x = sine(1000, sr, 2.0)
    path = tmp_path / "tone.wav"
    sf.write(path, np.tile(x[:, None], (1, channels)), sr, subtype=subtype)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) == 2 * SAMPLE_RATE
    assert peak_hz(y) == pytest.approx(1000, abs=2)
    assert middle_rms(y) == pytest.approx(0.5 / math.sqrt(2), rel=0.01)


def test_stereo_is_averaged(tmp_path):
    left, right = sine(440, 48000, 1.0, 0.8), np.zeros(48000)
    path = tmp_path / "lr.wav"
    sf.write(path, np.stack([left, right], axis=1), 48000, subtype="FLOAT")
    assert middle_rms(load_audio(path)) == pytest.approx(0.4 / math.sqrt(2), rel=0.01)


def test_resampled_tone_is_clean(tmp_path):
    # Everything more than 20 Hz away from the tone is at least 70 dB down: no aliasing or images.
    for sr in (48000, 44100, 22050):
        path = tmp_path / f"tone{sr}.wav"
        sf.write(path, sine(1000, sr, 2.0), sr, subtype="FLOAT")
        y = load_audio(path)[SAMPLE_RATE // 4 : -SAMPLE_RATE // 4]
        spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
        freqs = np.fft.rfftfreq(len(y), 1 / SAMPLE_RATE)
        leak = spectrum[np.abs(freqs - 1000) > 20].max() / spectrum.max()
        assert 20 * np.log10(leak) < -70, sr


@pytest.mark.parametrize(
    "name, codec, fmt, sr",
    [
        ("tone.flac", "flac", "flac", 44100),
        ("tone.mp3", "libmp3lame", "mp3", 44100),
        ("tone.ogg", "libopus", "ogg", 48000),
        ("tone.m4a", "aac", "ipod", 44100),
    ],
)
def test_compressed_formats(tmp_path, name, codec, fmt, sr):
    path = encode(tmp_path / name, sine(1000, sr, 2.0), sr, codec, fmt, channels=2)
    y = load_audio(path)
    # Lossy codecs add or trim up to one codec frame at the ends.
    assert abs(len(y) - 2 * SAMPLE_RATE) < 0.05 * SAMPLE_RATE
    assert peak_hz(y) == pytest.approx(1000, abs=2)
    assert middle_rms(y) == pytest.approx(0.5 / math.sqrt(2), rel=0.05)


def test_silence_is_zeros_not_an_error(tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(44100), 44100, subtype="PCM_16")
    y = load_audio(path)
    assert len(y) == SAMPLE_RATE and np.all(y == 0)


def test_clipped_audio_stays_in_range(tmp_path):
    # A full-scale square wave makes the resampling filter ring past +-1; a float WAV can hold > 1.
    square = np.sign(sine(300, 48000, 1.0))
    sf.write(tmp_path / "square.wav", square, 48000, subtype="PCM_16")
    sf.write(tmp_path / "loud.wav", 1.7 * square, 48000, subtype="FLOAT")
    for name in ("square.wav", "loud.wav"):
        y = load_audio(tmp_path / name)
        assert np.abs(y).max() <= 1.0
        assert np.abs(y).max() > 0.99


def test_real_speech():
    if not SPEECH.exists():
        pytest.skip("alsa-utils speech WAVs not installed")
    y = load_audio(SPEECH)
    assert abs(len(y) / SAMPLE_RATE - 1.428) < 0.01
    assert 0.01 < middle_rms(y) < 0.5
    f0, voiced = pitch_track(y)
    assert 0.15 < voiced.mean() < 0.8
    assert 120 < np.median(f0[voiced]) < 350  # a female voice


# --- load_audio: bad input ------------------------------------------------------------------------------


def expect_error(path, *words: str) -> str:
    with pytest.raises(EdgeVasaError) as info:
        load_audio(path)
    message = str(info.value)
    assert "\n" not in message and ";" in message  # one line: the problem; what to do
    for word in words:
        assert word in message
    return message


def test_missing_file(tmp_path):
    expect_error(tmp_path / "nope.wav", "not found", "nope.wav")


def test_directory(tmp_path):
    expect_error(tmp_path, "not a file")


def test_empty_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    expect_error(tmp_path / "empty.wav", "empty")


def test_zero_sample_wav(tmp_path):
    sf.write(tmp_path / "zero.wav", np.zeros(0), 16000, subtype="PCM_16")
    expect_error(tmp_path / "zero.wav", "no audio samples")


def test_text_file_named_wav(tmp_path):
    (tmp_path / "notes.wav").write_text("this is not audio\n" * 50)
    expect_error(tmp_path / "notes.wav", "cannot decode", "notes.wav")


def test_video_without_audio_stream(tmp_path):
    with av.open(str(tmp_path / "silent.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), "rgb24")))
        container.mux(stream.encode(None))
    expect_error(tmp_path / "silent.mp4", "no audio stream")


@pytest.mark.parametrize("name, codec, fmt", [("t.wav", "pcm_s16le", "wav"), ("t.mp3", "libmp3lame", "mp3")])
def test_truncated_file_returns_what_decodes(tmp_path, name, codec, fmt):
    path = encode(tmp_path / name, sine(440, 48000, 2.0), 48000, codec, fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # cut mid-stream, mid-packet
    y = load_audio(path)
    assert abs(len(y) - SAMPLE_RATE) < 0.1 * SAMPLE_RATE
    assert peak_hz(y) == pytest.approx(440, abs=2)
    path.write_bytes(data[:30])  # cut inside the header: nothing usable
    expect_error(path, "cannot decode")


def test_damaged_packets_are_skipped(tmp_path):
    path = encode(tmp_path / "t.mp3", sine(440, 44100, 2.0), 44100, "libmp3lame", "mp3")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 300] = np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    y = load_audio(path)
    assert len(y) > 1.5 * SAMPLE_RATE  # the damage costs a few frames, not the second half


def test_save_wav_roundtrip_and_atomic(tmp_path):
    x = sine(440, SAMPLE_RATE, 0.5).astype(np.float32)
    x[:10] = 2.0  # out of range: clipped, not wrapped
    save_wav(tmp_path / "out.wav", x)
    info = sf.info(tmp_path / "out.wav")
    assert (info.samplerate, info.channels, info.subtype) == (SAMPLE_RATE, 1, "PCM_16")
    y = load_audio(tmp_path / "out.wav")
    assert np.all(y[:10] > 0.99)
    np.testing.assert_allclose(y[10:], x[10:], atol=1 / 32767)
    assert os.listdir(tmp_path) == ["out.wav"]  # no temp file left
    with pytest.raises(EdgeVasaError, match="cannot write"):
        save_wav(tmp_path / "no" / "such" / "dir.wav", x)


# --- log-mel ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 159, 160, 161, 399, 400, 12345, 16000])
def test_log_mel_shape(n):
    mel = log_mel(np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.1)
    assert mel.shape == (math.ceil(n / HOP), N_MELS) and mel.dtype == np.float32
    assert np.all(np.isfinite(mel))


def test_log_mel_silence_is_the_floor():
    np.testing.assert_allclose(log_mel(np.zeros(1600, np.float32)), np.log(LOG_FLOOR), rtol=1e-6)


def test_mel_filterbank():
    filters = mel_filters()
    assert filters.shape == (N_FFT // 2 + 1, N_MELS)
    assert np.all(filters.max(axis=0) > 0)  # no empty filter at this resolution
    assert filters[-1].sum() == 0  # nothing at exactly 8 kHz (fmax)


@pytest.mark.parametrize("freq, mel_bin", [(1000, 26), (4000, 62)])
def test_tone_peaks_in_its_mel_bin(freq, mel_bin):
    # Slaney mel: 1 kHz is mel 15, 8 kHz is mel 45.245; the 80 centres are spaced 45.245 / 81 = 0.5586,
    # so 1 kHz falls closest to centre 27 (bin 26) and 4 kHz (mel 35.16) to centre 63 (bin 62).
    mel = log_mel(sine(freq, SAMPLE_RATE, 0.5).astype(np.float32))
    assert mel[5:-5].mean(axis=0).argmax() == mel_bin


def test_log_mel_level_is_absolute():
    # No per-file normalisation: halving the amplitude lowers the tone's bin by ln(4).
    loud = log_mel(sine(1000, SAMPLE_RATE, 0.5, amp=0.5).astype(np.float32))[10:-10, 26]
    quiet = log_mel(sine(1000, SAMPLE_RATE, 0.5, amp=0.25).astype(np.float32))[10:-10, 26]
    np.testing.assert_allclose(loud - quiet, np.log(4), atol=1e-3)


def test_frame_describes_its_own_hop():
    # A click in hop 50 lights up frame 50 most: the window is centred on the hop, not on its start.
    x = np.zeros(16000, np.float32)
    x[50 * HOP + HOP // 2] = 1.0
    assert log_mel(x).sum(axis=1).argmax() == 50


def stream_in_chunks(audio: np.ndarray, sizes) -> np.ndarray:
    stream = LogMelStream()
    out, pos, sizes = [], 0, list(sizes)
    while pos < len(audio):
        size = sizes[len(out) % len(sizes)]
        out.append(stream.push(audio[pos : pos + size]))
        pos += size
    out.append(stream.flush())
    mel = np.concatenate(out)
    assert stream.frames_emitted == len(mel)
    return mel


@pytest.mark.parametrize("sizes", [[1], [7], [160], [1600], [399, 400, 401], [3, 1000, 17, 0, 250]])
@pytest.mark.parametrize("n", [1, 279, 281, 16001, 24017])
def test_stream_equals_whole(sizes, n):
    audio = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.2
    np.testing.assert_allclose(stream_in_chunks(audio, sizes), log_mel(audio), rtol=0, atol=1e-4)


@settings(max_examples=60, deadline=None, database=None)
@given(
    n=st.integers(0, 5000),
    sizes=st.lists(st.integers(1, 900), min_size=1, max_size=12),
    seed=st.integers(0, 2**16),
)
def test_stream_equals_whole_random_chunks(n, sizes, seed):
    audio = np.random.default_rng(seed).uniform(-1, 1, n).astype(np.float32)
    np.testing.assert_allclose(stream_in_chunks(audio, sizes), log_mel(audio), rtol=0, atol=1e-4)


def test_stream_real_speech():
    if not SPEECH.exists():
        pytest.skip("alsa-utils speech WAVs not installed")
    audio = load_audio(SPEECH)
    chunks = np.random.default_rng(1).integers(1, 2000, 100)
    np.testing.assert_allclose(stream_in_chunks(audio, chunks), log_mel(audio), rtol=0, atol=1e-4)


def test_stream_is_prompt_and_bounded():
    # Frame t needs samples up to t*HOP + 280 (its window's end): it must come out as soon as they do,
    # and the stream keeps only what future windows need.
    stream = LogMelStream()
    audio = np.random.default_rng(0).standard_normal(SAMPLE_RATE * 3).astype(np.float32)
    for pos in range(0, len(audio), 50):
        stream.push(audio[pos : pos + 50])
        pushed = min(pos + 50, len(audio))
        ready = (pushed + N_FFT // 2 - HOP // 2 - N_FFT) // HOP + 1
        assert stream.frames_emitted == max(0, ready)
        assert stream._buffer.size < N_FFT + 50
    stream.flush()
    assert stream.frames_emitted == math.ceil(len(audio) / HOP)


def test_empty_stream():
    stream = LogMelStream()
    assert stream.push(np.zeros(0, np.float32)).shape == (0, N_MELS)
    assert stream.flush().shape == (0, N_MELS)
    with pytest.raises(RuntimeError):
        stream.push(np.zeros(10, np.float32))


# --- energy and pitch ---------------------------------------------------------------------------------


def test_frame_rms():
    rms = frame_rms(sine(1000, SAMPLE_RATE, 1.1, amp=0.5)[:16050])
    assert rms.shape == (101,)
    np.testing.assert_allclose(rms[:100], 0.5 / math.sqrt(2), rtol=1e-3)
    assert frame_rms(np.zeros(0)).shape == (0,)


@pytest.mark.parametrize("freq", [70, 110, 220, 440])
def test_pitch_of_tones(freq):
    f0, voiced = pitch_track(sine(freq, SAMPLE_RATE, 1.0, amp=0.3))
    assert f0.shape == voiced.shape == (100,)
    assert voiced[5:-5].all()
    np.testing.assert_allclose(f0[5:-5], freq, rtol=0.01)


def test_pitch_follows_a_glide_and_ignores_silence_and_noise():
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    glide = 0.3 * np.sin(2 * np.pi * np.cumsum(100 + 200 * t) / SAMPLE_RATE)  # 100 -> 300 Hz in 1 s
    audio = np.concatenate([glide, np.zeros(8000), 0.1 * np.random.default_rng(0).standard_normal(8000)])
    f0, voiced = pitch_track(audio)
    assert len(f0) == 200
    centres = (np.arange(10, 90) + 0.5) / 100
    np.testing.assert_allclose(f0[10:90], 100 + 200 * centres, rtol=0.02)
    assert not voiced[110:145].any() and np.all(f0[110:145] == 0)  # silence
    assert voiced[155:195].mean() < 0.1  # white noise
