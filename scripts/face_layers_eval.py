"""Do the eye and mouth layers cost lip sync or identity? Side by side on the same motion.

For each held-out corpus identity, held-out speech (the liveliness script's sentences) drives the teacher's
motion once; its decoder draws the frames once; the frames are scored as drawn and again with the face layers
composed on them (`edge-vasa eval`'s metrics: lip sync by dlib's mouth opening against voiced energy,
identity distance by dlib descriptors against the photo). Writes a markdown table to stdout.

    .venv/bin/python scripts/face_layers_eval.py [--seconds 12] [--model teacher] [--set eval|hard]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edge_vasa.core.face import prepare_face
from edge_vasa.core.options import GenerateOptions
from edge_vasa.evaluation.scoring import evaluate_frames, generate_motion, render_motion
from edge_vasa.pipeline.avatar import Avatar
from edge_vasa.pipeline.face_layers import FaceLayers

HERE = Path(__file__).resolve().parent


def liveliness_script():
    """scripts/liveliness_eval.py as a module: its held-out sentences and photo set, one definition."""
    spec = importlib.util.spec_from_file_location("liveliness_eval", HERE / "liveliness_eval.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--model", default="teacher", choices=["teacher", "student"])
    parser.add_argument(
        "--set", choices=("eval", "hard"), default="eval", help="held-out identities or hard photos"
    )
    args = parser.parse_args()
    live = liveliness_script()
    audio = live.speech(args.seconds)
    opts = GenerateOptions()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        photos = (live.hard_photos if args.set == "hard" else live.eval_photos)(Path(tmp))
        for photo in tqdm([p for p in photos if not p.must_refuse], desc="photos", unit="photo"):
            face = prepare_face(photo.path, face_index=photo.face_index)
            avatar = Avatar.load(face, args.model)
            motion, _ = generate_motion(avatar, audio, opts)
            drawn = render_motion(Avatar(face, avatar.generator, avatar.renderer.inner), motion)
            layers = FaceLayers(face.image, face.landmarks)
            layered = np.stack([layers.compose(f.copy(), m) for f, m in zip(drawn, motion)])
            for name, frames in (("decoder alone", drawn), ("with layers", layered)):
                s = evaluate_frames(frames, audio, opts.fps, face.image)
                rows.append((photo.name, name, s["lip_sync_correlation"], s["identity_distance"]))
    print(f"{args.model}, {args.seconds:g} s of held-out speech\n")
    print("| photo | frames | lip sync | identity distance |")
    print("|---|---|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.3f} | {r[3]:.3f} |")
    sync, ident = (np.array([r[k] for r in rows[1::2]]) - np.array([r[k] for r in rows[::2]]) for k in (2, 3))
    print(
        f"\nwith layers minus decoder alone, median over {len(sync)} photos: "
        f"lip sync {np.median(sync):+.3f}, identity distance {np.median(ident):+.3f} "
        f"(range {ident.min():+.3f}..{ident.max():+.3f})"
    )


if __name__ == "__main__":
    main()
