"""The PyTorch models by name: a motion generator ("teacher" or "student") and a renderer ("decoder" of that
model, or the "analytic" corpus renderer), from the shipped weights or given files."""

from __future__ import annotations

from pathlib import Path

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import PreparedFace
from edge_vasa.core.options import MODELS, RENDERERS
from edge_vasa.core.shipped import DECODER_WEIGHTS, MOTION_WEIGHTS, STUDENT_DECODER_WEIGHTS, STUDENT_WEIGHTS
from edge_vasa.pipeline.analytic import Renderer
from edge_vasa.pipeline.decoder import NeuralRenderer, load_decoder_models
from edge_vasa.pipeline.student_motion import StudentMotionGenerator
from edge_vasa.pipeline.teacher_motion import MotionGenerator


def load_generator(
    model: str = MODELS[0], weights: str | Path | None = None
) -> MotionGenerator | StudentMotionGenerator:
    """The motion generator of ``model`` ("teacher": diffusion sampling; "student": one pass per chunk),
    from ``weights`` or the shipped file."""
    if model not in MODELS:
        raise EdgeVasaError(f"unknown model {model!r}; use one of {', '.join(MODELS)}")
    if model == "student":
        return StudentMotionGenerator.load(weights or STUDENT_WEIGHTS)
    return MotionGenerator.load(weights or MOTION_WEIGHTS)


def default_decoder_weights(model: str = MODELS[0]) -> Path:
    return STUDENT_DECODER_WEIGHTS if model == "student" else DECODER_WEIGHTS


def load_renderer(
    face: PreparedFace,
    renderer: str = RENDERERS[0],
    model: str = MODELS[0],
    decoder_weights: str | Path | None = None,
) -> NeuralRenderer | Renderer:
    """FACE drawn by the learned decoder of MODEL (or DECODER_WEIGHTS), or by the analytic renderer."""
    if renderer not in RENDERERS:
        raise EdgeVasaError(f"unknown renderer {renderer!r}; use one of {', '.join(RENDERERS)}")
    if renderer == "analytic":
        return Renderer(face.image, face.landmarks)
    encoder, decoder, _ = load_decoder_models(decoder_weights or default_decoder_weights(model))
    return NeuralRenderer(face.image, face.landmarks, (encoder, decoder))
