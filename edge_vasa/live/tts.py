"""Text in: sentences typed on stdin or posted to the local server, spoken by the project's own speech
engines (edge_vasa.core.speech) and played into the live session as if spoken into a microphone.

    source = SpeechSource("en", log=print)
    source.say("Hello there.")                       # queued; spoken after what is queued before it
    source.say("Stop, listen!", interrupt=True)      # cuts the current sentence and drops the queue

Synthesis runs on a thread of its own, so saying something never waits for the engine, and the session's
audio clock never waits for synthesis either: between sentences the source plays silence in real time,
like a quiet room, which keeps the face idling and the speakers' delay steady.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import numpy as np

from edge_vasa.core.audio import SAMPLE_RATE, resample
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.speech import ESPEAK_VARIANTS, LANGUAGES, synthesize
from edge_vasa.live.sinks import Rejected
from edge_vasa.live.sources import BLOCK

MAX_CHARS = 2000  # one request; longer text is refused (413), not cut
RATES = (80, 450)  # words per minute espeak-ng takes
RESYNC_S = 0.5  # the read clock fell this far behind (a stalled process): start it again from now


@dataclass
class Sentence:
    """One request: its number (order of arrival), text and language; audio once synthesized."""

    number: int
    text: str
    language: str
    audio: np.ndarray | None = None

    def label(self) -> str:
        short = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return f"#{self.number} [{self.language}] {short!r}"


def festival_languages() -> str:
    """The languages festival speaks here, for messages."""
    return ", ".join(code for code, lang in LANGUAGES.items() if lang.festival_voice)


def check_voice(language: str, engine: str, voice: str | None, rate: int | None) -> None:
    """Refuse, before anything starts, what the engines cannot speak (one-line errors)."""
    if language not in LANGUAGES:
        raise EdgeVasaError(f"unknown language {language!r}; use one of: {', '.join(LANGUAGES)}")
    if engine not in ("espeak", "festival"):
        raise EdgeVasaError(f"unknown --tts-engine {engine!r}; use espeak or festival")
    if engine == "festival" and LANGUAGES[language].festival_voice is None:
        raise EdgeVasaError(f"festival has no voice for {language!r}; use --language {festival_languages()}")
    if engine == "festival" and voice is not None:
        raise EdgeVasaError("--voice picks an espeak-ng variant; festival has one voice per language")
    if voice is not None and voice not in ESPEAK_VARIANTS:
        raise EdgeVasaError(f"unknown --voice {voice!r}; use one of: {', '.join(ESPEAK_VARIANTS) or 'none'}")
    if rate is not None and not RATES[0] <= rate <= RATES[1]:
        raise EdgeVasaError(f"--rate {rate} is out of range; use {RATES[0]}-{RATES[1]} words per minute")


class SpeechSource:
    """A live source that speaks queued text in real time (16 kHz blocks, silence between sentences).

    LANGUAGE is the default for text that names none; ENGINE, VOICE (an espeak-ng variant such as f3) and
    RATE (words per minute) apply to every sentence. LOG receives one line per sentence started, finished,
    interrupted or refused. After ``end_of_text()`` the source ends once everything queued was spoken."""

    def __init__(
        self,
        language: str = "en",
        engine: str = "espeak",
        voice: str | None = None,
        rate: int | None = None,
        log: Callable[[str], None] | None = None,
        block: int = BLOCK,
    ):
        check_voice(language, engine, voice, rate)
        self.language, self.engine, self.voice, self.rate = language, engine, voice, rate
        self.log, self.block = log or (lambda line: None), block
        self.name = f"text to speech ({engine}, {language})"
        self.changed = threading.Condition()
        self.pending: deque[Sentence] = deque()  # waiting for synthesis
        self.ready: deque[Sentence] = deque()  # synthesized, waiting to be spoken
        self.synthesizing: Sentence | None = None
        self.current: Sentence | None = None
        self.position = 0  # samples of the current sentence already played
        self.numbered, self.cut_below = 0, 0  # sentences numbered below cut_below are not spoken
        self.text_ended = self.closed = False
        self.clock: float | None = None
        self.played = 0  # samples handed out since the clock started
        self.worker: threading.Thread | None = None

    # ----- text in
    def say(self, text: str, language: str | None = None, interrupt: bool = False) -> int:
        """Queue TEXT; with INTERRUPT, first cut the sentence being spoken and drop everything queued.
        Returns the sentence's number. Raises Rejected (a 4xx for the server) for text it cannot speak."""
        text = " ".join(str(text).split())
        language = self.language if language is None else language
        if not text:
            raise Rejected(400, "no text to speak; send a non-empty 'text'")
        if len(text) > MAX_CHARS:
            raise Rejected(413, f"text of {len(text)} characters; send at most {MAX_CHARS} at a time")
        if language not in LANGUAGES:
            raise Rejected(400, f"unknown language {language!r}; use one of: {', '.join(LANGUAGES)}")
        if self.engine == "festival" and LANGUAGES[language].festival_voice is None:
            raise Rejected(400, f"festival has no voice for {language!r}; use {festival_languages()}")
        with self.changed:
            self.numbered += 1
            sentence = Sentence(self.numbered, text, language)
            if interrupt:
                self._cut(sentence)
            self.pending.append(sentence)
            self.changed.notify_all()
        self.log(f"speech: queued {sentence.label()}" + (" (interrupting)" if interrupt else ""))
        return sentence.number

    def _cut(self, by: Sentence) -> None:
        """Everything before BY is not spoken (the lock is held); read() ends the current sentence."""
        self.cut_below = by.number
        dropped = [s for s in (*self.ready, *self.pending) if s.number < by.number]
        self.ready.clear()
        self.pending.clear()
        for sentence in dropped:
            self.log(f"speech: dropped {sentence.label()} (interrupted by #{by.number})")

    def post(self, request: object) -> dict:
        """A POST /say body (parsed JSON): {"text": str, "language": str?, "interrupt": bool?}."""
        if not isinstance(request, dict):
            raise Rejected(400, 'send a JSON object: {"text": ..., "language": ..., "interrupt": ...}')
        unknown = sorted(set(request) - {"text", "language", "interrupt"})
        if unknown:
            raise Rejected(400, f"unknown field(s) {', '.join(unknown)}; use text, language, interrupt")
        text, language = request.get("text"), request.get("language")
        interrupt = request.get("interrupt", False)
        if not isinstance(text, str):
            raise Rejected(400, "'text' must be a string")
        if language is not None and not isinstance(language, str):
            raise Rejected(400, "'language' must be a string, e.g. \"en\"")
        if not isinstance(interrupt, bool):
            raise Rejected(400, "'interrupt' must be true or false")
        number = self.say(text, language, interrupt)
        return {"queued": number, "waiting": self.status_fields()["speech"]["waiting"]}

    def read_lines(self, stream: TextIO, end_with_it: bool) -> threading.Thread:
        """Say every line of STREAM (stdin) on a thread; at its end, END_WITH_IT ends the text (and so the
        session, once spoken) — for when nothing else can send text."""

        def run() -> None:
            for line in stream:
                if line.strip():
                    try:
                        self.say(line)
                    except Rejected as e:
                        self.log(f"speech: line refused: {e}")
            if end_with_it:
                self.end_of_text()

        thread = threading.Thread(target=run, name="tts-lines", daemon=True)
        thread.start()
        return thread

    def end_of_text(self) -> None:
        with self.changed:
            self.text_ended = True
            self.changed.notify_all()

    def status_fields(self) -> dict:
        """What the status page shows about speech: the sentence spoken, how many wait, the languages."""
        with self.changed:
            waiting = len(self.pending) + len(self.ready) + (self.synthesizing is not None)
            speaking = self.current.label() if self.current is not None else None
        return {"speech": {"speaking": speaking, "waiting": waiting, "languages": list(LANGUAGES)}}

    # ----- synthesis
    def _synthesize_all(self) -> None:
        """The synthesis thread: pending text -> 16 kHz audio, in order; a failure is logged and skipped."""
        while True:
            with self.changed:
                self.changed.wait_for(lambda: self.pending or self.closed)
                if self.closed:
                    return
                sentence = self.synthesizing = self.pending.popleft()
            try:
                utterance = synthesize(
                    sentence.text,
                    sentence.language,
                    engine=self.engine,
                    variant=self.voice,
                    rate_wpm=self.rate,
                )
                audio = resample(utterance.audio, utterance.sample_rate)
            except EdgeVasaError as e:
                self.log(f"speech: could not speak {sentence.label()}: {e}")
                audio = None
            with self.changed:
                self.synthesizing = None
                if audio is not None and sentence.number >= self.cut_below:
                    sentence.audio = np.clip(audio, -1, 1).astype(np.float32)
                    self.ready.append(sentence)
                self.changed.notify_all()

    # ----- the Source protocol
    def open(self) -> None:
        with self.changed:
            self.closed = False
        if self.worker is None or not self.worker.is_alive():
            self.worker = threading.Thread(target=self._synthesize_all, name="tts", daemon=True)
            self.worker.start()
        self.clock, self.played = time.monotonic(), 0

    def read(self) -> tuple[np.ndarray, float] | None:
        with self.changed:
            block = self._next_block()
        if block is None:
            return None
        begins = self.clock + self.played / SAMPLE_RATE
        if time.monotonic() - begins > RESYNC_S:  # we were stalled: this block is captured now
            self.clock, self.played = time.monotonic() - len(block) / SAMPLE_RATE, 0
            begins = self.clock
        self.played += len(block)
        time.sleep(max(0.0, begins + len(block) / SAMPLE_RATE - time.monotonic()))  # "spoken" by now
        return block, begins

    def _next_block(self) -> np.ndarray | None:
        """The next BLOCK samples: the current sentence, the next ready one, or silence (lock held)."""
        if self.current is not None and self.current.number < self.cut_below:
            spoken = self.position / SAMPLE_RATE
            total = len(self.current.audio) / SAMPLE_RATE
            self.log(f"speech: interrupted {self.current.label()} after {spoken:.1f} s of {total:.1f} s")
            self.current = None
        if self.current is None and self.ready:
            self.current, self.position = self.ready.popleft(), 0
            self.log(f"speech: speaking {self.current.label()}")
        if self.current is None:
            if self.text_ended and not self.pending and self.synthesizing is None:
                return None
            return np.zeros(self.block, np.float32)
        block = np.zeros(self.block, np.float32)
        piece = self.current.audio[self.position : self.position + self.block]
        block[: len(piece)] = piece
        self.position += self.block
        if self.position >= len(self.current.audio):
            self.log(f"speech: finished {self.current.label()}")
            self.current = None
        return block

    def close(self) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify_all()
