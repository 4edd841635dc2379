"""edge_vasa.core.speech: timings against the audio itself, visemes, singing, errors, determinism."""

import ctypes.util
import multiprocessing
import os
import shutil
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_vasa.core import speech
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.speech import (
    LANGUAGES,
    SILENCE,
    VISEMES,
    espeak,
    festival,
    sing,
    synthesize,
    viseme_lookup,
    viseme_of,
)

HAVE_ESPEAK = bool(ctypes.util.find_library("espeak-ng")) and bool(speech.ESPEAK_VARIANTS)
HAVE_FESTIVAL = shutil.which("festival") is not None
needs_espeak = pytest.mark.skipif(
    not HAVE_ESPEAK, reason="espeak-ng not installed (apt-get install espeak-ng)"
)
needs_festival = pytest.mark.skipif(
    not (HAVE_FESTIVAL and os.path.isdir("/usr/share/festival/voices/english/kal_diphone")),
    reason="festival not installed (apt-get install festival festvox-kallpc16k)",
)
VOWELS = {"aa", "E", "I", "O", "U"}


def rms(utt, start, end):
    x = utt.audio[int(start * utt.sample_rate) : int(end * utt.sample_rate)]
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0


def check_timing(utt):
    """Phones tile the audio, most of it is speech, and the audio's energy agrees with the phones."""
    phones = utt.phones
    assert phones and utt.audio.dtype == np.float32 and utt.audio.ndim == 1
    assert phones[0].start == pytest.approx(0, abs=1e-3)
    assert phones[-1].end == pytest.approx(utt.duration, abs=1e-3)
    for a, b in zip(phones, phones[1:]):
        assert a.start < a.end <= b.start + 1e-6, (a, b)
        assert b.start - a.end < 1e-3  # contiguous: no gaps the face would have no mouth shape for
    speaking = sum(p.end - p.start for p in phones if p.symbol != SILENCE)
    assert speaking > 0.6 * utt.duration
    assert sum(p.symbol != SILENCE for p in phones) >= 8

    visemes = utt.visemes()
    vowel_rms = [rms(utt, s, e) for v, s, e in visemes if v in VOWELS and e - s > 0.04]
    loud = float(np.median(vowel_rms))
    assert loud > 0.02
    # Nearly every vowel carries energy (a few unstressed/devoiced ones may be weak).
    assert np.mean(np.array(vowel_rms) > 0.2 * loud) > 0.9
    pauses = [(s, e) for v, s, e in visemes if v == "sil" and e - s > 0.08]
    for s, e in pauses:
        assert rms(utt, s + 0.02, e - 0.02) < 0.15 * loud, (s, e)


@needs_espeak
@pytest.mark.parametrize("code", list(LANGUAGES))
def test_every_language_speaks_with_matching_timings(code):
    utt = synthesize(LANGUAGES[code].sentences[0], code)
    assert utt.language == code and utt.engine == "espeak" and not utt.sung
    check_timing(utt)


@needs_espeak
def test_sentence_banks_are_long_enough_and_map_to_known_visemes():
    for code, lang in LANGUAGES.items():
        assert len(lang.sentences) >= 12 and len(set(lang.sentences)) == len(lang.sentences)
        n = fallbacks = 0
        for sentence in lang.sentences:
            utt = synthesize(sentence, code)
            assert 2.0 <= utt.duration <= 8.0, (code, sentence, utt.duration)
            for phone in utt.phones:
                viseme, exact = viseme_lookup(phone.symbol, utt.phoneset)
                assert viseme in VISEMES
                n += 1
                fallbacks += not exact
        assert fallbacks / n < 0.05, (code, fallbacks / n)


@needs_festival
@pytest.mark.parametrize("code", ["en", "hi"])
def test_festival(code):
    if code == "hi" and not os.path.isdir("/usr/share/festival/voices/hindi"):
        pytest.skip("festvox-hi-nsk not installed")
    utt = synthesize(LANGUAGES[code].sentences[1], code, engine="festival")
    assert utt.engine == "festival" and utt.sample_rate == 16000
    check_timing(utt)
    assert all(viseme_lookup(p.symbol, utt.phoneset)[1] for p in utt.phones)


@needs_festival
def test_festival_rate():
    normal = synthesize("Could you please pass me the salt?", "en", engine="festival")
    slow = synthesize("Could you please pass me the salt?", "en", engine="festival", rate_wpm=100)
    assert slow.duration > 1.3 * normal.duration


@needs_espeak
@pytest.mark.parametrize("code", ["en", "cmn", "ja"])
def test_sung_has_wider_pitch_range_than_speech(code):
    text = LANGUAGES[code].sentences[2]
    spoken, sung = synthesize(text, code), sing(text, code)
    assert sung.sung and sung.text == text
    check_timing(sung)
    spoken_range = speech.f0_range_semitones(spoken.audio, spoken.sample_rate)
    sung_range = speech.f0_range_semitones(sung.audio, sung.sample_rate)
    assert sung_range > 1.5 * spoken_range and sung_range > 10, (spoken_range, sung_range)


@needs_espeak
def test_sing_follows_a_given_melody():
    low = sing("la la la la", "en", melody=[0])
    high = sing("la la la la", "en", melody=[100])
    f_low = np.median(speech.f0_track(low.audio, low.sample_rate))
    f_high = np.median(speech.f0_track(high.audio, high.sample_rate))
    assert 12 * np.log2(f_high / f_low) > 12  # more than an octave apart


@needs_espeak
def test_deterministic():
    text = LANGUAGES["en"].sentences[3]
    for kwargs in ({}, {"variant": "klatt"}, {"variant": "f1", "rate_wpm": 220, "pitch": 70}):
        a, b = synthesize(text, "en", **kwargs), synthesize(text, "en", **kwargs)
        assert np.array_equal(a.audio, b.audio) and a.phones == b.phones
    a, b, c = sing(text, "en", seed=3), sing(text, "en", seed=3), sing(text, "en", seed=4)
    assert np.array_equal(a.audio, b.audio) and a.phones == b.phones
    assert not np.array_equal(a.audio[: len(c.audio)], c.audio[: len(a.audio)])


@needs_espeak
def test_parameters_and_variants():
    assert {"f1", "m3", "klatt"} <= set(speech.ESPEAK_VARIANTS)
    text = LANGUAGES["en"].sentences[5]
    base = synthesize(text, "en")
    assert synthesize(text, "en", rate_wpm=300).duration < 0.75 * base.duration
    f1 = synthesize(text, "en", variant="f1")
    assert f1.voice == "en-us+f1" and not np.array_equal(f1.audio[:1000], base.audio[:1000])
    high = synthesize(text, "en", pitch=90)
    assert np.median(speech.f0_track(high.audio, high.sample_rate)) > 1.2 * np.median(
        speech.f0_track(base.audio, base.sample_rate)
    )


@needs_espeak
def test_threads_are_serialised():
    texts = [LANGUAGES[c].sentences[4] for c in ("en", "es", "de", "id")]
    expected = [synthesize(t, c).audio for t, c in zip(texts, ("en", "es", "de", "id"))]
    results = [None] * 4

    def work(i, code):
        results[i] = synthesize(texts[i], code).audio

    threads = [threading.Thread(target=work, args=(i, c)) for i, c in enumerate(("en", "es", "de", "id"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(r, e) for r, e in zip(results, expected))


@needs_espeak
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_workers(method):
    jobs = [(LANGUAGES["en"].sentences[0], "en"), (LANGUAGES["cmn"].sentences[0], "cmn")]
    synthesize(*jobs[0])  # the parent has used the library before forking
    with multiprocessing.get_context(method).Pool(2) as pool:
        results = pool.starmap(synthesize, jobs)
    for (text, code), utt in zip(jobs, results):
        local = synthesize(text, code)
        assert np.array_equal(utt.audio, local.audio) and utt.phones == local.phones


def test_visemes():
    assert VISEMES == ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U")
    cases = {
        "": "sil",
        "ˈaɪ": "aa",
        "əʊ": "E",
        "oʊ": "O",
        "tʃ": "CH",
        "dʒ": "CH",
        "p": "PP",
        "m": "PP",
        "f": "FF",
        "θ": "TH",
        "ð": "TH",
        "t̪": "DD",
        "ŋ": "kk",
        "h": "kk",
        "ʃ": "CH",
        "ts": "SS",
        "s.": "CH",
        "ts.h": "CH",
        "th": "DD",
        "l": "nn",
        "ɹ": "RR",
        "ɾ": "RR",
        "æ": "aa",
        "ʌ": "aa",
        "ɜː": "E",
        "ɪ": "I",
        "j": "I",
        "ɔː": "O",
        "ʊ": "U",
        "w": "U",
        "ɯᵝ": "U",
        "i5": "I",
        "a214": "aa",
        "ẽ": "E",
        "o̞": "O",
    }
    for symbol, viseme in cases.items():
        assert viseme_of(symbol) == viseme, symbol
    assert viseme_of("pau", "cmu") == "sil" and viseme_of("th", "cmu") == "TH"
    assert viseme_of("ow", "cmu") == "O" and viseme_of("ay", "cmu") == "aa"
    assert viseme_of("th", "hindi") == "DD" and viseme_of("j", "hindi") == "CH" and viseme_of("j") == "I"
    assert viseme_lookup("ʘ") == ("DD", False)  # unknown letter: neutral consonant fallback
    assert viseme_lookup("☃") == ("sil", False)


@given(st.text(max_size=6), st.sampled_from(["ipa", "cmu", "hindi", "other"]))
def test_viseme_of_never_raises(symbol, phoneset):
    assert viseme_of(symbol, phoneset) in VISEMES


def test_errors():
    with pytest.raises(EdgeVasaError, match="unknown language 'xx'.*en, id, cmn"):
        synthesize("hello", "xx")
    with pytest.raises(EdgeVasaError, match="no text"):
        synthesize("  \n ", "en")
    with pytest.raises(EdgeVasaError, match="no text"):
        sing("", "en")
    with pytest.raises(EdgeVasaError, match="unknown speech engine"):
        synthesize("hello", "en", engine="sapi")
    with pytest.raises(EdgeVasaError, match="festival has no voice for Indonesian.*en, hi"):
        synthesize("apa kabar", "id", engine="festival")
    with pytest.raises(EdgeVasaError, match="only rate_wpm"):
        synthesize("hello", "en", engine="festival", pitch=80)
    if speech.ESPEAK_VARIANTS:
        with pytest.raises(EdgeVasaError, match="unknown espeak-ng voice variant 'nope'.*f1"):
            synthesize("hello", "en", variant="nope")


def test_missing_engines_say_what_to_install(monkeypatch):
    monkeypatch.setattr(espeak, "_library_path", "/nonexistent/libespeak-ng.so.1")
    with pytest.raises(EdgeVasaError, match="apt-get install espeak-ng"):
        synthesize("hello", "en")
    monkeypatch.setattr(festival.shutil, "which", lambda name: None)
    with pytest.raises(EdgeVasaError, match="apt-get install festival festvox-kallpc16k"):
        synthesize("hello", "en", engine="festival")
    with pytest.raises(EdgeVasaError, match="apt-get install festival festvox-hi-nsk"):
        synthesize("नमस्ते", "hi", engine="festival")
