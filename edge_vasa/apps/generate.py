"""Photo + speech file -> a talking-face MP4, on the PyTorch models or the exported edge models.

generate_video("face.jpg", "speech.wav", "out.mp4")                  # the reference (teacher) models
generate_video("face.jpg", "speech.wav", "out.mp4", backend="auto")  # the edge models, as live runs
generate_video("face.jpg", "speech.wav", "out.mp4", crop=True)       # only the 512x512 face crop
"""

from __future__ import annotations

from pathlib import Path

from edge_vasa.apps.studio import open_studio
from edge_vasa.core.audio import SAMPLE_RATE, load_audio
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import load_image
from edge_vasa.core.face_cache import face_store, prepare_face_cached
from edge_vasa.core.options import MODELS, RENDERERS, GenerateOptions
from edge_vasa.core.shipped import model_files
from edge_vasa.core.video import write_mp4
from edge_vasa.pipeline.avatar import Avatar
from edge_vasa.pipeline.pasteback import PasteBack
from edge_vasa.provenance.record import Marker, Provenance

MIN_SPEECH_S = 0.2  # shorter is a damaged or empty file more often than speech: five frames


def generate_video(
    image: str | Path,
    audio_path: str | Path,
    out: str | Path,
    opts: GenerateOptions | None = None,
    face_index: int = 0,
    weights: str | Path | None = None,
    progress: bool = True,
    renderer: str = RENDERERS[0],
    decoder_weights: str | Path | None = None,
    model: str = MODELS[0],
    label: str | None = None,
    backend: str | None = None,
    precision: str | None = None,
    crop: bool = False,
) -> Path:
    """Photo + speech file -> MP4 with the original audio muxed (written atomically): the whole photo with
    the animated face pasted back (pipeline.pasteback), or, CROP, only the 512x512 face crop.

    BACKEND ("auto" or RUNTIME[:DEVICE]) renders with the exported edge models (EdgeStudio) instead of
    the PyTorch MODEL. Every frame carries the provenance watermark (and LABEL, visible, when given); the
    file carries provenance tags and a signed C2PA manifest (see provenance.record).
    """
    opts = opts or GenerateOptions()
    opts.check()
    audio = load_audio(audio_path)
    if len(audio) < MIN_SPEECH_S * SAMPLE_RATE:
        raise EdgeVasaError(
            f"{audio_path} holds only {len(audio) / SAMPLE_RATE * 1000:.0f} ms of audio; "
            f"use at least {MIN_SPEECH_S} s of speech"
        )
    face = prepare_face_cached(image, face_index=face_index)
    if backend is None:
        avatar = Avatar.load(face, model, renderer, weights, decoder_weights)
        files = model_files(model, weights, decoder_weights, renderer)
    else:
        studio = open_studio(backend, precision, features=face_store("features"))
        avatar, files = studio.avatar(face), studio.files()
    provenance = Provenance.for_files("generate", files)
    mark = Marker(provenance, label)
    frames = avatar.frames(avatar.motion(audio, opts, progress), progress)
    if not crop:
        frames = map(PasteBack(load_image(image), face.transform, face.image.shape[0]), frames)
    frames = (mark(frame) for frame in frames)
    write_mp4(out, frames, opts.fps, audio=audio, metadata=provenance.tags(), finish=provenance.sign)
    return Path(out)
