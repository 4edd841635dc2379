"""`edge-vasa generate`, and the options it shares: the generation controls (made from GenerateOptions'
fields, with live) and the model choice (with eval)."""

from __future__ import annotations

import argparse
from dataclasses import Field, fields

from edge_vasa.apps.cli.common import bundled_photo, check_output
from edge_vasa.apps.generate import generate_video
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.options import MODELS, RENDERERS, GenerateOptions, listed, span
from edge_vasa.core.shipped import BUNDLED_SPEECH
from edge_vasa.provenance.record import check_label
from edge_vasa.runtimes.artifacts import PRECISIONS


def add_generate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="photo + speech audio -> talking-face MP4 (learned motion generator)",
        description="Photo + any speech recording -> motion from the trained diffusion-transformer motion "
        "generator (window by window, bounded memory) -> frames from the learned warping decoder -> MP4 "
        "with the original audio.",
    )
    p.add_argument(
        "--image", help="face photo (JPEG/PNG/WebP/BMP); default: Grace Hopper, shipped by matplotlib"
    )
    p.add_argument(
        "--audio",
        help="speech (WAV/FLAC/MP3/OGG/M4A, any rate and channels); default: a bundled "
        "English sentence (festival voice)",
    )
    p.add_argument("-o", "--out", default="out.mp4", help="output MP4 (default: %(default)s)")
    p.add_argument(
        "--crop",
        action="store_true",
        help="output only the 512x512 face crop (default: the whole photo, its own framing up to 1920 px, "
        "the animated face pasted back)",
    )
    p.add_argument(
        "--face-index", type=int, default=0, help="which face when the photo has several, 0 = largest"
    )
    add_control_options(p)
    p.add_argument(
        "--steps",
        type=int,
        default=GenerateOptions().steps,
        help="diffusion sampling steps of the teacher (default: %(default)s; the student takes one pass)",
    )
    add_model_options(p)
    p.add_argument("--decoder-weights", help="decoder weights (.safetensors); default: the shipped --model's")
    p.add_argument(
        "--label", help='visible label on every frame, e.g. --label "AI-generated" (default: none)'
    )
    p.add_argument(
        "--backend",
        help="render with the exported edge models (student pair) on RUNTIME[:DEVICE], e.g. openvino:cpu, or "
        "auto (the fastest measured here), as live does; default: PyTorch --model",
    )
    p.add_argument("--precision", choices=PRECISIONS, help="with --backend: only this precision")


def add_control_options(p: argparse.ArgumentParser) -> None:
    """Emotion, gaze, distance, motion scale, seed, frame rate and guidance, as declared on GenerateOptions
    (the fields with help): shared by generate and live. Ranges and choices are checked by options(), not
    argparse, so a bad value gets the same error here as in a batch row."""
    for f in fields(GenerateOptions):
        if "help" not in f.metadata:
            continue
        if "axes" in f.metadata:
            kind = {
                "type": type(f.default[0]),
                "nargs": len(f.metadata["axes"]),
                "metavar": tuple(axis.upper() for axis in f.metadata["axes"]),
            }
        else:
            kind = {} if isinstance(f.default, str) else {"type": type(f.default)}
        p.add_argument("--" + f.name.replace("_", "-"), default=f.default, help=_help(f), **kind)


def _help(f: Field) -> str:
    """The field's help with its valid values filled in."""
    meta = f.metadata
    valid = {"span": span(*meta["range"])} if "range" in meta else {}
    if "choices" in meta:
        valid["choices"] = listed(meta["choices"])
    return meta["help"].format(**valid)


def options(args: argparse.Namespace) -> GenerateOptions:
    """The checked GenerateOptions of a command's parsed options (each option's dest is its field's name)."""
    given = {}
    for f in fields(GenerateOptions):
        if hasattr(args, f.name):
            value = getattr(args, f.name)
            given[f.name] = tuple(value) if "axes" in f.metadata else value  # argparse's nargs: a list
    opts = GenerateOptions(**given)
    opts.check()
    return opts


def add_model_options(p: argparse.ArgumentParser) -> None:
    """Which PyTorch models and renderer: shared by generate and eval."""
    p.add_argument(
        "--model",
        choices=MODELS,
        default=MODELS[0],
        help="teacher: the reference models (diffusion sampling, large decoder); student: the distilled "
        "edge pair (one pass per motion chunk, slim decoder) (default: %(default)s)",
    )
    p.add_argument(
        "--weights", help="motion generator weights (.safetensors); default: the shipped --model's"
    )
    p.add_argument(
        "--renderer",
        choices=RENDERERS,
        default=RENDERERS[0],
        help="decoder: the learned warping decoder (default); analytic: the corpus renderer it learned from",
    )


def cmd_generate(args: argparse.Namespace) -> None:
    opts = options(args)
    if args.precision and not args.backend:
        raise EdgeVasaError("--precision needs --backend (auto or RUNTIME[:DEVICE])")
    check_output(args.out)
    image, audio = args.image or bundled_photo(), args.audio or BUNDLED_SPEECH
    out = generate_video(
        image,
        audio,
        args.out,
        opts,
        face_index=args.face_index,
        weights=args.weights,
        renderer=args.renderer,
        decoder_weights=args.decoder_weights,
        model=args.model,
        label=check_label(args.label),
        backend=args.backend,
        precision=args.precision,
        crop=args.crop,
    )
    print(
        f"wrote {out} ({args.backend or args.model}, {opts.fps} fps, {opts.emotion}, seed {opts.seed}; "
        "watermarked, C2PA-signed)"
    )
