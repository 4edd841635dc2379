"""MP4 output (H.264 + AAC, in-process with PyAV) and decoding for tests and tracking.

Audio frames always carry ``pts`` and ``time_base``: without them the AAC encoder's 1024-sample
priming delay stays in the stream and the audio plays 64 ms late at 16 kHz (see the A/V sync note).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction

import av
import numpy as np

from edge_vasa.core.audio import SAMPLE_RATE, load_audio
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.files import atomic_output

AAC_FRAME = 1024  # samples per AAC-LC frame; the encoder takes exactly this many except in the last one


class Mp4Writer:
    """An MP4 written as frames and audio arrive (live recording): H.264 video with pts in frames, AAC audio
    with pts in samples, both from time 0. The file appears at ``path`` only on ``close``; ``abort`` (or any
    failure) leaves nothing behind.

        with Mp4Writer("out.mp4", fps=25, audio=True) as mp4:
            mp4.add_frame(frame)               # or add_frame(frame, index) to skip dropped frames
            mp4.add_audio(samples)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        audio: bool = True,
        sample_rate: int = SAMPLE_RATE,
        crf: int = 20,
        metadata: dict[str, str] | None = None,
        finish: Callable[[str], None] | None = None,
    ):
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path, self.rate, self.sample_rate = (
            os.fspath(path),
            Fraction(fps).limit_denominator(1001),
            sample_rate,
        )
        self.crf, self.metadata, self.has_audio = crf, metadata or {}, audio
        self.finish = finish  # called on the complete temp file before it moves into place (C2PA signing)
        self.stack = contextlib.ExitStack()
        self.tmp = self.stack.enter_context(atomic_output(self.path))
        self.container = self.video = self.sound = None
        self.size: tuple[int, int] | None = None
        self.next_index = 0
        self.pending = np.zeros(0, np.float32)  # audio not yet in whole AAC frames
        self.audio_pos = 0

    def _start(self, frame: np.ndarray) -> None:
        self.size = _check_frame(frame, None)
        # faststart: moov before mdat, so players can start before the whole file arrives;
        # use_metadata_tags: keep arbitrary tag keys (provenance), not only the standard mp4 ones.
        flags = {"movflags": "+faststart+use_metadata_tags"}
        self.container = av.open(self.tmp, "w", format="mp4", options=flags)
        self.container.metadata.update(self.metadata)
        self.video = self.container.add_stream("libx264", rate=self.rate)
        self.video.height, self.video.width = self.size
        self.video.pix_fmt = "yuv420p"
        self.video.codec_context.options = {"crf": str(self.crf), "preset": "veryfast"}
        if self.has_audio:
            self.sound = self.container.add_stream("aac", rate=self.sample_rate)
            self.sound.layout = "mono"

    def add_frame(self, frame: np.ndarray, index: int | None = None) -> None:
        """Frame number INDEX (default: the next one); numbers skipped by dropped frames stay gaps."""
        if self.container is None:
            self._start(frame)
        _check_frame(frame, self.size)
        index = self.next_index if index is None else index
        if index < self.next_index:
            return
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        vf.pts, vf.time_base = index, 1 / self.rate
        self._mux(self.video.encode(vf))
        self.next_index = index + 1
        if self.has_audio:  # interleave: audio written up to the video's time, in whole AAC frames
            self._write_audio(int(self.next_index * self.sample_rate / self.rate))

    def add_audio(self, samples: np.ndarray) -> None:
        """Mono float samples that follow the ones added before (the first starts at time 0)."""
        samples = np.clip(np.asarray(samples, np.float32).reshape(-1), -1.0, 1.0)
        self.pending = np.concatenate([self.pending, samples])
        if self.container is not None:
            self._write_audio(int(self.next_index * self.sample_rate / self.rate))

    def _write_audio(self, until: int | None) -> None:
        while len(self.pending) >= AAC_FRAME and (until is None or self.audio_pos + AAC_FRAME <= until):
            self._mux(
                self.sound.encode(_audio_frame(self.pending, 0, AAC_FRAME, self.sample_rate, self.audio_pos))
            )
            self.pending, self.audio_pos = self.pending[AAC_FRAME:], self.audio_pos + AAC_FRAME

    def _mux(self, packets) -> None:
        try:
            self.container.mux(packets)
        except av.error.FFmpegError as e:
            self.abort()
            raise EdgeVasaError(
                f"cannot write video {self.path} ({e.strerror}); check the free disk space"
            ) from None

    def close(self) -> str:
        """Finish the file (flushes encoders) and move it into place."""
        if self.container is None:
            self.abort()
            raise ValueError("the MP4 got no frames")
        self._mux(self.video.encode(None))
        if self.has_audio:
            self._write_audio(None)
            if len(self.pending):
                self._mux(
                    self.sound.encode(
                        _audio_frame(self.pending, 0, len(self.pending), self.sample_rate, self.audio_pos)
                    )
                )
            self._mux(self.sound.encode(None))
        self.container.close()
        self.container = None
        if self.finish is not None:
            try:
                self.finish(self.tmp)
            except BaseException:
                self.abort()
                raise
        self.stack.close()
        return self.path

    def abort(self) -> None:
        """Stop and remove the partial file."""
        container, self.container = self.container, None
        with contextlib.suppress(Exception):
            container.close()
        self.stack.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_mp4(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float,
    audio: np.ndarray | None = None,
    sample_rate: int = SAMPLE_RATE,
    crf: int = 20,
    metadata: dict[str, str] | None = None,
    finish: Callable[[str], None] | None = None,
) -> str:
    """Encode RGB uint8 frames (H x W x 3, H and W even) and optional mono float audio into an MP4.

    ``frames`` may be a generator: frames are encoded as they come, with the audio interleaved
    alongside. The file appears at ``path`` only when complete; on any failure (including
    KeyboardInterrupt) neither it nor the temp file is left behind. ``metadata`` becomes container
    tags (any key is kept); ``finish`` gets the complete temp file before it is renamed. Both
    streams start at time 0; their lengths are the caller's business.
    """
    with Mp4Writer(path, fps, audio is not None, sample_rate, crf, metadata, finish) as mp4:
        if audio is not None:
            mp4.add_audio(audio)
        count = 0
        for frame in frames:
            mp4.add_frame(frame)
            count += 1
        if count == 0:
            raise ValueError("write_mp4 got no frames")
    return os.fspath(path)


def _check_frame(frame: np.ndarray, size: tuple[int, int] | None) -> tuple[int, int]:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise ValueError(f"video frames must be H x W x 3 uint8 RGB arrays, got {got}")
    height, width = frame.shape[:2]
    if size is None and (height % 2 or width % 2):
        raise EdgeVasaError(f"video size {width}x{height} is odd; H.264 needs an even width and height")
    if size is not None and (height, width) != size:
        raise ValueError(f"video frame size changed from {size[1]}x{size[0]} to {width}x{height}")
    return height, width


def _audio_frame(audio: np.ndarray, start: int, length: int, sample_rate: int, pts: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(audio[None, start : start + length]), format="fltp", layout="mono"
    )
    # pts in samples + time_base let the encoder and muxer account for the AAC priming delay.
    frame.sample_rate = sample_rate
    frame.pts, frame.time_base = pts, Fraction(1, sample_rate)
    return frame


def _open_video(path: str | os.PathLike) -> av.container.InputContainer:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise EdgeVasaError(f"video file not found: {path}; check the path")
    try:
        container = av.open(path)
    except av.error.FFmpegError as e:
        raise EdgeVasaError(f"cannot read {path} as video ({e.strerror}); use an MP4/MOV/MKV file") from None
    except UnicodeDecodeError:  # PyAV decodes the container's metadata as UTF-8 when it opens it
        raise EdgeVasaError(
            f"cannot read {path} as video (damaged metadata); use an intact MP4/MOV/MKV file"
        ) from None
    if not container.streams.video:
        container.close()
        raise EdgeVasaError(f"no video stream in {path}; use an MP4/MOV/MKV file with video")
    return container


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, float, np.ndarray | None]:
    """Decode a whole video: (frames (T, H, W, 3) uint8 RGB, fps, audio float32 16 kHz mono or None)."""
    with _open_video(path) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        frames = list(_decoded(container, path))
        sound = container.streams.audio[0] if container.streams.audio else None
        # The AAC encoder pads its last frame and FFmpeg decodes the padding too; the declared
        # stream duration (from the MP4 edit list) says where the real audio ends.
        audio_len = None
        if sound and sound.duration:
            audio_len = round(sound.duration * sound.time_base * SAMPLE_RATE)
    if not frames:
        raise EdgeVasaError(f"no video frames decode from {path}; the file is empty or damaged")
    audio = load_audio(path)[:audio_len] if sound else None
    return np.stack(frames), fps, audio


def frames_of(path: str | os.PathLike, limit: int | None = None) -> Iterator[np.ndarray]:
    """The first LIMIT frames (all when None) of a video as RGB uint8 arrays, decoded one at a time."""
    with _open_video(path) as container:
        yield from _decoded(container, path, limit)


def _decoded(
    container: av.container.InputContainer, path: str | os.PathLike, limit: int | None = None
) -> Iterator[np.ndarray]:
    try:
        for i, frame in enumerate(container.decode(container.streams.video[0])):
            if limit is not None and i >= limit:
                return
            yield frame.to_ndarray(format="rgb24")
    except av.error.FFmpegError as e:
        raise EdgeVasaError(f"cannot decode video in {path} ({e.strerror}); the file is damaged") from None


def probe_video(path: str | os.PathLike) -> dict:
    """Stream facts without decoding pictures.

    Keys: duration (s), fps, n_frames, width, height, has_audio, video_start (s), audio_start (s or
    None), audio_offset (audio_start - video_start, s, or None), sample_rate (or None), metadata (tags).
    """
    with _open_video(path) as container:
        video = container.streams.video[0]
        n_frames = video.frames or sum(1 for p in container.demux(video) if p.size)
        audio = container.streams.audio[0] if container.streams.audio else None
        video_start = float((video.start_time or 0) * video.time_base)
        audio_start = float((audio.start_time or 0) * audio.time_base) if audio else None
        return {
            "duration": container.duration / av.time_base if container.duration else 0.0,
            "fps": float(video.average_rate or video.guessed_rate or 0),
            "n_frames": n_frames,
            "width": video.codec_context.width,
            "height": video.codec_context.height,
            "has_audio": audio is not None,
            "video_start": video_start,
            "audio_start": audio_start,
            "audio_offset": audio_start - video_start if audio else None,
            "sample_rate": audio.codec_context.sample_rate if audio else None,
            "metadata": dict(container.metadata),
        }
