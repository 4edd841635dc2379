"""Speech -> motion script: mouth from phones, closed still mouth in silence, blinks, head motion."""

import numpy as np

from edge_vasa.core.motion import INDEX, MOTION_DIM, RANGES
from edge_vasa.core.speech import Phone, Utterance
from edge_vasa.data.script import FPS, ScriptStyle, blink_track, motion_script

SR = 16000


def utterance(phones: list[tuple[str, float, float]], seconds: float, voiced: bool = True) -> Utterance:
    t = np.arange(int(seconds * SR)) / SR
    audio = np.zeros_like(t, dtype=np.float32)
    if voiced:
        for sym, start, end in phones:
            if sym != "sil":
                on = (t >= start) & (t < end)
                audio[on] = 0.3 * np.sin(2 * np.pi * 140 * t[on])
    return Utterance(audio, SR, [Phone(*p) for p in phones], "test", "en", "espeak", "test")


def frames_of(start: float, end: float) -> slice:
    return slice(int(start * FPS) + 1, int(end * FPS))


def test_shape_ranges_and_determinism():
    utt = utterance([("h", 0.1, 0.2), ("a", 0.2, 0.5), ("sil", 0.5, 1.0)], 1.0)
    m1 = motion_script(utt, ScriptStyle(), seed=3)
    m2 = motion_script(utt, ScriptStyle(), seed=3)
    assert m1.shape == (25, MOTION_DIM) and m1.dtype == np.float32
    assert np.array_equal(m1, m2)
    assert not np.array_equal(m1, motion_script(utt, ScriptStyle(), seed=4))
    assert np.all(m1 >= RANGES[:, 0]) and np.all(m1 <= RANGES[:, 1])


def test_vowels_open_the_jaw_and_bilabials_close_the_lips():
    utt = utterance(
        [("sil", 0, 0.3), ("a", 0.3, 0.7), ("p", 0.7, 0.82), ("a", 0.82, 1.2), ("sil", 1.2, 2.0)], 2.0
    )
    m = motion_script(utt, ScriptStyle(emotion="neutral"), seed=0)
    jaw, press = m[:, INDEX["jaw_open"]], m[:, INDEX["lip_press"]]
    assert jaw[frames_of(0.4, 0.6)].mean() > 0.5
    p_frame = int(0.76 * FPS)
    assert jaw[p_frame] < 0.25 and press[p_frame] > 0.3, "the lips close on /p/ between two open vowels"


def test_silence_keeps_the_mouth_closed_and_still_but_the_face_alive():
    utt = utterance([("sil", 0.0, 6.0)], 6.0, voiced=False)
    m = motion_script(utt, ScriptStyle(emotion="neutral", blink_rate=20), seed=1)
    mouth = m[:, [INDEX["jaw_open"], INDEX["lip_round"], INDEX["lip_spread"], INDEX["lip_press"]]]
    assert np.abs(mouth).max() < 0.02 and mouth.std(axis=0).max() < 0.005, "no lip quiver in silence"
    assert m[:, INDEX["blink_left"]].max() > 0.8, "blinks go on"
    assert m[:, INDEX["yaw"]].std() > 0.005, "the head keeps moving a little"


def test_blinks_have_natural_rate_and_duration():
    rng = np.random.default_rng(0)
    n = 60 * FPS * 5  # five minutes
    track = blink_track(rng, n, rate_per_min=18)
    closed = track > 0.5
    starts = np.flatnonzero(closed[1:] & ~closed[:-1])
    rate = len(starts) / 5
    assert 12 <= rate <= 25
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], (track > 0.05).astype(int), [0]]))))[::2]
    assert np.median(runs) / FPS <= 0.24, "a blink lasts 100-200 ms (plus the frame that straddles it)"


def test_short_clips_blink():
    hits = [blink_track(np.random.default_rng(s), int(2.5 * FPS), 15).max() > 0.8 for s in range(20)]
    assert np.mean(hits) >= 0.9


def test_emotion_offsets_the_face():
    utt = utterance([("sil", 0, 2.0)], 2.0, voiced=False)
    happy = motion_script(utt, ScriptStyle(emotion="happy"), seed=0)
    angry = motion_script(utt, ScriptStyle(emotion="angry"), seed=0)
    assert happy[-10:, INDEX["smile"]].mean() > 0.3
    assert angry[-10:, INDEX["brow_frown"]].mean() > 0.4
