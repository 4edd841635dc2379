"""Provenance: the watermark survives what videos go through, `verify` finds it and only it, the MP4 carries
tags and a signed C2PA manifest, and the visible label is there when asked for."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import assert_one_error_line, rendered, run

from edge_vasa.core.video import frames_of, write_mp4
from edge_vasa.data.corpus import videos_dir
from edge_vasa.evaluation.metrics import psnr_db
from edge_vasa.provenance.record import Provenance, check_label, label_frame, read_manifest, verify
from edge_vasa.provenance.watermark import (
    CHASE_FLIPS,
    DETECT_Z,
    PAYLOAD_BITS,
    Payload,
    Watermarker,
    decode_payload,
    detect,
)

FPS = 25


@pytest.fixture(scope="module")
def clip(grace_hopper_prepared) -> list[np.ndarray]:
    """3 s of a talking face from the analytic renderer (the corpus renderer: fast, no network weights)."""
    from edge_vasa.core.motion import INDEX, neutral
    from edge_vasa.pipeline.analytic import Renderer

    t = np.arange(3 * FPS) / FPS
    motion = neutral(len(t))
    motion[:, INDEX["jaw_open"]] = 0.4 * (1 + np.sin(2 * np.pi * 3 * t))  # talking
    motion[:, INDEX["yaw"]] = 0.08 * np.sin(2 * np.pi * 0.4 * t)  # and moving the head
    frames, _ = rendered(Renderer(grace_hopper_prepared.image, grace_hopper_prepared.landmarks), motion)
    return list(frames)


def ffmpeg(src: Path, dst: Path, args: str) -> Path:
    subprocess.run(f"ffmpeg -loglevel error -y -i {src} -an {args} {dst}".split(), check=True)
    return dst


@pytest.fixture(scope="module")
def marked(clip, tmp_path_factory) -> tuple[Path, Path, Payload]:
    """The clip with and without the watermark, as MP4s at the quality generate writes."""
    folder = tmp_path_factory.mktemp("wm")
    payload = Payload(render_id=0xC0FFEE)
    mark = Watermarker(payload)
    write_mp4(folder / "marked.mp4", (mark(f) for f in clip), FPS)
    write_mp4(folder / "plain.mp4", clip, FPS)
    return folder / "marked.mp4", folder / "plain.mp4", payload


# ------------------------------------------------------------------------------------------ payload


def test_payload_round_trip_and_crc():
    p = Payload(render_id=0xABCDEF)
    bits = p.bits()
    assert len(bits) == PAYLOAD_BITS and set(np.unique(bits)) <= {0, 1}
    assert Payload.from_bits(bits) == p
    for i in (0, 20, 40, PAYLOAD_BITS - 1):
        flipped = bits.copy()
        flipped[i] ^= 1
        assert Payload.from_bits(flipped) is None, f"bit {i} flipped and the CRC still passed"


def test_chase_decoding_fixes_the_least_reliable_bits_only():
    p = Payload(render_id=12345)
    rng = np.random.default_rng(0)
    strength = 2.0 * p.bits() - 1.0
    correlations = strength * rng.uniform(1.0, 2.0, PAYLOAD_BITS)
    wrong = rng.choice(PAYLOAD_BITS, CHASE_FLIPS, replace=False)
    correlations[wrong] *= -0.05  # wrong sign, but weak: the doubtful ones
    assert decode_payload(correlations) == p
    correlations[wrong[0]] = -3.0 * strength[wrong[0]]  # confidently wrong: beyond correction
    correlations[wrong[1]] = -3.0 * strength[wrong[1]]
    assert decode_payload(correlations) is None


def test_watermark_is_faint_and_unbiased(clip):
    mark = Watermarker(Payload(render_id=1))
    frame = clip[0]
    out = mark(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    diff = out.astype(np.int16) - frame
    psnr = psnr_db(out, frame)
    assert psnr > 38, f"watermark PSNR {psnr:.1f} dB: too strong to stay invisible"
    assert abs(diff.mean()) < 0.3, "the watermark shifts brightness"
    inside = ((frame > 10) & (frame < 245)).all(axis=2)  # away from saturation, which clips per channel
    same = (diff[..., 0] == diff[..., 1]) & (diff[..., 1] == diff[..., 2])
    assert same[inside].all(), "the same offset on R, G and B (luma only)"


# ------------------------------------------------------------------------------------------ detection


@pytest.mark.parametrize(
    "attack",
    [
        "-c:v libx264 -crf 28 -vf scale=256:256",
        "-c:v libx265 -crf 28 -x265-params log-level=error",
        "-c:v libx264 -crf 28 -vf crop=iw*0.9:ih*0.9:iw*0.07:ih*0.02",
        "-c:v libx264 -crf 28 -vf crop=iw*0.9:ih*0.9,scale=512:512,eq=brightness=0.08:contrast=1.3",
    ],
    ids=["h264-crf28-256", "h265-crf28", "crop10", "crop10-upscale-brightness-contrast"],
)
def test_watermark_survives_reencoding_resizing_cropping_and_grading(marked, tmp_path, attack):
    path, plain, payload = marked
    attacked = ffmpeg(path, tmp_path / "a.mp4", attack)
    found = detect(frames_of(attacked))
    assert found.found and found.z >= DETECT_Z, found
    assert found.payload == payload, f"payload lost: {found}"
    clean = detect(frames_of(ffmpeg(plain, tmp_path / "p.mp4", attack)))
    assert not clean.found and clean.z < DETECT_Z - 1, clean


def test_a_whole_photo_video_shrunk_to_256_keeps_its_watermark(clip, tmp_path):
    """The pattern scales with the frame's short side: a 1264x1080 whole-photo video shrunk to 256 px wide
    (about 4x) is found with its payload, as a 512 crop shrunk to 256 is (a fixed-size tile fell below
    the detector's scale range here)."""
    big = [cv2.resize(f, (1264, 1080), interpolation=cv2.INTER_CUBIC) for f in clip]
    payload = Payload(render_id=0xBEEF)
    mark = Watermarker(payload)
    write_mp4(tmp_path / "m.mp4", (mark(f) for f in big), FPS)
    write_mp4(tmp_path / "p.mp4", big, FPS)
    found = detect(
        frames_of(ffmpeg(tmp_path / "m.mp4", tmp_path / "ms.mp4", "-c:v libx264 -crf 28 -vf scale=256:-2"))
    )
    assert found.found and found.payload == payload, found
    clean = detect(
        frames_of(ffmpeg(tmp_path / "p.mp4", tmp_path / "ps.mp4", "-c:v libx264 -crf 28 -vf scale=256:-2"))
    )
    assert not clean.found, clean


def test_real_footage_is_not_flagged(tmp_path):
    videos = sorted(p for p in videos_dir().glob("*") if p.is_file())
    if not videos:
        pytest.skip(f"no real videos in {videos_dir()}; run scripts/install_videos.sh")
    for video in videos:
        verdict = verify(video, max_frames=30)
        assert not verdict.synthetic and verdict.watermark["z"] < DETECT_Z, (video.name, verdict)


# ------------------------------------------------------------------------------------------ metadata


def test_signed_manifest_says_ai_generated_and_notices_tampering(marked, tmp_path):
    path, _, _ = marked
    provenance = Provenance.for_files("generate", {"decoder": path})
    signed = tmp_path / "signed.mp4"
    signed.write_bytes(path.read_bytes())
    provenance.sign(signed)
    facts = read_manifest(signed)
    assert facts["ai_generated"] and not facts["tampered"], facts
    assert facts["record"]["models"]["decoder"] == provenance.models["decoder"]
    assert facts["failures"] == ["signingCredential.untrusted"]  # our own certificate: expected, nothing else
    data = bytearray(signed.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte of the media
    signed.write_bytes(bytes(data))
    assert read_manifest(signed)["tampered"]
    assert read_manifest(path) is None, "an unsigned file has no manifest"


def test_label_is_drawn_bottom_left(clip):
    out = label_frame(clip[0], "AI-generated")
    changed = np.abs(out.astype(np.int16) - clip[0]).max(axis=2) > 30
    rows, cols = np.nonzero(changed)
    assert changed.sum() > 500, "no label drawn"
    assert rows.min() > 0.85 * out.shape[0] and cols.max() < 0.5 * out.shape[1], "label not in the lower left"
    assert out[changed].max() >= 240, "the text is white"


@pytest.mark.parametrize("bad", ["x" * 41, "KI-generiert ✓", "   ", "line\nbreak"])
def test_bad_labels_are_refused(bad):
    from edge_vasa.core.errors import EdgeVasaError

    with pytest.raises(EdgeVasaError, match="--label"):
        check_label(bad)
    assert check_label("") is None and check_label("AI-generated") == "AI-generated"


# ------------------------------------------------------------------------------------------ end to end


@pytest.mark.slow
def test_generate_then_verify_before_and_after_reencoding(capsys, tmp_path):
    """A video from `generate` is found by `verify`: its tags, its C2PA manifest and its watermark agree;
    after a re-encode at CRF 28 and a resize, the watermark alone still says so."""
    pytest.importorskip("torch")
    import soundfile as sf

    from edge_vasa.core.audio import load_audio
    from edge_vasa.core.shipped import BUNDLED_SPEECH

    speech = tmp_path / "hi.wav"
    sf.write(speech, load_audio(BUNDLED_SPEECH)[: 16000 * 3], 16000)
    out = tmp_path / "o.mp4"
    rc, stdout, err = run(
        capsys, "generate", "--model", "student", "--audio", str(speech), "--out", str(out), "--label", "AI"
    )
    assert rc == 0, err
    rc, stdout, err = run(capsys, "verify", str(out), "--json", str(tmp_path / "v.json"))
    assert rc == 0, stdout + err
    assert "SYNTHETIC" in stdout and "C2PA: Valid" in stdout and "AI-generated: True" in stdout, stdout
    verdict = verify(out)
    assert (
        verdict.watermark["payload"]["render_id"]
        == verdict.tags["render_id"]
        == verdict.c2pa["record"]["render_id"]
    )
    assert set(verdict.tags["models"]) == {"motion", "decoder"}
    small = ffmpeg(out, tmp_path / "small.mp4", "-c:v libx264 -crf 28 -vf scale=256:-2 -map_metadata -1")
    again = verify(small)
    assert again.synthetic and again.watermark["found"] and again.tags is None and again.c2pa is None, again
    rc, stdout, err = run(capsys, "verify", str(small))
    assert rc == 0 and "watermark: found" in stdout and "C2PA: none" in stdout


def test_verify_says_no_for_unmarked_video_and_exits_1(capsys, marked):
    _, plain, _ = marked
    rc, stdout, err = run(capsys, "verify", str(plain))
    assert rc == 1, err
    assert "no edge-vasa provenance found" in stdout and "watermark: not found" in stdout


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda d: d / "missing.mp4", ("not found",)),
        (lambda d: (d / "text.mp4").write_text("not a video\n" * 40) and d / "text.mp4", ("video",)),
        (lambda d: d, ("not found",)),
    ],
    ids=["missing", "not-a-video", "folder"],
)
def test_verify_bad_files_are_one_error_line(capsys, tmp_path, make, words):
    rc, out, err = run(capsys, "verify", str(make(tmp_path)))
    assert_one_error_line(rc, err, *words)
