"""Streaming motion: push audio blocks of any size, get the motion committed so far. Numpy only.

    stream = MotionStream(step, GenerateOptions())
    for block in microphone:                 # any block size
        frames = stream.push(block)          # (k, MOTION_DIM) newly committed motion at 25 Hz, k >= 0
    frames = stream.flush()                  # the rest, the audio's end padded with silence

A *step* is the motion student's one network pass with fixed shapes (see pipeline.student_motion): past
(PAST, D) motion, log-mel of PAST + WINDOW video frames plus one frame of margin on each side, emotion
index, controls (4), guidance scales (2) and noise (WINDOW, D) -> (CHUNK, D) motion. It is any callable
on a dict of those numpy arrays with a ``shape`` (StepShape): the PyTorch student (TorchStep) or an
exported artifact on an edge runtime (runtimes.models.ArtifactStep), so live and offline output agree and
the edge runtime needs no torch.

Latency (CHUNK = 10, LOOKAHEAD = 8): a chunk is computed once the audio reaches the end of its look-ahead
plus the last mel window's tail (120 samples) and the encoder margin (one video frame): 0.72 s + 47.5 ms
after the start of the chunk's first frame. Live use commits LIVE_HOP frames with LIVE_LOOKAHEAD frames
of look-ahead instead (core.options: the measurement behind it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from edge_vasa.core.audio import MEL_FRAMES_PER_VIDEO_FRAME, N_MELS, SAMPLE_RATE, SILENT_MEL, LogMelStream
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.motion import EMOTIONS, MOTION_DIM, MOTION_FPS, NEUTRAL, clip
from edge_vasa.core.options import LIVE_BLOCK, LIVE_HOP, LIVE_LOOKAHEAD, GenerateOptions
from edge_vasa.pipeline.postprocess import blink_keeper, scale_head_motion

SAMPLES_PER_FRAME = SAMPLE_RATE // MOTION_FPS  # 640
# the two ways a figure's motion can be streamed, named in reports: the step's trained chunk and look-ahead
# (generate, eval, export) or live's settings (StreamingGenerator.live); lip sync differs between them
OFFLINE_CHUNKING = "offline chunking"
LIVE_CHUNKING = f"live: hop {LIVE_HOP}, " + (
    f"{LIVE_LOOKAHEAD} frames of look-ahead" if LIVE_LOOKAHEAD else "no look-ahead"
)
STEP_INPUTS = ("past", "mel", "emotion", "controls", "guidance", "noise")  # the step's inputs, in order


@dataclass(frozen=True)
class StepShape:
    """The fixed shapes of one streaming step: PAST frames of context, WINDOW frames denoised (CHUNK
    committed, the rest look-ahead)."""

    past: int
    window: int
    chunk: int

    @property
    def mel_frames(self) -> int:
        return (self.past + self.window + 2) * MEL_FRAMES_PER_VIDEO_FRAME


Step = Callable[[dict[str, np.ndarray]], np.ndarray]  # with a ``shape: StepShape`` attribute


def check_audio(audio: np.ndarray) -> np.ndarray:
    """16 kHz mono float samples, or a one-line EdgeVasaError."""
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise EdgeVasaError(f"audio must be mono 16 kHz samples (1-D), got shape {audio.shape}")
    if audio.dtype not in (np.float32, np.float64):
        raise EdgeVasaError(f"audio must be float samples in [-1, 1], got {audio.dtype}")
    return audio.astype(np.float32)


class MotionStream:
    """Live motion from one step. State carried from chunk to chunk: the last PAST motion frames, the
    log-mel not yet consumed, the noise generator and the blink keeper. The audio before the start counts
    as silence and the face starts at rest."""

    def __init__(
        self,
        step: Step,
        opts: GenerateOptions,
        hop: int | None = None,
        lookahead: int | None = None,
        keep_blinks: bool = True,
    ):
        """HOP frames are committed per step (default: the step's chunk). LOOKAHEAD frames of audio after
        them are waited for (default: all the step was trained with); the rest counts as silence.
        KEEP_BLINKS=False leaves out the blink keeper, so the step's own blinks can be counted."""
        opts.check()
        self.step, self.opts, self.shape, self.keep_blinks = step, opts, step.shape, keep_blinks
        full = self.shape.window - self.shape.chunk
        self.hop = min(hop or self.shape.chunk, self.shape.chunk)
        self.lookahead = full if lookahead is None else min(lookahead, full)
        self.conditions = {
            "emotion": np.array(EMOTIONS.index(opts.emotion), np.int64),
            "controls": np.array([*opts.gaze, opts.distance - 1.0, opts.motion_scale], np.float32),
            "guidance": np.array([opts.cfg_audio, opts.cfg_control], np.float32),
        }
        self.reset()

    def reset(self) -> None:
        """Back to the start: a face at rest after silence, the seed's noise and blinks from the beginning."""
        p = self.shape.past
        self.mel_stream = LogMelStream()
        self.mel = np.full(((p + 1) * MEL_FRAMES_PER_VIDEO_FRAME, N_MELS), SILENT_MEL, np.float32)
        self.past = np.tile(NEUTRAL, (p, 1)).astype(np.float32)
        self.noise = np.random.default_rng(self.opts.seed)
        self.blinks = blink_keeper(self.opts.seed) if self.keep_blinks else None
        self.samples = self.committed = 0

    def _run(self) -> np.ndarray:
        """Every chunk whose audio (with look-ahead) is buffered."""
        out = [np.empty((0, MOTION_DIM), np.float32)]
        k, hop, p, need = MEL_FRAMES_PER_VIDEO_FRAME, self.hop, self.shape.past, self.shape.mel_frames
        while len(self.mel) >= (p + hop + self.lookahead + 2) * k:
            noise = self.noise.standard_normal((self.shape.window, MOTION_DIM), dtype=np.float32)
            mel = self.mel[:need]
            if len(mel) < need:  # look-ahead not waited for counts as silence
                mel = np.concatenate([mel, np.full((need - len(mel), N_MELS), SILENT_MEL, np.float32)])
            feeds = {"past": self.past, "mel": np.ascontiguousarray(mel), "noise": noise, **self.conditions}
            raw = np.asarray(self.step(feeds), np.float32)[:hop]
            self.past = np.concatenate([self.past, raw])[-p:]
            self.mel = self.mel[hop * k :]
            motion = clip(raw) if self.blinks is None else self.blinks(clip(raw))
            out.append(scale_head_motion(motion, self.opts.motion_scale))
            self.committed += hop
        return np.concatenate(out)

    def push(self, audio: np.ndarray) -> np.ndarray:
        """Add 16 kHz mono samples; returns the (k, MOTION_DIM) newly committed frames (k may be 0)."""
        audio = check_audio(audio)
        self.samples += len(audio)
        self.mel = np.concatenate([self.mel, self.mel_stream.push(audio)])
        return self._run()

    def flush(self) -> np.ndarray:
        """End of speech: the remaining frames (ceil(seconds * 25) in all); then the stream starts over."""
        total = max(1, -(-self.samples // SAMPLES_PER_FRAME))
        remaining = total - self.committed
        chunks = -(-remaining // self.hop)
        self.mel = np.concatenate([self.mel, self.mel_stream.flush()])
        want = self.shape.mel_frames + (chunks - 1) * self.hop * MEL_FRAMES_PER_VIDEO_FRAME
        if len(self.mel) < want:  # silence after the end, as the teacher pads it
            silence = np.full((want - len(self.mel), N_MELS), SILENT_MEL, np.float32)
            self.mel = np.concatenate([self.mel, silence])
        out = self._run()[:remaining]
        self.reset()
        return out


class StreamingGenerator:
    """A motion generator made of one streaming step: whole clips (``generator(audio, opts)``, the live
    stream run over the whole audio, so offline and live output agree), whole clips with live's settings
    (``generator.live(audio, opts)``) and live streams."""

    def __init__(self, step: Step):
        self.step = step

    def stream(
        self,
        opts: GenerateOptions,
        hop: int | None = None,
        lookahead: int | None = None,
        keep_blinks: bool = True,
    ) -> MotionStream:
        return MotionStream(self.step, opts, hop, lookahead, keep_blinks)

    def __call__(
        self, audio: np.ndarray, opts: GenerateOptions, progress: bool = False, keep_blinks: bool = True
    ) -> np.ndarray:
        """16 kHz mono audio -> (T, MOTION_DIM) motion at 25 Hz, T = ceil(seconds * 25), with the step's
        trained chunk and look-ahead. ``opts.steps`` is not used (one pass per chunk). KEEP_BLINKS=False:
        without the blink keeper (MotionStream)."""
        stream = self.stream(opts, keep_blinks=keep_blinks)
        return _whole_clip(stream, audio, self.step.shape.chunk * SAMPLES_PER_FRAME, progress)

    def live(
        self,
        audio: np.ndarray,
        opts: GenerateOptions,
        hop: int = LIVE_HOP,
        lookahead: int = LIVE_LOOKAHEAD,
        keep_blinks: bool = True,
    ) -> np.ndarray:
        """The motion a live session makes from AUDIO (HOP frames per step, LOOKAHEAD frames of
        look-ahead): pushed one LIVE_BLOCK at a time, as live reads its source, then flushed. Larger
        blocks would not do: a step takes whatever audio is buffered, so it would hear speech a live
        stream has not received yet."""
        stream = self.stream(opts, hop, lookahead, keep_blinks)
        return _whole_clip(stream, audio, LIVE_BLOCK)


def _whole_clip(stream: MotionStream, audio: np.ndarray, block: int, progress: bool = False) -> np.ndarray:
    """AUDIO pushed through STREAM in BLOCK-sample pieces, then flushed: (T, MOTION_DIM) motion."""
    audio = check_audio(audio)
    out = [
        stream.push(audio[i : i + block])
        for i in tqdm(range(0, len(audio), block), desc="motion", unit="block", disable=not progress)
    ]
    return np.concatenate([*out, stream.flush()])
