"""The ``edge-vasa`` command line.

Every subcommand reports bad input as one ``error:`` line and exits 2, never with a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

from edge_vasa import __version__
from edge_vasa.core.errors import EdgeVasaError

# numpy's work here is many small matrices: one BLAS thread each is fastest, and leaves cores free.
# (OMP_NUM_THREADS is left alone: it would also hold PyTorch's networks to one core.)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

DEMO_TEXT = "Hello! I am a talking face, made from a single photo and a few words of speech."


def _add_demo(sub: argparse._SubParsersAction) -> None:
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


def _add_prep(sub: argparse._SubParsersAction) -> None:
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


def _add_corpus(sub: argparse._SubParsersAction) -> None:
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


def _add_features(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "features",
        help="audio file -> log-mel features (80 bins at 100 Hz) as .npy, optionally a spectrogram PNG",
        description="Decode any audio file (WAV/FLAC/MP3/OGG/M4A, any rate and channel count) to 16 kHz mono "
        "and compute the log-mel features the audio encoder consumes.",
    )
    p.add_argument("audio", help="audio file")
    p.add_argument("--out", required=True, help="output .npy file: (frames, 80) float32")
    p.add_argument("--plot", help="also save a spectrogram picture to this PNG file")


def _add_generate(sub: argparse._SubParsersAction) -> None:
    from edge_vasa.core.options import MODELS, RENDERERS, GenerateOptions

    defaults = GenerateOptions()
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
        "--face-index", type=int, default=0, help="which face when the photo has several, 0 = largest"
    )
    _add_control_options(p)
    p.add_argument(
        "--steps",
        type=int,
        default=defaults.steps,
        help="diffusion sampling steps of the teacher (default: %(default)s; the student takes one pass)",
    )
    _add_model_options(p, MODELS, RENDERERS)
    p.add_argument("--decoder-weights", help="decoder weights (.safetensors); default: the shipped --model's")
    p.add_argument(
        "--label", help='visible label on every frame, e.g. --label "AI-generated" (default: none)'
    )
    p.add_argument(
        "--backend",
        help="render with the exported edge models (student pair) on RUNTIME[:DEVICE], e.g. openvino:cpu, or "
        "auto (the fastest measured here), as live does; default: PyTorch --model",
    )
    from edge_vasa.runtimes.artifacts import PRECISIONS

    p.add_argument("--precision", choices=PRECISIONS, help="with --backend: only this precision")


def _add_control_options(p: argparse.ArgumentParser) -> None:
    """Emotion, gaze, distance, motion scale, seed, frame rate and guidance: shared by generate and live."""
    from edge_vasa.core.motion import EMOTIONS
    from edge_vasa.core.options import OUTPUT_FPS, GenerateOptions

    defaults = GenerateOptions()
    p.add_argument("--emotion", default=defaults.emotion, help=", ".join(EMOTIONS))
    p.add_argument(
        "--gaze",
        type=float,
        nargs=2,
        default=defaults.gaze,
        metavar=("X", "Y"),
        help="gaze direction, -1..1 each (+X toward image right, +Y down)",
    )
    p.add_argument(
        "--distance",
        type=float,
        default=defaults.distance,
        help="head distance as a scale, 0.75..1.3 (>1 closer)",
    )
    p.add_argument(
        "--motion-scale",
        type=float,
        default=defaults.motion_scale,
        help="head-motion amplitude, 0..2 (0 = still head; eyes and blinks stay alive)",
    )
    p.add_argument("--seed", type=int, default=defaults.seed, help="seed: the same seed gives the same video")
    p.add_argument(
        "--fps", type=int, default=defaults.fps, help=f"output frame rate: {', '.join(map(str, OUTPUT_FPS))}"
    )
    p.add_argument(
        "--cfg-audio",
        type=float,
        default=defaults.cfg_audio,
        help="guidance scale for audio (default: %(default)s)",
    )
    p.add_argument(
        "--cfg-control",
        type=float,
        default=defaults.cfg_control,
        help="guidance scale for emotion/gaze/distance/motion controls (default: %(default)s)",
    )


def _options(args: argparse.Namespace):
    from edge_vasa.core.options import GenerateOptions

    opts = GenerateOptions(
        emotion=args.emotion,
        gaze=tuple(args.gaze),
        distance=args.distance,
        motion_scale=args.motion_scale,
        seed=args.seed,
        steps=getattr(args, "steps", GenerateOptions().steps),
        cfg_audio=args.cfg_audio,
        cfg_control=args.cfg_control,
        fps=args.fps,
    )
    opts.check()
    return opts


def _add_model_options(p: argparse.ArgumentParser, models: tuple, renderers: tuple) -> None:
    p.add_argument(
        "--model",
        choices=models,
        default=models[0],
        help="teacher: the reference models (diffusion sampling, large decoder); student: the distilled "
        "edge pair (one pass per motion chunk, slim decoder) (default: %(default)s)",
    )
    p.add_argument(
        "--weights", help="motion generator weights (.safetensors); default: the shipped --model's"
    )
    p.add_argument(
        "--renderer",
        choices=renderers,
        default=renderers[0],
        help="decoder: the learned warping decoder (default); analytic: the corpus renderer it learned from",
    )


def _add_train(sub: argparse._SubParsersAction) -> None:
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


def _add_distill(sub: argparse._SubParsersAction) -> None:
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


def _add_export(sub: argparse._SubParsersAction) -> None:
    from edge_vasa.runtimes.artifacts import FORMATS, PRECISIONS

    p = sub.add_parser(
        "export",
        help="export the edge networks (students) as ONNX / OpenVINO / Core ML, fp32 / fp16 / int8",
        description="Exports the decoder student, the appearance encoder and the motion student's streaming "
        "step (which holds the audio encoder). Each artifact is run against PyTorch at export and refused "
        "beyond the parity budget of its precision; int8 is calibrated on the calibration set (built on "
        "first use). A manifest beside each file records shapes, hashes, calibration and the measured "
        "parity. Artifacts already in OUT with a matching manifest are reused (--force rebuilds).",
    )
    p.add_argument("--format", choices=tuple(FORMATS), default="onnx", help="format (default: onnx)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="precision (default: fp32)")
    p.add_argument("--out", help="artifact folder (default: the cache, ~/.cache/edge-vasa/artifacts)")
    p.add_argument("--network", action="append", help="export only this network (repeatable; default: all)")
    p.add_argument("--force", action="store_true", help="rebuild even when a matching artifact exists")
    p.add_argument(
        "--compare",
        action="store_true",
        help="then score this precision against fp32 of the same format on held-out faces and real speech "
        "(frame PSNR vs the teacher, lip sync, latency); writes accuracy.json beside the artifacts",
    )


def _add_backend_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        help="RUNTIME[:DEVICE] instead of the fastest measured, e.g. onnxruntime:cpu, openvino:gpu, "
        "torch:cuda",
    )
    from edge_vasa.runtimes.artifacts import PRECISIONS

    p.add_argument("--precision", choices=PRECISIONS, help="only this precision")


def _add_doctor(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor",
        help="what this machine can run: backends, devices, precisions, measured FPS, and the choice",
        description="Probes the CPU (model, cores, ISA flags), GPUs and the installed runtimes (onnxruntime "
        "providers, OpenVINO devices, Core ML, PyTorch), times every backend x precision on the edge "
        "models (a short warm-up, cached per machine and artifact), and says which one `live` would use "
        "and why. fp32 artifacts are exported when missing; --build exports fp16 and int8 too (minutes).",
    )
    _add_backend_options(p)
    p.add_argument("--build", action="store_true", help="export every missing artifact first (slow)")
    p.add_argument("--remeasure", action="store_true", help="time again instead of using cached timings")
    p.add_argument("--json", help="also write the findings to this JSON file")


def _add_bench(sub: argparse._SubParsersAction) -> None:
    from edge_vasa.runtimes.artifacts import PRECISIONS

    p = sub.add_parser(
        "bench",
        help="speed and accuracy of every backend x precision against the reference path: report + plots",
        description="Times every edge variant here (runtime x device x precision, as `doctor` lists "
        "them) side by side, scores each against the reference path (the teacher models, fp32 PyTorch) "
        "on held-out faces and speech (PSNR, SSIM, landmarks, lip sync, blinks, head motion, identity), "
        "runs a short live session per variant, and writes report.md, report.json and plots (FPS bars, "
        "accuracy vs speed, latency CDF, time per stage) to --out. --compare flags figures more than 10%% "
        "worse than a baseline report (exit status 1). Full run: about 15 minutes on 2 cores; --quick: "
        "about 2.",
    )
    p.add_argument(
        "--backends",
        nargs="+",
        metavar="RUNTIME[:DEVICE]",
        help="only these, e.g. openvino onnxruntime:cpu torch (default: every one installed)",
    )
    p.add_argument("--precisions", nargs="+", choices=PRECISIONS, help="only these precisions")
    p.add_argument("--quick", action="store_true", help="one short clip, fewer rounds, one live session")
    p.add_argument("--out", default="bench", help="folder for the report (default: %(default)s)")
    p.add_argument("--compare", metavar="BASELINE", help="a baseline report.json (or its folder) to compare")
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.10,
        help="with --compare: how much worse a figure may be before it is flagged (default: %(default)s; "
        "speed ratios between runtimes moved 10-14%% between runs of unchanged code on a shared 2-core VM)",
    )
    p.add_argument("--build", action="store_true", help="export missing fp16/int8 artifacts first (slow)")
    p.add_argument("--no-live", action="store_true", help="skip the live sessions")


def _add_verify(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="is this video made by edge-vasa? watermark, provenance tags and C2PA manifest",
        description="Looks for the invisible watermark every generate/live frame carries (it survives "
        "re-encoding, resizing, cropping and brightness/contrast changes), decodes its payload (version and "
        "render id), and reads the MP4 provenance tags and the C2PA manifest when they are still there. "
        "Exit status: 0 when every file is synthetic (made by edge-vasa), 1 when one is not.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="video files (MP4/MOV/MKV/WebM/AVI)")
    p.add_argument("--json", help="also write the findings to this JSON file")
    p.add_argument(
        "--frames",
        type=int,
        default=250,
        help="read at most this many frames per file (default: %(default)s)",
    )


def _add_batch(sub: argparse._SubParsersAction) -> None:
    from edge_vasa.apps.batch import CHUNK_S

    p = sub.add_parser(
        "batch",
        help="many videos from a CSV/JSONL of (photo, speech, options) rows, in parallel on Ray",
        description="Renders every row of JOBS (CSV with a header row, or JSONL) into --out: NAME.mp4 and "
        "NAME.status.json per row, written atomically, so a rerun skips finished rows and retries failed "
        "ones. "
        "Columns: image, audio (paths relative to JOBS), and optionally name, emotion, gaze_x, gaze_y, "
        "distance, motion_scale, seed, fps, label, face_index. Runs on a local Ray instance started here (no "
        "setup), or on a cluster with --ray-address. Prints a summary table; exit status 1 if a row failed.",
    )
    p.add_argument("jobs", help="jobs file (.csv or .jsonl)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--workers", type=int, help="render workers (default: one per core)")
    p.add_argument("--ray-address", help="an existing Ray cluster (default: a local instance)")
    p.add_argument(
        "--chunk-seconds",
        type=float,
        default=CHUNK_S,
        help="audio longer than this is rendered in parallel chunks (default: %(default)s)",
    )
    _add_backend_options(p)


def _add_ui(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ui",
        help="a local web page for making videos: photo + speech + controls -> video (Gradio)",
        description="Serves a web page on this machine: upload a photo (the detected face is shown) and "
        "speech (or record it), set emotion, gaze, head size and motion, seed, frame rate and backend, and "
        "get the video to play or download, with its provenance note. Nothing leaves the machine.",
    )
    p.add_argument("--port", type=int, default=7860, help="port (default: %(default)s)")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to serve on (default: %(default)s, this machine)"
    )
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")


def _add_soak(sub: argparse._SubParsersAction) -> None:
    from edge_vasa.live.soak import SAMPLE_S, WARMUP_S

    p = sub.add_parser(
        "soak",
        help="run the live pipeline for a long time: FPS, latency and memory over time, with a plot",
        description="Runs a live session from a speech file played in real time (looped) on the backend "
        "`live` would pick, for --minutes, sampling memory, frame rate, latency and the frame ledger every "
        "--interval seconds. Writes soak.json and soak.png to --out. Exit status 1 when unstable: memory "
        "after the warm-up grew more than 5 %, or a frame was lost beyond the drop policy.",
    )
    p.add_argument("--minutes", type=float, default=10.0, help="how long (default: %(default)s)")
    p.add_argument("--image", help="face photo (default: the bundled one)")
    p.add_argument("--audio", help="speech file, looped (default: the bundled sentence)")
    p.add_argument(
        "--fps", type=int, default=25, help="frame rate asked of the session (default: %(default)s)"
    )
    p.add_argument("--out", default="soak", help="folder for soak.json and soak.png (default: %(default)s)")
    p.add_argument(
        "--warmup", type=float, default=WARMUP_S, help="seconds before memory counts (default: %(default)s)"
    )
    p.add_argument(
        "--interval", type=float, default=SAMPLE_S, help="seconds between samples (default: %(default)s)"
    )
    _add_backend_options(p)


def _add_live(sub: argparse._SubParsersAction) -> None:
    from edge_vasa.live.session import MAX_LATENCY_S

    p = sub.add_parser(
        "live",
        help="drive the face in real time from a microphone, a file or stdin (window, browser, camera, MP4)",
        description="Real time: audio -> motion (the streaming student, past carried) -> frames (the "
        "exported edge decoder on the fastest backend here, see `edge-vasa doctor`) -> a window, a "
        "browser page (--serve), a virtual camera and/or an MP4 recording. Frames that would come later than "
        "--max-latency after their audio are dropped instead of delaying the rest. On silence the face "
        "stays alive; a lost microphone is reopened when it returns. Ctrl-C or SIGTERM ends the session "
        "and finishes the recording.",
    )
    p.add_argument(
        "--image", help="face photo (JPEG/PNG/WebP/BMP); default: Grace Hopper, shipped by matplotlib"
    )
    p.add_argument("--face-index", type=int, default=0, help="which face when the photo has several")
    p.add_argument(
        "--source",
        default="mic",
        help="mic (default), file:PATH (played in real time) or stdin (raw s16le mono PCM)",
    )
    p.add_argument("--device", help="microphone by index or (part of its) name; see --list-devices")
    p.add_argument("--list-devices", action="store_true", help="list the capture devices and exit")
    p.add_argument("--stdin-rate", type=int, default=16000, help="sample rate of --source stdin (Hz)")
    p.add_argument("--loop", action="store_true", help="with --source file: play it again and again")
    p.add_argument("--no-window", action="store_true", help="no window (use with --serve/--record/...)")
    p.add_argument("--fullscreen", action="store_true", help="full-screen window")
    p.add_argument(
        "--kiosk",
        action="store_true",
        help='kiosk: full-screen window, or --serve\'s page; labels "AI-generated"',
    )
    p.add_argument(
        "--label",
        help='visible label on every frame, e.g. --label "AI-generated" (default: none; "AI-generated" with '
        '--kiosk; --label "" for none)',
    )
    p.add_argument(
        "--serve",
        type=int,
        nargs="?",
        const=8765,
        metavar="PORT",
        help="MJPEG + kiosk page on http://127.0.0.1:PORT/ (default port 8765)",
    )
    p.add_argument("--virtual-camera", action="store_true", help="send frames to a virtual webcam")
    p.add_argument("--record", help="also record the session (frames + captured audio) to this MP4")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument(
        "--max-latency",
        type=float,
        default=MAX_LATENCY_S,
        help="drop frames that would be shown later than this after their audio (s, default %(default)s)",
    )
    p.add_argument("--no-vad", action="store_true", help="pass background noise to the motion unchanged")
    p.add_argument("--stats", help="write the session summary (FPS, latency percentiles...) to this JSON")
    p.add_argument("--quiet", action="store_true", help="no status line")
    _add_control_options(p)
    _add_backend_options(p)


def _add_eval(sub: argparse._SubParsersAction) -> None:
    from edge_vasa.core.options import MODELS, RENDERERS, GenerateOptions

    p = sub.add_parser(
        "eval",
        help="score generated videos: lip sync, blinks, head motion, jitter, identity, PSNR/SSIM",
        description="With --corpus: generate every held-out clip of the corpus from its photo and audio and "
        "score it, also against the corpus render. With --image and --audio: score one generated video. "
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
    _add_model_options(p, MODELS, RENDERERS)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, like every other error: what is wrong, and where the help is."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="edge-vasa",
        description="One photo + speech -> a talking-face video, on an ordinary CPU (VASA-1 style).",
    )
    parser.add_argument("--version", action="version", version=f"edge-vasa {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_demo(sub)
    _add_prep(sub)
    _add_corpus(sub)
    _add_features(sub)
    _add_generate(sub)
    _add_train(sub)
    _add_distill(sub)
    _add_export(sub)
    _add_eval(sub)
    _add_doctor(sub)
    _add_live(sub)
    _add_verify(sub)
    _add_soak(sub)
    _add_ui(sub)
    _add_batch(sub)
    _add_bench(sub)
    sub.add_parser("languages", help="list the speech languages and voices")
    return parser


def cmd_demo(args: argparse.Namespace) -> None:
    import numpy as np
    from tqdm import tqdm

    from edge_vasa.core.audio import resample
    from edge_vasa.core.face import prepare_face
    from edge_vasa.core.motion import EMOTIONS
    from edge_vasa.core.speech import sing, synthesize
    from edge_vasa.core.video import write_mp4
    from edge_vasa.data.script import FPS, ScriptStyle, motion_script
    from edge_vasa.pipeline.analytic import Renderer

    if args.emotion not in EMOTIONS:
        raise EdgeVasaError(f"unknown emotion {args.emotion!r}; use one of: {', '.join(EMOTIONS)}")
    _check_output(args.out)
    photo = args.photo or _bundled_photo()
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


def _bundled_photo() -> str:
    import matplotlib.cbook

    return str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def _check_output(path: str) -> None:
    """Before any work: the output's folder exists and takes a file (claimed and released again)."""
    from edge_vasa.core.files import atomic_output

    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise EdgeVasaError(f"output directory {parent} does not exist; create it or choose another --out")
    with contextlib.suppress(_Probe), atomic_output(path):
        raise _Probe  # nothing written: the temp file is removed, the target untouched


class _Probe(Exception):
    """Ends _check_output's trial of the output folder."""


def cmd_prep(args: argparse.Namespace) -> None:
    import json

    import cv2

    from edge_vasa.core.face import prepare_face
    from edge_vasa.core.files import atomic_output, write_png

    _check_output(args.out)
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


def cmd_corpus(args: argparse.Namespace) -> None:
    from edge_vasa.data import corpus

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
            import json

            Path(args.json).write_text(json.dumps(stats, indent=1, ensure_ascii=False))


def cmd_features(args: argparse.Namespace) -> None:
    import numpy as np

    from edge_vasa.core.audio import HOP, SAMPLE_RATE, load_audio, log_mel
    from edge_vasa.core.files import atomic_output

    _check_output(args.out)
    if args.plot:
        _check_output(args.plot)
    audio = load_audio(args.audio)
    mel = log_mel(audio)
    with atomic_output(args.out) as tmp, open(tmp, "wb") as f:
        np.save(f, mel)
    if args.plot:
        from edge_vasa.core.files import pyplot, save_figure

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


def cmd_generate(args: argparse.Namespace) -> None:
    from edge_vasa.apps.generate import generate_video
    from edge_vasa.core.shipped import BUNDLED_SPEECH
    from edge_vasa.provenance.record import check_label

    opts = _options(args)
    if args.precision and not args.backend:
        raise EdgeVasaError("--precision needs --backend (auto or RUNTIME[:DEVICE])")
    _check_output(args.out)
    image, audio = args.image or _bundled_photo(), args.audio or BUNDLED_SPEECH
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
    )
    print(
        f"wrote {out} ({args.backend or args.model}, {opts.fps} fps, {opts.emotion}, seed {opts.seed}; "
        "watermarked, C2PA-signed)"
    )


def cmd_train(args: argparse.Namespace) -> None:
    from edge_vasa.data.corpus import read_manifest

    if args.steps < 1 or args.batch < 1:
        raise EdgeVasaError("--steps and --batch must be at least 1")
    if args.videos:
        from edge_vasa.data.footage import ingest_videos

        corpus = ingest_videos(args.videos, Path(args.out) / "footage")
    else:
        corpus = Path(args.corpus)
        read_manifest(corpus)
    if args.train_cmd == "motion":
        from edge_vasa.training.train_motion import MotionTrainConfig, export_weights, train_motion

        ckpt = train_motion(
            corpus, args.out, MotionTrainConfig(steps=args.steps, batch=args.batch, seed=args.seed)
        )
    else:
        from edge_vasa.training.train_decoder import DecoderTrainConfig, export_decoder_weights, train_decoder

        cfg = DecoderTrainConfig(steps=args.steps, batch=args.batch, seed=args.seed)
        ckpt = train_decoder(corpus, args.out, cfg)
        export_weights = export_decoder_weights
    print(f"checkpoint: {ckpt}; loss curve: {Path(args.out) / 'loss.png'}")
    if args.export:
        print(f"weights: {export_weights(ckpt, args.export)}")


def cmd_distill(args: argparse.Namespace) -> None:
    from edge_vasa.data.corpus import read_manifest

    given = {k: getattr(args, k) for k in ("steps", "batch", "seed") if getattr(args, k) is not None}
    if any(given[k] < 1 for k in ("steps", "batch") if k in given):
        raise EdgeVasaError("--steps and --batch must be at least 1")
    read_manifest(Path(args.corpus))
    if args.distill_cmd == "motion":
        from edge_vasa.training.distill_motion import DistillConfig, distill_motion, export_motion_student

        ckpt, export = distill_motion(args.corpus, args.out, DistillConfig(**given)), export_motion_student
    else:
        from edge_vasa.training.distill_decoder import (
            DecoderDistillConfig,
            distill_decoder,
            export_student_decoder,
        )

        cfg = DecoderDistillConfig(**given)
        ckpt, export = distill_decoder(args.corpus, args.out, cfg), export_student_decoder
    print(f"checkpoint: {ckpt}; loss curve: {Path(args.out) / 'loss.png'}")
    if args.export:
        print(f"weights: {export(ckpt, args.export)}")


def cmd_export(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from edge_vasa.conversion.export import ensure_artifact
    from edge_vasa.pipeline.edge_networks import NETWORKS
    from edge_vasa.runtimes.artifacts import artifact_files, cache_root, verify_artifact

    for name in args.network or []:
        if name not in NETWORKS:
            raise EdgeVasaError(f"unknown network {name!r}; use one of {', '.join(NETWORKS)}")
    root = Path(args.out) if args.out else cache_root()
    for name in tqdm(args.network or list(NETWORKS), desc="export", unit="network"):
        path = ensure_artifact(name, args.format, args.precision, root, force=args.force)
        manifest = verify_artifact(path)
        size = sum(f.stat().st_size for f in artifact_files(path)) / 1e6
        runs = manifest["parity"].get("runs", {})
        shown = ", ".join(
            f"{at}: max abs {r['max_abs_error']:.1e}, SNR {r['snr_db']:.0f} dB" for at, r in runs.items()
        )
        tqdm.write(f"{path} ({size:.1f} MB) {shown or manifest['parity'].get('validated', '')}")
    if args.compare:
        _compare_precisions(args.format, args.precision, root)


def _compare_precisions(fmt: str, precision: str, root: Path) -> None:

    from edge_vasa.conversion.accuracy import compare_precisions
    from edge_vasa.core.files import write_json

    if precision == "fp32":
        raise EdgeVasaError("--compare scores a precision against fp32; give --precision fp16 or int8")
    result = compare_precisions(fmt, ("fp32", precision), root)
    dest = root / f"{fmt}-{precision}" / "accuracy.json"
    write_json(dest, result)
    print(
        f"{'':6} {'PSNR vs teacher':>16} {'vs fp32':>8} {'lip sync':>9} {'decoder ms':>11} {'motion ms':>10}"
    )
    for p, row in result["summary"].items():
        print(
            f"{p:6} {row['psnr_vs_reference_db']:13.2f} dB {row['psnr_vs_fp32_db']:8.1f} "
            f"{row['lip_sync']:9.3f} {result['speed']['decoder_ms'][p]:11.1f} "
            f"{result['speed']['motion_step_ms'][p]:10.2f}"
        )
    row = result["summary"][precision]
    print(
        f"{precision}: PSNR drop {row['psnr_drop_db']:.2f} dB, "
        f"lip sync {row['lip_sync_change']:+.1%} ({dest})"
    )


def cmd_eval(args: argparse.Namespace) -> None:
    import json

    from edge_vasa.core.options import GenerateOptions

    opts = GenerateOptions(steps=args.steps)
    opts.check()
    weights, model = args.weights, args.model
    if args.controls:
        from edge_vasa.evaluation.evaluate import evaluate_controls, format_controls

        if not args.image:
            raise EdgeVasaError("--controls needs --image (a face photo); --audio is optional")
        result = evaluate_controls(
            args.image, args.out, args.audio, opts, args.seeds, weights, renderer=args.renderer, model=model
        )
        print(format_controls(result))
        print(f"wrote {Path(args.out) / 'controls.json'}, controls_confusion.png, controls_expression.png")
        return
    if args.corpus:
        from edge_vasa.data.corpus import read_manifest
        from edge_vasa.evaluation.evaluate import evaluate_corpus

        read_manifest(Path(args.corpus))
        result = evaluate_corpus(args.corpus, args.out, args.max_clips, opts, weights, args.renderer, model)
        for group, agg in result["summary"].items():
            print(f"held-out {group}: " + json.dumps(agg))
    elif args.image and args.audio:
        from edge_vasa.evaluation.evaluate import evaluate_pair

        result = evaluate_pair(args.image, args.audio, args.out, opts, weights, args.renderer, model)
        print(json.dumps(result, indent=1))
    else:
        raise EdgeVasaError("give --corpus DIR, or --image and --audio")
    print(f"wrote {Path(args.out) / 'eval.json'}")


def cmd_languages(args: argparse.Namespace) -> None:
    from edge_vasa.core.speech import LANGUAGES

    for code, lang in sorted(LANGUAGES.items()):
        engines = "espeak-ng" + (f", festival ({lang.festival_voice})" if lang.festival_voice else "")
        print(f"{code:5s} {lang.name:12s} {engines}")


def _ranking(
    args: argparse.Namespace, build: bool = False, remeasure: bool = False, progress=None, machine=None
):
    from edge_vasa.apps.studio import artifact_builder
    from edge_vasa.runtimes.selector import rank_candidates

    builder = artifact_builder()
    return rank_candidates(args.backend, args.precision, build, remeasure, progress, machine, builder)


def cmd_doctor(args: argparse.Namespace) -> None:

    from tqdm import tqdm

    from edge_vasa.runtimes.selector import probe

    machine = probe()
    cpu = machine["cpu"]
    print(f"CPU      {cpu['model']}, {cpu['cores']} cores, ISA: {' '.join(cpu['isa']) or 'baseline'}")
    print(f"GPU      {machine['gpu'] or 'none found'}")
    print(f"system   {machine['os']}, Python {machine['python']}")
    for runtime, info in machine["runtimes"].items():
        print(f"{runtime:8} {info['version']} on {', '.join(info['devices'])}")
    print("timing each backend x precision (a few frames each; cached) ...")
    ranking = _ranking(args, args.build, args.remeasure, progress=tqdm.write, machine=machine)
    print(f"\n{'backend':22} {'precision':9} {'decoder ms':>10} {'motion ms':>9} {'FPS':>6}  status")
    for r in ranking:
        if r.usable:
            timing = f"{r.decoder_ms:10.1f} {r.motion_ms:9.1f} {r.fps:6.1f}"
            state = "ok" + (" (cached timing)" if r.cached else "")
        else:
            timing, state = f"{'-':>10} {'-':>9} {'-':>6}", r.status
        print(f"{r.candidate.backend:22} {r.candidate.precision:9} {timing}  {state}")
    usable = [r for r in ranking if r.usable]
    if usable:
        best = usable[0]
        print(
            f"\nchoice: {best.candidate} - the fastest usable here ({best.fps:.1f} FPS estimated for "
            "decoder + motion alone; every artifact passed its parity check at export)."
        )
        if len(usable) > 1:
            print(f"fallbacks, in order: {', '.join(str(r.candidate) for r in usable[1:])}")
    else:
        print("\nno usable backend: install onnxruntime or openvino (pip install 'edge-vasa[export]')")
    try:
        from edge_vasa.live.sources import input_devices

        devices = input_devices()
        print(
            "\nmicrophones: "
            + ("; ".join(f"[{d['index']}] {d['name']} ({d['rate']} Hz)" for d in devices) or "none")
        )
    except EdgeVasaError as e:
        print(f"\nmicrophones: unknown ({e})")
    if args.json:
        from dataclasses import asdict

        from edge_vasa.core.files import write_json

        rows = [asdict(r) | {"fps": r.fps if r.usable else None} for r in ranking]
        write_json(args.json, {"machine": machine, "ranking": rows}, default=str)


def _bench_command(args: argparse.Namespace) -> str:
    """The command line that repeats this run, for the report."""
    words = ["edge-vasa bench"]
    for flag, value in (("--backends", args.backends), ("--precisions", args.precisions)):
        if value:
            words.append(f"{flag} {' '.join(value)}")
    words += [
        flag
        for flag, on in (("--quick", args.quick), ("--build", args.build), ("--no-live", args.no_live))
        if on
    ]
    words.append(f"--out {args.out}")
    if args.compare:
        words.append(f"--compare {args.compare} --tolerance {args.tolerance}")
    return " ".join(words)


def cmd_bench(args: argparse.Namespace) -> int:
    from edge_vasa import bench, bench_report
    from edge_vasa.runtimes.selector import parse_backend, probe

    if not 0 < args.tolerance < 1:
        raise EdgeVasaError(f"--tolerance {args.tolerance} is out of range; give a fraction such as 0.1")
    baseline = bench_report.load_report(args.compare) if args.compare else None
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise EdgeVasaError(f"--out {out} is a file; give a folder for the report")
    try:  # refused now rather than after minutes of measuring
        out.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out).close()
    except OSError as e:
        raise EdgeVasaError(
            f"cannot write to {out} ({e.strerror}); choose a writable folder with --out"
        ) from None
    machine = probe()
    for spec in args.backends or []:
        parse_backend(spec, machine)  # unknown or absent backends: refused before minutes of work
    report = bench.run_bench(
        args.backends,
        args.precisions,
        args.quick,
        args.build,
        live=not args.no_live,
        command=_bench_command(args),
        machine=machine,
    )
    if baseline is not None:
        report["comparison"] = bench_report.compare_reports(report, baseline, args.tolerance)
        report["tolerance"] = args.tolerance
    files = bench_report.write_report(report, out)
    print()
    print(bench_report.format_table(report))
    print()
    print(bench_report.format_ratios(report))
    print()
    print(bench_report.format_targets(report))
    if baseline is not None:
        print()
        print(bench_report.format_regressions(report["comparison"], args.tolerance))
    print(f"\nwrote {', '.join(str(f) for f in files)} ({report['wall_s']:.0f} s)")
    return 1 if baseline is not None and any(c["regression"] for c in report["comparison"]) else 0


def cmd_verify(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from edge_vasa.core.files import write_json
    from edge_vasa.provenance.record import verify

    if args.frames < 1:
        raise EdgeVasaError("--frames must be at least 1")
    verdicts = []
    for path in args.files:
        v = verify(path, args.frames)
        verdicts.append(v)
        print(v.summary())
        mark = v.watermark
        payload = mark["payload"]
        said = (
            f"version {payload['version']}, render {payload['render_id']}"
            if payload
            else "payload unreadable"
        )
        print(
            f"  watermark: {'found' if mark['found'] else 'not found'} "
            f"(z {mark['z']}, scale {mark['scale']}, "
            f"{mark['frames']} frames{'; ' + said if mark['found'] else ''})"
        )
        print(f"  tags: {json.dumps(v.tags) if v.tags else 'none'}")
        if v.c2pa is None:
            print("  C2PA: none")
        else:
            c = v.c2pa
            print(
                f"  C2PA: {c['state']}{' (TAMPERED)' if c.get('tampered') else ''}, "
                f"AI-generated: {c.get('ai_generated')}, by {', '.join(c.get('generator') or ['?'])}, "
                f"signer {c.get('signer')}; {', '.join(c.get('failures') or []) or 'no failures'}"
            )
    if args.json:
        write_json(args.json, [asdict(v) for v in verdicts])
    return 0 if all(v.synthetic for v in verdicts) else 1


def cmd_batch(args: argparse.Namespace) -> int:

    from edge_vasa.apps.batch import format_summary, read_jobs, run_batch
    from edge_vasa.core.files import write_json

    if args.workers is not None and not 1 <= args.workers <= 256:
        raise EdgeVasaError("--workers must be within 1..256")
    if args.chunk_seconds < 5:
        raise EdgeVasaError("--chunk-seconds must be at least 5")
    read_jobs(args.jobs)  # a bad jobs file fails here, before Ray starts
    try:
        import ray  # noqa: F401
    except ImportError:
        raise EdgeVasaError("batch needs Ray; pip install 'edge-vasa[batch]'") from None
    summary = run_batch(
        args.jobs,
        args.out,
        workers=args.workers,
        ray_address=args.ray_address,
        backend=args.backend,
        precision=args.precision,
        chunk_s=args.chunk_seconds,
    )
    print(format_summary(summary))
    write_json(Path(args.out) / "summary.json", summary)
    return 1 if summary["failed"] else 0


def cmd_ui(args: argparse.Namespace) -> None:
    if not 1 <= args.port <= 65535:
        raise EdgeVasaError("--port must be within 1..65535")
    try:
        from edge_vasa.apps.ui import serve
    except ImportError as e:
        raise EdgeVasaError(
            f"the web UI needs Gradio ({e.name} is missing); pip install 'edge-vasa[ui]'"
        ) from None
    print(f"edge-vasa ui on http://{args.host}:{args.port}/ (Ctrl-C to stop)")
    serve(args.host, args.port, open_browser=not args.no_browser)


def cmd_soak(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from edge_vasa.core.face import prepare_face, release_models
    from edge_vasa.core.files import write_json
    from edge_vasa.core.shipped import BUNDLED_SPEECH
    from edge_vasa.live.session import LiveSession
    from edge_vasa.live.soak import plot_soak, run_soak
    from edge_vasa.live.sources import FileSource
    from edge_vasa.runtimes.assembler import EdgeStudio
    from edge_vasa.runtimes.models import FallbackModels

    if not 0 < args.minutes <= 24 * 60:
        raise EdgeVasaError("--minutes must be within 0..1440")
    if not 0.5 <= args.interval <= 600 or args.warmup < 0:
        raise EdgeVasaError("--interval must be within 0.5..600 s and --warmup at least 0")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise EdgeVasaError(f"--out {out} is a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    _check_output(str(out / "soak.json"))
    source = FileSource(args.audio or BUNDLED_SPEECH, loop=True)
    face = prepare_face(args.image or _bundled_photo())
    release_models()
    studio = EdgeStudio(models=FallbackModels(_ranking(args)))
    print(f"backend: {studio.models.candidate}; {args.minutes:g} min at {args.fps} FPS")

    def session(sinks):
        return LiveSession(face, source, sinks, studio, fps=args.fps)

    soak = run_soak(session, args.minutes * 60, args.interval, args.warmup)
    write_json(out / "soak.json", asdict(soak))
    plot_soak(soak, out / "soak.png", args.warmup)
    v = soak.verdict
    print(
        f"{'STABLE' if v['stable'] else 'UNSTABLE'}: memory {v['memory_after_warmup_mb']:.0f} MB after "
        f"warm-up, peak {v['memory_peak_mb']:.0f} MB ({v['memory_growth_pct']:+.1f} %), "
        f"{v['frames_shown']} frames shown, "
        f"{v['frames_dropped']} dropped by policy, {v['frames_lost']} lost; FPS median {v['fps_median']} "
        f"(min {v['fps_min']}), latency p95 {v['latency_p95_ms_median']} ms"
    )
    print(f"wrote {out / 'soak.json'} and {out / 'soak.png'}")
    return 0 if v["stable"] else 1


def cmd_live(args: argparse.Namespace) -> None:
    import signal
    import threading

    from edge_vasa.core.face import prepare_face, release_models
    from edge_vasa.live.session import LiveSession
    from edge_vasa.live.sinks import MjpegSink, RecordingSink, VirtualCameraSink, WindowSink
    from edge_vasa.live.sources import input_devices, open_source
    from edge_vasa.provenance.record import Marker, Provenance, check_label
    from edge_vasa.runtimes.assembler import EdgeStudio
    from edge_vasa.runtimes.models import FallbackModels

    if args.list_devices:
        for d in input_devices():
            print(f"[{d['index']}] {d['name']} ({d['channels']} ch, {d['rate']} Hz)")
        return
    opts = _options(args)
    if not 0.05 <= args.max_latency <= 5:
        raise EdgeVasaError("--max-latency must be within 0.05..5 s")
    label = check_label(args.label) if args.label is not None else ("AI-generated" if args.kiosk else None)
    source = open_source(args.source, args.device, args.stdin_rate, args.loop)
    sinks, serve = [], None
    if args.record:
        sinks.append(RecordingSink(args.record))
    if args.serve is not None:
        serve = MjpegSink(args.serve)  # its status page follows the session once there is one
        sinks.append(serve)
        print(f"kiosk page: {serve.url}")
    if args.virtual_camera:
        sinks.append(VirtualCameraSink())
    if not args.no_window:
        try:
            sinks.append(WindowSink(fullscreen=args.fullscreen or args.kiosk))
        except EdgeVasaError as e:
            if not sinks:
                raise
            warnings.warn(f"no window: {e}", RuntimeWarning, stacklevel=1)
    if not sinks:
        raise EdgeVasaError(
            "nothing to show the avatar on; drop --no-window or add --serve/--record/--virtual-camera"
        )
    face = prepare_face(args.image or _bundled_photo(), face_index=args.face_index)
    release_models()  # one face for the whole session
    studio = EdgeStudio(models=FallbackModels(_ranking(args)))
    print(f"backend: {studio.models.candidate}; source: {source.name}; press Ctrl-C to stop")
    provenance = Provenance.for_files("live", studio.files())
    session = LiveSession(
        face,
        source,
        sinks,
        studio,
        opts,
        fps=opts.fps,
        vad=not args.no_vad,
        max_latency=args.max_latency,
        marker=Marker(provenance, label or None),
    )
    if serve is not None:
        serve.status = session.status
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: session.stop())
    session.start()
    try:
        deadline = None if args.duration is None else time.monotonic() + args.duration
        while not session.wait(1.0):
            if deadline is not None and time.monotonic() >= deadline:
                break
            if not args.quiet:
                st = session.status()
                problems = f" | {'; '.join(st['problems'])}" if st["problems"] else ""
                print(
                    f"\r{st['fps']:5.1f} FPS, latency p50 {st['latency_ms']['p50']:.0f} ms "
                    f"p95 {st['latency_ms']['p95']:.0f} ms, dropped {st['frames_dropped']}{problems}   ",
                    end="",
                    flush=True,
                )
    except KeyboardInterrupt:
        pass
    finally:
        session.stop()
        session.wait(15)
    summary = session.summary()
    print(
        f"\n{summary['frames_shown']} frames, {summary['fps']} FPS, "
        f"latency p50 {summary['latency_ms']['p50']} ms p95 {summary['latency_ms']['p95']} ms, "
        f"dropped {summary['frames_dropped']}"
    )
    if args.record and Path(args.record).is_file():
        print(f"recording: {args.record}")
    if args.stats:
        from edge_vasa.core.files import write_json

        write_json(args.stats, summary)
    if session.error is not None:
        raise session.error


COMMANDS = {
    "demo": cmd_demo,
    "prep": cmd_prep,
    "corpus": cmd_corpus,
    "features": cmd_features,
    "generate": cmd_generate,
    "train": cmd_train,
    "distill": cmd_distill,
    "export": cmd_export,
    "eval": cmd_eval,
    "languages": cmd_languages,
    "doctor": cmd_doctor,
    "live": cmd_live,
    "verify": cmd_verify,
    "soak": cmd_soak,
    "ui": cmd_ui,
    "batch": cmd_batch,
    "bench": cmd_bench,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.simplefilter("default")
    warnings.formatwarning = lambda msg, cat, *a, **k: f"warning: {msg}\n"
    try:
        return COMMANDS[args.command](args) or 0
    except EdgeVasaError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
