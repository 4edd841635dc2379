"""What ships inside the package: the default weights and the bundled speech. Torch-free, so the edge
runtime can hash and name the weights its artifacts were exported from."""

from __future__ import annotations

from pathlib import Path

from edge_vasa.core.errors import EdgeVasaError

PACKAGE = Path(__file__).resolve().parent.parent
WEIGHTS_DIR = PACKAGE / "weights"
MOTION_WEIGHTS = WEIGHTS_DIR / "motion_teacher.safetensors"  # audio encoder + diffusion transformer
STUDENT_WEIGHTS = WEIGHTS_DIR / "motion_student.safetensors"  # the distilled streaming motion step
DECODER_WEIGHTS = WEIGHTS_DIR / "decoder_teacher.safetensors"  # appearance encoder + warping decoder
STUDENT_DECODER_WEIGHTS = WEIGHTS_DIR / "decoder_student.safetensors"  # the slim edge decoder
BUNDLED_SPEECH = PACKAGE / "assets" / "hello_en.wav"  # festival kal_diphone, made by the project

# the networks the edge runtime runs, each exported from one shipped weights file
EDGE_NETWORKS = ("appearance_encoder", "motion_step", "decoder_student")


def source_weights(network: str, weights: str | Path | None = None) -> Path:
    """The weights file NETWORK is exported from: WEIGHTS, else the shipped student's."""
    if network not in EDGE_NETWORKS:
        raise EdgeVasaError(f"unknown network {network!r}; use one of {', '.join(EDGE_NETWORKS)}")
    path = Path(weights or (STUDENT_WEIGHTS if network == "motion_step" else STUDENT_DECODER_WEIGHTS))
    if not path.is_file():
        raise EdgeVasaError(f"weights file {path} not found; give the student's .safetensors file")
    return path


def default_motion_weights(model: str = "teacher") -> Path:
    """The shipped motion generator of MODEL ("teacher" or "student")."""
    return STUDENT_WEIGHTS if model == "student" else MOTION_WEIGHTS


def default_decoder_weights(model: str = "teacher") -> Path:
    """The shipped decoder of MODEL ("teacher" or "student")."""
    return STUDENT_DECODER_WEIGHTS if model == "student" else DECODER_WEIGHTS


def model_files(
    model: str = "teacher",
    weights: str | Path | None = None,
    decoder_weights: str | Path | None = None,
    renderer: str = "decoder",
) -> dict[str, Path]:
    """The weight files a PyTorch render uses, by role: what its provenance record hashes."""
    files = {"motion": Path(weights or default_motion_weights(model))}
    if renderer == "decoder":
        files["decoder"] = Path(decoder_weights or default_decoder_weights(model))
    return files
