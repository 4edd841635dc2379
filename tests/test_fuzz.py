"""Loaders fuzzed for crashes: whatever bytes a user hands over, each loader either returns what its contract
says or raises EdgeVasaError (a one-line message for the CLI), never another exception.

Inputs (images, audio, weights, bench reports, signed MP4s for `verify`) are valid files with bytes flipped,
cut or spliced, and plain random bytes. Bounded: a fixed number of examples per loader
(EDGE_VASA_FUZZ_EXAMPLES, default 100; a quarter for verify), no deadline, derandomized so CI runs repeat.
"""

from __future__ import annotations

import io
import json
import os
import wave

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_vasa.core.errors import EdgeVasaError

EXAMPLES = int(os.environ.get("EDGE_VASA_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _png() -> bytes:
    from PIL import Image

    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((24, 32, 3), 128, np.uint8)).save(buf, "JPEG", exif=b"Exif\x00\x00II*\x00")
    return buf.getvalue()


def _wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(22050)
        t = np.arange(2205) / 22050
        tone = (np.sin(2 * np.pi * 220 * t) * 20000).astype(np.int16)
        w.writeframes(np.repeat(tone[:, None], 2, axis=1).tobytes())
    return buf.getvalue()


def _weights() -> bytes:
    from edge_vasa.core.shipped import STUDENT_WEIGHTS

    return STUDENT_WEIGHTS.read_bytes()[:4096]  # the header and the first tensors: enough to mutate


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """SEED with a few bytes overwritten, then maybe cut short or spliced with random bytes; or pure noise."""
    kind = draw(st.sampled_from(["flip", "cut", "splice", "noise"]))
    data = bytearray(seed)
    if kind == "noise":
        return draw(st.binary(min_size=1, max_size=2048))
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    if kind == "cut":
        data = data[: draw(st.integers(1, len(data)))]
    elif kind == "splice":
        i = draw(st.integers(0, len(data)))
        data[i:i] = draw(st.binary(min_size=1, max_size=256))
    return bytes(data)


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("seed, name", [(_png, "x.png"), (_jpeg, "x.jpg")], ids=["png", "jpeg"])
def test_load_image_returns_rgb8_or_a_clear_error(tmp_path, seed, name):
    from edge_vasa.core.face import load_image

    @FUZZ
    @given(mutated(seed()))
    def check(data):
        try:
            rgb = load_image(_write(tmp_path, name, data))
        except EdgeVasaError:
            return
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3

    check()


def test_load_audio_returns_16k_mono_or_a_clear_error(tmp_path):
    from edge_vasa.core.audio import load_audio

    @FUZZ
    @given(mutated(_wav()))
    def check(data):
        try:
            audio = load_audio(_write(tmp_path, "x.wav", data))
        except EdgeVasaError:
            return
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert np.all(np.abs(audio) <= 1.0)

    check()


def test_read_checkpoint_loads_or_refuses(tmp_path):
    from edge_vasa.models.weights import read_checkpoint

    @FUZZ
    @given(mutated(_weights()))
    def check(data):
        try:
            tensors, meta = read_checkpoint(_write(tmp_path, "w.safetensors", data), "motion model", "train")
        except EdgeVasaError:
            return
        assert isinstance(tensors, dict) and isinstance(meta, dict)

    check()


@pytest.mark.parametrize(
    "manifest",
    ["{not json", "[1, 2]", '"text"', json.dumps({"sha256": 7}), json.dumps({"sha256": "0" * 64})],
    ids=["broken", "list", "string", "number", "wrong-hash"],
)
def test_a_damaged_weights_manifest_is_a_clear_error(tmp_path, manifest):
    from edge_vasa.core.shipped import STUDENT_WEIGHTS
    from edge_vasa.models.weights import read_checkpoint

    weights = _write(tmp_path, "w.safetensors", STUDENT_WEIGHTS.read_bytes())
    (tmp_path / "w.json").write_text(manifest)
    with pytest.raises(EdgeVasaError, match="w.safetensors"):
        read_checkpoint(weights, "motion model", "train")


def test_load_report_returns_a_report_or_a_clear_error(tmp_path):
    from edge_vasa.bench.report import load_report
    from edge_vasa.bench.schema import BenchReport

    values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    )

    @FUZZ
    @given(st.dictionaries(st.sampled_from(["version", "speed", "clips", "rows"]), values) | values)
    def check(document):
        path = _write(tmp_path, "report.json", json.dumps(document).encode())
        try:
            report = load_report(path)
        except EdgeVasaError:
            return
        assert isinstance(report, BenchReport) and report.version == 1

    check()


def _wav_at(path, rate: int, seconds: float = 0.5):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.zeros(int(rate * seconds), np.int16).tobytes())
    return path


def test_odd_sample_rates_found_by_fuzzing(tmp_path):
    """A damaged header's 22051 Hz once made the resampler ask for a 167-million-tap filter (1.25 GiB per
    array, 24 GB in all): now the ratio is approximated; absurd rates are refused."""
    from edge_vasa.core.audio import load_audio

    audio = load_audio(_wav_at(tmp_path / "odd.wav", 22051))
    assert abs(len(audio) - 8000) <= 2  # 0.5 s at 16 kHz
    with pytest.raises(EdgeVasaError, match="sample rate of 500 Hz"):
        load_audio(_wav_at(tmp_path / "slow.wav", 500))


@pytest.fixture(scope="module")
def signed_mp4(tmp_path_factory) -> bytes:
    """A small watermarked MP4 with tags and a C2PA manifest: what verify reads."""
    from edge_vasa.core.video import write_mp4
    from edge_vasa.provenance.record import Provenance

    provenance = Provenance("generate", {})
    mark = provenance.watermarker()
    rng = np.random.default_rng(0)
    frames = [mark(rng.integers(60, 200, (160, 160, 3), dtype=np.uint8)) for _ in range(8)]
    path = tmp_path_factory.mktemp("mp4") / "x.mp4"
    write_mp4(path, frames, 25, metadata=provenance.tags(), finish=provenance.sign)
    return path.read_bytes()


def test_verify_returns_a_verdict_or_a_clear_error(tmp_path, signed_mp4):
    from edge_vasa.provenance.record import verify

    @settings(FUZZ, max_examples=max(10, EXAMPLES // 4))
    @given(mutated(signed_mp4))
    def check(data):
        try:
            verdict = verify(_write(tmp_path, "x.mp4", data))
        except EdgeVasaError:
            return
        assert isinstance(verdict.synthetic, bool) and 0.0 <= verdict.confidence <= 1.0

    check()
