"""The command line: every option documented, bad input -> one `error:` line and exit 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_error_line, run
from PIL import Image

from edge_vasa.apps.cli import build_parser
from edge_vasa.apps.cli.common import bundled_photo

# emotion, gaze, ... shared by generate and live (cli.generate.add_control_options)
CONTROL_OPTIONS = [
    "--emotion",
    "--gaze",
    "--distance",
    "--motion-scale",
    "--seed",
    "--fps",
    "--cfg-audio",
    "--cfg-control",
]
OPTIONS = {
    (): [
        "--help",
        "--version",
        "demo",
        "prep",
        "corpus",
        "features",
        "generate",
        "train",
        "distill",
        "export",
        "eval",
        "languages",
        "doctor",
        "live",
        "bench",
        "verify",
        "soak",
        "ui",
        "batch",
    ],
    ("demo",): ["--out", "--photo", "--face-index", "--text", "--language", "--emotion", "--sing", "--seed"],
    ("prep",): ["photo", "--out", "--face-index"],
    ("corpus",): ["build", "stats"],
    ("corpus", "build"): ["--out", "--clips", "--seed", "--workers"],
    ("corpus", "stats"): ["corpus", "--check-clips", "--frames-per-clip", "--json"],
    ("features",): ["audio", "--out", "--plot"],
    ("generate",): [
        "--image",
        "--audio",
        "--out",
        "--face-index",
        *CONTROL_OPTIONS,
        "--steps",
        "--model",
        "--weights",
        "--renderer",
        "--decoder-weights",
        "--label",
        "--backend",
        "--precision",
        "--crop",
    ],
    ("train",): ["motion", "decoder"],
    ("eval",): [
        "--corpus",
        "--max-clips",
        "--image",
        "--audio",
        "--out",
        "--controls",
        "--seeds",
        "--steps",
        "--model",
        "--weights",
        "--renderer",
    ],
    ("train", "motion"): ["--corpus", "--videos", "--out", "--steps", "--batch", "--seed", "--export"],
    ("train", "decoder"): ["--corpus", "--videos", "--out", "--steps", "--batch", "--seed", "--export"],
    ("distill",): ["motion", "decoder"],
    ("distill", "motion"): ["--corpus", "--out", "--steps", "--batch", "--seed", "--export"],
    ("distill", "decoder"): ["--corpus", "--out", "--steps", "--batch", "--seed", "--export"],
    ("export",): ["--format", "--precision", "--out", "--network", "--force", "--compare"],
    ("languages",): ["--help"],
    ("doctor",): ["--backend", "--precision", "--build", "--remeasure", "--json"],
    ("bench",): [
        "--backends",
        "--precisions",
        "--quick",
        "--out",
        "--compare",
        "--tolerance",
        "--build",
        "--no-live",
    ],
    ("verify",): ["files", "--json", "--frames"],
    ("ui",): ["--port", "--host", "--no-browser"],
    ("batch",): [
        "jobs",
        "--out",
        "--workers",
        "--ray-address",
        "--chunk-seconds",
        "--backend",
        "--precision",
    ],
    ("soak",): [
        "--minutes",
        "--image",
        "--audio",
        "--fps",
        "--out",
        "--warmup",
        "--interval",
        "--backend",
        "--precision",
    ],
    ("live",): [
        "--image",
        "--face-index",
        "--source",
        "--language",
        "--voice",
        "--rate",
        "--tts-engine",
        "--device",
        "--list-devices",
        "--stdin-rate",
        "--loop",
        "--no-window",
        "--crop",
        "--fullscreen",
        "--kiosk",
        "--label",
        "--serve",
        "--bind",
        "--token",
        "--virtual-camera",
        "--play",
        "--audio-offset",
        "--virtual-mic",
        "--record",
        "--duration",
        "--max-latency",
        "--no-vad",
        "--stats",
        "--quiet",
        *CONTROL_OPTIONS,
        "--backend",
        "--precision",
    ],
}


@pytest.fixture(autouse=True)
def _restore_warning_format():
    """main() installs a one-line warning format for the process; keep it from leaking into other tests."""
    saved = warnings.formatwarning
    yield
    warnings.formatwarning = saved


def files_in(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


# ---------------------------------------------------------------------------------------------- help


@pytest.mark.parametrize("cmd", list(OPTIONS), ids=lambda c: " ".join(c) or "top")
def test_help_mentions_every_option(capsys, cmd):
    rc, out, err = run(capsys, *cmd, "--help")
    assert rc == 0 and err == ""
    assert out.startswith("usage: edge-vasa")
    for opt in OPTIONS[cmd]:
        assert opt in out, f"{opt} missing from `edge-vasa {' '.join(cmd)} --help`"


def _subparsers(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def test_every_option_is_listed_above_and_has_help():
    """Guards OPTIONS against drift: a new option must be added there (and so be checked in --help)."""
    parser = build_parser()
    stack = [((), parser)]
    while stack:
        path, p = stack.pop()
        documented = set(OPTIONS[path])
        for action in p._actions:
            names = action.option_strings or [action.dest]
            if action.dest in ("command", "corpus_cmd", "train_cmd", "distill_cmd", "help"):
                continue
            assert action.help, f"{names} of `{' '.join(path)}` has no help text"
            assert documented & set(names), f"{names} of `{' '.join(path)}` is not in OPTIONS"
        stack.extend(((*path, name), sub) for name, sub in _subparsers(p))


def test_version(capsys):
    from edge_vasa import __version__

    rc, out, _ = run(capsys, "--version")
    assert rc == 0 and __version__ in out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        ([], ["required"]),
        (["prep"], ["photo"]),
        (["prep", "x.jpg", "--face-index", "one"], ["--face-index", "invalid int"]),
        (["dance"], ["invalid choice"]),
        (["corpus"], ["required"]),
        (["corpus", "build"], ["--out"]),
    ],
)
def test_usage_errors_exit_2_without_traceback(capsys, argv, words):
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and out == "" and "Traceback" not in err
    error_lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(error_lines) == 1, err
    for w in words:
        assert w in error_lines[0]


# ---------------------------------------------------------------------------------------------- prep


def test_prep_writes_crop_landmarks_and_preview(capsys, tmp_path, grace_hopper_path, face_models):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    rc, out, err = run(capsys, "prep", str(grace_hopper_path), "--out", str(out_dir / "gh"))
    assert rc == 0, err
    assert err == ""  # one face: no warning
    assert files_in(out_dir) == ["gh.json", "gh.png", "gh_preview.png"]
    assert "gh.png" in out and "1 face" in out
    meta = json.loads((out_dir / "gh.json").read_text())
    lm = np.array(meta["landmarks"])
    assert lm.shape == (68, 2) and (lm >= 0).all() and (lm < 512).all()
    assert meta["faces_in_photo"] == 1 and len(meta["source_box"]) == 4
    assert len(meta["image_sha256"]) == 64
    crop = np.asarray(Image.open(out_dir / "gh.png"))
    preview = np.asarray(Image.open(out_dir / "gh_preview.png"))
    assert crop.shape == preview.shape == (512, 512, 3)
    # the PNG is RGB in the right channel order (cv2 writes BGR): the blue sky stays blue
    assert crop[5:40, 400:500, 2].mean() > crop[5:40, 400:500, 0].mean() + 30
    # the preview is the crop plus green landmark dots
    changed = np.any(preview != crop, axis=2)
    assert 68 <= changed.sum() < 68 * 30
    ys, xs = np.nonzero(changed)
    assert preview[ys, xs, 1].mean() > 150


def test_prep_on_several_faces_warns_and_face_index_selects(capsys, tmp_path, two_faces_path, face_models):
    with pytest.warns(UserWarning, match="2 faces"):
        rc, _, err = run(capsys, "prep", str(two_faces_path), "--out", str(tmp_path / "a"))
    assert rc == 0, err
    with pytest.warns(UserWarning, match="using face 1"):
        rc, _, err = run(capsys, "prep", str(two_faces_path), "--out", str(tmp_path / "b"), "--face-index=1")
    assert rc == 0, err
    box_a = json.loads((tmp_path / "a.json").read_text())["source_box"]
    box_b = json.loads((tmp_path / "b.json").read_text())["source_box"]
    assert box_a[2] - box_a[0] > box_b[2] - box_b[0]


def _bad_inputs(tmp_path: Path, kind: str) -> tuple[Path, list[str]]:
    src = tmp_path / "in"
    src.mkdir(exist_ok=True)
    if kind == "missing":
        return src / "nope.jpg", ["not found", "nope.jpg"]
    if kind == "directory":
        return src, ["is a directory"]
    if kind == "empty":
        (src / "upload.png").write_bytes(b"")
        return src / "upload.png", ["is empty", "upload.png"]
    if kind == "text":
        (src / "readme.jpg").write_text("hello\nworld\n")
        return src / "readme.jpg", ["readme.jpg", "not an image"]
    if kind == "truncated":
        import io

        import skimage.data

        buf = io.BytesIO()
        Image.fromarray(skimage.data.astronaut()).save(buf, "JPEG")
        (src / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
        return src / "cut.jpg", ["truncated"]
    if kind == "no-face":
        rng = np.random.default_rng(1)
        Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)).save(src / "noise.png")
        return src / "noise.png", ["no face", "noise.png"]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["missing", "directory", "empty", "text", "truncated", "no-face"])
def test_prep_bad_photo_is_one_error_line_and_no_output(capsys, tmp_path, kind, face_models):
    photo, words = _bad_inputs(tmp_path, kind)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    rc, out, err = run(capsys, "prep", str(photo), "--out", str(out_dir / "face"))
    assert_one_error_line(rc, err, *words)
    assert out == ""
    assert files_in(out_dir) == []


def test_prep_face_index_out_of_range(capsys, tmp_path, grace_hopper_path, face_models):
    rc, _, err = run(capsys, "prep", str(grace_hopper_path), "--out", str(tmp_path / "f"), "--face-index=3")
    assert_one_error_line(rc, err, "out of range", "0..0")
    assert files_in(tmp_path) == []


def test_prep_into_missing_directory(capsys, tmp_path, grace_hopper_path):
    rc, _, err = run(capsys, "prep", str(grace_hopper_path), "--out", str(tmp_path / "no" / "such" / "face"))
    assert_one_error_line(rc, err, "does not exist", "--out")
    assert files_in(tmp_path) == []


def test_prep_unwritable_output_is_an_error_not_success(capsys, tmp_path, grace_hopper_path, face_models):
    (tmp_path / "face.png").mkdir()  # a directory where the crop should go: cv2.imwrite cannot write it
    rc, out, err = run(capsys, "prep", str(grace_hopper_path), "--out", str(tmp_path / "face"))
    assert_one_error_line(rc, err, "face.png")
    assert not (tmp_path / "face.json").exists()


# ---------------------------------------------------------------------------------------------- demo, corpus


def test_demo_into_missing_directory(capsys, tmp_path):
    rc, out, err = run(capsys, "demo", "--out", str(tmp_path / "missing" / "demo.mp4"))
    assert_one_error_line(rc, err, "does not exist", "--out")
    assert out == "" and files_in(tmp_path) == []


def test_demo_unknown_emotion(capsys, tmp_path):
    rc, out, err = run(capsys, "demo", "--emotion", "bogus", "--out", str(tmp_path / "demo.mp4"))
    assert_one_error_line(rc, err, "bogus", "happy", "neutral")
    assert out == "" and files_in(tmp_path) == []


@pytest.mark.parametrize("clips", ["0", "-3"])
def test_corpus_build_needs_at_least_one_clip(capsys, tmp_path, clips):
    rc, out, err = run(capsys, "corpus", "build", "--out", str(tmp_path / "corpus"), "--clips", clips)
    assert_one_error_line(rc, err, "--clips", clips)
    assert not (tmp_path / "corpus").exists()  # nothing created before the arguments are checked


def test_corpus_stats_on_a_non_corpus_directory(capsys, tmp_path):
    (tmp_path / "holiday.jpg").write_bytes(b"\xff\xd8")
    rc, out, err = run(capsys, "corpus", "stats", str(tmp_path))
    assert_one_error_line(rc, err, "not a corpus", "corpus build")


def test_corpus_stats_on_a_missing_directory(capsys, tmp_path):
    rc, _, err = run(capsys, "corpus", "stats", str(tmp_path / "nowhere"))
    assert_one_error_line(rc, err, "nowhere")


def test_languages_lists_english(capsys):
    rc, out, err = run(capsys, "languages")
    assert rc == 0 and err == ""
    assert any(line.split()[0] == "en" for line in out.splitlines())


# ---------------------------------------------------------------------------------------------- real process


def _cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": ""}
    exe = Path(sys.executable).parent / "edge-vasa"  # this interpreter's script, not another install's
    cmd = [str(exe), *argv] if exe.exists() else [sys.executable, "-m", "edge_vasa", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_subprocess_help_and_bad_photo(tmp_path):
    """As a user runs it: the console script (or python -m), real stderr, real exit codes."""
    p = _cli("--help", cwd=tmp_path)
    assert p.returncode == 0 and "prep" in p.stdout and p.stderr == ""
    (tmp_path / "cat.jpg").write_text("not a cat")
    p = _cli("prep", "cat.jpg", cwd=tmp_path)
    assert p.returncode == 2 and p.stdout == ""
    assert "Traceback" not in p.stderr
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("error: ") and "cat.jpg" in p.stderr
    assert files_in(tmp_path) == ["cat.jpg"]


def test_subprocess_several_faces_warning_is_one_line(tmp_path, two_faces_path):
    p = _cli("prep", str(two_faces_path), "--out", "face", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stderr.startswith("warning: ") and p.stderr.count("\n") == 1, p.stderr
    assert "--face-index" in p.stderr
    assert files_in(tmp_path) == ["face.json", "face.png", "face_preview.png"]


# ---------------------------------------------------------------------------------------------- features


def _tone_wav(path, seconds=1.0, rate=48000, channels=2):
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 440 * t)
    sf.write(path, np.stack([x] * channels, 1), rate)
    return path


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_features_writes_npy_and_plot(capsys, tmp_path):
    wav = _tone_wav(tmp_path / "tone.wav")
    rc, out, err = run(
        capsys, "features", str(wav), "--out", str(tmp_path / "f.npy"), "--plot", str(tmp_path / "f.png")
    )
    assert rc == 0, err
    mel = np.load(tmp_path / "f.npy")
    assert mel.shape == (100, 80) and mel.dtype == np.float32
    with Image.open(tmp_path / "f.png") as png:
        assert png.size[0] > 500
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.npy", "f.png", "tone.wav"], "no temp files left"


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda d: d / "missing.wav", ("not found",)),
        (lambda d: _write(d / "empty.wav", b""), ("empty",)),
        (lambda d: _write(d / "text.wav", b"hello, not audio\n" * 50), ("audio",)),
    ],
    ids=["missing", "empty", "not-audio"],
)
def test_features_bad_audio_is_one_line_and_writes_nothing(capsys, tmp_path, make, words):
    bad = make(tmp_path)
    rc, out, err = run(
        capsys, "features", str(bad), "--out", str(tmp_path / "f.npy"), "--plot", str(tmp_path / "f.png")
    )
    assert_one_error_line(rc, err, *words)
    assert not (tmp_path / "f.npy").exists() and not (tmp_path / "f.png").exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


# ---------------------------------------------------------------------------------------------- generate


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--gaze", "2", "0"], ("gaze",)),
        (["--fps", "24"], ("fps",)),
        (["--emotion", "bored"], ("emotion",)),
        (["--motion-scale", "-1"], ("motion scale",)),
        (["--audio", "/nonexistent/speech.wav"], ("not found",)),
    ],
    ids=["gaze", "fps", "emotion", "motion-scale", "missing-audio"],
)
def test_generate_bad_options_are_one_line_and_write_nothing(capsys, tmp_path, extra, words):
    pytest.importorskip("torch")
    rc, out, err = run(capsys, "generate", "--out", str(tmp_path / "o.mp4"), *extra)
    assert_one_error_line(rc, err, *words)
    assert not list(tmp_path.iterdir())


def test_generate_with_the_students_writes_a_video(capsys, tmp_path):
    pytest.importorskip("torch")
    import soundfile as sf

    from edge_vasa.core.video import read_video

    speech = tmp_path / "hi.wav"
    t = np.arange(16000) / 16000
    sf.write(
        speech,
        (0.2 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32),
        16000,
    )
    out, cropped = tmp_path / "o.mp4", tmp_path / "crop.mp4"
    rc, stdout, err = run(capsys, "generate", "--model", "student", "--audio", str(speech), "--out", str(out))
    assert rc == 0, err
    assert "student" in stdout
    frames, fps, _ = read_video(out)
    photo = Image.open(bundled_photo()).convert("RGB")  # Grace Hopper, 512x600
    h, w = frames.shape[1:3]
    assert fps == 25 and len(frames) == 25 and frames.shape[3] == 3
    assert abs(w / h - photo.width / photo.height) < 0.01 and photo.height <= h and max(h, w) <= 1920
    rc, _, err = run(
        capsys, "generate", "--model", "student", "--audio", str(speech), "--out", str(cropped), "--crop"
    )
    assert rc == 0, err
    crops, _, _ = read_video(cropped)
    assert crops.shape[1:] == (512, 512, 3)
    top = np.asarray(photo.resize((w, h), Image.BICUBIC))[None, : h // 20]
    still = np.abs(frames[:, : h // 20].astype(int) - top).mean()
    assert still < 6, still  # the top of the photo, outside the face crop, is the photo itself


def test_export_writes_every_network_with_a_manifest(capsys, tmp_path):
    pytest.importorskip("onnxruntime")
    rc, out, err = run(capsys, "export", "--out", str(tmp_path))
    assert rc == 0, err
    written = sorted(p.name for p in (tmp_path / "onnx-fp32").iterdir())
    assert written == [
        "appearance_encoder.json",
        "appearance_encoder.onnx",
        "decoder_student.json",
        "decoder_student.onnx",
        "motion_step.json",
        "motion_step.onnx",
    ]
    assert out.count(" MB) ") == 3 and "max abs" in out
    stamp = (tmp_path / "onnx-fp32" / "motion_step.onnx").stat().st_mtime_ns
    rc, out, err = run(capsys, "export", "--out", str(tmp_path), "--network", "motion_step")
    assert rc == 0 and out.count(" MB) ") == 1  # reused from the folder: the manifest still matches
    assert (tmp_path / "onnx-fp32" / "motion_step.onnx").stat().st_mtime_ns == stamp


def test_export_compare_prints_offline_and_live_lip_sync(capsys, tmp_path, monkeypatch):
    """The table names both chunkings: live (what `live` runs) and offline (what generate runs)."""
    from edge_vasa.apps.cli import export
    from edge_vasa.conversion import accuracy

    def row(lip_sync: float, live: float) -> dict:
        return {
            "psnr_vs_reference_db": 35.0,
            "psnr_vs_fp32_db": 50.0,
            "lip_sync": lip_sync,
            "lip_sync_live": live,
            "psnr_drop_db": 0.1,
            "lip_sync_change": lip_sync / 0.5 - 1,
            "lip_sync_live_change": live / 0.6 - 1,
        }

    result = {
        "summary": {"fp32": row(0.5, 0.6), "int8": row(0.49, 0.63)},
        "speed": {"decoder_ms": {"fp32": 30.0, "int8": 25.0}, "motion_step_ms": {"fp32": 4.0, "int8": 3.0}},
    }
    monkeypatch.setattr(accuracy, "compare_precisions", lambda *a: result)
    (tmp_path / "onnx-int8").mkdir()
    export._compare_precisions("onnx", "int8", tmp_path)
    out = capsys.readouterr().out
    assert "lip sync offline" in out and "lip sync live" in out
    assert "0.490" in out and "0.630" in out
    assert "offline -2.0%, live +5.0%" in out


def test_export_refuses_an_unknown_network(capsys, tmp_path):
    rc, out, err = run(capsys, "export", "--out", str(tmp_path), "--network", "warp_decoder")
    assert_one_error_line(rc, err, "unknown network")


@pytest.mark.parametrize("command", ["train", "distill"])
@pytest.mark.parametrize("model", ["motion", "decoder"])
def test_train_needs_a_corpus(capsys, tmp_path, model, command):
    pytest.importorskip("torch")
    rc, out, err = run(capsys, command, model, "--corpus", str(tmp_path), "--out", str(tmp_path / "run"))
    assert_one_error_line(rc, err, "corpus")


def test_generate_on_an_edge_backend(capsys, tmp_path):
    """--backend renders with the edge models through the runtime selector, as live does (torch:cpu here: the
    reference backend needs no export)."""
    pytest.importorskip("torch")
    from edge_vasa.core.video import probe_video
    from edge_vasa.provenance.record import verify

    speech = _tone_wav(tmp_path / "s.wav", seconds=1.0, rate=16000, channels=1)
    out = tmp_path / "o.mp4"
    rc, stdout, err = run(
        capsys, "generate", "--backend", "torch:cpu", "--audio", str(speech), "--out", str(out)
    )
    assert rc == 0, err
    assert "torch:cpu" in stdout
    assert probe_video(out)["n_frames"] == 25
    models = verify(out).tags["models"]
    assert any("decoder_student" in name and "torch:cpu" in name for name in models), models


def test_generate_precision_needs_a_backend(capsys, tmp_path):
    rc, out, err = run(capsys, "generate", "--precision", "int8", "--out", str(tmp_path / "o.mp4"))
    assert_one_error_line(rc, err, "--precision", "--backend")
    assert not list(tmp_path.iterdir())


def test_doctor_times_a_backend_and_names_the_choice(capsys, tmp_path, private_cache):
    """The reference backend (torch:cpu: needs no export) is timed, ranked first, and chosen; --json holds
    the machine and the ranking."""
    pytest.importorskip("torch")
    report = tmp_path / "doctor.json"
    rc, out, err = run(capsys, "doctor", "--backend", "torch:cpu", "--json", str(report))
    assert rc == 0, err
    found = json.loads(report.read_text())
    assert found["machine"]["cpu"]["cores"] >= 1
    first = found["ranking"][0]
    assert first["candidate"] == {"runtime": "torch", "device": "cpu", "precision": "fp32"}
    assert first["status"] == "ok" and not first["cached"], first
    assert first["decoder_ms"] > 0 and first["motion_ms"] > 0 and first["fps"] > 0
    assert "\nchoice: torch:cpu fp32 - the fastest usable here" in out
