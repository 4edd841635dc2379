"""Phones and visemes: an utterance's timed phones, and the phone -> viseme (mouth shape) tables for
espeak-ng's IPA and festival's phone sets."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

VISEMES = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U")
SILENCE = "sil"  # the phone symbol used for every pause, from either engine


@dataclass
class Phone:
    symbol: str
    start: float  # seconds
    end: float


@dataclass
class Utterance:
    audio: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int
    phones: list[Phone]
    text: str
    language: str
    engine: str
    voice: str
    sung: bool = False

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate

    @property
    def phoneset(self) -> str:
        return festival_phoneset(self.language) if self.engine == "festival" else "ipa"

    def visemes(self) -> list[tuple[str, float, float]]:
        return [(viseme_of(p.symbol, self.phoneset), p.start, p.end) for p in self.phones]


# Multi-character IPA phones that the first character alone would get wrong (affricates, labialised stops).
_IPA_CLUSTERS = {
    "tʃ": "CH",
    "dʒ": "CH",
    "tɕ": "CH",
    "dʑ": "CH",
    "tʂ": "CH",
    "ʈʂ": "CH",
    "ɖʐ": "CH",
    "ʧ": "CH",
    "ʤ": "CH",
    "ts": "SS",
    "dz": "SS",
    "tθ": "TH",
    "pf": "FF",
    "ɡʷ": "kk",
    "kʷ": "kk",
}
_IPA_CHARS = {
    "PP": "pbmɱɓʙɸβ",
    "FF": "fvʋⱱ",
    "TH": "θð",
    "DD": "tdʈɖɗʔ",
    "kk": "kgɡŋqɢxɣχʁħʕhɦɧɰʜʢ",
    "CH": "ʃʒɕʑʂʐçʝcɟ",
    "SS": "szɬɮ",
    "nn": "nlɲɳɴɭʎʟɫ",
    "RR": "rɹɾɽʀɺɻɚɝ",
    "aa": "aɑæʌɐɶä",
    "E": "eɛəɜɞɘœøɤ",
    "I": "iɪyʏjɨʉʲᵻ",
    "O": "oɔɒɵ",
    "U": "uʊwɯʍɥ",
}
_IPA_CHAR = {c: v for v, chars in _IPA_CHARS.items() for c in chars}

# Festival phone sets. English kal_diphone uses the CMU/radio set; the Hindi NSK voice has its own ASCII set
# in which "th"/"dh" are dental stops and "j" is an affricate, so the names cannot share one table with IPA.
_CMU = {
    "pau": "sil",
    "h#": "sil",
    "brth": "sil",
    "p": "PP",
    "b": "PP",
    "m": "PP",
    "em": "PP",
    "f": "FF",
    "v": "FF",
    "th": "TH",
    "dh": "TH",
    "t": "DD",
    "d": "DD",
    "dx": "DD",
    "k": "kk",
    "g": "kk",
    "ng": "kk",
    "nx": "nn",
    "hh": "kk",
    "hv": "kk",
    "ch": "CH",
    "jh": "CH",
    "sh": "CH",
    "zh": "CH",
    "s": "SS",
    "z": "SS",
    "n": "nn",
    "en": "nn",
    "l": "nn",
    "el": "nn",
    "r": "RR",
    "er": "RR",
    "axr": "RR",
    "aa": "aa",
    "ae": "aa",
    "ah": "aa",
    "aw": "aa",
    "ay": "aa",
    "eh": "E",
    "ey": "E",
    "ax": "E",
    "ih": "I",
    "iy": "I",
    "y": "I",
    "ao": "O",
    "ow": "O",
    "oy": "O",
    "uh": "U",
    "uw": "U",
    "w": "U",
}
_HINDI = {
    "pau": "sil",
    "a": "aa",
    "aa": "aa",
    "ih": "I",
    "iy": "I",
    "uh": "U",
    "uw": "U",
    "eh": "E",
    "ee": "E",
    "ay": "E",
    "oh": "O",
    "oo": "O",
    "aw": "O",
    "@": "E",
    "f": "FF",
    "k": "kk",
    "g": "kk",
    "kh": "kk",
    "gh": "kk",
    "x": "kk",
    "h": "kk",
    "ch": "CH",
    "j": "CH",
    "sh": "CH",
    "zh": "CH",
    "ksh": "kk",
    "T": "DD",
    "D": "DD",
    "th": "DD",
    "dh": "DD",
    "td": "DD",
    "tth": "DD",
    "ddh": "DD",
    "N": "nn",
    "n": "nn",
    "l": "nn",
    "L": "nn",
    "p": "PP",
    "b": "PP",
    "bh": "PP",
    "m": "PP",
    "y": "I",
    "r": "RR",
    "R": "RR",
    "sri": "CH",
    "v": "FF",
    "w": "U",
    "s": "SS",
}
_PHONESETS = {"cmu": _CMU, "hindi": _HINDI}

# Marks that do not change the mouth shape: stress, length, tone digits/letters, syllable and word separators.
_MARKS = re.compile(r"[ˈˌːˑ'`,.:;_|\-\d˥˦˧˨˩ʰʱʼ̩̯ᵝˠˤ()]")
_ASPIRATED_STOP = re.compile(r"^(t[sɕʂ]?|[pkcq]|ʈʂ?)h")  # espeak writes Mandarin aspiration as a plain "h"
_LATIN_VOWELS = {"a": "aa", "e": "E", "i": "I", "o": "O", "u": "U", "y": "I"}


def viseme_lookup(symbol: str, phoneset: str = "ipa") -> tuple[str, bool]:
    """(viseme, exact) for one phone name; exact is False when only the character-class fallback matched.

    ``phoneset`` is "ipa" (espeak-ng), "cmu" (festival English) or "hindi" (festival Hindi NSK).
    """
    table = _PHONESETS.get(phoneset)
    if table is not None:
        name = symbol.strip().rstrip("012")  # CMU lexicon stress digits
        if name in table:
            return table[name], True
    s = unicodedata.normalize("NFD", symbol.strip())
    s = "".join(c for c in s if not unicodedata.combining(c))
    s = _MARKS.sub("", s.replace("s.", "ʂ").replace("z.", "ʐ"))  # espeak's Mandarin retroflex notation
    if s in ("", SILENCE, "pau", "sp", "spn"):
        return "sil", True
    s = _ASPIRATED_STOP.sub(r"\1", s)
    if s[:2] in _IPA_CLUSTERS:
        return _IPA_CLUSTERS[s[:2]], True
    # A diphthong or long cluster is drawn with its first (dominant, stressed) segment.
    if s[0] in _IPA_CHAR:
        return _IPA_CHAR[s[0]], True
    base = unicodedata.normalize("NFKD", s[0])[0].lower()
    if base in _IPA_CHAR:
        return _IPA_CHAR[base], False
    if base in _LATIN_VOWELS:
        return _LATIN_VOWELS[base], False
    # Unknown letter: a neutral, half-open consonant mouth; anything else reads as a pause.
    return ("DD" if s[0].isalpha() else "sil"), False


def viseme_of(symbol: str, phoneset: str = "ipa") -> str:
    """The viseme class (one of VISEMES) for an espeak IPA or festival phone name; never raises."""
    return viseme_lookup(symbol, phoneset)[0]


def festival_phoneset(language: str) -> str:
    return "hindi" if language == "hi" else "cmu"
