"""The PyTorch models by name: a motion generator ("teacher" or "student") and a renderer ("decoder" of that
model, or the "analytic" corpus renderer), from the shipped weights or given files."""

from __future__ import annotations

from pathlib import Path

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import PreparedFace
from edge_vasa.core.options import MODELS, RENDERERS
from edge_vasa.core.shipped import default_decoder_weights, default_motion_weights
from edge_vasa.pipeline.analytic import Renderer
from edge_vasa.pipeline.decoder import NeuralRenderer, load_decoder_models
from edge_vasa.pipeline.face_layers import LayeredRenderer
from edge_vasa.pipeline.student_motion import StudentMotionGenerator
from edge_vasa.pipeline.teacher_motion import MotionGenerator


def load_generator(
    model: str = MODELS[0], weights: str | Path | None = None
) -> MotionGenerator | StudentMotionGenerator:
    """The motion generator of ``model`` ("teacher": diffusion sampling; "student": one pass per chunk),
    from ``weights`` or the shipped file."""
    if model not in MODELS:
        raise EdgeVasaError(f"unknown model {model!r}; use one of {', '.join(MODELS)}")
    generator = StudentMotionGenerator if model == "student" else MotionGenerator
    return generator.load(weights or default_motion_weights(model))


def load_renderer(
    face: PreparedFace,
    renderer: str = RENDERERS[0],
    model: str = MODELS[0],
    decoder_weights: str | Path | None = None,
) -> LayeredRenderer | Renderer:
    """FACE drawn by the learned decoder of MODEL (or DECODER_WEIGHTS) with the face layers on top, or by
    the analytic renderer (which draws the layers itself)."""
    if renderer not in RENDERERS:
        raise EdgeVasaError(f"unknown renderer {renderer!r}; use one of {', '.join(RENDERERS)}")
    if renderer == "analytic":
        return Renderer(face.image, face.landmarks)
    encoder, decoder, _ = load_decoder_models(decoder_weights or default_decoder_weights(model))
    return LayeredRenderer(
        NeuralRenderer(face.image, face.landmarks, (encoder, decoder)), face.image, face.landmarks
    )
