"""`edge-vasa train` (the reference models) and `edge-vasa distill` (the edge students from them).

The training code needs PyTorch, which the edge install lacks: it is imported inside the handlers."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.data.corpus import read_manifest
from edge_vasa.data.footage import ingest_videos


def add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the reference models on a corpus or real videos (resumable)")
    tsub = p.add_subparsers(dest="train_cmd", required=True, metavar="{motion,decoder}")
    motion = tsub.add_parser(
        "motion",
        help="train the audio encoder + diffusion-transformer motion generator",
        description="Trains on the train split of a corpus (or of real talking-head videos); rerun with the "
        "same --out to resume. Writes OUT/motion.safetensors (checkpoint), OUT/history.json, OUT/loss.png.",
    )
    decoder = tsub.add_parser(
        "decoder",
        help="train the appearance encoder + warping decoder",
        description="Trains on frames of the train split of a corpus (or of real talking-head videos); "
        "rerun with the same --out to resume. Writes OUT/decoder.safetensors (checkpoint), "
        "OUT/history.json, OUT/loss.png and the held-out PSNR in OUT/eval.json.",
    )
    for m, steps, batch in ((motion, 3000, 32), (decoder, 1500, 8)):
        source = m.add_mutually_exclusive_group(required=True)
        source.add_argument("--corpus", help="corpus directory (from `edge-vasa corpus build`)")
        source.add_argument(
            "--videos",
            help="folder of real talking-head videos (MP4/MOV/MKV/AVI/WebM): faces are tracked, landmarks "
            "fitted to the motion space and cached as a corpus in OUT/footage",
        )
        m.add_argument("--out", required=True, help="run directory for checkpoint, history and loss plot")
        m.add_argument(
            "--steps", type=int, default=steps, help="total optimizer steps (default: %(default)s)"
        )
        m.add_argument("--batch", type=int, default=batch, help="samples per batch (default: %(default)s)")
        m.add_argument("--seed", type=int, default=0, help="seed for initialisation and sampling")
        m.add_argument("--export", help="also write the weights without optimizer state to this file")


def cmd_train(args: argparse.Namespace) -> None:
    if args.steps < 1 or args.batch < 1:
        raise EdgeVasaError("--steps and --batch must be at least 1")
    if args.videos:
        corpus = ingest_videos(args.videos, Path(args.out) / "footage")
    else:
        corpus = Path(args.corpus)
        read_manifest(corpus)
    if args.train_cmd == "motion":
        from edge_vasa.training.train_motion import (  # needs torch
            MotionTrainConfig,
            export_weights,
            train_motion,
        )

        ckpt = train_motion(
            corpus, args.out, MotionTrainConfig(steps=args.steps, batch=args.batch, seed=args.seed)
        )
    else:
        from edge_vasa.training.train_decoder import (  # needs torch
            DecoderTrainConfig,
            export_decoder_weights,
            train_decoder,
        )

        cfg = DecoderTrainConfig(steps=args.steps, batch=args.batch, seed=args.seed)
        ckpt = train_decoder(corpus, args.out, cfg)
        export_weights = export_decoder_weights
    print(f"checkpoint: {ckpt}; loss curve: {Path(args.out) / 'loss.png'}")
    if args.export:
        print(f"weights: {export_weights(ckpt, args.export)}")


def add_distill(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "distill", help="distil the edge students from the shipped teachers on a corpus (resumable)"
    )
    dsub = p.add_subparsers(dest="distill_cmd", required=True, metavar="{motion,decoder}")
    motion = dsub.add_parser(
        "motion",
        help="few-step motion student with guidance folded in and a streaming chunk step",
        description="Samples the teacher motion generator on windows of the corpus's train split, then "
        "trains the student to give the same motion in one pass per chunk; rerun with the same --out to "
        "resume. Writes OUT/motion_student.safetensors, OUT/history.json, OUT/loss.png.",
    )
    decoder = dsub.add_parser(
        "decoder",
        help="slim plain-conv decoder trained on the teacher decoder's frames",
        description="Renders the corpus's train-split frames with the teacher decoder, then trains the "
        "student to match them; rerun with the same --out to resume. Writes "
        "OUT/decoder_student.safetensors, OUT/history.json, OUT/loss.png and student-vs-teacher PSNR/SSIM "
        "on held-out identities in OUT/eval.json; the widest-open mouths side by side in OUT/compare.png.",
    )
    for m in (motion, decoder):
        m.add_argument("--corpus", required=True, help="corpus directory (from `edge-vasa corpus build`)")
        m.add_argument("--out", required=True, help="run directory for checkpoint, history and loss plot")
        m.add_argument("--steps", type=int, help="total optimizer steps (default: the distiller's own)")
        m.add_argument("--batch", type=int, help="samples per batch (default: the distiller's own)")
        m.add_argument("--seed", type=int, default=0, help="seed for initialisation and sampling")
        m.add_argument("--export", help="also write the weights without optimizer state to this file")


def cmd_distill(args: argparse.Namespace) -> None:
    given = {k: getattr(args, k) for k in ("steps", "batch", "seed") if getattr(args, k) is not None}
    if any(given[k] < 1 for k in ("steps", "batch") if k in given):
        raise EdgeVasaError("--steps and --batch must be at least 1")
    read_manifest(Path(args.corpus))
    if args.distill_cmd == "motion":
        from edge_vasa.training.distill_motion import (  # needs torch
            DistillConfig,
            distill_motion,
            export_motion_student,
        )

        ckpt, export = distill_motion(args.corpus, args.out, DistillConfig(**given)), export_motion_student
    else:
        from edge_vasa.training.distill_decoder import (  # needs torch
            DecoderDistillConfig,
            distill_decoder,
            export_student_decoder,
        )

        cfg = DecoderDistillConfig(**given)
        ckpt, export = distill_decoder(args.corpus, args.out, cfg), export_student_decoder
    print(f"checkpoint: {ckpt}; loss curve: {Path(args.out) / 'loss.png'}")
    if args.export:
        print(f"weights: {export(ckpt, args.export)}")
