"""Synthetic speech with exact per-phone timings, and the phone -> viseme (mouth shape) mapping.

Two engines, both local and offline:

* espeak-ng through libespeak-ng (ctypes). Audio *and* phoneme events come through one synth callback, so the
  phone times refer to exactly the samples we return (the ``espeak-ng -w`` CLI pads differently).
* festival (``festival -b`` on a Scheme script): English kal_diphone and Hindi hindi_NSK_diphone; phone
  times are the utterance's Segment relation.

``sing`` makes "sung or strongly pitched speech": one espeak call per word (Han syllable, kana mora) with
the pitch parameter set from a melody, a flat pitch contour and a slow rate so vowels are held. The
per-call audio is concatenated and the phone times offset by the samples before them, so they stay exact.


The package: phones.py (phones, visemes), languages.py (voices, sentences), espeak.py and festival.py (the
engines), pitch.py (F0 analysis); this module is the synthesis API.
"""

from __future__ import annotations

import unicodedata

import numpy as np

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.speech.espeak import (
    DEFAULT_PITCH,
    DEFAULT_RANGE,
    DEFAULT_RATE,
    espeak_session,
    phones_from_events,
)
from edge_vasa.core.speech.festival import speak_festival
from edge_vasa.core.speech.languages import ESPEAK_VARIANTS, LANGUAGES, Language
from edge_vasa.core.speech.phones import SILENCE, VISEMES, Phone, Utterance, viseme_lookup, viseme_of
from edge_vasa.core.speech.pitch import f0_range_semitones, f0_track

__all__ = [
    "ESPEAK_VARIANTS",
    "LANGUAGES",
    "SILENCE",
    "VISEMES",
    "Language",
    "Phone",
    "Utterance",
    "f0_range_semitones",
    "f0_track",
    "sing",
    "synthesize",
    "viseme_lookup",
    "viseme_of",
]


def _language(language: str) -> Language:
    if language not in LANGUAGES:
        raise EdgeVasaError(f"unknown language {language!r}; use one of: {', '.join(LANGUAGES)}")
    return LANGUAGES[language]


def _espeak_voice(lang: Language, variant: str | None) -> str:
    if variant is None:
        return lang.espeak_voice
    if variant not in ESPEAK_VARIANTS:
        available = ", ".join(ESPEAK_VARIANTS) or "none installed (apt-get install espeak-ng-data)"
        raise EdgeVasaError(f"unknown espeak-ng voice variant {variant!r}; use one of: {available}")
    return f"{lang.espeak_voice}+{variant}"


def _check_text(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        raise EdgeVasaError("no text to speak; pass a non-empty sentence")
    return text


def synthesize(
    text: str,
    language: str,
    *,
    engine: str = "espeak",
    variant: str | None = None,
    rate_wpm: int | None = None,
    pitch: int | None = None,
    pitch_range: int | None = None,
) -> Utterance:
    """Speak ``text`` in ``language`` (a key of LANGUAGES) and return the audio with per-phone times.

    espeak: ``variant`` is one of ESPEAK_VARIANTS, ``rate_wpm`` 80-450 (default 175), ``pitch`` and
    ``pitch_range`` 0-100 (default 50). festival: only ``rate_wpm`` applies.
    """
    text = _check_text(text)
    lang = _language(language)
    if engine == "festival":
        if variant is not None or pitch is not None or pitch_range is not None:
            raise EdgeVasaError(
                "festival voices take only rate_wpm; drop variant/pitch/pitch_range or use engine='espeak'"
            )
        return speak_festival(text, lang, rate_wpm)
    if engine != "espeak":
        raise EdgeVasaError(f"unknown speech engine {engine!r}; use 'espeak' or 'festival'")
    voice = _espeak_voice(lang, variant)
    rate = DEFAULT_RATE if rate_wpm is None else rate_wpm
    pitch = DEFAULT_PITCH if pitch is None else pitch
    pitch_range = DEFAULT_RANGE if pitch_range is None else pitch_range
    with espeak_session() as es:
        audio, events = es.run(text, voice, rate, pitch, pitch_range)
        sample_rate = es.sample_rate
    return Utterance(
        audio=audio.astype(np.float32) / 32768.0,
        sample_rate=sample_rate,
        phones=phones_from_events(events, len(audio), sample_rate),
        text=text,
        language=lang.code,
        engine="espeak",
        voice=voice,
        sung=False,
    )


# Kana that extend the mora before them (small glides/vowels, the geminate tsu, the long-vowel bar).
_KANA_ATTACH = set("ゃゅょぁぃぅぇぉゎっャュョァィゥェォヮッー")


def _sing_units(lyrics: str, lang: Language) -> list[str]:
    """The pieces of ``lyrics`` that each get one note: words, Han syllables or kana morae.

    Punctuation stays on the piece before it so espeak still phrases it.
    """
    words = lyrics.split()
    if lang.sing_unit == "word":
        return words
    units: list[str] = []
    for word in words:
        for ch in word:
            if units and (unicodedata.category(ch).startswith("P") or ch in _KANA_ATTACH):
                units[-1] += ch
            else:
                units.append(ch)
    return units


def sing(
    lyrics: str, language: str, *, melody: list[int] | None = None, seed: int = 0, variant: str | None = None
) -> Utterance:
    """Sung / strongly pitched speech: each word (or Han syllable) on one note of ``melody``.

    ``melody`` holds espeak pitch values 0-100 (for the default male voices about 54-157 Hz, roughly
    exponential, i.e. ~18 semitones), used in turn per word; without it a random walk over the whole range is
    drawn from ``seed``. Each note is held with a flat pitch contour (range 0) and a slow rate that varies a
    little per word (also from ``seed``) so the rhythm is not mechanical.
    """
    lyrics = _check_text(lyrics)
    lang = _language(language)
    voice = _espeak_voice(lang, variant)
    units = _sing_units(lyrics, lang)
    rng = np.random.default_rng(seed)
    if melody is None:
        # A random walk on 11 notes over the whole parameter range, bouncing off its ends.
        grid, note, melody = np.linspace(0, 100, 11), 5, []
        for step in rng.choice([-3, -2, -1, 1, 2, 3], size=len(units)):
            note = note + step if 0 <= note + step < len(grid) else note - step
            melody.append(int(grid[note]))
    if not melody:
        raise EdgeVasaError("empty melody; pass at least one pitch value (0-100) or None")
    rates = rng.integers(95, 125, size=len(units))
    audio_parts: list[np.ndarray] = []
    phones: list[Phone] = []
    offset = 0
    with espeak_session() as es:
        sample_rate = es.sample_rate
        for k, unit in enumerate(units):
            note = int(np.clip(melody[k % len(melody)], 0, 100))
            audio, events = es.run(unit, voice, int(rates[k]), note, 0)
            for p in phones_from_events(events, len(audio), sample_rate):
                p.start += offset / sample_rate
                p.end += offset / sample_rate
                if phones and p.symbol == SILENCE and phones[-1].symbol == SILENCE:
                    phones[-1].end = p.end
                else:
                    phones.append(p)
            audio_parts.append(audio)
            offset += len(audio)
    audio = np.concatenate(audio_parts)
    return Utterance(
        audio=audio.astype(np.float32) / 32768.0,
        sample_rate=sample_rate,
        phones=phones,
        text=lyrics,
        language=lang.code,
        engine="espeak",
        voice=voice,
        sung=True,
    )
