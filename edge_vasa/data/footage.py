"""Real talking-head videos -> a training corpus, in the layout that corpus.py writes.

For every video in a folder (.mp4 .mov .mkv .avi .webm, not subfolders, in name order):

1. probe it; a video without an audio track is skipped with a warning (no speech, nothing to learn).
2. decode it as a stream, resampled to 25 fps: each 1/25 s tick takes the frame nearest to it in time
   (by timestamp, so variable-frame-rate phone videos come out right); the audio is decoded to 16 kHz
   and aligned to the first video frame.
3. find the face: the first frame with one (looked for 5 times a second in the first fifth of the video)
   becomes the identity through prepare_face, and the similarity transform that aligned it crops every
   frame of the video. The transform stays fixed, so head motion in the video stays head motion in the
   crop, as in the synthetic corpus.
4. cut the video into clips of at most 10 s (equal lengths) and track the 68 landmarks on each crop: the
   face is detected near where it was in the previous frame, anywhere in the crop when lost. Frames
   without a face get landmarks interpolated from their neighbours; a clip that loses the face in more
   than 20 % of its frames is skipped with a warning.
5. fit each clip's landmarks to the motion space against the identity's geometry
   (motion.landmarks_to_motion) and write clips/<NNNNN>/ atomically (temp dir, then rename): video.mp4
   of the 512 crops with the audio, audio.wav, motion.npy, landmarks.npy and meta.json.

Emotion is unknown for real footage: clips say "neutral" with "emotion_known": false. As in the corpus,
every tenth clip (index % 10 == 9) is an eval clip and the rest are train; unlike the corpus there is no
held-out identity or language, so eval clips show people (and the language) seen in training.

Clip numbers are handed out per video in blocks, from a plan made by probing, and kept in corpus.json
with each video's status, so a rerun skips finished videos and clips, and videos added to the folder
later are appended. To ingest a changed video again, use a new ``out``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import av
import cv2
import numpy as np
from tqdm import tqdm

from edge_vasa import __version__
from edge_vasa.core.audio import SAMPLE_RATE, load_audio, save_wav
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import (
    CROP_SIZE,
    alignment_transform,
    detect_faces,
    detect_landmarks,
    matching_box,
    prepare_face,
    warp_crop,
)
from edge_vasa.core.files import atomic_output, write_png
from edge_vasa.core.motion import FaceGeometry, landmarks_to_motion
from edge_vasa.core.video import probe_video, write_mp4
from edge_vasa.data.corpus import read_manifest
from edge_vasa.data.script import FPS

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm")
CLIP_FRAMES = 10 * FPS  # longest clip: 10 s
MAX_LOST = 0.2  # a clip may lose the face in at most this share of its frames
SEARCH_STEP = FPS // 5  # look for the first face 5 times a second
TRACK_SIDE = 128  # detection runs on the search region scaled to this size (the face is then ~70 px)
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS


def find_videos(folder: Path) -> list[Path]:
    """The videos directly in ``folder``, sorted by name."""
    if not folder.exists():
        raise EdgeVasaError(f"video folder not found: {folder}; check the path")
    if not folder.is_dir():
        raise EdgeVasaError(f"{folder} is a file, not a folder; give the folder that holds the videos")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
    if not files:
        raise EdgeVasaError(
            f"no videos in {folder} (looked for {' '.join(VIDEO_EXTENSIONS)}, not in subfolders); "
            "put talking-head videos with speech there"
        )
    return files


def frames_at_fps(path: Path, start: float, fps: int = FPS) -> Iterator[np.ndarray]:
    """RGB frames at ``fps``: for each tick, the decoded frame nearest to it in time (``start`` = time 0)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or fps)
        tick, prev, prev_t, prev_rgb = 0, None, 0.0, None
        for i, frame in enumerate(container.decode(stream)):
            t = (frame.time if frame.time is not None else i / rate) - start
            while prev is not None and tick / fps <= t:
                if tick / fps - prev_t < t - tick / fps:
                    # converted once however often it repeats (a 15 fps video shows each frame twice)
                    prev_rgb = prev.to_ndarray(format="rgb24") if prev_rgb is None else prev_rgb
                    yield prev_rgb
                else:
                    yield frame.to_ndarray(format="rgb24")
                tick += 1
            prev, prev_t, prev_rgb = frame, t, None
        # the last frame stays on screen for one frame duration
        while prev is not None and tick / fps < prev_t + 1 / rate:
            prev_rgb = prev.to_ndarray(format="rgb24") if prev_rgb is None else prev_rgb
            yield prev_rgb
            tick += 1


def _detect(crop: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Face boxes inside the region lo..hi of the crop, detected on a downscaled copy.

    The face fills a quarter of the crop, so it stays well above the detector's minimum size there and
    detection is about ten times faster than at full size.
    """
    x0, y0 = np.maximum(np.floor(lo), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(hi), CROP_SIZE).astype(int)
    if x1 - x0 < 16 or y1 - y0 < 16:
        return []
    k = min(1.0, TRACK_SIDE / max(x1 - x0, y1 - y0))
    small = cv2.resize(crop[y0:y1, x0:x1], (round((x1 - x0) * k), round((y1 - y0) * k)), cv2.INTER_AREA)
    return [
        (round(b[0] / k) + x0, round(b[1] / k) + y0, round(b[2] / k) + x0, round(b[3] / k) + y0)
        for b in detect_faces(small)
    ]


def track(crop: np.ndarray, previous: np.ndarray | None) -> np.ndarray | None:
    """68 landmarks of the face in an aligned crop, or None; ``previous`` = the last frame's landmarks."""
    box = None
    if previous is not None:
        lo, hi = previous.min(0), previous.max(0)
        pad = 0.3 * (hi - lo).max()  # room for a fast head move between two frames
        box = matching_box(_detect(crop, lo - pad, hi + pad), (*lo, *hi))
    if box is None:
        # lost (or first frame): look anywhere, the largest face wins as in prepare_face
        boxes = _detect(crop, np.zeros(2), np.full(2, CROP_SIZE))
        box = boxes[0] if boxes else None
    return None if box is None else detect_landmarks(crop, box)


def fill_gaps(landmarks: list[np.ndarray | None]) -> np.ndarray:
    """(T, 68, 2) landmarks with the missing frames interpolated linearly from their neighbours."""
    found = np.array([lm is not None for lm in landmarks])
    t = np.arange(len(landmarks))
    known = np.stack([lm for lm in landmarks if lm is not None]).reshape(int(found.sum()), -1)
    filled = np.stack([np.interp(t, t[found], column) for column in known.T], axis=1)
    return filled.reshape(len(landmarks), 68, 2)


def _identity_name(path: Path, number: int) -> str:
    # <source>_<n> like corpus identities (evaluate splits the source off at the last "_")
    return f"{re.sub(r'[^A-Za-z0-9]+', '-', path.stem).strip('-') or 'video'}_{number}"


def _plan(path: Path, first_clip: int, number: int) -> dict:
    """The manifest entry of a newly seen video: its block of clip numbers, or why it is skipped."""
    entry = {"file": path.name, "identity": _identity_name(path, number), "first_clip": first_clip}
    try:
        info = probe_video(path)
    except EdgeVasaError as e:
        return _skip(entry, str(e))
    if not info["has_audio"]:
        return _skip(entry, "no audio track")
    seconds = info["n_frames"] / info["fps"] if info["fps"] else info["duration"]
    frames = int(np.ceil(seconds * FPS - 1e-6))
    if frames < FPS:
        return _skip(entry, f"shorter than 1 s ({seconds:.2f} s)")
    n_clips = -(-frames // CLIP_FRAMES)
    return {**entry, "status": "pending", "clips_planned": n_clips, "frames_planned": frames}


def _skip(entry: dict, reason: str) -> dict:
    warnings.warn(f"skipping {entry['file']}: {reason}", stacklevel=3)
    return {**entry, "clips_planned": 0, "status": "skipped", "reason": reason}


def _audio(path: Path, info: dict) -> np.ndarray:
    """16 kHz audio with sample 0 at the start of the video stream (containers may start them apart)."""
    audio = load_audio(path)
    shift = round((info["audio_offset"] or 0.0) * SAMPLE_RATE)
    return np.concatenate([np.zeros(shift, np.float32), audio]) if shift > 0 else audio[-shift:]


def _first_face(path: Path, start: float, limit: int) -> np.ndarray | None:
    """The first frame (of those looked at, 5 a second) with a face, within ``limit`` frames."""
    for i, frame in enumerate(islice(frames_at_fps(path, start), limit)):
        if i % SEARCH_STEP == 0 and detect_faces(frame):
            return frame
    return None


def ingest_video(path: Path, entry: dict, out: Path, bar: tqdm) -> dict:
    """Write every clip of one video (finished ones are kept); returns its updated manifest entry."""
    info = probe_video(path)
    audio = _audio(path, info)
    n, planned = entry["clips_planned"], entry["frames_planned"]
    frame = _first_face(path, info["video_start"], max(1, int(MAX_LOST * planned)))
    if frame is None:
        return _skip(entry, f"no face in the first {MAX_LOST:.0%} of the video")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its hint (--face-index) is for photos; warned our way below
        face = prepare_face(frame, name=path.name)
    if face.n_faces > 1:
        warnings.warn(f"{path.name} shows {face.n_faces} faces; ingesting the largest", stacklevel=2)
    # the transform prepare_face aligned the crop with (same frame, same box, same landmarks)
    m = alignment_transform(detect_landmarks(frame, face.source_box), CROP_SIZE)
    ident = entry["identity"]
    if not (out / "identities" / f"{ident}.npy").exists():
        write_png(out / "identities" / f"{ident}.png", face.image)
        np.save(out / "identities" / f"{ident}.npy", face.landmarks)
    geometry = FaceGeometry.from_landmarks(face.landmarks, CROP_SIZE)

    written, skipped = [], {}
    frames = frames_at_fps(path, info["video_start"])
    for k in range(n):
        index = entry["first_clip"] + k
        clip_id = f"{index:05d}"
        # equal lengths (within a frame): a 12 s video gives two 6 s clips, not 10 s and a useless 2 s
        start = k * planned // n
        chunk = islice(frames, (k + 1) * planned // n - start)
        if (out / "clips" / clip_id / "meta.json").exists():
            written.append(clip_id)
            bar.update(sum(1 for _ in chunk))
            continue
        # cropped as decoded: a clip of 4K frames would not fit in memory, its 512 crops do
        crops = [warp_crop(f, m, CROP_SIZE) for f in chunk]
        if len(crops) < FPS:  # the probe promised more than decoded: a sliver under 1 s is no clip
            bar.update(len(crops))
            break
        # every clip starts from a fresh detection, so it does not depend on the clips before it
        tracked: list[np.ndarray | None] = []
        for crop in crops:
            tracked.append(track(crop, tracked[-1] if tracked else None))
            bar.update()
        lost = sum(lm is None for lm in tracked) / len(tracked)
        if lost > MAX_LOST:
            skipped[clip_id] = f"face lost in {lost:.0%} of frames"
            warnings.warn(f"{path.name}: skipping clip {clip_id}: {skipped[clip_id]}", stacklevel=2)
            continue
        clip_audio = audio[start * SAMPLES_PER_FRAME : (start + len(crops)) * SAMPLES_PER_FRAME]
        clip_audio = np.pad(clip_audio, (0, len(crops) * SAMPLES_PER_FRAME - len(clip_audio)))
        meta = {
            "clip": clip_id,
            "index": index,
            "identity": ident,
            "source": "video",
            "video": path.name,
            "start": start / FPS,
            "language": "und",  # unknown (ISO 639-2)
            "text": "",
            "emotion": "neutral",
            "emotion_known": False,
            "split": "eval" if index % 10 == 9 else "train",
            "frames": len(crops),
            "fps": FPS,
            "seconds": len(clip_audio) / SAMPLE_RATE,
            "face_found": round(1 - lost, 4),
        }
        write_clip(out / "clips" / clip_id, crops, fill_gaps(tracked), clip_audio, geometry, meta)
        written.append(clip_id)
    entry = {**entry, "status": "done", "clips": written, "skipped_clips": skipped}
    if not written:
        lost = f"face lost in more than {MAX_LOST:.0%} of the frames of every clip"
        return _skip(entry, lost if skipped else "less than 1 s of video decodes")
    return entry


def write_clip(
    final: Path,
    crops: list[np.ndarray],
    landmarks: np.ndarray,
    audio: np.ndarray,
    geometry: FaceGeometry,
    meta: dict,
) -> None:
    """One clip directory, written under a temp name and renamed when complete (as corpus.build_clip)."""
    tmp = final.parent / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write_mp4(tmp / "video.mp4", crops, FPS, audio=audio, sample_rate=SAMPLE_RATE)
    save_wav(tmp / "audio.wav", audio)
    np.save(tmp / "motion.npy", landmarks_to_motion(landmarks, geometry).astype(np.float32))
    np.save(tmp / "landmarks.npy", landmarks.astype(np.float32))
    (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


def _unfinished(out: Path, entry: dict) -> bool:
    # pending: interrupted or new; done but a clip directory gone: build the missing clips again
    missing = any(not (out / "clips" / c / "meta.json").exists() for c in entry.get("clips", []))
    return entry["status"] == "pending" or missing


def _write_manifest(out: Path, videos: Path, entries: list[dict]) -> None:
    identities = [
        {"id": e["identity"], "source": e["file"], "split": "train"} for e in entries if e.get("clips")
    ]
    manifest = {
        "edge_vasa_version": __version__,
        "source": "videos",
        "videos_dir": str(videos.resolve()),
        "clips": sum(len(e.get("clips", [])) for e in entries),
        "fps": FPS,
        "identities": identities,
        "held_out": {
            "identities": [],
            "language": None,
            "rule": "every tenth clip (index % 10 == 9) is an eval clip; footage has no held-out identity "
            "or language, so eval clips show people seen in training",
        },
        "languages": {},
        "videos": entries,
    }
    with atomic_output(out / "corpus.json") as tmp:
        Path(tmp).write_text(json.dumps(manifest, ensure_ascii=False, indent=1))


def ingest_videos(videos: str | Path, out: str | Path, progress: bool = True) -> Path:
    """Turn a folder of talking-head videos into a corpus at ``out`` (resumable); returns ``out``."""
    videos, out = Path(videos), Path(out)
    files = find_videos(videos)
    try:
        (out / "clips").mkdir(parents=True, exist_ok=True)
        (out / "identities").mkdir(exist_ok=True)
    except OSError as e:
        raise EdgeVasaError(
            f"cannot create corpus directory {out} ({e.strerror}); choose a writable path"
        ) from None
    entries: list[dict] = []
    if (out / "corpus.json").exists():
        old = read_manifest(out)
        if old.get("source") != "videos":
            raise EdgeVasaError(f"{out} holds a synthetic corpus; choose another --out for the videos")
        entries = old["videos"]
    known = {e["file"] for e in entries}
    next_clip = max((e["first_clip"] + e["clips_planned"] for e in entries), default=0)
    for path in files:
        if path.name not in known:
            entries.append(_plan(path, next_clip, len(entries)))
            next_clip += entries[-1]["clips_planned"]
    _write_manifest(out, videos, entries)

    todo = [i for i, e in enumerate(entries) if _unfinished(out, e) and (videos / e["file"]).exists()]
    total = sum(entries[i]["frames_planned"] for i in todo)
    with tqdm(total=total, desc="videos", unit="frame", disable=not progress) as bar:
        for i in todo:
            bar.set_postfix_str(entries[i]["file"])
            try:
                entries[i] = ingest_video(videos / entries[i]["file"], entries[i], out, bar)
            except (EdgeVasaError, av.error.FFmpegError) as e:
                # a damaged file or undecodable audio costs this video, not the whole run
                entries[i] = _skip(entries[i], str(e).rstrip(".").split("\n")[0])
            _write_manifest(out, videos, entries)

    if not any(e.get("clips") for e in entries):
        reasons = "; ".join(f"{e['file']}: {e.get('reason', 'not processed')}" for e in entries)
        raise EdgeVasaError(
            f"no usable video in {videos} ({reasons}); use videos with speech and one clearly visible face"
        )
    return out
