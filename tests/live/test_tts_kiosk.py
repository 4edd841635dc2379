"""A talking kiosk end to end, in a real browser: Debian's Chromium (driven by Playwright) opens the kiosk
page with ?say=1 and a token, types two sentences into its field (the second one interrupting), and the
face's mouth is measured on screenshots of the page: moving during each sentence, still after. Requests
go to 127.0.0.1 only; anything else the page asks for is blocked and listed. Screenshots are kept in
test-artifacts/kiosk/ (EDGE_VASA_TEST_ARTIFACTS overrides the folder)."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from helpers import free_port, loopback_only

torch = pytest.importorskip("torch")
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if Path(p).is_file()), None)
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (./install.sh)"),
    pytest.mark.slow,
]
SHOTS = Path(os.environ.get("EDGE_VASA_TEST_ARTIFACTS", "test-artifacts")) / "kiosk"
TOKEN = "kiosk-test-token-0123456789"
FIRST = "Welcome to the museum. Today we will look at the old steam engines, and then at the first computers."
SECOND = "Sorry, let me start again: the tour begins at noon."


@pytest.fixture(scope="module")
def page():
    """A page that may only talk to loopback: other requests are blocked and listed in page.external."""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        page = loopback_only(browser.new_page(viewport={"width": 640, "height": 640}))
        yield page
        browser.close()


@pytest.fixture()
def kiosk(private_cache, grace_hopper_prepared):
    """A live session from a text source, served with a token: (url, session, source)."""
    from edge_vasa.live.session import LiveSession, SessionLog
    from edge_vasa.live.sinks import MjpegSink
    from edge_vasa.live.tts import SpeechSource
    from edge_vasa.runtimes.assembler import EdgeStudio

    log = SessionLog()
    source = SpeechSource("en", log=log)
    sink = MjpegSink(free_port(), token=TOKEN, say=source.post, log=log)
    session = LiveSession(grace_hopper_prepared, source, [sink], EdgeStudio("torch:cpu"), log=log)
    sink.status = session.status
    session.start()
    yield sink.url, session
    session.stop()
    session.wait(10)


class Mouth:
    """The mouth's opening on screenshots of the page's avatar (dlib landmarks in the face's box)."""

    def __init__(self, page):
        self.page, self.box, self.seen = page, None, []  # seen: (time, opening)

    def look(self) -> float:
        from PIL import Image

        from edge_vasa.core.face import detect_faces, detect_landmarks
        from edge_vasa.evaluation.metrics import mouth_opening

        shot = np.asarray(Image.open(BytesIO(self.page.locator("#avatar").screenshot())).convert("RGB"))
        if self.box is None:
            self.box = detect_faces(shot)[0]
        opening = float(mouth_opening(detect_landmarks(shot, self.box)[None])[0])
        self.seen.append((time.monotonic(), opening))
        return opening

    def watch(self, seconds: float, looks: int = 4) -> np.ndarray:
        """Openings seen over SECONDS, and at least LOOKS of them (a screenshot takes 0.1-0.7 s)."""
        until, out = time.monotonic() + seconds, []
        while time.monotonic() < until or len(out) < looks:
            out.append(self.look())
        return np.array(out)


def wait_for_log(session, words: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(words in line for line in session.log.tail(200)):
        assert time.monotonic() < deadline, f"{words!r} not in the log: {session.log.tail(200)}"
        time.sleep(0.05)


def say(page, text: str, interrupt: bool) -> None:
    """Type TEXT into the page's field and press Say, as a visitor would."""
    page.fill("#text", text)
    page.set_checked("#interrupt", interrupt)
    page.click("#say button")


def said(page, answer: str, session) -> None:
    """Wait for the page to show the server's ANSWER to the text it sent."""
    try:
        page.wait_for_function(f"() => document.querySelector('#said').textContent === '{answer}'")
    except sync_api.TimeoutError:
        raise AssertionError(
            f"the page shows {page.inner_text('#said')!r}; log {session.log.tail()}"
        ) from None


def test_kiosk_page_speaks_typed_text_and_an_interruption_cuts_in(page, kiosk):
    url, session = kiosk
    for path in ("", "status.json", "stream.mjpg", "say"):  # without the token: refused
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + path, timeout=10)
        assert refused.value.code == 401, path
    page.goto(f"{url}?say=1&token={TOKEN}")
    page.wait_for_function("() => document.querySelector('#avatar').naturalWidth > 0", timeout=60_000)
    page.wait_for_function("() => document.querySelector('#language').options.length > 5", timeout=10_000)
    assert page.is_visible("#text") and not page.is_visible("#status")
    mouth = Mouth(page)
    before = mouth.watch(2.0)

    say(page, FIRST, interrupt=False)
    said(page, "queued #1", session)
    wait_for_log(session, "speaking #1")
    time.sleep(0.4)  # the picture follows its audio by the session's latency
    during_first = mouth.watch(2.5)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "1-speaking.png"))

    say(page, SECOND, interrupt=True)
    try:
        said(page, "queued #2", session)
    except Exception:
        print(
            "SAID",
            page.inner_text("#said"),
            page.evaluate(
                "performance.getEntriesByType('resource').slice(-8).map(e => e.name + ' ' + e.responseEnd)"
            ),
        )
        raise
    wait_for_log(session, "speaking #2")
    time.sleep(0.4)
    during_second = []
    while not any("finished #2" in line for line in session.log.tail(200)):
        during_second.append(mouth.look())
    page.screenshot(path=str(SHOTS / "2-interrupted.png"))
    time.sleep(0.6)
    after = mouth.watch(2.5)
    page.screenshot(path=str(SHOTS / "3-after.png"))

    log = session.log.tail(200)
    assert any("interrupted #1" in line for line in log), log
    assert not any("finished #1" in line for line in log), log
    still = max(np.std(after), 0.005)
    report = {
        "before": before.round(3),
        "first": during_first.round(3),
        "second": np.round(during_second, 3),
        "after": after.round(3),
    }
    for name in ("first", "second"):
        moving = report[name]
        assert len(moving) >= 4, report
        assert np.std(moving) > 2.5 * still, report
        assert moving.max() > np.median(after) + 0.04, report
    assert np.std(after) < 0.03 and np.median(after) < 0.05, report
    assert page.inner_text("#said") == "queued #2"
    assert session.error is None and not page.external, page.external
