"""MP4 output (H.264 + AAC, in-process with PyAV) and decoding for tests and tracking.

Audio frames always carry ``pts`` and ``time_base``: without them the AAC encoder's 1024-sample
priming delay stays in the stream and the audio plays 64 ms late at 16 kHz (see the A/V sync note).
"""

import itertools
import os
from collections.abc import Iterable
from fractions import Fraction

import av
import numpy as np

from edge_vasa.atomic import atomic_output
from edge_vasa.audio import SAMPLE_RATE, load_audio
from edge_vasa.errors import EdgeVasaError

AAC_FRAME = 1024  # samples per AAC-LC frame; the encoder takes exactly this many except in the last one


def write_mp4(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float,
    audio: np.ndarray | None = None,
    sample_rate: int = SAMPLE_RATE,
    crf: int = 20,
    metadata: dict[str, str] | None = None,
) -> str:
    """Encode RGB uint8 frames (H x W x 3, H and W even) and optional mono float audio into an MP4.

    ``frames`` may be a generator: frames are encoded as they come, with the audio interleaved
    alongside. The file appears at ``path`` only when complete; on any failure (including
    KeyboardInterrupt) neither it nor the temp file is left behind. ``metadata`` becomes container
    tags (any key is kept). Both streams start at time 0; their lengths are the caller's business.
    """
    path = os.fspath(path)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_output(path) as tmp:
        it = iter(frames)
        first = next(it, None)
        if first is None:
            raise ValueError("write_mp4 got no frames")
        height, width = _check_frame(first, None)
        if audio is not None:
            audio = np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)

        # faststart: moov before mdat, so players can start before the whole file arrives;
        # use_metadata_tags: keep arbitrary tag keys (provenance), not only the standard mp4 ones.
        flags = {"movflags": "+faststart+use_metadata_tags"}
        try:
            with av.open(tmp, "w", format="mp4", options=flags) as container:
                container.metadata.update(metadata or {})
                video = container.add_stream("libx264", rate=rate)
                video.width, video.height, video.pix_fmt = width, height, "yuv420p"
                video.codec_context.options = {"crf": str(crf), "preset": "veryfast"}
                if audio is not None:
                    sound = container.add_stream("aac", rate=sample_rate)
                    sound.layout = "mono"
                audio_pos = 0

                for i, frame in enumerate(itertools.chain([first], it)):
                    _check_frame(frame, (height, width))
                    vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                    vf.pts, vf.time_base = i, 1 / rate
                    container.mux(video.encode(vf))
                    if audio is not None:
                        # Keep the audio level with the video written so far, in whole AAC frames.
                        until = min(int((i + 1) * sample_rate / rate), len(audio))
                        while until - audio_pos >= AAC_FRAME:
                            container.mux(
                                sound.encode(_audio_frame(audio, audio_pos, AAC_FRAME, sample_rate))
                            )
                            audio_pos += AAC_FRAME
                container.mux(video.encode(None))
                if audio is not None:
                    for start in range(audio_pos, len(audio), AAC_FRAME):
                        container.mux(sound.encode(_audio_frame(audio, start, AAC_FRAME, sample_rate)))
                    container.mux(sound.encode(None))
        except av.error.FFmpegError as e:
            # Only the writer's errors (disk full, I/O): what the frames iterator raises passes through as is.
            raise EdgeVasaError(
                f"cannot write video {path} ({e.strerror}); check the free disk space"
            ) from None

    return path


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


def _audio_frame(audio: np.ndarray, start: int, length: int, sample_rate: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(audio[None, start : start + length], format="fltp", layout="mono")
    # pts in samples + time_base let the encoder and muxer account for the AAC priming delay.
    frame.sample_rate = sample_rate
    frame.pts, frame.time_base = start, Fraction(1, sample_rate)
    return frame


def _open_video(path: str | os.PathLike) -> av.container.InputContainer:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise EdgeVasaError(f"video file not found: {path}; check the path")
    try:
        container = av.open(path)
    except av.error.FFmpegError as e:
        raise EdgeVasaError(f"cannot read {path} as video ({e.strerror}); use an MP4/MOV/MKV file") from None
    if not container.streams.video:
        container.close()
        raise EdgeVasaError(f"no video stream in {path}; use an MP4/MOV/MKV file with video")
    return container


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, float, np.ndarray | None]:
    """Decode a whole video: (frames (T, H, W, 3) uint8 RGB, fps, audio float32 16 kHz mono or None)."""
    with _open_video(path) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        try:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        except av.error.FFmpegError as e:
            raise EdgeVasaError(
                f"cannot decode video in {path} ({e.strerror}); the file is damaged"
            ) from None
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
