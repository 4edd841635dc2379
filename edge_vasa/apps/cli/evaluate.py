"""`edge-vasa eval`: score generated videos (lip sync, blinks, head motion, jitter, identity, PSNR/SSIM),
or check that the controls do what they claim.

It generates with the PyTorch models, so edge_vasa.evaluation (torch) is imported in the handler."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge_vasa.apps.cli.generate import add_model_options, options
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.options import GenerateOptions
from edge_vasa.data.corpus import read_manifest


def add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="score generated videos: lip sync, blinks, head motion, jitter, identity, PSNR/SSIM",
        description="With --corpus: generate every held-out clip of the corpus from its photo and audio and "
        "score it, also against the corpus render. With --image and --audio: score one generated video. "
        "Blinks per minute are given for the motion as rendered and split into the generator's own and "
        "those the blink keeper inserted (it adds one when the eyes stay open too long). "
        "Writes OUT/eval.json and a lip-sync plot. With --controls and --image: check that emotion and gaze "
        "change what they claim on the output frames (emotions told apart from fitted expression "
        "coefficients, iris shift per gaze direction); writes OUT/controls.json and two plots.",
    )
    p.add_argument("--corpus", help="corpus directory: evaluate its held-out (eval split) clips")
    p.add_argument("--max-clips", type=int, default=10, help="at most this many corpus clips")
    p.add_argument("--image", help="face photo for a single (photo, audio) evaluation")
    p.add_argument("--audio", help="speech file for a single (photo, audio) evaluation")
    p.add_argument("--out", required=True, help="output directory for eval.json and plots")
    p.add_argument(
        "--controls",
        action="store_true",
        help="control check on --image (--audio optional, default: the bundled speech): every emotion "
        "and gaze left/right/up/down, over --seeds seeds",
    )
    p.add_argument("--seeds", type=int, default=4, help="seeds per emotion and gaze with --controls (>= 2)")
    p.add_argument("--steps", type=int, default=GenerateOptions().steps, help="diffusion sampling steps")
    add_model_options(p)


def cmd_eval(args: argparse.Namespace) -> None:
    opts = options(args)  # --steps; the controls keep their defaults
    weights, model = args.weights, args.model
    if args.controls:
        if not args.image:
            raise EdgeVasaError("--controls needs --image (a face photo); --audio is optional")
        from edge_vasa.evaluation.controls import evaluate_controls, format_controls  # needs torch

        result = evaluate_controls(
            args.image, args.out, args.audio, opts, args.seeds, weights, renderer=args.renderer, model=model
        )
        print(format_controls(result))
        print(f"wrote {Path(args.out) / 'controls.json'}, controls_confusion.png, controls_expression.png")
        return
    if args.corpus:
        from edge_vasa.evaluation.scoring import evaluate_corpus  # needs torch

        read_manifest(Path(args.corpus))
        result = evaluate_corpus(args.corpus, args.out, args.max_clips, opts, weights, args.renderer, model)
        for group, agg in result["summary"].items():
            print(f"held-out {group}: " + json.dumps(agg))
            if agg:
                print(f"held-out {group}: {_blink_rates(agg)}")
    elif args.image and args.audio:
        from edge_vasa.evaluation.scoring import evaluate_pair  # needs torch

        result = evaluate_pair(args.image, args.audio, args.out, opts, weights, args.renderer, model)
        print(json.dumps(result, indent=1))
        print(_blink_rates(result))
    else:
        raise EdgeVasaError("give --corpus DIR, or --image and --audio")
    print(f"wrote {Path(args.out) / 'eval.json'}")


def _blink_rates(scores: dict) -> str:
    """The motion's blinks per minute in words, the generator's own apart from the keeper's: the total alone
    never drops below one per MAX_BLINK_GAP (6 s), whatever the generator does."""
    return (
        f"blinks per minute in the motion {scores['blinks_per_minute_motion']}: the generator's own "
        f"{scores['blinks_per_minute_generated']}, inserted by the blink keeper "
        f"{scores['blinks_per_minute_inserted']}"
    )
