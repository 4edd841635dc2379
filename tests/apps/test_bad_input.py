"""Bad input through the user's front door, `edge-vasa generate`: every case gives either one clear
`error:` line (exit 2) or a documented, correct video; never a traceback, never a partial output file.

Documented results (README, "Input"): RGBA, grayscale, 16-bit and EXIF-rotated photos are converted;
with several faces the largest speaks (a warning names --face-index); any sample rate and channel count
is resampled to 16 kHz mono; silence gives a closed mouth; a truncated audio file speaks what decodes.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import assert_one_error_line, run
from PIL import Image

pytest.importorskip("torch")

RATE = 16000


# ---------------------------------------------------------------------------------------------- inputs


def speech(seconds: float = 1.0, rate: int = RATE, channels: int = 1, gain: float = 0.3) -> np.ndarray:
    """A voiced, syllable-rate modulated tone: enough like speech to move the mouth."""
    t = np.arange(int(seconds * rate)) / rate
    x = gain * np.sin(2 * np.pi * 160 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    return np.stack([x] * channels, 1) if channels > 1 else x


def wav(d: Path, name: str = "s.wav", **kw) -> Path:
    rate = kw.get("rate", RATE)
    sf.write(d / name, speech(**kw), rate)
    return d / name


def ffmpeg_audio(d: Path, name: str, *args: str) -> Path:
    src = wav(d, "src.wav", rate=44100, channels=2)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), *args, str(d / name)], check=True)
    src.unlink()
    return d / name


def photo(d: Path, grace_hopper: np.ndarray, name: str, convert=lambda im: im, **save) -> Path:
    convert(Image.fromarray(grace_hopper)).save(d / name, **save)
    return d / name


def rotated_jpeg(d: Path, grace_hopper: np.ndarray) -> Path:
    """Stored sideways with EXIF orientation 6 (rotate 90 clockwise to view), as phone cameras do."""
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.rot90(grace_hopper, 1).copy()).save(d / "rot.jpg", exif=exif)
    return d / "rot.jpg"


def sixteen_bit(d: Path, grace_hopper: np.ndarray) -> Path:
    gray = grace_hopper.mean(axis=2) * 257
    Image.fromarray(gray.astype(np.uint16)).save(d / "g16.png")
    return d / "g16.png"


def truncated(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def write(d: Path, name: str, data: bytes) -> Path:
    (d / name).write_bytes(data)
    return d / name


def hours_long(d: Path) -> Path:
    """Three hours of silence as FLAC (a few hundred KB): the length is in the header."""
    out = d / "long.flac"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "10800"]
        + ["-c:a", "flac", str(out)],
        check=True,
    )
    return out


# ---------------------------------------------------------------------------------------------- harness


def generate(capsys, d: Path, *args: str) -> tuple[int, str, str, Path]:
    out = d / "out" / "o.mp4"
    out.parent.mkdir(exist_ok=True)
    rc, stdout, err = run(capsys, "generate", "--model", "student", "--out", str(out), *args)
    return rc, stdout, err, out


def assert_nothing_written(out: Path) -> None:
    left = list(out.parent.iterdir()) if out.parent.is_dir() else []
    assert not left, f"partial output left behind: {left}"


def assert_video(out: Path, seconds: float) -> None:
    from edge_vasa.core.video import probe_video

    info = probe_video(out)
    assert abs(info["n_frames"] - 25 * seconds) <= 2 and info["has_audio"], info
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name], "temp files left"


# (case id, builder(dir, grace_hopper) -> extra CLI args, words the error names)
ERRORS = [
    # ---- images
    (
        "image-no-face",
        lambda d, g: ["--image", str(photo(d, g[:120, :120] * 0 + 128, "flat.png"))],
        ["no face"],
    ),
    (
        "image-tiny",
        lambda d, g: ["--image", str(photo(d, g, "tiny.png", lambda im: im.resize((24, 20))))],
        ["small"],
    ),
    ("image-truncated", lambda d, g: ["--image", str(truncated(photo(d, g, "t.jpg"), 0.3))], ["truncated"]),
    (
        "image-not-an-image",
        lambda d, g: ["--image", str(write(d, "x.jpg", b"%PDF-1.4 not a photo" * 40))],
        ["image"],
    ),
    ("image-empty", lambda d, g: ["--image", str(write(d, "e.png", b""))], ["empty"]),
    ("image-missing", lambda d, g: ["--image", str(d / "nope.jpg")], ["not found"]),
    ("image-directory", lambda d, g: ["--image", str(d)], ["directory"]),
    (
        "image-face-index",
        lambda d, g: ["--image", str(photo(d, g, "one.png")), "--face-index", "3"],
        ["face"],
    ),
    # ---- audio
    ("audio-empty", lambda d, g: ["--audio", str(write(d, "e.wav", b""))], ["empty"]),
    ("audio-header-only", lambda d, g: ["--audio", str(truncated(wav(d), 0.005))], ["ms of audio"]),
    ("audio-hours-long", lambda d, g: ["--audio", str(hours_long(d))], ["long", "split"]),
    (
        "audio-not-audio",
        lambda d, g: ["--audio", str(write(d, "x.mp3", b"<html>not audio</html>\n" * 30))],
        ["audio"],
    ),
    ("audio-image-file", lambda d, g: ["--audio", str(photo(d, g, "face.png"))], ["audio"]),
    ("audio-missing", lambda d, g: ["--audio", str(d / "nope.wav")], ["not found"]),
    # ---- models
    ("weights-missing", lambda d, g: ["--weights", str(d / "none.safetensors")], ["not found"]),
    (
        "weights-corrupted",
        lambda d, g: ["--weights", str(write(d, "w.safetensors", os.urandom(5000)))],
        ["weights"],
    ),
    (
        "weights-pickle",
        lambda d, g: ["--weights", str(write(d, "w.pt", b"\x80\x04\x95" + os.urandom(200)))],
        ["safetensors"],
    ),
    ("weights-wrong-network", lambda d, g: ["--weights", str(decoder_weights())], ["weights"]),
    ("decoder-weights-wrong-network", lambda d, g: ["--decoder-weights", str(motion_weights())], ["weights"]),
    # ---- options
    ("option-gaze", lambda d, g: ["--gaze", "3", "0"], ["gaze"]),
    ("option-motion-scale", lambda d, g: ["--motion-scale", "9"], ["motion scale"]),
    ("option-distance", lambda d, g: ["--distance", "40"], ["distance"]),
    ("option-fps", lambda d, g: ["--fps", "7"], ["fps"]),
    ("option-steps", lambda d, g: ["--steps", "0"], ["steps"]),
    ("option-emotion", lambda d, g: ["--emotion", "smug"], ["emotion"]),
    ("option-label", lambda d, g: ["--label", "é" * 3], ["label"]),
    ("option-not-a-number", lambda d, g: ["--seed", "seven"], ["seed"]),
]


def decoder_weights() -> Path:
    from edge_vasa.core.shipped import STUDENT_DECODER_WEIGHTS

    return STUDENT_DECODER_WEIGHTS


def motion_weights() -> Path:
    from edge_vasa.core.shipped import STUDENT_WEIGHTS

    return STUDENT_WEIGHTS


@pytest.mark.parametrize("case", [c[0] for c in ERRORS])
def test_bad_input_is_one_error_line_and_writes_nothing(capsys, tmp_path, grace_hopper, face_models, case):
    _, build, words = next(c for c in ERRORS if c[0] == case)
    args = build(tmp_path, grace_hopper)
    if "--audio" not in args:
        args += ["--audio", str(wav(tmp_path))]
    rc, stdout, err, out = generate(capsys, tmp_path, *args)
    assert_one_error_line(rc, err, *words)
    assert_nothing_written(out)


@pytest.mark.parametrize(
    "target, words",
    [
        (lambda d: d / "missing" / "o.mp4", ["does not exist"]),
        (lambda d: d, ["folder"]),
        (lambda d: Path("/proc/edge-vasa-test.mp4"), ["cannot write"]),
    ],
    ids=["output-folder-missing", "output-is-a-folder", "output-unwritable"],
)
def test_bad_output_path_is_one_error_line(capsys, tmp_path, target, words):
    out = target(tmp_path)
    rc, stdout, err = run(
        capsys, "generate", "--model", "student", "--audio", str(wav(tmp_path)), "--out", str(out)
    )
    assert_one_error_line(rc, err, *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.wav"]


# (case id, builder, seconds of video expected)
DOCUMENTED = [
    ("image-rgba", lambda d, g: ["--image", str(photo(d, g, "a.png", lambda im: im.convert("RGBA")))], 1.0),
    ("image-grayscale", lambda d, g: ["--image", str(photo(d, g, "g.png", lambda im: im.convert("L")))], 1.0),
    ("image-16-bit", lambda d, g: ["--image", str(sixteen_bit(d, g))], 1.0),
    ("image-exif-rotated", lambda d, g: ["--image", str(rotated_jpeg(d, g))], 1.0),
    (
        "image-huge",
        lambda d, g: ["--image", str(photo(d, g, "big.png", lambda im: im.resize((7200, 6144))))],
        1.0,
    ),
    ("audio-silence", lambda d, g: ["--audio", str(wav(d, gain=0.0))], 1.0),
    ("audio-clipped", lambda d, g: ["--audio", str(wav(d, gain=4.0))], 1.0),
    ("audio-8khz", lambda d, g: ["--audio", str(wav(d, rate=8000))], 1.0),
    ("audio-48khz-stereo", lambda d, g: ["--audio", str(wav(d, rate=48000, channels=2))], 1.0),
    ("audio-mp3", lambda d, g: ["--audio", str(ffmpeg_audio(d, "s.mp3", "-c:a", "libmp3lame"))], 1.0),
    ("audio-ogg", lambda d, g: ["--audio", str(ffmpeg_audio(d, "s.ogg", "-c:a", "libvorbis"))], 1.0),
    ("audio-m4a", lambda d, g: ["--audio", str(ffmpeg_audio(d, "s.m4a", "-c:a", "aac"))], 1.0),
    ("audio-truncated", lambda d, g: ["--audio", str(truncated(wav(d, seconds=2.0), 0.5))], 1.0),
]


@pytest.mark.parametrize("case", [c[0] for c in DOCUMENTED])
def test_odd_but_valid_input_gives_the_documented_video(capsys, tmp_path, grace_hopper, face_models, case):
    _, build, seconds = next(c for c in DOCUMENTED if c[0] == case)
    args = build(tmp_path, grace_hopper)
    if "--audio" not in args:
        args += ["--audio", str(wav(tmp_path))]
    rc, stdout, err, out = generate(capsys, tmp_path, *args)
    assert rc == 0, err
    assert "Traceback" not in err
    assert_video(out, seconds)
    if case == "audio-silence":  # a closed, still mouth
        from edge_vasa.core.video import read_video
        from edge_vasa.evaluation.metrics import mouth_opening
        from edge_vasa.evaluation.tracking import track_landmarks

        frames, _, _ = read_video(out)
        opening = mouth_opening(track_landmarks(frames, detect_every=5).landmarks)
        assert np.median(opening) < 0.05, opening  # the tracker jitters on closed lips; speech is > 0.1


def test_several_faces_speak_the_largest_with_a_warning(capsys, tmp_path, two_faces_path, face_models):
    with pytest.warns(UserWarning, match="--face-index"):
        rc, stdout, err, out = generate(
            capsys, tmp_path, "--image", str(two_faces_path), "--audio", str(wav(tmp_path))
        )
    assert rc == 0, err
    assert "Traceback" not in err
    assert_video(out, 1.0)
