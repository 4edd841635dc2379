"""The face cache: a hit skips detection and gives the same face; a changed photo, face index, crop size or
landmark model misses; a damaged entry is rebuilt, never trusted; the store stays bounded, lands in the
test's private cache and can be turned off."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_vasa.core import face as face_module
from edge_vasa.core import face_cache
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face_cache import ArrayStore, face_key, face_store, prepare_face_cached


@pytest.fixture
def photo(tmp_path, grace_hopper_path) -> Path:
    """A photo of the test's own, free to change."""
    return Path(shutil.copy(grace_hopper_path, tmp_path / "photo.jpg"))


@pytest.fixture
def store(tmp_path) -> ArrayStore:
    return ArrayStore(tmp_path / "faces")


@pytest.fixture
def detections(monkeypatch, face_models) -> list[int]:
    """Counts prepare_face's detector calls (two per prepared face: the photo, then the crop)."""
    calls, detect = [], face_module.detect_faces
    monkeypatch.setattr(face_module, "detect_faces", lambda rgb: calls.append(1) or detect(rgb))
    return calls


def no_detection(*_):
    raise AssertionError("detection ran on a cache hit")


def assert_same_face(got, want) -> None:
    assert np.array_equal(got.image, want.image) and got.image.dtype == np.uint8
    assert np.array_equal(got.landmarks, want.landmarks) and got.landmarks.dtype == np.float64
    assert (got.source_box, got.n_faces, got.image_hash) == (want.source_box, want.n_faces, want.image_hash)


def test_a_hit_skips_detection_and_gives_the_same_face(photo, store, monkeypatch, face_models):
    fresh = face_module.prepare_face(photo)
    first = prepare_face_cached(photo, store=store)
    monkeypatch.setattr(face_module, "detect_faces", no_detection)
    monkeypatch.setattr(face_module, "detect_landmarks", no_detection)
    second = prepare_face_cached(photo, store=store)
    assert_same_face(first, fresh)
    assert_same_face(second, fresh)
    assert isinstance(second.source_box, tuple) and all(type(v) is int for v in second.source_box)


def test_a_changed_photo_misses(photo, store, detections):
    prepare_face_cached(photo, store=store)
    rgb = np.asarray(Image.open(photo)).copy()
    rgb[0, 0] ^= 1  # one pixel, far from the face
    Image.fromarray(rgb).save(photo, "PNG")
    prepare_face_cached(photo, store=store)
    assert len(detections) == 4 and len(list(store.folder.glob("*.npz"))) == 2


def test_a_changed_landmark_model_misses(photo, store, detections, monkeypatch, tmp_path):
    model = tmp_path / "shape_predictor_68_face_landmarks.dat"  # stands in for the model in the key only
    model.write_bytes(b"v1")
    monkeypatch.setattr(face_cache, "landmark_model_path", lambda: model)
    prepare_face_cached(photo, store=store)
    prepare_face_cached(photo, store=store)
    assert len(detections) == 2  # the second was a hit
    model.write_bytes(b"v2, a new release")
    prepare_face_cached(photo, store=store)
    assert len(detections) == 4


def test_the_key_covers_index_and_size(photo):
    keys = {face_key(photo, 0, 512), face_key(photo, 1, 512), face_key(photo, 0, 256)}
    assert len(keys) == 3 and face_key(photo, 0, 512) == face_key(photo, 0, 512)


DAMAGE = {
    "garbage": lambda path, _: path.write_bytes(os.urandom(4096)),
    "empty": lambda path, _: path.write_bytes(b""),
    "truncated": lambda path, _: path.write_bytes(path.read_bytes()[:-100]),
    "a flipped bit": lambda path, _: _flip(path, len(path.read_bytes()) // 3),
    "pickled objects": lambda path, key: np.savez(path, key=np.array(key), image=np.full((4, 4, 3), {})),
    "another key's entry": lambda path, _: np.savez(path, key=np.array("0" * 64), image=np.zeros(3)),
    "wrong shapes": lambda path, key: np.savez(path, key=np.array(key), image=np.zeros((8, 8, 3), np.uint8)),
    "an array missing": lambda path, key: np.savez(path, key=np.array(key)),
    "a bare .npy": lambda path, _: _save_npy(path, np.zeros(3)),
}


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 1
    path.write_bytes(bytes(data))


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would add .npy to the name
        np.save(f, array)


@pytest.mark.parametrize("damage", DAMAGE, ids=str)
def test_a_damaged_entry_is_not_trusted_and_is_deleted(store, damage):
    key = "a" * 64
    store.save(key, {"image": np.zeros((4, 4, 3), np.uint8)})
    DAMAGE[damage](store.path(key), key)

    def valid(arrays):
        return arrays["image"].shape == (4, 4, 3)

    assert store.load(key, valid) is None
    assert not store.path(key).exists()


def test_a_corrupt_face_is_rebuilt(photo, store, detections):
    first = prepare_face_cached(photo, store=store)
    (entry,) = store.folder.glob("*.npz")
    entry.write_bytes(os.urandom(len(entry.read_bytes())))
    rebuilt = prepare_face_cached(photo, store=store)
    assert_same_face(rebuilt, first)
    assert len(detections) == 4
    assert prepare_face_cached(photo, store=store) is not None and len(detections) == 4  # valid again


BROKEN = {
    "a smaller crop": ("image", lambda a: a[:256, :256]),
    "a float crop": ("image", lambda a: a.astype(np.float32)),
    "67 landmarks": ("landmarks", lambda a: a[:67]),
    "a NaN landmark": ("landmarks", lambda a: np.where(np.arange(68)[:, None] == 30, np.nan, a)),
    "a 3-number box": ("source_box", lambda a: a[:3]),
    "no face at this index": ("n_faces", lambda a: np.array(0, np.int64)),
    "a numeric hash": ("image_hash", lambda a: np.array(7)),
}


@pytest.mark.parametrize("broken", BROKEN, ids=str)
def test_a_face_entry_that_is_not_a_prepared_face_is_rebuilt(photo, store, detections, broken):
    want = prepare_face_cached(photo, store=store)
    (entry,) = store.folder.glob("*.npz")
    with np.load(entry) as npz:
        arrays = dict(npz)
    field, change = BROKEN[broken]
    arrays[field] = change(arrays[field])
    np.savez(entry, **arrays)
    assert_same_face(prepare_face_cached(photo, store=store), want)
    assert len(detections) == 4


def test_the_store_keeps_the_most_recently_used(tmp_path):
    store = ArrayStore(tmp_path, max_entries=3)
    for i, key in enumerate("abc"):
        store.save(key, {"x": np.zeros(1)})
        os.utime(store.path(key), (100 + i, 100 + i))
    assert store.load("a", lambda arrays: True) is not None  # used: now the newest
    store.save("d", {"x": np.zeros(1)})
    assert sorted(p.stem for p in tmp_path.glob("*.npz")) == ["a", "c", "d"]


def test_the_cache_lands_in_the_private_cache(photo, private_cache):
    home = Path.home() / ".cache" / "edge-vasa" / "faces"
    before = sorted(home.glob("*")) if home.is_dir() else None
    prepare_face_cached(photo)
    assert face_store("faces").folder == Path(private_cache) / "faces"
    assert len(list((Path(private_cache) / "faces").glob("*.npz"))) == 1
    assert (sorted(home.glob("*")) if home.is_dir() else None) == before


def test_off_writes_nothing(photo, monkeypatch, tmp_path, face_models):
    monkeypatch.setenv("EDGE_VASA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EDGE_VASA_FACE_CACHE", "off")
    assert face_store("faces") is None
    assert prepare_face_cached(photo).image.shape == (512, 512, 3)
    assert not (tmp_path / "cache").exists()


def test_an_unwritable_cache_only_warns(tmp_path):
    (tmp_path / "a file").write_text("not a folder")
    store = ArrayStore(tmp_path / "a file" / "faces")
    with pytest.warns(RuntimeWarning, match="face cache not written"):
        store.save("a" * 64, {"x": np.zeros(1)})


def test_several_faces_warn_on_a_hit_too(two_faces_path, store, face_models):
    for _ in range(2):
        with pytest.warns(UserWarning, match="has 2 faces; using face 0"):
            face = prepare_face_cached(two_faces_path, store=store)
    assert face.n_faces == 2


@pytest.mark.parametrize("make", ["missing", "folder", "empty"])
def test_bad_photos_are_prepare_faces_one_line_errors(tmp_path, store, make):
    path = tmp_path / "photo.jpg"
    if make == "folder":
        path.mkdir()
    elif make == "empty":
        path.write_bytes(b"")
    with pytest.raises(EdgeVasaError) as err, warnings.catch_warnings():
        warnings.simplefilter("error")
        prepare_face_cached(path, store=store)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    assert not store.folder.exists()
