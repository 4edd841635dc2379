"""The edge networks that get exported, how to load them, and example inputs for tracing and parity.

Networks: the decoder student's per-frame pass, the appearance encoder (once per photo) and the motion
student's streaming step (which contains the audio encoder: log-mel in, motion chunk out; the encoder is
not exported on its own because the step needs exactly its features for the window it generates, and one
graph avoids a second round trip per chunk). Shapes are fixed (batch 1, 512x512 frames): the runtime feeds
one frame or one chunk at a time, and static shapes are what OpenVINO and Core ML optimise best.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edge_vasa.errors import EdgeVasaError


def example_face():
    """A real prepared face (Grace Hopper, shipped with matplotlib): parity is checked on what the decoder
    really sees, since random noise images and random control points magnify float rounding."""
    import matplotlib.cbook

    from edge_vasa.face import prepare_face

    return prepare_face(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))


def decoder_student_inputs(decoder, source: Path | None = None) -> dict[str, torch.Tensor]:
    """Per-frame inputs of the student decoder at 512x512 for an open-mouthed, turned, blinking frame.
    Appearance features come from the encoder stored beside the decoder in SOURCE (what the decoder really
    sees: INT8 parity depends on it), else from a seeded encoder of the decoder's width."""
    from edge_vasa.decoder import NeuralRenderer, load_decoder_models
    from edge_vasa.models.appearance_encoder import AppearanceEncoder, AppearanceEncoderConfig
    from edge_vasa.motion import INDEX, NEUTRAL

    face = example_face()
    motion = NEUTRAL.copy()
    motion[[INDEX["jaw_open"], INDEX["yaw"], INDEX["blink_left"]]] = 0.7, 0.15, 0.5
    if source is not None:
        encoder = load_decoder_models(source)[0]
    else:
        torch.manual_seed(0)
        encoder = AppearanceEncoder(AppearanceEncoderConfig(feature_dim=decoder.cfg.feature_dim))
    return NeuralRenderer(face.image, face.landmarks, (encoder, decoder)).student_inputs(motion[None])


def encoder_image(rgb: np.ndarray) -> torch.Tensor:
    """(512, 512, 3) uint8 -> the appearance encoder's (1, 3, 256, 256) input. The antialiased resize from
    512 has no ONNX op, and it runs once per photo anyway, so the runtime does it before the graph."""
    import torch.nn.functional as F

    from edge_vasa.decoder import image_tensor
    from edge_vasa.models.appearance_encoder import ENCODE_SIZE

    return F.interpolate(
        image_tensor(rgb), size=ENCODE_SIZE, mode="bilinear", antialias=True, align_corners=False
    )


def appearance_encoder_inputs(_encoder, _source: Path | None = None) -> dict[str, torch.Tensor]:
    """The example photo at the encoder's own resolution (256)."""
    return {"image": encoder_image(example_face().image)}


def motion_step_inputs(step, _source: Path | None = None) -> dict[str, torch.Tensor]:
    """Example inputs of the motion student's streaming step (shapes from its config)."""
    from edge_vasa.audio import N_MELS
    from edge_vasa.motion import MOTION_DIM, NEUTRAL

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


def source_weights(name: str, weights: str | Path | None = None) -> Path:
    """The weights file NETWORK is exported from: WEIGHTS, else the shipped student's."""
    from edge_vasa.decoder import STUDENT_DECODER_WEIGHTS
    from edge_vasa.distill_motion import STUDENT_WEIGHTS

    if name not in NETWORKS:
        raise EdgeVasaError(f"unknown network {name!r}; use one of {', '.join(NETWORKS)}")
    path = Path(weights or (STUDENT_WEIGHTS if name == "motion_step" else STUDENT_DECODER_WEIGHTS))
    if not path.is_file():
        raise EdgeVasaError(f"weights file {path} not found; give the student's .safetensors file")
    return path


def load_network(name: str, weights: str | Path | None = None) -> tuple[nn.Module, Path]:
    """(network in eval mode, the weights file it came from) for one of NETWORKS."""
    from edge_vasa.decoder import load_decoder_models

    path = source_weights(name, weights)
    if name in ("decoder_student", "appearance_encoder"):
        encoder, decoder, meta = load_decoder_models(path)
        if "student_decoder" not in meta:
            raise EdgeVasaError(f"{path} holds the teacher decoder; export takes the student's weights")
        return (decoder if name == "decoder_student" else encoder), path
    from edge_vasa.distill_motion import StudentMotionGenerator

    return StudentMotionGenerator.load(path).step, path


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
