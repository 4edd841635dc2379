"""Text in: the text-to-speech source (queue, interrupt, every language), POST /say and the server's token,
the command line's options and stdin lines. The kiosk page in a real browser is in test_tts_kiosk.py."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from helpers import assert_one_error_line, run

from edge_vasa.core.audio import SAMPLE_RATE, resample
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.speech import LANGUAGES, synthesize
from edge_vasa.live.sinks import MAX_BODY, MjpegSink, Rejected, check_token
from edge_vasa.live.sources import BLOCK
from edge_vasa.live.tts import MAX_CHARS, SpeechSource

TOKEN = "a-test-token-0123456789"


def reference(text: str, language: str = "en") -> np.ndarray:
    """What the engine says for TEXT, at 16 kHz (independent of the source)."""
    utterance = synthesize(text, language)
    return resample(utterance.audio, utterance.sample_rate)


def play_all(source: SpeechSource, limit_s: float = 30.0) -> tuple[np.ndarray, list[float]]:
    """Read the source to its end: its audio and each block's capture time."""
    blocks, times = [], []
    source.open()
    deadline = time.monotonic() + limit_s
    while (got := source.read()) is not None:
        blocks.append(got[0])
        times.append(got[1])
        assert time.monotonic() < deadline, "the source did not end"
    source.close()
    return np.concatenate(blocks), times


def locate(audio: np.ndarray, piece: np.ndarray) -> tuple[int, float]:
    """Where PIECE best matches in AUDIO, and the normalised correlation there."""
    corr = np.correlate(audio, piece, "valid")
    at = int(np.argmax(corr))
    window = audio[at : at + len(piece)]
    return at, float(np.dot(window, piece) / (np.linalg.norm(window) * np.linalg.norm(piece) + 1e-12))


# ----------------------------------------------------------------------------------------- the source


def test_queued_text_is_spoken_in_order_in_real_time_then_the_source_ends():
    lines: list[str] = []
    source = SpeechSource(log=lines.append)
    source.say("Good morning.")
    source.say("Buenos días.", language="es")
    source.end_of_text()
    started = time.monotonic()
    audio, times = play_all(source)
    took = time.monotonic() - started
    first, second = reference("Good morning."), reference("Buenos días.", "es")
    at1, corr1 = locate(audio, first)
    at2, corr2 = locate(audio, second)
    assert corr1 > 0.99 and corr2 > 0.99, (corr1, corr2)
    assert at1 < at2, "spoken out of order"
    assert took == pytest.approx(len(audio) / SAMPLE_RATE, abs=0.15), "not paced in real time"
    assert np.allclose(np.diff(times), BLOCK / SAMPLE_RATE, atol=1e-6), "the capture clock has holes"
    events = [line.split()[1] + " " + line.split()[2] for line in lines]
    assert events == [
        "queued #1",
        "queued #2",
        "speaking #1",
        "finished #1",
        "speaking #2",
        "finished #2",
    ], lines


def test_interrupt_cuts_the_sentence_and_drops_the_queue():
    lines: list[str] = []
    long = "This is a long sentence that keeps going on and on, so that there is time to cut it."
    source = SpeechSource(log=lines.append)
    source.say(long)
    source.say("Nobody will hear this one.")
    source.open()
    blocks = []
    while not any("speaking #1" in line for line in lines) or len(blocks) * BLOCK < 1.2 * SAMPLE_RATE:
        blocks.append(source.read()[0])
    cut_at = len(blocks)
    source.say("Stop.", interrupt=True)
    source.end_of_text()
    while (got := source.read()) is not None:
        blocks.append(got[0])
    source.close()
    audio = np.concatenate(blocks)
    whole_long = reference(long)
    after = audio[cut_at * BLOCK :]
    # the long sentence stops at the cut: what follows is silence, then "Stop." and nothing else
    assert locate(np.concatenate([after, np.zeros(len(whole_long))]), whole_long[-16000:])[1] < 0.5
    assert locate(after, reference("Stop."))[1] > 0.99
    assert len(after) / SAMPLE_RATE < 2.0, "more than the interrupting sentence was spoken"
    assert any("interrupted #1" in line for line in lines), lines
    assert any("dropped #2" in line for line in lines), lines
    assert not any("speaking #2" in line for line in lines), lines


def test_every_listed_language_is_spoken():
    source = SpeechSource()
    for code, lang in LANGUAGES.items():
        source.say(lang.sentences[1], language=code)
    source.open()
    try:
        deadline = time.monotonic() + 60
        while (
            source.status_fields()["speech"]["waiting"] < len(LANGUAGES)
            or source.pending
            or source.synthesizing
        ):
            assert time.monotonic() < deadline, "synthesis did not finish"
            time.sleep(0.1)
        spoken = {s.language: s.audio for s in source.ready}
    finally:
        source.close()
    assert sorted(spoken) == sorted(LANGUAGES)
    for code, audio in spoken.items():
        assert len(audio) > SAMPLE_RATE and np.sqrt(np.mean(audio**2)) > 0.01, code
        expected = reference(LANGUAGES[code].sentences[1], code)  # in its own language's voice
        assert len(audio) == len(expected) and locate(audio, expected)[1] > 0.99, code


def test_festival_speaks_and_refuses_languages_it_has_no_voice_for():
    lines: list[str] = []
    source = SpeechSource("en", engine="festival", rate=200, log=lines.append)
    with pytest.raises(Rejected, match="festival has no voice"):
        source.say("Bonjour.", language="fr")
    source.say("Hello.")
    source.end_of_text()
    audio, _ = play_all(source)
    assert np.sqrt(np.mean(audio**2)) > 0.01 and any("finished #1" in line for line in lines), lines


def test_text_it_cannot_speak_is_refused_with_the_reason():
    source = SpeechSource()
    cases = [
        (lambda: source.say("   "), 400, "no text"),
        (lambda: source.say("a" * (MAX_CHARS + 1)), 413, "2000"),
        (lambda: source.say("hello", language="xx"), 400, "unknown language"),
        (lambda: source.post(["hello"]), 400, "JSON object"),
        (lambda: source.post({"text": "hi", "lang": "en"}), 400, "unknown field"),
        (lambda: source.post({"text": 5}), 400, "'text'"),
        (lambda: source.post({"text": "hi", "language": 5}), 400, "'language'"),
        (lambda: source.post({"text": "hi", "interrupt": "yes"}), 400, "'interrupt'"),
    ]
    for call, status, words in cases:
        with pytest.raises(Rejected, match=words) as refused:
            call()
        assert refused.value.status == status
    assert source.say("a" * MAX_CHARS) == 1  # the limit itself is allowed
    assert source.post({"text": "hi", "language": "vi", "interrupt": True})["queued"] == 2
    assert len(source.pending) == 1  # the interrupt dropped the long one


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"language": "klingon"}, "unknown language"),
        ({"engine": "sapi"}, "tts-engine"),
        ({"engine": "festival", "language": "fr"}, "festival has no voice"),
        ({"engine": "festival", "voice": "f3"}, "festival"),
        ({"voice": "nobody"}, "unknown --voice"),
        ({"rate": 20}, "--rate"),
    ],
)
def test_bad_voice_settings_are_refused_before_anything_starts(kwargs, words):
    with pytest.raises(EdgeVasaError, match=words):
        SpeechSource(**kwargs)


# ----------------------------------------------------------------------------------------- the server


def request(url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict | bytes]:
    """(status, parsed JSON or raw bytes) of a request to the test's own server on 127.0.0.1."""
    req = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            code, data, kind = answer.status, answer.read(), answer.headers["Content-Type"]
    except urllib.error.HTTPError as e:
        code, data, kind = e.code, e.read(), e.headers["Content-Type"]
    return code, json.loads(data) if kind == "application/json" else data


def post(url: str, payload, headers: dict | None = None) -> tuple[int, dict]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return request(url, body, {"Content-Type": "application/json", **(headers or {})})


@pytest.fixture()
def speaking_server():
    source = SpeechSource()
    sink = MjpegSink(0, say=source.post, status=source.status_fields)
    sink.frame(np.zeros((32, 32, 3), np.uint8), None)
    yield sink, source
    sink.close()
    source.close()


def test_post_say_queues_text_and_answers_bad_requests_with_4xx(speaking_server):
    sink, source = speaking_server
    say = sink.url + "say"
    assert post(say, {"text": "Hello there."}) == (202, {"queued": 1, "waiting": 1})
    assert post(say, {"text": "Hola.", "language": "es", "interrupt": True})[0] == 202
    refused = {
        "bad JSON": post(say, b'{"text": "unclosed'),
        "not UTF-8": post(say, b'{"text": "\xff"}'),
        "too long": post(say, {"text": "x" * (MAX_CHARS + 1)}),
        "too big": post(say, b" " * (MAX_BODY + 1)),
        "language": post(say, {"text": "hi", "language": "xx"}),
        "form post": request(say, b"text=hi", {"Content-Type": "application/x-www-form-urlencoded"}),
        "GET": request(say),
        "elsewhere": post(sink.url + "speak", {"text": "hi"}),
    }
    codes = {name: answer[0] for name, answer in refused.items()}
    assert codes == {
        "bad JSON": 400,
        "not UTF-8": 400,
        "too long": 413,
        "too big": 413,
        "language": 400,
        "form post": 415,
        "GET": 405,
        "elsewhere": 404,
    }
    for name, (_, answer) in refused.items():
        assert answer["error"] and "\n" not in answer["error"] and "Traceback" not in answer["error"], name
    assert [s.text for s in (*source.pending,)] == ["Hola."], "refused requests must not be queued"
    # no length: a 411, and the server goes on
    conn = http.client.HTTPConnection("127.0.0.1", int(sink.url.rsplit(":", 1)[1].strip("/")), timeout=10)
    conn.putrequest("POST", "/say")
    conn.putheader("Content-Type", "application/json")
    conn.endheaders()
    assert conn.getresponse().status == 411
    assert request(sink.url + "status.json")[0] == 200


def test_a_session_without_text_has_no_say_endpoint():
    sink = MjpegSink(0)
    try:
        code, answer = post(sink.url + "say", {"text": "hi"})
        assert code == 404 and "--source tts" in answer["error"]
    finally:
        sink.close()


def test_the_page_and_endpoints_answer_while_speech_is_queued(speaking_server):
    sink, source = speaking_server
    source.open()  # the synthesis thread works through the queue meanwhile
    for _ in range(40):
        assert post(sink.url + "say", {"text": LANGUAGES["en"].sentences[0]})[0] == 202
    slowest = 0.0
    for _ in range(10):
        started = time.monotonic()
        code, status = request(sink.url + "status.json")
        slowest = max(slowest, time.monotonic() - started)
        assert code == 200 and status["speech"]["waiting"] > 0
        assert request(sink.url)[0] == 200
    assert slowest < 0.5, f"status.json took {slowest:.2f} s while speech was queued"


def test_with_a_token_every_request_without_it_is_refused():
    source, lines = SpeechSource(), []
    sink = MjpegSink(0, token=TOKEN, say=source.post, log=lines.append)
    sink.frame(np.zeros((32, 32, 3), np.uint8), None)
    try:
        for path in ("", "status.json", "frame.jpg", "stream.mjpg", "say"):
            assert request(sink.url + path)[0] == 401, path
            assert request(sink.url + path + "?token=wrong-token-0123456789")[0] == 401, path
        assert post(sink.url + "say", {"text": "hi"})[0] == 401
        assert post(sink.url + "say", {"text": "hi"}, {"Authorization": "Bearer nope"})[0] == 401
        assert not source.pending, "a refused request was queued"
        assert any("refused POST /say from 127.0.0.1 (401" in line for line in lines), lines
        assert request(sink.url + f"?token={TOKEN}")[0] == 200
        assert request(sink.url + f"frame.jpg?token={TOKEN}")[0] == 200
        assert post(sink.url + "say", {"text": "hi"}, {"Authorization": f"Bearer {TOKEN}"})[0] == 202
        assert post(sink.url + f"say?token={TOKEN}", {"text": "hi"})[0] == 202
    finally:
        sink.close()


def test_other_addresses_need_a_long_token():
    check_token("127.0.0.1", None)
    check_token("::1", None)
    check_token("localhost", None)
    with pytest.raises(EdgeVasaError, match="--token"):
        check_token("0.0.0.0", None)
    with pytest.raises(EdgeVasaError, match="--token"):
        check_token("192.168.1.20", None)
    with pytest.raises(EdgeVasaError, match="at least 16"):
        check_token("0.0.0.0", "secret")
    check_token("0.0.0.0", TOKEN)
    with pytest.raises(EdgeVasaError, match="--token"):
        MjpegSink(0, host="0.0.0.0")  # refused before anything listens


# ---------------------------------------------------------------------------------------- command line


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--source", "tts", "--language", "xx", "--serve", "0"], ["unknown language"]),
        (["--source", "tts", "--voice", "nobody", "--serve", "0"], ["--voice"]),
        (["--source", "tts", "--rate", "1000", "--serve", "0"], ["--rate"]),
        (["--source", "tts", "--tts-engine", "festival", "--language", "ja", "--serve", "0"], ["festival"]),
        (["--source", "tts", "--serve", "0", "--bind", "0.0.0.0"], ["--token"]),
        (["--source", "tts", "--serve", "0", "--token", "short"], ["at least 16"]),
        (["--source", "tts", "--no-window", "--token", TOKEN], ["--serve"]),
    ],
)
def test_live_tts_bad_options_are_one_line_errors(capsys, monkeypatch, tmp_path, argv, words):
    monkeypatch.chdir(tmp_path)
    rc, _, err = run(capsys, "live", "--no-window", *argv)
    assert_one_error_line(rc, err, *words)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_live_speaks_stdin_lines_then_ends(tmp_path, private_cache):
    pytest.importorskip("torch")
    from edge_vasa.core.video import probe_video

    out = tmp_path / "said.mp4"
    env = dict(os.environ, EDGE_VASA_CACHE=str(private_cache))
    command = [sys.executable, "-m", "edge_vasa", "live", "--source", "tts", "--no-window", "--record"]
    command += [str(out), "--backend", "torch:cpu"]
    done = subprocess.run(
        command,
        input="Hello from the keyboard.\n\n" + "x" * (MAX_CHARS + 1) + "\nBonjour.\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    log = [line.strip() for line in done.stdout.replace("\r", "\n").splitlines() if "speech:" in line]
    assert any("line refused" in line and "2000" in line for line in log), log
    said = [line.split("speech: ")[1].split(" [")[0] for line in log if "finished" in line]
    assert said == ["finished #1", "finished #2"], log
    info = probe_video(out)
    assert info["has_audio"] and info["n_frames"] >= 10, info  # frames shown: fewer on a loaded machine


def test_stdin_lines_feed_the_queue_and_their_end_ends_the_text():
    import io

    source = SpeechSource()
    source.read_lines(io.StringIO("One.\n\n   \nTwo.\n"), end_with_it=True).join(5)
    assert [s.text for s in source.pending] == ["One.", "Two."] and source.text_ended
    other = SpeechSource()
    other.read_lines(io.StringIO("Three.\n"), end_with_it=False).join(5)
    assert not other.text_ended  # the server may still send text


def test_server_threads_do_not_share_a_broken_request(speaking_server):
    """A request that dies half-way (client gone) leaves the server answering the next ones."""
    sink, _ = speaking_server
    port = int(sink.url.rsplit(":", 1)[1].strip("/"))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.putrequest("POST", "/say")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", "100")
    conn.endheaders()
    conn.send(b'{"text": ')
    conn.close()  # 9 of 100 bytes: the handler sees a short body
    threading.Event().wait(0.2)
    assert post(sink.url + "say", {"text": "still here"})[0] == 202
