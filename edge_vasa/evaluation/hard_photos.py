"""A held-out set of hard photos (issue 20): small faces, grayscale, glasses, beards, teeth, an open mouth, a
turned head, a face at the photo's edge. Each must give a believable result or a clear refusal.

The photos are files that Debian packages ship, unpacked by scripts/install_eval_media.sh into the fresh
folder (~/.local/share/edge-vasa/fresh, or $EDGE_VASA_FRESH): dlib's example photos that the corpus never
uses, OpenCV's documentation photos and KPhotoAlbum's demo photos. None is a corpus identity
(edge_vasa.data.corpus.IDENTITY_SOURCES), and none is committed here: build_hard_set derives the set from the
installed files (a crop, grayscale, an upscale where a real photo of the case was missing or its face too
small for the face prep), so the set is the same on every machine that ran the install script.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import detect_faces, load_image


@dataclass(frozen=True)
class HardPhoto:
    """One photo of the set: where it comes from, how it is derived, which face, and what it covers."""

    name: str
    source: str  # path under the fresh folder
    near: tuple[int, int]  # a point on the wanted face, in the source photo's pixels
    covers: str
    crop: tuple[int, int, int, int] | None = None  # (left, top, right, bottom) of the source, applied first
    gray: bool = False
    scale: float = 1.0  # applied last (cubic)
    refused: bool = False  # the face prep must refuse it with a clear message


HARD_PHOTOS = (
    HardPhoto("beard", "photos/opencv__230501201_1.jpg", (290, 400), "goatee and moustache, frontal"),
    HardPhoto(
        "moustache_90px",
        "faces/dlib__2008_001322.jpg",
        (390, 200),
        "moustache, smile showing teeth, 90 px face",
    ),
    HardPhoto(
        "glasses_laughing",
        "faces/dlib__2008_001009.jpg",
        (180, 120),
        "glasses, laughing wide open with teeth (62 px face, upscaled 2x)",
        scale=2,
    ),
    HardPhoto(
        "glasses",
        "faces/dlib__2008_002470.jpg",
        (76, 177),
        "clear glasses over open eyes, moustache, frontal (43 px face, upscaled 2x)",
        scale=2,
    ),
    HardPhoto(
        "glasses_smile",
        "photos/kphotoalbum__qt-logo.jpg",
        (620, 110),
        "clear glasses over eyes narrowed by a broad smile showing teeth, hair cut by the top edge",
    ),
    HardPhoto(
        "turned_40",
        "faces/dlib__2008_002079.jpg",
        (60, 210),
        "head turned ~40 degrees (44 px face, upscaled 2x)",
        scale=2,
    ),
    HardPhoto(
        "turned_glasses",
        "photos/kphotoalbum__bar55.jpg",
        (50, 200),
        "glasses, head turned ~50-60 degrees, dim bar light, 75 px face",
    ),
    HardPhoto(
        "open_mouth", "photos/kphotoalbum__jesper_2.jpg", (360, 270), "mouth open mid-word in the photo"
    ),
    HardPhoto(
        "edge_top",
        "photos/kphotoalbum__jesper.jpg",
        (420, 270),
        "face filling the photo, forehead cut by its top edge, head tilted, stubble",
    ),
    HardPhoto(
        "teeth_edge_bottom",
        "photos/kphotoalbum__new_wave_2.jpg",
        (390, 300),
        "broad smile showing teeth, chin at the photo's bottom edge (cropped)",
        crop=(150, 0, 650, 440),
    ),
    HardPhoto(
        "sunglasses",
        "photos/kphotoalbum__anne_helene.jpg",
        (180, 190),
        "tinted glasses over the eyes, smile showing teeth, 74 px face",
    ),
    HardPhoto(
        "gray_75px",
        "faces/dlib__2009_004587.jpg",
        (190, 85),
        "grayscale (converted), 75 px face, forehead near the top edge",
        gray=True,
    ),
    HardPhoto(
        "gray_glasses",
        "photos/opencv__Template_Matching_Original_Image.jpg",
        (170, 95),
        "a real grayscale photo, glasses, hat (31 px face, upscaled 3x: blurry)",
        scale=3,
    ),
    HardPhoto(
        "gray_tiny",
        "photos/opencv__Template_Matching_Original_Image.jpg",
        (170, 95),
        "31 px face: must be refused as too small",
        refused=True,
    ),
)


@dataclass
class BuiltPhoto:
    """A photo of the set written to disk, and the index of its wanted face (as prepare_face counts)."""

    photo: HardPhoto
    path: Path
    face_index: int


def fresh_dir() -> Path:
    """Where scripts/install_eval_media.sh unpacked the fresh evaluation media."""
    default = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "edge-vasa" / "fresh"
    return Path(os.environ.get("EDGE_VASA_FRESH", default))


def derive(photo: HardPhoto, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PHOTO's crop, grayscale and scale applied to the source RGB; also where its NEAR point lands."""
    near = np.array(photo.near, float)
    if photo.crop:
        left, top, right, bottom = photo.crop
        rgb, near = rgb[top:bottom, left:right], near - (left, top)
    if photo.gray:
        rgb = np.repeat(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    if photo.scale != 1:
        rgb = cv2.resize(rgb, None, fx=photo.scale, fy=photo.scale, interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(rgb), near * photo.scale


def wanted_face(rgb: np.ndarray, near: np.ndarray) -> int:
    """The index of the detected face whose box centre is closest to NEAR (0 when none is found)."""
    boxes = detect_faces(rgb)
    if not boxes:
        return 0
    centres = np.array([((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in boxes])
    return int(np.argmin(np.linalg.norm(centres - near, axis=1)))


def build_hard_set(folder: Path, photos: tuple[HardPhoto, ...] = HARD_PHOTOS) -> list[BuiltPhoto]:
    """Write each photo of the set to FOLDER as NAME.png (lossless) from the installed package files."""
    missing = sorted({p.source for p in photos if not (fresh_dir() / p.source).exists()})
    if missing:
        raise EdgeVasaError(
            f"{len(missing)} hard-set source photos are missing from {fresh_dir()} (e.g. {missing[0]}); "
            "run scripts/install_eval_media.sh"
        )
    folder.mkdir(parents=True, exist_ok=True)
    built = []
    for photo in photos:
        rgb, near = derive(photo, load_image(fresh_dir() / photo.source))
        path = folder / f"{photo.name}.png"
        cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        built.append(BuiltPhoto(photo, path, wanted_face(rgb, near)))
    return built
