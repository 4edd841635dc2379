"""The face cache: a prepared face, and its appearance features, kept on disk so that the second start with
the same photo skips face detection (loading dlib's 100 MB landmark model, detecting and fitting landmarks
twice: most of a second on a 2-core CPU) and the appearance encoder.

    face = prepare_face_cached("me.jpg")        # detected once; loaded from the cache after that
    store = face_store("features")              # where runtimes.renderer keeps the encoder's output

An entry is an .npz file of plain arrays (read with allow_pickle=False: a file can never run code) in
$EDGE_VASA_CACHE/faces or .../features (default ~/.cache/edge-vasa), named by the sha256 of everything it
depends on. A prepared face depends on the photo's bytes, the face index, the crop size, the landmark model
file, dlib's version and the alignment constants. The model file counts by path, size and modification
time: hashing its 100 MB would cost more than the detection it saves. Writes are atomic (temp file, then
os.replace), so a concurrent reader never sees half an entry; an entry that does not load, was written for
another key or holds the wrong shapes is deleted and rebuilt. Each folder keeps the MAX_ENTRIES most
recently used entries (a face is 0.8 MB, features 1 MB: about 60 MB in all) and deletes older ones.
EDGE_VASA_FACE_CACHE=off turns the cache off.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import dlib
import numpy as np

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import (
    CROP_SIZE,
    EYE_CENTER,
    IOD_FRACTION,
    MAX_DETECT_SIDE,
    PreparedFace,
    landmark_model_path,
    prepare_face,
    warn_several_faces,
)
from edge_vasa.core.files import atomic_output, cache_dir, file_sha256

FORMAT = 2  # bump when prepare_face's output changes in a way the key's other parts do not show
MAX_ENTRIES = 32  # per folder, most recently used kept
OFF = ("0", "off", "no", "false")

Arrays = dict[str, np.ndarray]


class ArrayStore:
    """A folder of .npz entries (a few named arrays each), bounded to the MAX_ENTRIES most recently used."""

    def __init__(self, folder: str | Path, max_entries: int = MAX_ENTRIES):
        self.folder, self.max_entries = Path(folder), max_entries

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def load(self, key: str, valid: Callable[[Arrays], bool]) -> Arrays | None:
        """The entry's arrays if it loads, was written for KEY and passes VALID; else None (a bad entry is
        deleted, so that the caller's rebuild replaces it)."""
        path = self.path(key)
        if not path.is_file():
            return None
        arrays = _read(path)
        if arrays is None or str(arrays.pop("key", "")) != key or not _passes(valid, arrays):
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used: pruned last
        return arrays

    def save(self, key: str, arrays: Arrays) -> None:
        """Write the entry atomically, then prune. A cache that cannot be written only warns: the work is
        done, the next start does it again."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with atomic_output(self.path(key)) as tmp:
                np.savez(tmp, key=np.array(key), **arrays)
            self._prune()
        except (OSError, EdgeVasaError) as e:
            warnings.warn(f"face cache not written ({e})", RuntimeWarning, stacklevel=2)

    def _prune(self) -> None:
        """Delete all but the newest max_entries (a concurrent writer's temp file is among the newest)."""
        entries = sorted(self.folder.glob("*.npz"), key=_mtime, reverse=True)
        for old in entries[self.max_entries :]:
            old.unlink(missing_ok=True)


def _read(path: Path) -> Arrays | None:
    """Every array of an .npz file, or None when it is not one (truncated, garbage, pickled objects)."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a bare .npy array
            return None
        with loaded:
            return {name: loaded[name] for name in loaded.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None


def _passes(valid: Callable[[Arrays], bool], arrays: Arrays) -> bool:
    try:
        return bool(valid(arrays))
    except (KeyError, TypeError, ValueError):  # an array missing, or of a kind the check cannot compare
        return False


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # deleted meanwhile by another process's prune
        return 0.0


def face_store(kind: str) -> ArrayStore | None:
    """The cache's KIND folder ("faces" or "features"), or None when EDGE_VASA_FACE_CACHE is off."""
    if os.environ.get("EDGE_VASA_FACE_CACHE", "").lower() in OFF:
        return None
    return ArrayStore(cache_dir() / kind)


def face_key(photo: Path, face_index: int, size: int) -> str:
    """sha256 of everything the prepared face of PHOTO depends on (see the module docstring)."""
    model = landmark_model_path()
    stat = model.stat()
    parts = [FORMAT, file_sha256(photo), face_index, size, str(model), stat.st_size, stat.st_mtime_ns]
    parts += [dlib.__version__, EYE_CENTER, IOD_FRACTION, MAX_DETECT_SIDE]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def prepare_face_cached(
    source: str | Path,
    face_index: int = 0,
    size: int = CROP_SIZE,
    name: str | None = None,
    store: ArrayStore | None = None,
) -> PreparedFace:
    """prepare_face, from STORE (default: the cache) when this photo was prepared before with the same
    models and settings. A photo that cannot be read goes to prepare_face, which says what is wrong."""
    store = store or face_store("faces")
    try:
        key = face_key(Path(source), face_index, size) if store is not None else None
    except OSError:  # missing, a folder, unreadable: prepare_face's one-line error
        key = None
    if key is None:
        return prepare_face(source, face_index, size, name)
    arrays = store.load(key, partial(_is_face, size=size, face_index=face_index))
    if arrays is None:
        face = prepare_face(source, face_index, size, name)
        store.save(key, _face_arrays(face))
        return face
    face = _face_of(arrays)
    if face.n_faces > 1:
        warn_several_faces(name or str(source), face.n_faces, face_index)
    return face


def _face_arrays(face: PreparedFace) -> Arrays:
    return {
        "image": face.image,
        "landmarks": face.landmarks,
        "source_box": np.array(face.source_box, np.int64),
        "n_faces": np.array(face.n_faces, np.int64),
        "image_hash": np.array(face.image_hash),
        "transform": face.transform,
    }


def _face_of(arrays: Arrays) -> PreparedFace:
    box = tuple(int(v) for v in arrays["source_box"])
    return PreparedFace(
        arrays["image"],
        arrays["landmarks"],
        box,
        int(arrays["n_faces"]),
        str(arrays["image_hash"]),
        arrays["transform"],
    )


def _is_face(arrays: Arrays, size: int, face_index: int) -> bool:
    """What prepare_face returns for this size and index: a uint8 crop, 68 finite landmarks, a box, the
    face count, the pixels' hash and the photo-to-crop transform."""
    image, landmarks = arrays["image"], arrays["landmarks"]
    return (
        image.shape == (size, size, 3)
        and image.dtype == np.uint8
        and landmarks.shape == (68, 2)
        and landmarks.dtype == np.float64
        and bool(np.isfinite(landmarks).all())
        and arrays["source_box"].shape == (4,)
        and arrays["source_box"].dtype.kind == "i"
        and arrays["n_faces"].shape == ()
        and int(arrays["n_faces"]) > face_index
        and arrays["image_hash"].dtype.kind == "U"
        and arrays["transform"].shape == (2, 3)
        and bool(np.isfinite(arrays["transform"]).all())
    )
