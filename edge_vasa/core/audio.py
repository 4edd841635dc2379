"""Speech input: decoding to 16 kHz mono, log-mel features (whole-file and streaming), energy and pitch.

Every per-frame feature here runs at 100 Hz: frame ``t`` describes the 10 ms hop of samples
``[t * HOP, (t + 1) * HOP)``, and a signal of ``N`` samples gives ``ceil(N / HOP)`` frames, so the
features line up with each other and with video frames at any FPS by time alone.
"""

import os
import wave
from fractions import Fraction
from functools import lru_cache

import av
import numpy as np

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.files import atomic_output

SAMPLE_RATE = 16000
MIN_RATE, MAX_RATE = 1000, 768000  # Hz a file may declare; outside this the header is damaged
MAX_AUDIO_S = 3600  # one file at most an hour: 230 MB of samples, hours of rendering; longer is split
MAX_RESAMPLE_TERM = 1000  # bounds the polyphase filter (taps grow with the ratio's terms)
HOP = 160  # 10 ms: 100 feature frames per second
N_FFT = 400  # 25 ms analysis window
N_MELS = 80
F_MAX = 8000.0
LOG_FLOOR = 1e-6  # log_mel = ln(mel power + LOG_FLOOR); silence sits at ln(1e-6) ~= -13.8
SILENT_MEL = float(np.log(LOG_FLOOR))  # log-mel value of digital silence
MEL_FRAMES_PER_VIDEO_FRAME = 4  # 100 Hz features, 25 Hz motion

# The window for frame t is centred on the middle of its hop (t * HOP + HOP / 2), so it starts
# PAD_LEFT samples before the hop.
PAD_LEFT = N_FFT // 2 - HOP // 2

F0_MIN, F0_MAX = 60, 500
TAU_MIN, TAU_MAX = SAMPLE_RATE // F0_MAX, -(-SAMPLE_RATE // F0_MIN)  # period range in samples: 32..267
YIN_WINDOW = 512  # integration window of the difference function (> the longest period)
YIN_THRESHOLD = 0.15  # cumulative-mean-normalised difference below this counts as periodic
VOICED_MIN_RMS = 1e-3  # about -60 dBFS: quieter frames are silence, whatever their periodicity


def load_audio(path: str | os.PathLike) -> np.ndarray:
    """Decode any audio file PyAV (FFmpeg) can read into float32 mono 16 kHz samples in [-1, 1].

    Channels are averaged; the sample rate is converted with a polyphase filter. Damaged packets
    are skipped and a truncated file returns the samples that decode before the cut; only a file
    with nothing decodable fails.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise EdgeVasaError(f"audio file not found: {path}; check the path")
    if not os.path.isfile(path):
        raise EdgeVasaError(f"{path} is not a file; give the path of an audio file")
    if os.path.getsize(path) == 0:
        raise EdgeVasaError(f"audio file is empty (0 bytes): {path}; use a file with recorded speech")
    try:
        with av.open(path) as container:
            if not container.streams.audio:
                raise EdgeVasaError(f"no audio stream in {path}; use a WAV/FLAC/MP3/OGG/M4A file with speech")
            if container.duration and container.duration / av.time_base > MAX_AUDIO_S:
                _too_long(path, container.duration / av.time_base)
            audio, rate = _decode_mono(container, container.streams.audio[0])
    except av.error.FFmpegError as e:
        raise EdgeVasaError(
            f"cannot decode {path} as audio ({e.strerror}): not audio, or damaged; "
            "use a WAV/FLAC/MP3/OGG/M4A file"
        ) from None
    if audio.size == 0:
        raise EdgeVasaError(f"{path} contains no audio samples; use a file with recorded speech")
    if rate and audio.size / rate > MAX_AUDIO_S:  # a header without a duration: counted after decoding
        _too_long(path, audio.size / rate)
    if not MIN_RATE <= rate <= MAX_RATE:
        raise EdgeVasaError(
            f"{path} declares a sample rate of {rate} Hz (damaged header?); use audio at 1-768 kHz"
        )
    # The resampling filter can overshoot on clipped input; the contract is [-1, 1].
    return np.clip(resample(audio, rate), -1.0, 1.0)


def _too_long(path: str, seconds: float) -> None:
    raise EdgeVasaError(
        f"{path} is {seconds / 3600:.1f} h long; at most {MAX_AUDIO_S // 60} min at a time: split it "
        "(e.g. ffmpeg -i IN -f segment -segment_time 600 part%03d.wav) and generate each part"
    )


def resample(audio: np.ndarray, rate: int) -> np.ndarray:
    """Mono float audio at ``rate`` Hz -> float32 at SAMPLE_RATE (polyphase filter). The ratio is exact for
    every usual rate (8 k, 11.025 k, 44.1 k, 48 k, ...); an odd one (a damaged header's 22051 Hz) is
    approximated within 1e-6, since its exact ratio would need a filter of gigabytes."""
    if rate == SAMPLE_RATE:
        return np.asarray(audio, dtype=np.float32)
    from scipy.signal import resample_poly  # 0.5-0.8 s to import: only for audio not at 16 kHz

    ratio = Fraction(SAMPLE_RATE, int(rate)).limit_denominator(MAX_RESAMPLE_TERM)
    return resample_poly(audio, ratio.numerator, ratio.denominator).astype(np.float32)


def _decode_mono(container: av.container.InputContainer, stream: av.AudioStream) -> tuple[np.ndarray, int]:
    """All decodable samples of one stream, channels averaged, at the decoded sample rate."""
    chunks = []
    # The decoder's rate, not the container's: HE-AAC, for one, decodes at twice the declared rate.
    rate = getattr(stream, "sample_rate", 0) or 0  # absent when a damaged header names no codec rate
    to_float = av.AudioResampler(format="fltp")  # only the sample format changes: same rate and channels
    try:
        for packet in container.demux(stream):
            try:
                frames = stream.decode(packet)
            except av.error.InvalidDataError:
                continue  # one damaged packet: skip it, as the ffmpeg CLI does
            for frame in frames:
                rate = frame.sample_rate
                chunks.extend(f.to_ndarray().mean(axis=0) for f in to_float.resample(frame))
    except av.error.FFmpegError:
        # The container breaks off (a truncated file): keep what came before, fail only if nothing did.
        if not chunks:
            raise
    return (np.concatenate(chunks) if chunks else np.zeros(0, np.float32)), rate


def save_wav(path: str | os.PathLike, audio: np.ndarray, sr: int = SAMPLE_RATE) -> None:
    """Write mono float audio as 16-bit PCM WAV, atomically (no partial file if anything fails)."""
    path = os.fspath(path)
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise ValueError(f"save_wav expects mono 1-D audio, got shape {audio.shape}")
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with atomic_output(path) as tmp, open(tmp, "wb") as raw, wave.open(raw, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sr)
        f.writeframes(pcm.tobytes())


@lru_cache
def mel_filters() -> np.ndarray:
    """Mel filterbank (N_FFT // 2 + 1, N_MELS): Slaney mel scale, area-normalised (librosa's default)."""

    def hz_to_mel(f):
        # Slaney scale: linear below 1 kHz, logarithmic above.
        f = np.asarray(f, dtype=np.float64)
        log_part = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
        return np.where(f < 1000.0, 3.0 * f / 200.0, log_part)

    def mel_to_hz(m):
        return np.where(m < 15.0, 200.0 * m / 3.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)))

    fft_freqs = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(F_MAX), N_MELS + 2))
    lower = (fft_freqs[None, :] - edges[:-2, None]) / np.diff(edges)[:-1, None]
    upper = (edges[2:, None] - fft_freqs[None, :]) / np.diff(edges)[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]  # equal area per filter
    weights = weights.T.copy()
    weights.flags.writeable = False  # cached and shared: nobody may change it in place
    return weights


@lru_cache
def _hann() -> np.ndarray:
    window = np.hanning(N_FFT + 1)[:-1]  # periodic Hann, as in torch.hann_window / whisper
    window.flags.writeable = False
    return window


def _windows_to_log_mel(windows: np.ndarray) -> np.ndarray:
    """The per-frame maths shared by log_mel and LogMelStream: (k, N_FFT) samples -> (k, N_MELS) log-mel."""
    spectrum = np.fft.rfft(windows.astype(np.float64) * _hann(), axis=-1)
    power = spectrum.real**2 + spectrum.imag**2
    return np.log(power @ mel_filters() + LOG_FLOOR).astype(np.float32)


def _n_frames(n_samples: int) -> int:
    return -(-n_samples // HOP)


def log_mel(audio: np.ndarray) -> np.ndarray:
    """Log-mel features of a whole 16 kHz signal: (ceil(N / HOP), N_MELS) float32, 100 frames per second."""
    audio = np.asarray(audio, dtype=np.float32)
    n = _n_frames(len(audio))
    # Zero padding so that every frame's window exists: PAD_LEFT before, the rest of the last window after.
    padded = np.zeros((n - 1) * HOP + N_FFT if n else 0, np.float32)
    padded[PAD_LEFT : PAD_LEFT + len(audio)] = audio
    out = np.empty((n, N_MELS), np.float32)
    if n == 0:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    block = 1000  # 10 s of frames at a time keeps the float64 spectra small for long files
    for start in range(0, n, block):
        out[start : start + block] = _windows_to_log_mel(windows[start : start + block])
    return out


class LogMelStream:
    """Incremental log_mel: push samples as they arrive, get each frame as soon as its window is complete.

    The output equals log_mel on the concatenated input, whatever the chunk sizes. Only the samples
    still needed by future windows are kept (under N_FFT + the latest chunk), never the whole signal.
    """

    def __init__(self) -> None:
        # Starts with the left zero padding, exactly as log_mel pads the whole signal.
        self._buffer = np.zeros(PAD_LEFT, np.float32)
        self.samples_pushed = 0
        self.frames_emitted = 0
        self._flushed = False

    def _emit(self, n_frames: int) -> np.ndarray:
        if n_frames <= 0:
            return np.empty((0, N_MELS), np.float32)
        needed = self._buffer[: (n_frames - 1) * HOP + N_FFT]
        frames = _windows_to_log_mel(np.lib.stride_tricks.sliding_window_view(needed, N_FFT)[::HOP])
        self._buffer = self._buffer[n_frames * HOP :]
        self.frames_emitted += n_frames
        return frames

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Add 16 kHz samples; return the (k, N_MELS) frames that became computable (k may be 0)."""
        if self._flushed:
            raise RuntimeError("LogMelStream.push after flush; start a new stream")
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._buffer = np.concatenate([self._buffer, samples])
        self.samples_pushed += len(samples)
        # A frame is ready once its whole window is buffered, but never beyond ceil(N / HOP) frames.
        ready = (len(self._buffer) - N_FFT) // HOP + 1 if len(self._buffer) >= N_FFT else 0
        return self._emit(min(ready, _n_frames(self.samples_pushed) - self.frames_emitted))

    def flush(self) -> np.ndarray:
        """End of signal: return the remaining frames, zero-padding the end as log_mel does."""
        self._flushed = True
        remaining = _n_frames(self.samples_pushed) - self.frames_emitted
        needed = (remaining - 1) * HOP + N_FFT
        if remaining > 0 and len(self._buffer) < needed:
            self._buffer = np.concatenate([self._buffer, np.zeros(needed - len(self._buffer), np.float32)])
        return self._emit(remaining)


def frame_rms(audio: np.ndarray, hop: int = HOP) -> np.ndarray:
    """RMS of each hop (the 100 Hz energy envelope): (ceil(N / hop),) float32, the last hop zero-padded."""
    audio = np.asarray(audio, dtype=np.float32)
    padded = np.zeros(-(-len(audio) // hop) * hop, np.float32)
    padded[: len(audio)] = audio
    return np.sqrt(np.mean(padded.reshape(-1, hop).astype(np.float64) ** 2, axis=1)).astype(np.float32)


def pitch_track(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """YIN pitch of 16 kHz audio at 100 Hz: (f0 in Hz, 0 where unvoiced; voiced flags), ceil(N / HOP) each.

    Good enough to follow intonation (60-500 Hz); no smoothing across frames, so expect the odd octave slip.
    """
    audio = np.asarray(audio, dtype=np.float32)
    n = _n_frames(len(audio))
    # Frame t's integration window is centred on its hop; the lagged copy looks up to TAU_MAX further ahead.
    pad_left = YIN_WINDOW // 2 - HOP // 2
    padded = np.zeros(max(n - 1, 0) * HOP + YIN_WINDOW + TAU_MAX, np.float32)
    padded[pad_left : pad_left + len(audio)] = audio
    segments = np.lib.stride_tricks.sliding_window_view(padded, YIN_WINDOW + TAU_MAX)[::HOP][:n]
    f0, voiced = np.zeros(n, np.float32), np.zeros(n, bool)
    block = 1000  # bounds the float64 spectra for long files, as in log_mel
    for start in range(0, n, block):
        f0[start : start + block], voiced[start : start + block] = _yin(segments[start : start + block])
    return f0, voiced


def _yin(segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """YIN on (k, YIN_WINDOW + TAU_MAX) segments: the window is the first YIN_WINDOW samples of each."""
    segments = segments.astype(np.float64)
    k = len(segments)
    # Difference function d(tau) = sum_j (x_j - x_{j+tau})^2 over the window, via FFT cross-correlation.
    n_fft = 1 << int(np.ceil(np.log2(2 * YIN_WINDOW + TAU_MAX)))
    spectra = np.conj(np.fft.rfft(segments[:, :YIN_WINDOW], n_fft)) * np.fft.rfft(segments, n_fft)
    xcorr = np.fft.irfft(spectra, n_fft)[:, : TAU_MAX + 1]
    energy = np.concatenate([np.zeros((k, 1)), np.cumsum(segments**2, axis=1)], axis=1)
    taus = np.arange(TAU_MAX + 1)
    lagged_energy = energy[:, taus + YIN_WINDOW] - energy[:, taus]
    diff = np.maximum(energy[:, [YIN_WINDOW]] + lagged_energy - 2.0 * xcorr, 0.0)

    # Cumulative-mean-normalised difference: removes the bias towards tau = 0.
    cmndf = np.ones_like(diff)
    cmndf[:, 1:] = diff[:, 1:] * taus[1:] / np.maximum(np.cumsum(diff[:, 1:], axis=1), 1e-12)

    # The period is the first local minimum that dips under the threshold.
    mid = cmndf[:, TAU_MIN:TAU_MAX]
    is_min = (mid <= cmndf[:, TAU_MIN - 1 : TAU_MAX - 1]) & (mid <= cmndf[:, TAU_MIN + 1 :])
    is_dip = is_min & (mid < YIN_THRESHOLD)
    tau = TAU_MIN + np.argmax(is_dip, axis=1)

    # Parabolic interpolation around the dip for sub-sample precision.
    rows = np.arange(k)
    a, b, c = cmndf[rows, tau - 1], cmndf[rows, tau], cmndf[rows, tau + 1]
    curvature = a - 2.0 * b + c
    shift = 0.5 * (a - c) / np.where(np.abs(curvature) > 1e-12, curvature, np.inf)
    period = tau + np.clip(shift, -1.0, 1.0)

    rms = np.sqrt(energy[:, YIN_WINDOW] / YIN_WINDOW)
    voiced = is_dip.any(axis=1) & (rms > VOICED_MIN_RMS)
    return np.where(voiced, SAMPLE_RATE / period, 0.0), voiced


def mel_for_frames(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """Log-mel of 16 kHz audio cut or padded with silence to exactly 4 mel frames per video frame."""
    mel = log_mel(audio)
    want = n_frames * MEL_FRAMES_PER_VIDEO_FRAME
    if len(mel) < want:
        mel = np.concatenate([mel, np.full((want - len(mel), mel.shape[1]), SILENT_MEL, np.float32)])
    return mel[:want]
