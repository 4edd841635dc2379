"""Face prep: load a photo, find the face, 68 landmarks, align and crop to a square with room to move.

Detection is dlib's HOG frontal-face detector (built into dlib) and landmarks are dlib's 68-point shape
predictor from the ``face-recognition-models`` package, so nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import struct
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import dlib
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.heap import trim_heap

CROP_SIZE = 512
# Where the aligned face sits in the crop: eye midpoint and inter-ocular distance as crop fractions.
# The face fills about half the crop, which leaves room for head turns, nods and scale changes.
EYE_CENTER = (0.5, 0.42)
IOD_FRACTION = 0.21
MIN_FACE_PIXELS = 64  # detector box width below which landmarks are too coarse to animate
MAX_DETECT_SIDE = 1600  # larger photos are downscaled for detection only


@dataclass(frozen=True)
class PreparedFace:
    """An aligned face crop and its neutral landmarks, ready for rendering or encoding."""

    image: np.ndarray  # (S, S, 3) uint8 RGB crop
    landmarks: np.ndarray  # (68, 2) float pixel landmarks in the crop
    source_box: tuple[int, int, int, int]  # (left, top, right, bottom) of the face in the photo
    n_faces: int  # how many faces the photo had
    image_hash: str  # sha256 of the source pixels, the cache key for per-identity work
    transform: np.ndarray  # (2, 3) similarity from the photo to the crop: how paste-back puts it back


def load_image(path: str | Path) -> np.ndarray:
    """Any JPEG/PNG/WebP/BMP (RGBA, grayscale, 16-bit, palette, EXIF-rotated) -> (H, W, 3) uint8 RGB."""
    path = Path(path)
    if path.is_dir():
        raise EdgeVasaError(f"{path} is a directory, not an image; give the path of a photo file")
    if not path.is_file():
        raise EdgeVasaError(f"image not found: {path}; check the path")
    if path.stat().st_size == 0:
        raise EdgeVasaError(f"image file {path} is empty (0 bytes); use an intact JPEG, PNG, WebP or BMP")
    try:
        with Image.open(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            return _to_rgb8(im)
    except UnidentifiedImageError:
        raise EdgeVasaError(
            f"{path} is not an image format this can read; use a JPEG, PNG, WebP or BMP file"
        ) from None
    except Image.DecompressionBombError:
        raise EdgeVasaError(
            f"image {path} has too many pixels to decode safely; downscale it (a few megapixels is plenty)"
        ) from None
    except PermissionError:
        raise EdgeVasaError(f"cannot open image {path}: permission denied; check its permissions") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise EdgeVasaError(
            f"cannot decode image {path}: the file is truncated or damaged ({type(e).__name__}); "
            "use an intact JPEG, PNG, WebP or BMP file"
        ) from None


def _to_rgb8(im: Image.Image) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if a.max() > 255 else 255.0  # 16-bit data or 8-bit values stored wide
        a = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        # transparent areas become white, as a viewer would show them
        rgba = im.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(canvas, rgba).convert("RGB"))
    return np.asarray(im.convert("RGB"))


def image_hash(rgb: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(rgb).tobytes() + str(rgb.shape).encode()).hexdigest()


@lru_cache(maxsize=1)
def _models() -> tuple:

    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(landmark_model_path()))


def release_models() -> None:
    """Free the detector and landmark model (~100 MB) once no more photos will be prepared (a live session
    prepares one face, then runs for hours), and hand the freed heap back to the system."""

    _models.cache_clear()
    trim_heap()


def landmark_model_path() -> Path:
    """dlib's 68-point predictor as shipped by face-recognition-models.

    Found without importing that package: its __init__ needs pkg_resources, which setuptools >= 81 (pulled
    in by torch) no longer has.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    path = (
        Path(spec.submodule_search_locations[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
        if spec
        else None
    )
    if path is None or not path.is_file():
        raise EdgeVasaError(
            "dlib's 68-point landmark model is missing; install it with `pip install face-recognition-models`"
        )
    return path


def detect_faces(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Face boxes (left, top, right, bottom) in pixels, largest first."""
    detector, _ = _models()
    h, w = rgb.shape[:2]
    factor = min(1.0, MAX_DETECT_SIDE / max(h, w))
    small = rgb if factor == 1.0 else cv2.resize(rgb, (round(w * factor), round(h * factor)), cv2.INTER_AREA)
    # upsampling once finds faces down to ~40 px; small photos get a second pass
    rects = detector(np.ascontiguousarray(small), 1)
    if len(rects) == 0 and max(small.shape[:2]) < 800:
        rects = detector(np.ascontiguousarray(small), 2)
    boxes = [
        (
            round(r.left() / factor),
            round(r.top() / factor),
            round(r.right() / factor),
            round(r.bottom() / factor),
        )
        for r in rects
    ]
    return sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))


def detect_landmarks(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """68 (x, y) landmarks of the face in ``box``."""

    _, predictor = _models()
    shape = predictor(np.ascontiguousarray(rgb), dlib.rectangle(*[int(v) for v in box]))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def alignment_transform(landmarks: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """2x3 similarity that levels the eyes and puts them at the canonical place in a size x size crop."""
    eye_a, eye_b = landmarks[36:42].mean(0), landmarks[42:48].mean(0)
    d = eye_b - eye_a
    scale = IOD_FRACTION * size / np.hypot(*d)
    angle = np.arctan2(d[1], d[0])
    c, s = scale * np.cos(-angle), scale * np.sin(-angle)
    rot = np.array([[c, -s], [s, c]])
    center = (eye_a + eye_b) / 2
    target = np.array([EYE_CENTER[0] * size, EYE_CENTER[1] * size])
    return np.hstack([rot, (target - rot @ center)[:, None]])


MIN_PHOTO_PX = 64  # the detector's smallest face is about 40 px; a smaller photo cannot hold one


def prepare_face(
    source: str | Path | np.ndarray, face_index: int = 0, size: int = CROP_SIZE, name: str | None = None
) -> PreparedFace:
    """Photo (path or RGB array) -> aligned square crop with 68 landmarks.

    With several faces the largest is used (``face_index`` picks another, 0 = largest) and a warning says so.
    """
    rgb = load_image(source) if not isinstance(source, np.ndarray) else source
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise EdgeVasaError(
            f"expected an (H, W, 3) uint8 RGB image, got shape {rgb.shape} dtype {rgb.dtype}; "
            "read photos with load_image"
        )
    label = name or (str(source) if not isinstance(source, np.ndarray) else "image")
    if min(rgb.shape[:2]) < MIN_PHOTO_PX:
        raise EdgeVasaError(
            f"{label} is {rgb.shape[1]}x{rgb.shape[0]} px: too small to find a face in; "
            f"use a photo at least {MIN_PHOTO_PX}x{MIN_PHOTO_PX} px (512 or more looks best)"
        )
    boxes = detect_faces(rgb)
    if not boxes:
        raise EdgeVasaError(f"no face found in {label}; use a photo with a clear, frontal, well-lit face")
    if face_index >= len(boxes) or face_index < 0:
        raise EdgeVasaError(
            f"face index {face_index} is out of range: {label} has {len(boxes)} face(s); "
            f"use 0..{len(boxes) - 1}"
        )
    if len(boxes) > 1:
        warn_several_faces(label, len(boxes), face_index)
    box = boxes[face_index]
    width = box[2] - box[0]
    if width < MIN_FACE_PIXELS:
        raise EdgeVasaError(
            f"face too small in {label} ({width} px wide); use a photo where the face is at least "
            f"{MIN_FACE_PIXELS} px wide (200+ looks best)"
        )
    landmarks = detect_landmarks(rgb, box)
    m = alignment_transform(landmarks, size)
    crop = warp_crop(rgb, m, size)
    # Landmarks are re-fitted on the crop itself, from a box the detector finds there, so they agree with
    # what detection + landmarks give on rendered frames (the predictor's output depends on the box).
    expected = _transform_box(box, m)
    crop_landmarks = detect_landmarks(crop, matching_box(detect_faces(crop), expected) or expected)
    return PreparedFace(crop, crop_landmarks, box, len(boxes), image_hash(rgb), m)


def warn_several_faces(label: str, n_faces: int, face_index: int) -> None:
    """Say which face of several is used: after detection, and again when a cached face skips detection
    (stacklevel 3: the caller of prepare_face or of the cache)."""
    warnings.warn(
        f"{label} has {n_faces} faces; using face {face_index} (0 = largest); "
        "choose another with --face-index",
        stacklevel=3,
    )


def warp_crop(rgb: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """Apply the 2x3 similarity ``m``. A strong downscale (a big photo) goes through an area resize first:
    cubic warping alone samples every n-th pixel and aliases fine detail into moire and jagged edges."""
    scale = float(np.hypot(m[0, 0], m[0, 1]))
    if scale < 0.5:
        h, w = rgb.shape[:2]
        new_size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(rgb, new_size, interpolation=cv2.INTER_AREA)
        fx, fy = small.shape[1] / w, small.shape[0] / h
        m = np.hstack([m[:, :1] / fx, m[:, 1:2] / fy, m[:, 2:]])
        rgb = small
    crop = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
    return _soften_outside(crop, rgb.shape[:2], m)


def _soften_outside(crop: np.ndarray, photo_hw: tuple[int, int], m: np.ndarray) -> np.ndarray:
    """Where the crop reaches beyond the photo (a face near its edge), fill it with a heavy blur of the
    mirrored photo. Replicated edge pixels drew stripes above the hair and down the neck, and a sharp mirror
    draws a second, upside-down face when the edge cuts through the head (seen on a photo cut at the
    forehead); blurred, the mirror keeps only the colours, with a soft transition into the photo."""
    size = crop.shape[0]
    inside = cv2.warpAffine(
        np.ones(photo_hw, np.float32), m, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0
    )
    if inside.min() >= 0.999:
        return crop
    sigma = size / 24
    grown = cv2.dilate(inside, np.ones((int(sigma) | 1, int(sigma) | 1), np.uint8))  # fade outside the photo
    weight = np.maximum(cv2.GaussianBlur(grown, (0, 0), sigma / 3), inside)[..., None]  # the photo: as it is
    blurred = cv2.GaussianBlur(crop, (0, 0), sigma)
    out = crop.astype(np.float32) * weight + blurred.astype(np.float32) * (1 - weight)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _transform_box(box: tuple[int, int, int, int], m: np.ndarray) -> tuple[int, int, int, int]:
    corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[0], box[3]], [box[2], box[3]]], float)
    pts = corners @ m[:, :2].T + m[:, 2]
    cx, cy = pts.mean(0)
    half = np.hypot(*(pts[1] - pts[0])) / 2
    return round(cx - half), round(cy - half), round(cx + half), round(cy + half)


def matching_box(
    boxes: list[tuple[int, int, int, int]], expected: tuple[float, float, float, float]
) -> tuple[int, int, int, int] | None:
    """The detected box whose centre lies inside ``expected``, or None."""
    for b in boxes:
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        if expected[0] <= cx <= expected[2] and expected[1] <= cy <= expected[3]:
            return b
    return None


@lru_cache(maxsize=1)
def example_face() -> PreparedFace:
    """A real prepared face (Grace Hopper, shipped with matplotlib), prepared once per process: parity and
    backend timings are measured on what the decoder really sees, since random noise images and random
    control points magnify float rounding and change how memory is read."""
    import matplotlib.cbook  # matplotlib is heavy to import and only this sample is wanted from it

    return prepare_face(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
