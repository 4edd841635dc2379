"""ONNX export of the edge networks (fp32), with a parity check against PyTorch and an artifact manifest.

    path = export_onnx("decoder_student", "artifacts/onnx")   # artifacts/onnx/decoder_student.onnx + .json

Networks: the decoder student's per-frame pass, the appearance encoder (once per photo) and the motion
student's streaming step (which contains the audio encoder: log-mel in, motion chunk out). Shapes are
fixed (batch 1, 512x512 frames): the runtime feeds one frame or one chunk at a time, and static shapes are
what OpenVINO and Core ML optimise best. The legacy TorchScript exporter at opset 17 is used: one
self-contained file (no external weights), GridSample supported, and IR 8 that older runtimes accept.

Parity: the exported graph runs in onnxruntime on the same inputs as PyTorch; the largest absolute
difference must stay within ``PARITY_TOLERANCE`` or the export is refused (nothing is written).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edge_vasa.atomic import atomic_output
from edge_vasa.checkpoint import file_sha256
from edge_vasa.errors import EdgeVasaError

OPSET = 17
PARITY_TOLERANCE = 1e-3  # max abs difference on outputs (frames in [0, 1], motion in its own units)


def _example_face():
    """A real prepared face (Grace Hopper, shipped with matplotlib): parity is checked on what the decoder
    really sees, since random noise images and random control points magnify float rounding."""
    import matplotlib.cbook

    from edge_vasa.face import prepare_face

    return prepare_face(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))


def decoder_student_inputs(decoder) -> dict[str, torch.Tensor]:
    """Per-frame inputs of the student decoder at 512x512 for an open-mouthed, turned, blinking frame."""
    from edge_vasa.decoder import decoder_inputs, image_tensor
    from edge_vasa.models.appearance_encoder import AppearanceEncoder, AppearanceEncoderConfig
    from edge_vasa.models.student_decoder import flow_photo
    from edge_vasa.models.warp_decoder import tps_coefficients
    from edge_vasa.motion import INDEX, NEUTRAL
    from edge_vasa.render import Renderer

    face = _example_face()
    motion = NEUTRAL.copy()
    motion[[INDEX["jaw_open"], INDEX["yaw"], INDEX["blink_left"]]] = 0.7, 0.15, 0.5
    src, dst, landmarks = (
        torch.from_numpy(x)[None] for x in decoder_inputs(Renderer(face.image, face.landmarks), motion)
    )
    image = image_tensor(face.image)
    torch.manual_seed(0)
    features = AppearanceEncoder(AppearanceEncoderConfig(feature_dim=decoder.cfg.feature_dim))(image)
    return {
        "features": features.detach(),
        "image": image,
        "small": flow_photo(image),
        "coef": tps_coefficients(dst, src),
        "dst": dst,
        "landmarks": landmarks,
        "motion": torch.from_numpy(motion)[None].float(),
    }


def appearance_encoder_inputs(_encoder) -> dict[str, torch.Tensor]:
    """The photo at the encoder's own resolution (256): the antialiased resize from 512 has no ONNX op, and
    it runs once per photo anyway, so the runtime does it before the graph."""
    import torch.nn.functional as F

    from edge_vasa.decoder import image_tensor
    from edge_vasa.models.appearance_encoder import ENCODE_SIZE

    image = image_tensor(_example_face().image)
    small = F.interpolate(image, size=ENCODE_SIZE, mode="bilinear", antialias=True, align_corners=False)
    return {"image": small}


def motion_step_inputs(step) -> dict[str, torch.Tensor]:
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


def load_network(name: str, weights: str | Path | None = None) -> tuple[nn.Module, Path]:
    """(network in eval mode, the weights file it came from) for one of NETWORKS."""
    from edge_vasa.decoder import STUDENT_DECODER_WEIGHTS, load_decoder_models

    if name in ("decoder_student", "appearance_encoder"):
        path = Path(weights or STUDENT_DECODER_WEIGHTS)
        encoder, decoder, meta = load_decoder_models(path)
        if "student_decoder" not in meta:
            raise EdgeVasaError(f"{path} holds the teacher decoder; export takes the student's weights")
        return (decoder if name == "decoder_student" else encoder), path
    from edge_vasa.distill_motion import STUDENT_WEIGHTS, StudentMotionGenerator

    path = Path(weights or STUDENT_WEIGHTS)
    return StudentMotionGenerator.load(path).step, path


NETWORKS: dict[str, Callable[[nn.Module], dict[str, torch.Tensor]]] = {
    "decoder_student": decoder_student_inputs,
    "appearance_encoder": appearance_encoder_inputs,
    "motion_step": motion_step_inputs,
}
OUTPUT_NAMES = {"decoder_student": "frame", "appearance_encoder": "features", "motion_step": "motion"}


def export_onnx(name: str, out_dir: str | Path, weights: str | Path | None = None) -> Path:
    """Export one network to OUT_DIR/NAME.onnx (+ NAME.json manifest) after checking parity."""
    import onnxruntime as ort

    if name not in NETWORKS:
        raise EdgeVasaError(f"unknown network {name!r}; use one of {', '.join(NETWORKS)}")
    network, source = load_network(name, weights)
    inputs = NETWORKS[name](network)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}.onnx"
    with torch.no_grad():
        expected = network(*inputs.values()).numpy()
    with atomic_output(target) as tmp:
        # the tracer's warnings (legacy exporter, shape checks frozen as constants, un-foldable slices) are
        # about graphs whose shapes change; these are static, and the parity check below guards the result
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                network,
                tuple(inputs.values()),
                tmp,
                dynamo=False,
                opset_version=OPSET,
                input_names=list(inputs),
                output_names=[OUTPUT_NAMES[name]],
                do_constant_folding=True,
            )
        session = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"])
        feeds = {k: v.numpy() for k, v in inputs.items() if k in {i.name for i in session.get_inputs()}}
        got = session.run(None, feeds)[0]
        error = float(np.abs(got - expected).max())
        if not error <= PARITY_TOLERANCE:
            raise EdgeVasaError(
                f"ONNX export of {name} is off by {error:.2e} (> {PARITY_TOLERANCE:g}) against PyTorch; "
                "nothing written"
            )
        import onnx

        model = onnx.load(tmp)
    manifest = {
        "network": name,
        "format": "onnx",
        "precision": "fp32",
        "opset": OPSET,
        "ir_version": model.ir_version,
        "inputs": {k: {"shape": list(v.shape), "dtype": str(v.numpy().dtype)} for k, v in inputs.items()},
        "outputs": {OUTPUT_NAMES[name]: {"shape": list(expected.shape), "dtype": str(expected.dtype)}},
        "files": {target.name: file_sha256(target)},
        "source_weights_sha256": file_sha256(source),
        "parity": {"backend": "onnxruntime CPU", "max_abs_error": error, "tolerance": PARITY_TOLERANCE},
    }
    with atomic_output(target.with_suffix(".json")) as tmp:
        Path(tmp).write_text(json.dumps(manifest, indent=1))
    return target


def verify_artifact(onnx_path: str | Path) -> dict:
    """The manifest beside an exported file, after checking every file's sha256 against it."""
    onnx_path = Path(onnx_path)
    manifest_path = onnx_path.with_suffix(".json")
    if not manifest_path.is_file():
        raise EdgeVasaError(f"{onnx_path} has no manifest ({manifest_path.name}); export it again")
    manifest = json.loads(manifest_path.read_text())
    for file, digest in manifest["files"].items():
        path = onnx_path.parent / file
        if not path.is_file() or file_sha256(path) != digest:
            raise EdgeVasaError(f"{path} does not match its manifest (sha256); export it again")
    return manifest
