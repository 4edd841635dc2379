"""An avatar: one prepared face, a motion generator and a frame renderer. Speech in, frames out.

    avatar = Avatar.from_image("face.jpg")                    # the reference (teacher) models
    frames = avatar.render(load_audio("speech.wav"))          # iterator of 512x512 RGB frames

The renderer contract, shared by every renderer (the analytic corpus renderer, the teacher and student
decoders in PyTorch, and the exported edge decoder in runtimes.renderer): ``size``, ``geometry`` (the
face's FaceGeometry) and ``render(motion)``: (T, MOTION_DIM) motion -> (T, S, S, 3) uint8 frames. The
landmarks a frame is meant to show are ``motion_to_landmarks(motion, renderer.geometry)`` for all of them.

A generator is any ``generator(audio, opts, progress) -> (T, MOTION_DIM)`` motion at 25 Hz: the teacher
(pipeline.teacher_motion), the PyTorch student or an edge streaming step (pipeline.motion_stream).

Avatar itself needs no torch: the edge runtime assembles avatars from exported models
(runtimes.assembler). ``Avatar.load`` and ``from_image`` load the PyTorch models (pipeline.loaders):
``model="student"`` picks the distilled pair; ``renderer="analytic"`` draws with the corpus renderer, the
decoder's training target, which tells motion problems from decoder problems.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from edge_vasa.core.face import PreparedFace, prepare_face
from edge_vasa.core.motion import FaceGeometry
from edge_vasa.core.options import MODELS, RENDERERS, GenerateOptions
from edge_vasa.core.overlap import ahead
from edge_vasa.pipeline.face_layers import LayeredRenderer
from edge_vasa.pipeline.postprocess import resample_motion

RENDER_BATCH = 8  # frames per renderer call: amortises per-call overhead, bounded memory
MotionSource = Callable[..., np.ndarray]  # generator(audio, opts, progress=False) -> (T, MOTION_DIM) at 25 Hz


class FrameRenderer(Protocol):
    size: int
    geometry: FaceGeometry

    def render(self, motion: np.ndarray) -> np.ndarray:
        """(T, MOTION_DIM) motion -> (T, S, S, 3) uint8 RGB frames."""
        ...


class Avatar:
    """One identity, prepared once, rendered under motion generated from any speech."""

    def __init__(self, face: PreparedFace, generator: MotionSource, renderer: FrameRenderer):
        self.face, self.generator, self.renderer = face, generator, renderer

    @classmethod
    def load(
        cls,
        face: PreparedFace,
        model: str = MODELS[0],
        renderer: str = RENDERERS[0],
        weights: str | Path | None = None,
        decoder_weights: str | Path | None = None,
        generator: MotionSource | None = None,
    ) -> Avatar:
        """FACE with the PyTorch models of MODEL (GENERATOR, when given, is reused instead of loading one)."""
        from edge_vasa.pipeline import loaders  # PyTorch: the edge runtime makes avatars without it

        generator = generator or loaders.load_generator(model, weights)
        return cls(face, generator, loaders.load_renderer(face, renderer, model, decoder_weights))

    @classmethod
    def from_image(cls, path: str | Path, face_index: int = 0, **models) -> Avatar:
        """The photo's FACE_INDEX-th face, prepared, with ``Avatar.load``'s MODELS options."""
        return cls.load(prepare_face(path, face_index=face_index), **models)

    def motion(
        self, audio: np.ndarray, opts: GenerateOptions | None = None, progress: bool = False
    ) -> np.ndarray:
        """16 kHz mono audio -> (N, MOTION_DIM) motion at ``opts.fps``."""
        opts = opts or GenerateOptions()
        return resample_motion(self.generator(audio, opts, progress=progress), opts.fps)

    def frames(self, motion: np.ndarray, progress: bool = False) -> Iterator[np.ndarray]:
        """(N, MOTION_DIM) motion -> iterator of (S, S, 3) uint8 frames, as ``renderer.render`` draws them a
        batch at a time, with the decoder on a worker thread a batch or two ahead of the face layers (when
        the renderer has them), which run on the caller's thread with whatever it does with the frames
        (paste-back, watermark, encoder): the decoder's runtime, the layers' numpy and the H.264 encoder
        overlap on two cores instead of taking turns (issue 21: 60 s of speech in <= 30 s)."""
        layered = isinstance(self.renderer, LayeredRenderer)
        decoder = self.renderer.inner if layered else self.renderer
        batches = (motion[start : start + RENDER_BATCH] for start in range(0, len(motion), RENDER_BATCH))
        drawn = ahead(((decoder.render(batch), batch) for batch in batches), 2, "decoder")
        with tqdm(total=len(motion), desc="render", unit="frame", disable=not progress) as bar:
            for frames, batch in drawn:
                yield from self.renderer.compose(frames, batch) if layered else frames
                bar.update(len(frames))

    def render(
        self, audio: np.ndarray, opts: GenerateOptions | None = None, progress: bool = False
    ) -> Iterator[np.ndarray]:
        """16 kHz mono audio -> iterator of (S, S, 3) uint8 frames at ``opts.fps``."""
        return self.frames(self.motion(audio, opts, progress), progress)
