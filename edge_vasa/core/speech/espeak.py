"""espeak-ng through ctypes: audio and phoneme events come through one synth callback, so the phone times
refer to exactly the samples returned (the ``espeak-ng -w`` CLI pads differently)."""

from __future__ import annotations

import _ctypes
import contextlib
import ctypes
import ctypes.util
import os
import threading
from dataclasses import dataclass, field

import numpy as np

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.speech.phones import SILENCE, Phone

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS, _INIT_PHONEME_IPA = 1, 2
_INIT_DONT_EXIT = 0x8000  # without it, missing voice data makes the library call exit() on our process
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7
_POS_CHARACTER, _CHARS_UTF8 = 1, 1
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
DEFAULT_RATE, DEFAULT_PITCH, DEFAULT_RANGE = 175, 50, 50
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
def espeak_session():
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


def phones_from_events(events: list[tuple[int, str]], n_samples: int, sample_rate: int) -> list[Phone]:
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
