"""The web UI and the kiosk page in a real browser: Debian's Chromium driven by Playwright, on loopback.

Every page load is routed through a handler that lets loopback through and records (and blocks) anything
else, so the tests also show that the pages work offline. Screenshots of each step are kept in
test-artifacts/ui/ (EDGE_VASA_TEST_ARTIFACTS overrides the folder) for people to look at.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import free_port, loopback_only

pytest.importorskip("gradio")
pytest.importorskip("torch")
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if Path(p).is_file()), None)
pytestmark = [  # end to end, in a real browser
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (./install.sh)"),
    pytest.mark.slow,
]
SHOTS = Path(os.environ.get("EDGE_VASA_TEST_ARTIFACTS", "test-artifacts")) / "ui"


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A page that may only talk to loopback: other requests are blocked and listed in page.external."""
    page = loopback_only(browser.new_page(viewport={"width": 1280, "height": 1000}))
    yield page
    page.close()


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="module")
def ui_url():
    from edge_vasa.apps.ui import BACKENDS, build_app

    app = build_app(default_backend=[k for k, v in BACKENDS.items() if v == ("student", None)][0])
    app.queue(default_concurrency_limit=1)
    port = free_port()
    app.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, show_error=False
    )
    yield f"http://127.0.0.1:{port}/"
    app.close()


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> Path:
    from edge_vasa.core.audio import load_audio
    from edge_vasa.core.shipped import BUNDLED_SPEECH

    path = tmp_path_factory.mktemp("speech") / "hello.wav"
    sf.write(path, load_audio(BUNDLED_SPEECH)[: 16000 * 2], 16000)
    return path


def upload(page, element: str, path: Path) -> None:
    page.set_input_files(f"#{element} input[type=file]", str(path))


def test_photo_and_speech_give_a_playable_watermarked_video(
    page, ui_url, grace_hopper_path, speech_wav, tmp_path
):
    from edge_vasa.core.video import probe_video
    from edge_vasa.provenance.record import verify

    page.goto(ui_url, wait_until="networkidle")
    assert "edge-vasa" in page.title()
    shot(page, "1-start")
    upload(page, "photo", grace_hopper_path)
    page.wait_for_selector("#crop img", timeout=60_000)
    assert "Face found" in page.inner_text("#face-note")
    shot(page, "2-photo-and-face")
    upload(page, "speech", speech_wav)
    page.wait_for_selector(
        "#speech audio, #speech .waveform-container, #speech [data-testid='waveform-x']",
        state="attached",
        timeout=30_000,
    )
    shot(page, "3-speech")
    page.click("#go")
    # the progress bar (tqdm, followed live) shows while rendering; a fast machine may finish first
    page.wait_for_function(
        "() => /render - [0-9.]+%/.test(document.querySelector('#video')?.innerText || '')"
        " || document.querySelector('#video video[src]')",
        timeout=120_000,
    )
    shot(page, "4-progress")
    video = page.wait_for_selector("#video video[src]", timeout=240_000)
    page.wait_for_function(
        "() => { const v = document.querySelector('#video video'); return v && v.readyState >= 1 }",
        timeout=30_000,
    )
    in_browser = page.evaluate("() => document.querySelector('#video video').duration")
    assert 1.8 <= in_browser <= 2.3, f"the browser sees {in_browser} s"
    shot(page, "5-result")
    got = tmp_path / "download.mp4"
    got.write_bytes(urllib.request.urlopen(video.get_attribute("src")).read())
    info = probe_video(got)
    assert 1.8 <= info["duration"] <= 2.3 and info["has_audio"], info
    verdict = verify(got)
    assert verdict.synthetic and verdict.watermark["found"]
    note = page.inner_text("#provenance")
    assert "AI-generated" in note and verdict.tags["render_id"] in note
    assert "Traceback" not in page.content()
    assert not page.external, f"the page reached out: {page.external}"


def test_bad_uploads_get_a_plain_message(page, ui_url, speech_wav, tmp_path):
    from PIL import Image

    flat = tmp_path / "wall.png"
    Image.fromarray(np.full((300, 300, 3), 200, np.uint8)).save(flat)
    noise = tmp_path / "noise.wav"
    noise.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + os.urandom(400))
    page.goto(ui_url, wait_until="networkidle")
    upload(page, "photo", flat)
    page.wait_for_function("() => document.querySelector('#face-note').innerText.includes('No usable face')")
    shot(page, "6-no-face")
    upload(page, "speech", speech_wav)
    page.click("#go")
    toast = page.wait_for_selector("text=/no face found in wall.png/i", timeout=60_000)
    assert toast.is_visible(), "the message names the user's file, not Gradio's upload copy"
    time.sleep(0.5)  # the toast slides in
    shot(page, "7-no-face-error")
    assert "Traceback" not in page.content() and 'File "' not in page.content()
    assert not page.external


# ------------------------------------------------------------------------------------------ kiosk


def _live(port: int, private_cache, face) -> tuple:
    from edge_vasa.core.shipped import BUNDLED_SPEECH
    from edge_vasa.live.session import LiveSession
    from edge_vasa.live.sinks import MjpegSink
    from edge_vasa.live.sources import FileSource
    from edge_vasa.runtimes.assembler import EdgeStudio

    sink = MjpegSink(port)
    session = LiveSession(face, FileSource(BUNDLED_SPEECH, loop=True), [sink], EdgeStudio("torch:cpu"))
    sink.status = session.status
    return sink, session.start()


def avatar_png(page) -> np.ndarray:
    from io import BytesIO

    from PIL import Image

    return np.asarray(Image.open(BytesIO(page.locator("#avatar").screenshot())).convert("L"), np.float32)


def wait_for_motion(page, timeout: float = 20.0) -> float:
    """Seconds until two looks at the avatar differ (frames are changing)."""
    start = time.monotonic()
    first = avatar_png(page)
    while time.monotonic() - start < timeout:
        time.sleep(0.5)
        if np.abs(avatar_png(page) - first).mean() > 0.5:
            return time.monotonic() - start
    raise AssertionError("the kiosk page's frames did not change")


def test_kiosk_page_shows_live_frames_and_reconnects_after_a_restart(
    page, private_cache, grace_hopper_prepared
):
    port = free_port()
    sink, session = _live(port, private_cache, grace_hopper_prepared)
    try:
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function("() => document.querySelector('#avatar').naturalWidth > 0", timeout=30_000)
        wait_for_motion(page)
        try:  # a transient problem (a stage slow to start on a loaded machine) clears by itself
            page.wait_for_selector("#status", state="hidden", timeout=15_000)
        except sync_api.TimeoutError:
            overlay = page.inner_text("#status")
            raise AssertionError(f"the overlay stays up with frames moving: {overlay!r}") from None
        shot(page, "8-kiosk")
    finally:
        session.stop()
        session.wait(10)
    page.wait_for_selector("#status", state="visible", timeout=10_000)  # the server is gone
    assert "not reachable" in page.inner_text("#status")
    shot(page, "9-kiosk-server-gone")
    sink, session = _live(port, private_cache, grace_hopper_prepared)  # a new session on the same port
    try:
        page.wait_for_selector("#status", state="hidden", timeout=20_000)
        wait_for_motion(page)
        shot(page, "10-kiosk-reconnected")
    finally:
        session.stop()
        session.wait(10)
    assert not page.external


def test_kiosk_overlay_names_the_problem(page):
    from edge_vasa.live.sinks import MjpegSink

    problems = ["Microphone lost (unplugged); retrying"]
    sink = MjpegSink(0, status=lambda: {"problems": problems, "started": 1.0, "frames_shown": 0})
    stop = threading.Event()

    def feed():
        from edge_vasa.live.sinks import FrameInfo

        i = 0
        while not stop.is_set():
            sink.frame(np.full((64, 64, 3), i % 255, np.uint8), FrameInfo(i, 0.0, 0.0, 0.0))
            i += 8
            time.sleep(0.05)

    threading.Thread(target=feed, daemon=True).start()
    try:
        page.goto(sink.url)
        page.wait_for_selector("#status", state="visible", timeout=10_000)
        assert page.inner_text("#status") == problems[0]
        shot(page, "11-kiosk-problem")
        problems.clear()
        page.wait_for_selector("#status", state="hidden", timeout=5_000)
    finally:
        stop.set()
        sink.close()
