"""The data commands: `demo` (the corpus's scripted ground truth as a video), `prep` (face crop and
landmarks), `corpus` (build or inspect the synthetic training corpus), `features` (log-mel features) and
`languages` (the speech voices)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from edge_vasa.apps.cli.common import bundled_photo, check_output
from edge_vasa.core.audio import HOP, SAMPLE_RATE, load_audio, log_mel, resample
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import prepare_face
from edge_vasa.core.files import atomic_output, pyplot, save_figure, write_png
from edge_vasa.core.motion import EMOTIONS
from edge_vasa.core.speech import LANGUAGES, sing, synthesize
from edge_vasa.core.video import write_mp4
from edge_vasa.data import corpus
from edge_vasa.data.script import FPS, ScriptStyle, motion_script
from edge_vasa.pipeline.analytic import Renderer

DEMO_TEXT = "Hello! I am a talking face, made from a single photo and a few words of speech."


def add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="render the bundled photo speaking a sentence (analytic renderer) to an MP4",
        description="Photo + text -> speech (espeak-ng / festival) -> motion script -> analytic renderer "
        "-> MP4: the corpus's ground truth (scripted motion), not the learned generator (see `generate`).",
    )
    p.add_argument("--out", default="demo.mp4", help="output MP4 path (default: %(default)s)")
    p.add_argument(
        "--photo", help="face photo (JPEG/PNG/WebP/BMP); default: Grace Hopper, shipped by matplotlib"
    )
    p.add_argument(
        "--face-index", type=int, default=0, help="which face when the photo has several, 0 = largest"
    )
    p.add_argument("--text", default=DEMO_TEXT, help="what the face says")
    p.add_argument("--language", default="en", help="language code of --text (see `edge-vasa languages`)")
    p.add_argument("--emotion", default="happy", help="neutral, happy, sad, angry or surprised")
    p.add_argument("--sing", action="store_true", help="sing the text on a melody instead of speaking it")
    p.add_argument("--seed", type=int, default=0, help="seed for blinks, head motion and gaze")


def cmd_demo(args: argparse.Namespace) -> None:
    if args.emotion not in EMOTIONS:
        raise EdgeVasaError(f"unknown emotion {args.emotion!r}; use one of: {', '.join(EMOTIONS)}")
    check_output(args.out)
    photo = args.photo or bundled_photo()
    face = prepare_face(photo, face_index=args.face_index)
    utt = (
        sing(args.text, args.language, seed=args.seed) if args.sing else synthesize(args.text, args.language)
    )
    motion = motion_script(utt, ScriptStyle(emotion=args.emotion), seed=args.seed)
    renderer = Renderer(face.image, face.landmarks)
    frames = (renderer.draw(m)[0] for m in tqdm(motion, desc="render", unit="frame"))
    audio = resample(utt.audio, utt.sample_rate)
    write_mp4(args.out, frames, FPS, audio=audio, metadata={"comment": "synthetic: edge-vasa demo"})
    print(
        f"wrote {args.out}: {len(motion) / FPS:.1f} s, {len(motion)} frames at {FPS} fps, "
        f"{np.asarray(face.image).shape[0]}x{face.image.shape[1]}, voice {utt.voice}"
    )


def add_prep(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prep",
        help="detect, align and crop a face photo; save the crop and its landmarks",
        description="Face prep: photo -> aligned 512x512 crop (PNG) + 68 landmarks (JSON) and a "
        "preview with the landmarks drawn.",
    )
    p.add_argument("photo", help="face photo (JPEG/PNG/WebP/BMP, any mode, EXIF rotation honoured)")
    p.add_argument("--out", default="face", help="output prefix: PREFIX.png, PREFIX.json, PREFIX_preview.png")
    p.add_argument(
        "--face-index", type=int, default=0, help="which face when the photo has several, 0 = largest"
    )


def cmd_prep(args: argparse.Namespace) -> None:
    check_output(args.out)
    face = prepare_face(args.photo, face_index=args.face_index)
    crop_bgr = cv2.cvtColor(face.image, cv2.COLOR_RGB2BGR)
    preview = crop_bgr.copy()
    for x, y in face.landmarks:
        cv2.circle(preview, (round(x), round(y)), 2, (0, 255, 0), -1, cv2.LINE_AA)
    record = {
        "landmarks": face.landmarks.round(2).tolist(),
        "source_box": face.source_box,
        "faces_in_photo": face.n_faces,
        "image_sha256": face.image_hash,
    }
    write_png(f"{args.out}.png", face.image)
    write_png(f"{args.out}_preview.png", cv2.cvtColor(preview, cv2.COLOR_BGR2RGB))
    with atomic_output(f"{args.out}.json") as tmp:
        Path(tmp).write_text(json.dumps(record))
    print(f"wrote {args.out}.png, {args.out}.json, {args.out}_preview.png ({face.n_faces} face(s) in photo)")


def add_corpus(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("corpus", help="build or inspect the synthetic talking-face training corpus")
    csub = p.add_subparsers(dest="corpus_cmd", required=True, metavar="{build,stats}")
    b = csub.add_parser(
        "build",
        help="render N clips (resumable, deterministic by seed, all cores)",
        description="Real face photos (with augmentation) animated by the analytic renderer from "
        "espeak-ng / festival speech in many languages. Rerun the same command to resume.",
    )
    b.add_argument("--out", required=True, help="corpus directory (created; an existing one is resumed)")
    b.add_argument("--clips", type=int, default=200, help="number of clips (default: %(default)s)")
    b.add_argument("--seed", type=int, default=0, help="seed: the same seed gives the same corpus")
    b.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    s = csub.add_parser(
        "stats",
        help="languages, minutes, blink rate, emotions, and a renderer fidelity check",
        description="Summarise a corpus and check the renderer: landmarks re-detected on sampled "
        "rendered frames vs the intended landmarks (mean error, mouth-opening correlation).",
    )
    s.add_argument("corpus", help="corpus directory")
    s.add_argument("--check-clips", type=int, default=40, help="clips sampled for the landmark check")
    s.add_argument("--frames-per-clip", type=int, default=6, help="frames sampled per clip for the check")
    s.add_argument("--json", help="also write the statistics to this JSON file")


def cmd_corpus(args: argparse.Namespace) -> None:
    if args.corpus_cmd == "build":
        if args.clips < 1:
            raise EdgeVasaError(f"--clips must be at least 1, got {args.clips}")
        if args.workers is not None and args.workers < 1:
            raise EdgeVasaError(f"--workers must be at least 1, got {args.workers}")
        out = corpus.build_corpus(args.out, args.clips, seed=args.seed, workers=args.workers)
        print(f"corpus ready: {out}")
    else:
        if args.check_clips < 1 or args.frames_per_clip < 1:
            raise EdgeVasaError("--check-clips and --frames-per-clip must be at least 1")
        stats = corpus.corpus_stats(
            args.corpus, check_clips=args.check_clips, frames_per_clip=args.frames_per_clip
        )
        print(corpus.format_stats(stats))
        if args.json:
            Path(args.json).write_text(json.dumps(stats, indent=1, ensure_ascii=False))


def add_features(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "features",
        help="audio file -> log-mel features (80 bins at 100 Hz) as .npy, optionally a spectrogram PNG",
        description="Decode any audio file (WAV/FLAC/MP3/OGG/M4A, any rate and channel count) to 16 kHz mono "
        "and compute the log-mel features the audio encoder consumes.",
    )
    p.add_argument("audio", help="audio file")
    p.add_argument("--out", required=True, help="output .npy file: (frames, 80) float32")
    p.add_argument("--plot", help="also save a spectrogram picture to this PNG file")


def cmd_features(args: argparse.Namespace) -> None:
    check_output(args.out)
    if args.plot:
        check_output(args.plot)
    audio = load_audio(args.audio)
    mel = log_mel(audio)
    with atomic_output(args.out) as tmp, open(tmp, "wb") as f:
        np.save(f, mel)
    if args.plot:
        fig, ax = pyplot().subplots(figsize=(10, 3.2), dpi=100)
        seconds = len(mel) * HOP / SAMPLE_RATE
        im = ax.imshow(
            mel.T, origin="lower", aspect="auto", extent=(0, seconds, 0, mel.shape[1]), cmap="magma"
        )
        ax.set(xlabel="time (s)", ylabel="mel bin", title=f"log-mel features of {Path(args.audio).name}")
        fig.colorbar(im, ax=ax, label="ln(power)")
        save_figure(fig, args.plot)
    seconds = len(audio) / SAMPLE_RATE
    print(f"wrote {args.out}: {mel.shape[0]} frames x {mel.shape[1]} mel bins ({seconds:.2f} s)")


def add_languages(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("languages", help="list the speech languages and voices")


def cmd_languages(args: argparse.Namespace) -> None:
    for code, lang in sorted(LANGUAGES.items()):
        engines = "espeak-ng" + (f", festival ({lang.festival_voice})" if lang.festival_voice else "")
        print(f"{code:5s} {lang.name:12s} {engines}")
