"""Photo + speech -> talking-face video.

    avatar = Avatar.from_image("face.jpg")
    frames = avatar.render(load_audio("speech.wav"))          # iterator of 512x512 RGB frames
    generate_video("face.jpg", "speech.wav", "out.mp4")        # the same, straight to an MP4

Motion comes from the trained motion generator (audio encoder + diffusion transformer), window by window:
each 2 s window is denoised from noise while conditioned on the last 10 frames already generated, so
long audio has no seam at window borders and memory stays bounded. Classifier-free guidance mixes three
predictions per step (no conditioning, audio only, audio + controls) with separate scales.

``model="student"`` uses the distilled edge pair instead (distill_motion.py, models/student_decoder.py):
one network pass per 0.4 s chunk of motion and a slim decoder; the teacher is the reference path.

Frames come from the learned decoder (appearance encoder, once per photo, + warping decoder, per frame;
see decoder.py). ``renderer="analytic"`` draws them with the corpus renderer instead, the decoder's
training target, which is useful to tell motion problems from decoder problems.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from edge_vasa.audio import SAMPLE_RATE, load_audio
from edge_vasa.decoder import (
    DECODER_WEIGHTS,
    RENDER_BATCH,
    STUDENT_DECODER_WEIGHTS,
    NeuralRenderer,
    load_decoder_models,
)
from edge_vasa.errors import EdgeVasaError
from edge_vasa.face import PreparedFace, prepare_face
from edge_vasa.models.audio_encoder import MEL_FRAMES_PER_VIDEO_FRAME, AudioEncoder
from edge_vasa.models.motion_dit import MotionDiT, alpha_bar
from edge_vasa.motion import EMOTIONS, INDEX, NEUTRAL, SLICES, clip
from edge_vasa.options import MODELS, RENDERERS, GenerateOptions
from edge_vasa.render import Renderer
from edge_vasa.script import blink_shape
from edge_vasa.train import SILENT_MEL, load_motion_models, mel_for_frames
from edge_vasa.video import write_mp4

MOTION_FPS = 25
FIRST_BLINK_BY = 2.0  # s: even a 2-3 s clip blinks (people blink as they start to speak)
MAX_BLINK_GAP = 6.0  # s: a longer stare looks lifeless
EYES = [INDEX["blink_left"], INDEX["blink_right"]]
WEIGHTS = Path(__file__).parent / "weights" / "motion_teacher.safetensors"
MIN_SPEECH_S = 0.2  # shorter is a damaged or empty file more often than speech: five frames
BUNDLED_SPEECH = (
    Path(__file__).parent / "assets" / "hello_en.wav"
)  # festival kal_diphone, made by the project


class MotionGenerator:
    """The trained audio encoder + diffusion transformer, sampling motion for any length of audio."""

    def __init__(self, encoder: AudioEncoder, model: MotionDiT):
        self.encoder, self.model = encoder.eval(), model.eval()

    @classmethod
    def load(cls, weights: str | Path = WEIGHTS) -> MotionGenerator:
        encoder, model, _ = load_motion_models(weights)
        return cls(encoder, model)

    @torch.no_grad()
    def __call__(self, audio: np.ndarray, opts: GenerateOptions, progress: bool = False) -> np.ndarray:
        """16 kHz mono audio -> (T, MOTION_DIM) motion at 25 Hz, T = ceil(seconds * 25)."""
        opts.check()
        p, w = self.model.cfg.past, self.model.cfg.window
        n = max(1, int(np.ceil(len(audio) / SAMPLE_RATE * MOTION_FPS)))
        n_windows = int(np.ceil(n / w))
        mel = mel_for_frames(audio, n)
        k = MEL_FRAMES_PER_VIDEO_FRAME
        # silence before the start and after the end, so every window sees p + w frames of audio
        padded = np.full(((p + n_windows * w) * k, mel.shape[1]), SILENT_MEL, np.float32)
        padded[p * k : (p + n) * k] = mel
        features = self.encoder(torch.from_numpy(padded)[None])[0]  # (p + n_windows * w, A)
        gen = torch.Generator().manual_seed(opts.seed)
        emotion = torch.tensor([EMOTIONS.index(opts.emotion)] * 3)
        controls = torch.tensor(
            [[*opts.gaze, opts.distance - 1.0, opts.motion_scale]] * 3, dtype=torch.float32
        )
        use_audio = torch.tensor([False, True, True])
        use_controls = torch.tensor([False, False, True])
        past = self.model.normalize(torch.from_numpy(np.tile(NEUTRAL, (p, 1))))
        out = []
        for i in tqdm(range(n_windows), desc="motion", unit="window", disable=not progress):
            audio_window = features[i * w : i * w + p + w][None].expand(3, -1, -1)
            window = self.sample_window(
                past, audio_window, emotion, controls, use_audio, use_controls, opts, gen
            )
            out.append(window)
            past = window[-p:]
        motion = self.model.denormalize(torch.cat(out))[:n].numpy()
        motion = ensure_blinks(clip(motion), np.random.default_rng(opts.seed))
        return _scale_head_motion(motion, opts.motion_scale)

    def sample_window(
        self, past, audio, emotion, controls, use_audio, use_controls, opts, gen
    ) -> torch.Tensor:
        """DDIM (deterministic) sampling of one window with three-way classifier-free guidance."""
        w, d = self.model.cfg.window, self.model.cfg.motion_dim
        x = torch.randn((w, d), generator=gen)
        times = torch.linspace(1.0, 0.0, opts.steps + 1)
        past3 = past[None].expand(3, -1, -1)
        for t_now, t_next in zip(times[:-1], times[1:]):
            pred = self.model(
                x[None].expand(3, -1, -1),
                past3,
                audio,
                t_now.repeat(3),
                emotion,
                controls,
                use_audio,
                use_controls,
            )
            uncond, audio_only, full = pred
            # guidance sharpens the face (lips from audio, expression from emotion); head, gaze and blinks
            # are left to the plain conditional prediction: extrapolating them would push rare, random
            # events such as blinks toward "never"
            x0 = full.clone()
            guided = uncond + opts.cfg_audio * (audio_only - uncond) + opts.cfg_control * (full - audio_only)
            x0[:, SLICES["expression"]] = guided[:, SLICES["expression"]]
            a_now, a_next = alpha_bar(t_now), alpha_bar(t_next)
            eps = (x - a_now.sqrt() * x0) / (1 - a_now).sqrt()
            x = a_next.sqrt() * x0 + (1 - a_next).sqrt() * eps
        return x


def load_generator(model: str = MODELS[0], weights: str | Path | None = None):
    """The motion generator of ``model`` ("teacher": diffusion sampling; "student": one pass per chunk),
    from ``weights`` or the shipped file. Both are called as ``generator(audio, opts) -> motion``."""
    if model not in MODELS:
        raise EdgeVasaError(f"unknown model {model!r}; use one of {', '.join(MODELS)}")
    if model == "student":
        from edge_vasa.distill_motion import STUDENT_WEIGHTS, StudentMotionGenerator

        return StudentMotionGenerator.load(weights or STUDENT_WEIGHTS)
    return MotionGenerator.load(weights or WEIGHTS)


def default_decoder_weights(model: str = MODELS[0]) -> Path:
    return STUDENT_DECODER_WEIGHTS if model == "student" else DECODER_WEIGHTS


class BlinkKeeper:
    """Keep the generator's blinks; where it leaves the eyes open past FIRST_BLINK_BY s from the start, or
    MAX_BLINK_GAP s after the last blink, add one (the corpus script's blink shape, both eyes). Online:
    frames arrive in order, in chunks of any size, and an added blink may run into later chunks."""

    def __init__(self, rng: np.random.Generator):
        self.rng, self.frame, self.deadline = rng, 0, FIRST_BLINK_BY
        self.pending = np.zeros(0, np.float32)  # closure still owed to the next frames by an added blink

    def __call__(self, motion: np.ndarray) -> np.ndarray:
        out = motion.copy()
        for row in out:
            now = self.frame / MOTION_FPS
            if len(self.pending):
                row[EYES] = np.maximum(row[EYES], self.pending[0])
                self.pending = self.pending[1:]
            if row[EYES].max() > 0.5:
                self.deadline = now + MAX_BLINK_GAP
            elif now >= self.deadline:
                shape = blink_shape(MOTION_FPS, 0.0, self.rng.uniform(0.10, 0.20)).astype(np.float32)
                row[EYES] = np.maximum(row[EYES], shape[0])
                self.pending = np.maximum(
                    np.pad(self.pending, (0, MOTION_FPS - 1 - len(self.pending))), shape[1:]
                )
                self.deadline = now + MAX_BLINK_GAP
            self.frame += 1
        return out


def ensure_blinks(motion: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A whole clip through a fresh ``BlinkKeeper``."""
    return BlinkKeeper(rng)(motion)


def _scale_head_motion(motion: np.ndarray, scale: float) -> np.ndarray:
    """Below 1, shrink head rotation and translation toward rest (0 = a still head); the generator
    already took the scale as a control, this makes 'still' exact."""
    if scale < 1:
        pose = motion[:, SLICES["pose"]]
        pose[:, :5] *= scale
    return motion


def interpolate_motion(motion: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Motion at fractional frame positions T (linear between neighbours; held at the last frame)."""
    i0 = np.clip(np.floor(t).astype(int), 0, len(motion) - 1)
    i1 = np.clip(i0 + 1, 0, len(motion) - 1)
    frac = (t - i0)[:, None]
    return ((1 - frac) * motion[i0] + frac * motion[i1]).astype(np.float32)


def resample_motion(motion: np.ndarray, fps: int) -> np.ndarray:
    """25 Hz motion -> motion at ``fps`` by linear interpolation (same duration)."""
    if fps == MOTION_FPS:
        return motion
    n_out = int(round(len(motion) * fps / MOTION_FPS))
    return interpolate_motion(motion, np.arange(n_out) * MOTION_FPS / fps)


class _EdgeSequence:
    """runtimes.models.EdgeRenderer behind the renderer interface Avatar draws with."""

    def __init__(self, renderer):
        self.renderer = renderer

    def render_sequence(self, motion: np.ndarray) -> tuple[np.ndarray, None]:
        return self.renderer.render(motion), None


class EdgeStudio:
    """The exported edge models loaded once, for any number of faces: the student's streaming motion step and
    decoder on BACKEND (RUNTIME[:DEVICE]; None: the fastest measured here), falling back to the next backend
    if one fails."""

    def __init__(self, backend: str | None = None, precision: str | None = None):
        from edge_vasa.distill_motion import StudentMotionGenerator
        from edge_vasa.runtimes.models import ArtifactStep, FallbackModels
        from edge_vasa.runtimes.selector import rank_candidates

        self.models = FallbackModels(rank_candidates(backend, precision))
        self.generator = StudentMotionGenerator.load()
        self.generator.step = ArtifactStep(self.models, self.generator.step)

    def avatar(self, face: PreparedFace) -> Avatar:
        """FACE, its appearance encoded once by the edge encoder."""
        from edge_vasa.runtimes.models import EdgeRenderer

        return Avatar(
            face, self.generator, _EdgeSequence(EdgeRenderer(face.image, face.landmarks, self.models))
        )


class Avatar:
    """One identity, prepared once, rendered under motion generated from any speech."""

    def __init__(
        self,
        face: PreparedFace,
        generator=None,
        renderer: str = "decoder",
        decoder_weights: str | Path | None = None,
        model: str = MODELS[0],
    ):
        self.face = face
        self.generator = generator or load_generator(model)
        if not isinstance(renderer, str):  # an object with render_sequence (EdgeStudio's)
            self.renderer = renderer
        elif renderer not in RENDERERS:
            raise EdgeVasaError(f"unknown renderer {renderer!r}; use one of {', '.join(RENDERERS)}")
        elif renderer == "decoder":
            encoder, decoder, _ = load_decoder_models(decoder_weights or default_decoder_weights(model))
            self.renderer = NeuralRenderer(face.image, face.landmarks, (encoder, decoder))
        else:
            self.renderer = Renderer(face.image, face.landmarks)

    @classmethod
    def from_image(
        cls,
        path: str | Path,
        face_index: int = 0,
        weights: str | Path | None = None,
        renderer: str = "decoder",
        decoder_weights: str | Path | None = None,
        model: str = MODELS[0],
    ) -> Avatar:
        face = prepare_face(path, face_index=face_index)
        return cls(face, load_generator(model, weights), renderer, decoder_weights, model)

    def motion(
        self, audio: np.ndarray, opts: GenerateOptions | None = None, progress: bool = False
    ) -> np.ndarray:
        """16 kHz mono audio -> (N, MOTION_DIM) motion at ``opts.fps``."""
        opts = opts or GenerateOptions()
        return resample_motion(self.generator(audio, opts, progress=progress), opts.fps)

    def frames(self, motion: np.ndarray, progress: bool = False) -> Iterator[np.ndarray]:
        """(N, MOTION_DIM) motion -> iterator of (512, 512, 3) uint8 frames, rendered a batch at a time."""
        with tqdm(total=len(motion), desc="render", unit="frame", disable=not progress) as bar:
            for start in range(0, len(motion), RENDER_BATCH):
                batch, _ = self.renderer.render_sequence(motion[start : start + RENDER_BATCH])
                yield from batch
                bar.update(len(batch))

    def render(
        self, audio: np.ndarray, opts: GenerateOptions | None = None, progress: bool = False
    ) -> Iterator[np.ndarray]:
        """16 kHz mono audio -> iterator of (512, 512, 3) uint8 frames at ``opts.fps``."""
        return self.frames(self.motion(audio, opts, progress), progress)


def generate_video(
    image: str | Path,
    audio_path: str | Path,
    out: str | Path,
    opts: GenerateOptions | None = None,
    face_index: int = 0,
    weights: str | Path | None = None,
    progress: bool = True,
    renderer: str = "decoder",
    decoder_weights: str | Path | None = None,
    model: str = MODELS[0],
    label: str | None = None,
    backend: str | None = None,
    precision: str | None = None,
) -> Path:
    """Photo + speech file -> MP4 with the original audio muxed (written atomically).

    BACKEND ("auto" or RUNTIME[:DEVICE]) renders with the exported edge models (EdgeStudio) instead of
    the PyTorch MODEL. Every frame carries the provenance watermark (and LABEL, visible, when given); the
    file carries provenance tags and a signed C2PA manifest (see provenance.py).
    """
    from edge_vasa.provenance import Marker, Provenance

    opts = opts or GenerateOptions()
    opts.check()
    audio = load_audio(audio_path)
    if len(audio) < MIN_SPEECH_S * SAMPLE_RATE:
        raise EdgeVasaError(
            f"{audio_path} holds only {len(audio) / SAMPLE_RATE * 1000:.0f} ms of audio; "
            f"use at least {MIN_SPEECH_S} s of speech"
        )
    if backend is None:
        avatar = Avatar.from_image(image, face_index, weights, renderer, decoder_weights, model)
        files = model_files(model, weights, decoder_weights, renderer)
    else:
        studio = EdgeStudio(None if backend == "auto" else backend, precision)
        avatar = studio.avatar(prepare_face(image, face_index=face_index))
        models = studio.models
        files = {f"{network} ({models.candidate})": path for network, path in models.artifacts.items()}
    provenance = Provenance.for_files("generate", files)
    mark = Marker(provenance, label)
    frames = (mark(frame) for frame in avatar.render(audio, opts, progress=progress))
    write_mp4(out, frames, opts.fps, audio=audio, metadata=provenance.tags(), finish=provenance.sign)
    return Path(out)


def model_files(
    model: str = MODELS[0],
    weights: str | Path | None = None,
    decoder_weights: str | Path | None = None,
    renderer: str = "decoder",
) -> dict[str, Path]:
    """The weight files a render uses, by role: what its provenance record hashes."""
    from edge_vasa.distill_motion import STUDENT_WEIGHTS

    files = {"motion": Path(weights or (STUDENT_WEIGHTS if model == "student" else WEIGHTS))}
    if renderer == "decoder":
        files["decoder"] = Path(decoder_weights or default_decoder_weights(model))
    return files
