"""Shared fixtures: real face photos that ship with scikit-image and matplotlib, so tests run offline."""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path

# isort: off
import edge_vasa  # noqa: F401  first: it limits BLAS threads before numpy and OpenCV load

# isort: on
import numpy as np
import pytest


@pytest.fixture(scope="session")
def grace_hopper_path() -> Path:
    """A JPEG with exactly one clear frontal face (600x512), shipped by matplotlib."""
    import matplotlib.cbook

    return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


@pytest.fixture(scope="session")
def grace_hopper(grace_hopper_path) -> np.ndarray:
    """Grace Hopper as an (H, W, 3) uint8 RGB array, read with PIL (independent of the code under test)."""
    from PIL import Image

    with Image.open(grace_hopper_path) as im:
        return np.asarray(im.convert("RGB")).copy()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """512x512 RGB: one face, plus a weak false-positive 'face' on the mission patch."""
    import skimage.data

    return skimage.data.astronaut()


@pytest.fixture(scope="session")
def face_models():
    """Load the dlib detector and landmark predictor once per session (~2 s)."""
    from edge_vasa.core import face

    return face._models()


@pytest.fixture(scope="session")
def grace_hopper_prepared(grace_hopper, face_models):
    """prepare_face on Grace Hopper, computed once."""
    from edge_vasa.core.face import prepare_face

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a single-face photo must not warn
        return prepare_face(grace_hopper)


@pytest.fixture(scope="session")
def two_faces(grace_hopper) -> np.ndarray:
    """Two copies of Grace Hopper side by side: a larger one on the left, a smaller one on the right."""
    import cv2

    big = cv2.resize(grace_hopper, (307, 360), interpolation=cv2.INTER_AREA)
    small = cv2.resize(grace_hopper, (230, 270), interpolation=cv2.INTER_AREA)
    canvas = np.full((400, 600, 3), 255, np.uint8)
    canvas[20:380, 10:317] = big
    canvas[65:335, 350:580] = small
    return canvas


@pytest.fixture(scope="session")
def two_faces_path(two_faces, tmp_path_factory) -> Path:
    from PIL import Image

    path = tmp_path_factory.mktemp("photos") / "two_faces.png"
    Image.fromarray(two_faces).save(path)
    return path


@contextmanager
def _env_folder(name: str, folder):
    """Environment variable NAME set to FOLDER for the duration, then restored."""
    old = os.environ.get(name)
    os.environ[name] = str(folder)
    try:
        yield folder
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@pytest.fixture(scope="session", autouse=True)
def private_signing_identity(tmp_path_factory):
    """C2PA signing certificates made by the tests stay in a temp folder, not the user's config."""
    with _env_folder("EDGE_VASA_IDENTITY", tmp_path_factory.mktemp("identity")) as folder:
        yield folder


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory):
    """No test writes to the user's cache (~/.cache/edge-vasa: artifacts, timings, calibration): the whole
    run gets a cache of its own; modules that need a fresh one take ``private_cache``."""
    with _env_folder("EDGE_VASA_CACHE", tmp_path_factory.mktemp("session-cache")) as cache:
        yield cache


@pytest.fixture(scope="module")
def private_cache(tmp_path_factory):
    """A cache folder of the test module's own (EDGE_VASA_CACHE): artifacts and timings stay apart from
    the user's."""
    with _env_folder("EDGE_VASA_CACHE", tmp_path_factory.mktemp("cache")) as cache:
        yield cache


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """Two clips of Grace Hopper, built once for every trainer's resume-and-export test (read only)."""
    from edge_vasa.data.corpus import IDENTITY_SOURCES, build_corpus

    sources = [s for s in IDENTITY_SOURCES if s.name == "grace_hopper"]
    return build_corpus(tmp_path_factory.mktemp("corpus"), 2, seed=3, workers=1, sources=sources)


@pytest.fixture(scope="session")
def held_out_corpus(tmp_path_factory, tiny_corpus) -> Path:
    """tiny_corpus plus its first eval clip (index 9: the held-out identity, the astronaut), so that held-out
    scores are computed on real frames (read only). Built by resuming a copy, as `corpus build` resumes."""
    import shutil

    from edge_vasa.data.corpus import IDENTITY_SOURCES, build_clip, build_corpus, plan_clip, read_manifest

    out = tmp_path_factory.mktemp("held-out") / "corpus"
    shutil.copytree(tiny_corpus, out)
    sources = [s for s in IDENTITY_SOURCES if s.name in ("grace_hopper", "astronaut")]
    build_corpus(out, 2, seed=3, workers=1, sources=sources)  # same two clips; the astronaut is held out
    build_clip(out, plan_clip(9, 3, read_manifest(out)["identities"]), seed=3)
    return out
