"""festival (``festival -b`` on a Scheme script): English kal_diphone and Hindi hindi_NSK_diphone; phone
times are the utterance's Segment relation."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import numpy as np
import soundfile as sf

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.speech.espeak import DEFAULT_RATE
from edge_vasa.core.speech.languages import LANGUAGES, Language
from edge_vasa.core.speech.phones import SILENCE, Phone, Utterance

_FESTIVAL_PACKAGES = {"kal_diphone": "festvox-kallpc16k", "hindi_NSK_diphone": "festvox-hi-nsk"}


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def speak_festival(text: str, lang: Language, rate_wpm: int | None) -> Utterance:
    if lang.festival_voice is None:
        with_voice = [c for c, lg in LANGUAGES.items() if lg.festival_voice]
        raise EdgeVasaError(
            f"festival has no voice for {lang.name}; use engine='espeak' or one of: {', '.join(with_voice)}"
        )
    package = _FESTIVAL_PACKAGES.get(lang.festival_voice, "festival")
    if shutil.which("festival") is None:
        raise EdgeVasaError(f"festival is not installed; run apt-get install festival {package}")
    stretch = DEFAULT_RATE / rate_wpm if rate_wpm else 1.0
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
