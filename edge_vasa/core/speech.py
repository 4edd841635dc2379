"""Synthetic speech with exact per-phone timings, and the phone -> viseme (mouth shape) mapping.

Two engines, both local and offline:

* espeak-ng through libespeak-ng (ctypes). Audio *and* phoneme events come through one synth callback, so the
  phone times refer to exactly the samples we return (the ``espeak-ng -w`` CLI pads differently).
* festival (``festival -b`` on a Scheme script): English kal_diphone and Hindi hindi_NSK_diphone; phone
  times are the utterance's Segment relation.

``sing`` makes "sung or strongly pitched speech": one espeak call per word (Han syllable, kana mora) with
the pitch parameter set from a melody, a flat pitch contour and a slow rate so vowels are held. The
per-call audio is concatenated and the phone times offset by the samples before them, so they stay exact.
"""

from __future__ import annotations

import _ctypes
import contextlib
import ctypes
import ctypes.util
import glob
import os
import re
import shutil
import subprocess
import tempfile
import threading
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf

from edge_vasa.core.errors import EdgeVasaError

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
        return _festival_phoneset(self.language) if self.engine == "festival" else "ipa"

    def visemes(self) -> list[tuple[str, float, float]]:
        return [(viseme_of(p.symbol, self.phoneset), p.start, p.end) for p in self.phones]


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    espeak_voice: str
    sentences: tuple[str, ...]
    festival_voice: str | None = None
    sing_unit: str = "word"  # what sing() puts on one note: "word", "character" (Han) or "mora" (kana)


# ----------------------------------------------------------------------------------------------------
# Phone -> viseme

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


def _festival_phoneset(language: str) -> str:
    return "hindi" if language == "hi" else "cmu"


# ----------------------------------------------------------------------------------------------------
# Languages and sentence banks (written for this project; 2-8 s of speech each at the default rate)

LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in [
        Language(
            "en",
            "English",
            "en-us",
            festival_voice="kal_diphone",
            sentences=(
                "The morning train was late again, so I walked to work along the river.",
                "Could you please pass me the salt and the pepper?",
                "My grandmother grew tomatoes, beans and sweet yellow peppers in her garden.",
                "Thank you for calling; your order will arrive on Thursday afternoon.",
                "Why do cats always sit exactly where you want to put your book?",
                "We should leave early tomorrow, before the traffic gets heavy.",
                "She opened the window and a cool breeze filled the quiet room.",
                "Three thousand people watched the final match under the bright lights.",
                "Honestly, I think the blue jacket looks much better than the green one.",
                "Remember to charge your phone before the long flight to Singapore.",
                "The children laughed when the puppy chased its own tail around the yard.",
                "If it rains this weekend, we can visit the museum instead of the beach.",
            ),
        ),
        Language(
            "id",
            "Indonesian",
            "id",
            sentences=(
                "Selamat pagi, apa kabar hari ini?",
                "Saya ingin memesan nasi goreng dan segelas teh manis.",
                "Kemarin kami pergi ke pantai bersama keluarga besar.",
                "Tolong matikan lampu sebelum kamu keluar dari kamar.",
                "Harga sayur di pasar naik lagi minggu ini.",
                "Adik saya sedang belajar bermain gitar setiap sore.",
                "Kereta menuju Bandung berangkat pukul tujuh tepat.",
                "Jangan lupa membawa payung, sepertinya akan hujan deras.",
                "Buku itu sangat menarik, saya membacanya dalam dua hari.",
                "Kucing tetangga sering tidur di atas mobil kami.",
                "Bisakah kamu membantu saya mengangkat kotak yang berat ini?",
                "Setelah makan siang, kita akan rapat di ruang utama.",
            ),
        ),
        # Debian's plain "cmn" voice reads Han characters as English spellings; the pinyin one reads them.
        Language(
            "cmn",
            "Mandarin Chinese",
            "cmn-latn-pinyin",
            sing_unit="character",
            sentences=(
                "你好，今天天气很好，我们去公园散步吧。",
                "请问，去火车站怎么走？",
                "我每天早上喝一杯热茶，然后开始工作。",
                "这本书非常有意思，我已经看了两遍。",
                "周末我们打算去山上看日出。",
                "妈妈做的饺子是世界上最好吃的。",
                "他的中文说得越来越流利了。",
                "明天下午三点在图书馆门口见面。",
                "外面下着大雨，记得带伞。",
                "小猫在窗台上晒太阳，看起来很舒服。",
                "我们的航班因为大雾推迟了两个小时。",
                "谢谢你的帮助，有空请你吃饭。",
            ),
        ),
        Language(
            "es",
            "Spanish",
            "es",
            sentences=(
                "Buenos días, ¿a qué hora abre la farmacia?",
                "Mi hermano vive en Sevilla y trabaja en un hospital.",
                "Ayer cenamos pescado con limón y una ensalada fresca.",
                "Por favor, cierra la puerta cuando salgas de la casa.",
                "El autobús número doce pasa cada quince minutos.",
                "Me encanta caminar por la playa al atardecer.",
                "¿Has visto mis llaves? No las encuentro por ninguna parte.",
                "Los niños juegan al fútbol en el parque todos los sábados.",
                "Este invierno ha sido mucho más frío que el anterior.",
                "Vamos a necesitar más sillas para la fiesta de mañana.",
                "La abuela cuenta historias increíbles sobre su juventud.",
                "Si tienes tiempo, podemos tomar un café después de clase.",
            ),
        ),
        Language(
            "hi",
            "Hindi",
            "hi",
            festival_voice="hindi_NSK_diphone",
            sentences=(
                "नमस्ते, आज आप कैसे हैं और घर पर सब ठीक है?",
                "मुझे गरम चाय के साथ समोसे बहुत पसंद हैं।",
                "कल हम सब दिल्ली घूमने जाएंगे।",
                "कृपया दरवाज़ा बंद कर दीजिए, बाहर बहुत ठंड है।",
                "मेरी बहन डॉक्टर बनना चाहती है।",
                "बच्चे मैदान में क्रिकेट खेल रहे हैं।",
                "इस किताब की कहानी बहुत दिलचस्प है।",
                "बारिश के बाद आसमान में इंद्रधनुष दिखाई दिया।",
                "स्टेशन यहाँ से कितनी दूर है, क्या मैं पैदल जा सकता हूँ?",
                "माँ ने आज खाने में दाल, चावल और सब्ज़ी बनाई है।",
                "हमें पानी बचाना चाहिए, यह बहुत कीमती है।",
                "अगले हफ़्ते मेरे दोस्त की शादी है।",
            ),
        ),
        Language(
            "fr",
            "French",
            "fr",
            sentences=(
                "Bonjour, est-ce que vous savez où se trouve la gare ?",
                "Nous avons mangé une délicieuse tarte aux pommes hier soir.",
                "Il fait beau aujourd'hui, allons nous promener au bord du lac.",
                "Mon frère joue du violon depuis qu'il a six ans, et il adore ça.",
                "N'oublie pas d'acheter du pain et du fromage en rentrant.",
                "Le musée est fermé le lundi, mais ouvert tous les autres jours.",
                "Les enfants regardent un dessin animé dans le salon.",
                "Pourriez-vous parler un peu plus lentement, s'il vous plaît ?",
                "Cette rue est très calme pendant les vacances d'été.",
                "Je voudrais réserver une table pour quatre personnes.",
                "Le chat dort toujours sur le fauteuil rouge près de la fenêtre.",
                "Quand il pleut, je préfère rester à la maison avec un bon livre.",
            ),
        ),
        Language(
            "de",
            "German",
            "de",
            sentences=(
                "Guten Morgen, wie geht es dir heute, hast du gut geschlafen?",
                "Wir fahren am Wochenende mit dem Zug nach München.",
                "Kannst du mir bitte das Salz und den Pfeffer geben?",
                "Meine Schwester arbeitet seit drei Jahren in einer Bäckerei.",
                "Im Herbst fallen die bunten Blätter von den Bäumen.",
                "Der Hund bellt jedes Mal, wenn der Briefträger kommt.",
                "Ich habe meinen Regenschirm schon wieder im Büro vergessen.",
                "Zum Frühstück esse ich gern frische Brötchen mit Honig.",
                "Die Kinder spielen draußen im Schnee, bis es dunkel wird.",
                "Entschuldigung, wo ist hier die nächste Apotheke?",
                "Unser Nachbar repariert sein altes Fahrrad in der Garage.",
                "Nach dem Konzert sind wir noch lange spazieren gegangen.",
            ),
        ),
        Language(
            "ru",
            "Russian",
            "ru",
            sentences=(
                "Доброе утро, как ты спал и что тебе снилось?",
                "Мы купили свежий хлеб и молоко в магазине.",
                "Завтра обещают сильный снег и холодный северный ветер.",
                "Моя сестра учится в университете в Москве.",
                "Пожалуйста, закрой окно, в комнате холодно.",
                "Летом мы часто ездим на дачу к бабушке.",
                "Этот фильм оказался гораздо интереснее, чем я думал.",
                "Скажите, пожалуйста, где здесь ближайшая остановка?",
                "Дети весело играют во дворе после школы.",
                "Я всегда пью горячий чай с лимоном и свежим мёдом.",
                "Поезд отправляется ровно в восемь часов вечера.",
                "Наш кот любит спать на тёплом подоконнике.",
            ),
        ),
        # espeak-ng 1.51 reads kana but not kanji, so the bank is kana with spaces between phrases (as in
        # children's books).
        Language(
            "ja",
            "Japanese",
            "ja",
            sing_unit="mora",
            sentences=(
                "おはよう ございます。 きょうは いい てんき ですね。",
                "すみません、 えきは どこですか？ みちに まよって しまいました。",
                "わたしは まいあさ コーヒーを のみます。",
                "しゅうまつに ともだちと えいがを みに いきました。",
                "この みせの ラーメンは とても おいしいです。",
                "あしたは あめが ふるかもしれません。",
                "こどもたちが こうえんで あそんでいます。",
                "でんしゃが おくれて、 かいしゃに ちこくしました。",
                "なつやすみに うみへ いくのが たのしみです。",
                "ねこが まどの そばで ひるねを しています。",
                "すみません、 もう いちど ゆっくり いって ください。",
                "ははの つくる カレーは せかいで いちばん おいしいです。",
            ),
        ),
        Language(
            "vi",
            "Vietnamese",
            "vi",
            sentences=(
                "Xin chào, hôm nay bạn có khỏe không?",
                "Tôi muốn gọi một bát phở bò và một ly cà phê sữa đá.",
                "Cuối tuần này chúng tôi sẽ về quê thăm ông bà.",
                "Trời đang mưa to, bạn nhớ mang theo áo mưa nhé.",
                "Em gái tôi đang học tiếng Anh ở trường đại học.",
                "Chợ Bến Thành mở cửa từ sáng sớm đến tối muộn.",
                "Cảm ơn bạn rất nhiều vì đã giúp đỡ tôi.",
                "Con mèo nhà tôi thích ngủ trên ghế sofa.",
                "Chuyến xe buýt cuối cùng đi lúc mười giờ tối.",
                "Mùa thu ở Hà Nội rất đẹp và mát mẻ.",
                "Bạn có thể nói chậm hơn một chút được không?",
                "Sau bữa trưa, chúng ta sẽ họp ở phòng lớn.",
            ),
        ),
    ]
}


def _espeak_variants() -> tuple[str, ...]:
    for pattern in (
        "/usr/lib/*/espeak-ng-data/voices/!v",
        "/usr/lib/espeak-ng-data/voices/!v",
        "/usr/share/espeak-ng-data/voices/!v",
        "/usr/local/share/espeak-ng-data/voices/!v",
    ):
        for folder in glob.glob(pattern):
            # Variant names go into "voice+variant", so names with spaces cannot be selected.
            return tuple(sorted(n for n in os.listdir(folder) if " " not in n))
    return ()


# e.g. "f1".."f5", "m1".."m8", "klatt".."klatt6", "whisper", "Annie", "grandma", ...
ESPEAK_VARIANTS: tuple[str, ...] = _espeak_variants()


# ----------------------------------------------------------------------------------------------------
# espeak-ng through ctypes

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS, _INIT_PHONEME_IPA = 1, 2
_INIT_DONT_EXIT = 0x8000  # without it, missing voice data makes the library call exit() on our process
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7
_POS_CHARACTER, _CHARS_UTF8 = 1, 1
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_DEFAULT_RATE, _DEFAULT_PITCH, _DEFAULT_RANGE = 175, 50, 50
_MIN_PAUSE = 0.04  # seconds; espeak emits ~10 ms unnamed events at syllable joins that are not audible pauses


_libc = ctypes.CDLL(None)


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass
class _Espeak:
    """One loaded libespeak-ng. Its state is global in C, so it is only used with ``_lock`` held."""

    lib: ctypes.CDLL
    sample_rate: int
    chunks: list[np.ndarray] = field(default_factory=list)
    events: list[tuple[int, str]] = field(default_factory=list)  # (sample, IPA name; "" for a pause)
    callback: object = None  # keeps the ctypes callback alive as long as the library may call it

    def on_synth(self, wav, n, events) -> int:
        if n > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            if events[i].type == _EVENT_PHONEME:
                self.events.append((events[i].sample, events[i].id.decode("utf-8", "replace").strip()))
            i += 1
        return 0

    def run(self, text: str, voice: str, rate: int, pitch: int, pitch_range: int) -> tuple[np.ndarray, list]:
        """One synthesis: int16 audio and its (sample, name) phoneme events."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise EdgeVasaError(f"espeak-ng has no voice {voice!r}; run apt-get install espeak-ng-data")
        # Parameters persist in the library between calls, so every call sets all of them.
        for param, value in ((_RATE, rate), (_PITCH, pitch), (_RANGE, pitch_range), (_VOLUME, 100)):
            self.lib.espeak_SetParameter(param, value, 0)
        self.chunks, self.events = [], []
        data = text.encode("utf-8")
        self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        audio = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)
        return audio, self.events


_lock = threading.Lock()
_library_path: str | None = None
_ESPEAK_INSTALL = "espeak-ng is not installed; run apt-get install espeak-ng"


def _reset_lock_after_fork() -> None:
    # A forked child may inherit the lock while another thread of the parent held it.
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_lock_after_fork)


@contextlib.contextmanager
def _espeak_session():
    """A freshly loaded and initialised libespeak-ng, unloaded again afterwards.

    libespeak-ng keeps hidden state between syntheses (libc rand() and static indices in its wave
    generator), so the same text gives slightly different audio and phone times on every call within a
    process. Reloading the library (about 8 ms) and reseeding rand() make every call start from the state of
    a new process, i.e. deterministic. It also means no library state is carried across fork or spawn.
    """
    global _library_path
    with _lock:
        if _library_path is None:
            _library_path = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            lib = ctypes.CDLL(_library_path)
        except OSError:
            raise EdgeVasaError(_ESPEAK_INSTALL) from None
        try:
            sample_rate = lib.espeak_Initialize(
                _AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA | _INIT_DONT_EXIT
            )
            if sample_rate <= 0:
                raise EdgeVasaError(f"espeak-ng failed to start (voice data missing?); {_ESPEAK_INSTALL}")
            handle = _Espeak(lib, sample_rate)
            handle.callback = _SynthCallback(handle.on_synth)
            lib.espeak_SetSynthCallback(handle.callback)
            _libc.srand(1)  # glibc's initial seed, as in a new process
            yield handle
        finally:
            lib.espeak_Terminate()
            _ctypes.dlclose(lib._handle)


def _phones_from_events(events: list[tuple[int, str]], n_samples: int, sample_rate: int) -> list[Phone]:
    """Contiguous phones from 0 to the end of the audio; unnamed events and the lead-in become silence."""
    marks = [(0, SILENCE)] + [(s, name or SILENCE) for s, name in events if 0 <= s <= n_samples]
    phones: list[Phone] = []
    for k, (start, name) in enumerate(marks):
        end = marks[k + 1][0] if k + 1 < len(marks) else n_samples
        if end <= start:
            continue
        t0, t1 = start / sample_rate, end / sample_rate
        if phones and name == SILENCE and phones[-1].symbol == SILENCE:
            phones[-1].end = t1
        elif phones and name == SILENCE and t1 - t0 < _MIN_PAUSE and k + 1 < len(marks):
            phones[-1].end = t1  # a join marker inside speech, not a pause
        else:
            phones.append(Phone(name, t0, t1))
    return phones


# ----------------------------------------------------------------------------------------------------
# Public synthesis API


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
        return _festival(text, lang, rate_wpm)
    if engine != "espeak":
        raise EdgeVasaError(f"unknown speech engine {engine!r}; use 'espeak' or 'festival'")
    voice = _espeak_voice(lang, variant)
    rate = _DEFAULT_RATE if rate_wpm is None else rate_wpm
    pitch = _DEFAULT_PITCH if pitch is None else pitch
    pitch_range = _DEFAULT_RANGE if pitch_range is None else pitch_range
    with _espeak_session() as es:
        audio, events = es.run(text, voice, rate, pitch, pitch_range)
        sample_rate = es.sample_rate
    return Utterance(
        audio=audio.astype(np.float32) / 32768.0,
        sample_rate=sample_rate,
        phones=_phones_from_events(events, len(audio), sample_rate),
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
    with _espeak_session() as es:
        sample_rate = es.sample_rate
        for k, unit in enumerate(units):
            note = int(np.clip(melody[k % len(melody)], 0, 100))
            audio, events = es.run(unit, voice, int(rates[k]), note, 0)
            for p in _phones_from_events(events, len(audio), sample_rate):
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


# ----------------------------------------------------------------------------------------------------
# festival

_FESTIVAL_PACKAGES = {"kal_diphone": "festvox-kallpc16k", "hindi_NSK_diphone": "festvox-hi-nsk"}


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _festival(text: str, lang: Language, rate_wpm: int | None) -> Utterance:
    if lang.festival_voice is None:
        with_voice = [c for c, lg in LANGUAGES.items() if lg.festival_voice]
        raise EdgeVasaError(
            f"festival has no voice for {lang.name}; use engine='espeak' or one of: {', '.join(with_voice)}"
        )
    package = _FESTIVAL_PACKAGES.get(lang.festival_voice, "festival")
    if shutil.which("festival") is None:
        raise EdgeVasaError(f"festival is not installed; run apt-get install festival {package}")
    stretch = _DEFAULT_RATE / rate_wpm if rate_wpm else 1.0
    with tempfile.TemporaryDirectory(prefix="edge_vasa_festival_") as tmp:
        wav, script = os.path.join(tmp, "out.wav"), os.path.join(tmp, "say.scm")
        with open(script, "w", encoding="utf-8") as f:
            f.write(
                f"(voice_{lang.festival_voice})\n"
                f"(Parameter.set 'Duration_Stretch {stretch:.4f})\n"
                f"(set! utt1 (utt.synth (Utterance Text {_scheme_string(text)})))\n"
                f"(utt.save.wave utt1 {_scheme_string(wav)} 'riff)\n"
                '(mapcar (lambda (s) (format t "%s %.4f %.4f\\n" (item.name s)'
                ' (item.feat s "segment_start") (item.feat s "end")))'
                " (utt.relation.items utt1 'Segment))\n"
            )
        run = subprocess.run(["festival", "-b", script], capture_output=True, text=True, cwd=tmp, timeout=120)
        if run.returncode != 0 or not os.path.exists(wav):
            detail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
            raise EdgeVasaError(
                f"festival failed with voice {lang.festival_voice} ({detail[0]}); "
                f"run apt-get install festival {package}"
            )
        audio, sample_rate = sf.read(wav, dtype="float32")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    duration = len(audio) / sample_rate
    phones: list[Phone] = []
    for line in run.stdout.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        name, start, end = parts[0], min(float(parts[1]), duration), min(float(parts[2]), duration)
        if end <= start:
            continue
        phones.append(Phone(SILENCE if name == "pau" else name, start, end))
    if phones and phones[-1].end < duration:  # festival's wav can run a few samples past the last segment
        if phones[-1].symbol == SILENCE:
            phones[-1].end = duration
        else:
            phones.append(Phone(SILENCE, phones[-1].end, duration))
    return Utterance(
        audio=audio.astype(np.float32),
        sample_rate=int(sample_rate),
        phones=phones,
        text=text,
        language=lang.code,
        engine="festival",
        voice=lang.festival_voice,
        sung=False,
    )


# ----------------------------------------------------------------------------------------------------
# Pitch analysis (to check that sung output really spans a wider F0 range than speech)


def f0_track(
    audio: np.ndarray,
    sample_rate: int,
    *,
    fmin: float = 50.0,
    fmax: float = 400.0,
    frame: float = 0.04,
    hop: float = 0.01,
) -> np.ndarray:
    """F0 in Hz of the voiced frames only, by normalised autocorrelation (simple, no octave correction)."""
    n, h = int(frame * sample_rate), int(hop * sample_rate)
    lo, hi = int(sample_rate / fmax), int(sample_rate / fmin)
    x = np.asarray(audio, np.float64)
    if len(x) < n:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::h]
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = (frames**2).sum(axis=1)
    loud = energy > 0.05 * np.percentile(energy, 95)
    f0 = []
    for fr in frames[loud]:
        spec = np.fft.rfft(fr, 2 * n)
        ac = np.fft.irfft(spec * np.conj(spec))[:n]
        ac /= ac[0] + 1e-12
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5:  # clearly periodic: a voiced frame
            f0.append(sample_rate / lag)
    return np.asarray(f0)


def f0_range_semitones(audio: np.ndarray, sample_rate: int) -> float:
    """Spread of F0 over the voiced frames: 5th to 95th percentile, in semitones."""
    f0 = f0_track(audio, sample_rate)
    if len(f0) < 5:
        return 0.0
    lo, hi = np.percentile(f0, [5, 95])
    return float(12 * np.log2(hi / lo))
