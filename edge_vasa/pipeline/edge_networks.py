"""The edge networks that get exported, how to load them in PyTorch, and example inputs for tracing and
parity.

Networks: the decoder student's per-frame pass, the appearance encoder (once per photo) and the motion
student's streaming step (which contains the audio encoder: log-mel in, motion chunk out; the encoder is
not exported on its own because the step needs exactly its features for the window it generates, and one
graph avoids a second round trip per chunk). Shapes are fixed (batch 1, 512x512 frames): the runtime feeds
one frame or one chunk at a time, and static shapes are what OpenVINO and Core ML optimise best.
Example inputs come from the same numpy definitions the edge runtime feeds (pipeline.decoder_inputs,
pipeline.motion_stream), so what is traced is what runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edge_vasa.core.audio import N_MELS
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import example_face
from edge_vasa.core.motion import INDEX, MOTION_DIM, NEUTRAL
from edge_vasa.core.shipped import source_weights
from edge_vasa.models.appearance_encoder import AppearanceEncoder, AppearanceEncoderConfig
from edge_vasa.pipeline.decoder import load_decoder_models
from edge_vasa.pipeline.decoder_inputs import DecoderInputs
from edge_vasa.pipeline.student_motion import StudentMotionGenerator


def example_motion() -> np.ndarray:
    """(1, MOTION_DIM): an open-mouthed, turned, half-blinking frame (every path of the decoder works)."""
    motion = NEUTRAL.copy()
    motion[[INDEX["jaw_open"], INDEX["yaw"], INDEX["blink_left"]]] = 0.7, 0.15, 0.5
    return motion[None].astype(np.float32)


def decoder_student_inputs(decoder, source: Path | None = None) -> dict[str, torch.Tensor]:
    """Per-frame inputs of the student decoder at 512x512 for the example frame. Appearance features come
    from the encoder stored beside the decoder in SOURCE (what the decoder really sees: INT8 parity depends
    on it), else from a seeded encoder of the decoder's width."""
    face = example_face()
    if source is not None:
        encoder = load_decoder_models(source)[0]
    else:
        torch.manual_seed(0)
        encoder = AppearanceEncoder(AppearanceEncoderConfig(feature_dim=decoder.cfg.feature_dim))
    inputs = DecoderInputs(face.image, face.landmarks)
    with torch.no_grad():
        features = encoder(torch.from_numpy(inputs.image)).numpy()
    feeds = inputs.identity(features) | inputs.frames(example_motion())
    return {k: torch.from_numpy(v) for k, v in feeds.items()}


def appearance_encoder_inputs(_encoder, _source: Path | None = None) -> dict[str, torch.Tensor]:
    """The example photo at the encoder's own resolution (256)."""
    face = example_face()
    return {"image": torch.from_numpy(DecoderInputs(face.image, face.landmarks).encoder_image())}


def motion_step_inputs(step, _source: Path | None = None) -> dict[str, torch.Tensor]:
    """Example inputs of the motion student's streaming step (shapes from its config), seeded."""
    gen = torch.Generator().manual_seed(0)
    cfg = step.model.cfg
    return {
        "past": torch.from_numpy(np.tile(NEUTRAL, (cfg.past, 1))).float(),
        "mel": torch.randn(step.mel_frames, N_MELS, generator=gen) * 3 - 6,
        "emotion": torch.tensor(0),
        "controls": torch.zeros(4),
        "guidance": torch.tensor([2.0, 1.5]),
        "noise": torch.randn(cfg.window, MOTION_DIM, generator=gen),
    }


def load_network(name: str, weights: str | Path | None = None) -> tuple[nn.Module, Path]:
    """(network in eval mode, the weights file it came from) for one of NETWORKS."""
    path = source_weights(name, weights)
    if name in ("decoder_student", "appearance_encoder"):
        encoder, decoder, meta = load_decoder_models(path)
        if "student_decoder" not in meta:
            raise EdgeVasaError(f"{path} holds the teacher decoder; export takes the student's weights")
        return (decoder if name == "decoder_student" else encoder), path
    return StudentMotionGenerator.load(path).module, path


NETWORKS: dict[str, Callable[..., dict[str, torch.Tensor]]] = {
    "decoder_student": decoder_student_inputs,
    "appearance_encoder": appearance_encoder_inputs,
    "motion_step": motion_step_inputs,
}
OUTPUT_NAMES = {"decoder_student": "frame", "appearance_encoder": "features", "motion_step": "motion"}


def example_run(name: str, weights: str | Path | None = None):
    """(network, its weights file, example inputs, PyTorch's output on them): what every exporter traces
    and measures parity against. Inputs are made contiguous (Core ML refuses strided views)."""
    network, source = load_network(name, weights)
    inputs = {k: v.contiguous() for k, v in NETWORKS[name](network, source).items()}
    with torch.no_grad():
        expected = network(*inputs.values()).numpy()
    return network, source, inputs, expected
