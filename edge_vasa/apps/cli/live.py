"""`edge-vasa live` (real time from a microphone, a file or stdin) and `edge-vasa soak` (live for a long
time, watching memory, frame rate and latency)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
import warnings
from dataclasses import asdict
from pathlib import Path

from edge_vasa.apps.cli.common import add_backend_options, bundled_photo, check_output, ranking
from edge_vasa.apps.cli.generate import add_control_options, options
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import load_image, release_models
from edge_vasa.core.face_cache import face_store, prepare_face_cached
from edge_vasa.core.files import write_json
from edge_vasa.core.shipped import BUNDLED_SPEECH
from edge_vasa.live.session import MAX_LATENCY_S, LiveSession, SessionLog
from edge_vasa.live.sinks import MjpegSink, RecordingSink, VirtualCameraSink, WindowSink
from edge_vasa.live.soak import SAMPLE_S, WARMUP_S, plot_soak, run_soak
from edge_vasa.live.sources import FileSource, input_devices, open_source
from edge_vasa.live.speakers import SpeakerSink, find_output, find_virtual_mic, output_devices
from edge_vasa.live.tts import SpeechSource
from edge_vasa.provenance.record import Marker, Provenance, check_label
from edge_vasa.runtimes.assembler import EdgeStudio
from edge_vasa.runtimes.models import FallbackModels


def add_live(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "live",
        help="drive the face in real time from a microphone, a file, stdin or typed text (window, browser, "
        "camera, MP4)",
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
        help="mic (default), file:PATH (played in real time), stdin (raw s16le mono PCM) or tts (text "
        "lines on stdin and POST /say with --serve, spoken by espeak-ng or festival)",
    )
    p.add_argument("--language", default="en", help="with --source tts: language of text that names none")
    p.add_argument("--voice", help="with --source tts: an espeak-ng voice variant, e.g. f3 or m2")
    p.add_argument("--rate", type=int, help="with --source tts: words per minute (80-450; default 175)")
    p.add_argument("--tts-engine", default="espeak", help="with --source tts: espeak (default) or festival")
    p.add_argument("--device", help="microphone by index or (part of its) name; see --list-devices")
    p.add_argument("--list-devices", action="store_true", help="list capture and playback devices and exit")
    p.add_argument("--stdin-rate", type=int, default=16000, help="sample rate of --source stdin (Hz)")
    p.add_argument("--loop", action="store_true", help="with --source file: play it again and again")
    p.add_argument("--no-window", action="store_true", help="no window (use with --serve/--record/...)")
    p.add_argument(
        "--crop",
        action="store_true",
        help="show only the 512x512 face crop (default: the whole photo, the face pasted back, long side "
        "at most 1280 px)",
    )
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
        help="MJPEG + kiosk page on http://127.0.0.1:PORT/ (default port 8765); /?say=1 adds a text field",
    )
    p.add_argument(
        "--bind",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="address --serve listens on (default 127.0.0.1; any other needs --token)",
    )
    p.add_argument(
        "--token",
        help="with --serve: every request must carry it (?token=... or Authorization: Bearer ...), else 401",
    )
    p.add_argument("--virtual-camera", action="store_true", help="send frames to a virtual webcam")
    p.add_argument(
        "--play",
        nargs="?",
        const="",
        metavar="DEVICE",
        help="play the audio that drives the face (default output, or DEVICE by index or name), delayed by "
        "the measured latency so sound and picture leave together",
    )
    p.add_argument(
        "--audio-offset",
        type=float,
        default=0.0,
        metavar="MS",
        help="shift --play and --virtual-mic by hand (ms; positive: later, negative: earlier)",
    )
    p.add_argument(
        "--virtual-mic",
        nargs="?",
        const="",
        metavar="DEVICE",
        help="the same delayed audio into a virtual microphone for call apps (a PulseAudio/PipeWire sink "
        "edge_vasa_mic, snd-aloop, BlackHole, VB-CABLE, or DEVICE); use with --virtual-camera",
    )
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
    add_control_options(p)
    add_backend_options(p)


def cmd_live(args: argparse.Namespace) -> None:
    if args.list_devices:
        for title, devices in (("capture", input_devices()), ("playback", output_devices())):
            print(f"{title} devices:")
            for d in devices:
                print(f"  [{d['index']}] {d['name']} ({d['channels']} ch, {d['rate']} Hz)")
        return
    opts = options(args)
    if not 0.05 <= args.max_latency <= 5:
        raise EdgeVasaError("--max-latency must be within 0.05..5 s")
    label = check_label(args.label) if args.label is not None else ("AI-generated" if args.kiosk else None)
    if args.serve is None and (args.token is not None or args.bind != "127.0.0.1"):
        raise EdgeVasaError("--bind and --token are for the server; add --serve")
    log = SessionLog(echo=None if args.quiet else _print_log)
    source = _source(args, log)
    sound = _speakers(args, log)
    sinks, serve = [], None
    if args.record:
        sinks.append(RecordingSink(args.record))
    if args.serve is not None:
        # its status page follows the session once there is one
        serve = MjpegSink(args.serve, args.bind, token=args.token, say=getattr(source, "post", None), log=log)
        sinks.append(serve)
        query = ["say=1"] if isinstance(source, SpeechSource) else []
        query += [f"token={args.token}"] if args.token else []
        print(f"kiosk page: {serve.url}" + ("?" + "&".join(query) if query else ""))
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
    sinks += sound
    image = args.image or bundled_photo()
    face = prepare_face_cached(image, face_index=args.face_index)
    photo = None if args.crop else load_image(image)
    release_models()  # one face for the whole session
    studio = EdgeStudio(models=FallbackModels(ranking(args)), features=face_store("features"))
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
        log=log,
        photo=photo,
    )
    if serve is not None:
        serve.status = session.status
    if isinstance(source, SpeechSource):  # stdin's end ends the session only when nothing else sends text
        source.read_lines(sys.stdin, end_with_it=serve is None)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: session.stop())
    session.start()
    try:
        deadline = None if args.duration is None else time.monotonic() + args.duration
        while not session.wait(1.0):
            if deadline is not None and time.monotonic() >= deadline:
                break
            if not args.quiet:
                _print_status(session.status())
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
        write_json(args.stats, summary)
    if session.error is not None:
        raise session.error


def _source(args: argparse.Namespace, log: SessionLog):
    """The audio source the options name (text to speech logs what it says to LOG)."""
    if args.source == "tts":
        return SpeechSource(args.language, args.tts_engine, args.voice, args.rate, log=log)
    return open_source(args.source, args.device, args.stdin_rate, args.loop)


def _speakers(args: argparse.Namespace, log: SessionLog) -> list:
    """The sound sinks the options ask for (--play, --virtual-mic), checked before anything starts."""
    if args.audio_offset and args.play is None and args.virtual_mic is None:
        raise EdgeVasaError("--audio-offset shifts the sound of --play or --virtual-mic; add one")
    sound = []
    if args.play is not None:
        sound.append(SpeakerSink(find_output(args.play or None), args.audio_offset, "speakers", log))
    if args.virtual_mic is not None:
        device, env = find_virtual_mic(args.virtual_mic)
        sound.append(SpeakerSink(device, args.audio_offset, "virtual microphone", log, env))
    return sound


def _print_log(line: str) -> None:
    """A session event on a line of its own, over the status line."""
    print(f"\r{line:<80}", flush=True)


def _print_status(st: dict) -> None:
    """The status line, rewritten in place every second."""
    problems = f" | {'; '.join(st['problems'])}" if st["problems"] else ""
    print(
        f"\r{st['fps']:5.1f} FPS, latency p50 {st['latency_ms']['p50']:.0f} ms "
        f"p95 {st['latency_ms']['p95']:.0f} ms, dropped {st['frames_dropped']}{problems}   ",
        end="",
        flush=True,
    )


def add_soak(sub: argparse._SubParsersAction) -> None:
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
    add_backend_options(p)


def cmd_soak(args: argparse.Namespace) -> int:
    if not 0 < args.minutes <= 24 * 60:
        raise EdgeVasaError("--minutes must be within 0..1440")
    if not 0.5 <= args.interval <= 600 or args.warmup < 0:
        raise EdgeVasaError("--interval must be within 0.5..600 s and --warmup at least 0")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise EdgeVasaError(f"--out {out} is a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    check_output(str(out / "soak.json"))
    source = FileSource(args.audio or BUNDLED_SPEECH, loop=True)
    face = prepare_face_cached(args.image or bundled_photo())
    release_models()
    studio = EdgeStudio(models=FallbackModels(ranking(args)), features=face_store("features"))
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
