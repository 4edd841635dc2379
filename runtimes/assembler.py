"""The one place the edge parts are put together: the exported models on the chosen backend (with fallback),
the streaming motion step on them, and a renderer per face. generate --backend, live, batch, bench and the
web UI all start from an EdgeStudio.

    studio = EdgeStudio()                        # fastest usable backend here, the rest as fallbacks
    avatar = studio.avatar(face)                 # offline: avatar.render(audio, opts)
    stream = studio.stream(opts, LIVE_HOP, LIVE_LOOKAHEAD)   # live: push audio blocks, get motion
    renderer = studio.renderer(face)             # live: renderer.render(motion) per frame
    studio = EdgeStudio(features=face_store("features"))   # each face's features kept on disk
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edge_vasa.core.face import PreparedFace
from edge_vasa.core.face_cache import ArrayStore
from edge_vasa.core.options import GenerateOptions
from edge_vasa.pipeline.avatar import Avatar
from edge_vasa.pipeline.face_layers import LayeredRenderer
from edge_vasa.pipeline.motion_stream import MotionStream, StreamingGenerator
from edge_vasa.runtimes.models import ArtifactStep, EdgeModels, FallbackModels
from edge_vasa.runtimes.renderer import EdgeRenderer
from edge_vasa.runtimes.selector import Builder, rank_candidates


class EdgeStudio:
    """The exported edge models loaded once, for any number of faces and streams. BACKEND is RUNTIME[:DEVICE]
    (None or "auto": the fastest measured here), PRECISION one of fp32/fp16/int8 (None: any); BUILDER
    exports missing artifacts where the export tools are installed (conversion.export.ensure_artifact).
    MODELS, when given, are used as they are (a test's or a caller's own ranking). FEATURES, a store
    (core.face_cache), keeps each face's appearance features across runs (start-up without the encoder)."""

    def __init__(
        self,
        backend: str | None = None,
        precision: str | None = None,
        builder: Builder | None = None,
        models: EdgeModels | FallbackModels | None = None,
        warn: Callable[[str], None] | None = None,
        features: ArrayStore | None = None,
    ):
        if models is None:
            ranking = rank_candidates(None if backend == "auto" else backend, precision, builder=builder)
            models = FallbackModels(ranking, warn)
        self.models, self.features = models, features
        self.step = ArtifactStep(models)
        self.generator = StreamingGenerator(self.step)

    def renderer(self, face: PreparedFace) -> LayeredRenderer:
        """FACE drawn by the edge decoder, its appearance encoded once by the edge encoder, with the face
        layers (eyes, mouth interior) on top."""
        return LayeredRenderer(
            EdgeRenderer(face.image, face.landmarks, self.models, self.features), face.image, face.landmarks
        )

    def avatar(self, face: PreparedFace) -> Avatar:
        return Avatar(face, self.generator, self.renderer(face))

    def stream(
        self, opts: GenerateOptions, hop: int | None = None, lookahead: int | None = None
    ) -> MotionStream:
        return self.generator.stream(opts, hop, lookahead)

    def files(self) -> dict[str, Path]:
        """What runs, for provenance records: each network's artifact (or weights), named with its backend."""
        candidate = self.models.candidate
        artifacts = getattr(self.models, "artifacts", None) or {
            name: backend.path for name, backend in self.models.current.networks.items()
        }
        return {f"{network} ({candidate})": Path(path) for network, path in artifacts.items()}
