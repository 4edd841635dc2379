"""The appearance features on disk (EdgeRenderer with a store): the next renderer of the same face on the
same encoder artifact skips the encoder; another artifact, precision or device encodes again; a damaged
entry is rebuilt; features a fallback made mid-call are not filed under the backend that failed."""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest

from edge_vasa.core.face_cache import ArrayStore
from edge_vasa.runtimes.models import EdgeModels
from edge_vasa.runtimes.renderer import EdgeRenderer

SHAPE = (1, 16, 128, 128)


class Encoder:
    """An appearance encoder backend as EdgeRenderer sees one: a name, a manifest and a call (counted)."""

    def __init__(self, name="onnxruntime:cpu", precision="fp32", digest="1" * 64, shape=SHAPE, scale=1.0):
        self.name, self.path, self.scale, self.calls = name, "appearance_encoder.onnx", scale, 0
        self.manifest = {
            "format": "onnx",
            "precision": precision,
            "files": {"appearance_encoder.onnx": digest},
            "outputs": {"features": {"shape": list(shape)}},
        }

    def __call__(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        self.calls += 1
        shape = self.manifest["outputs"]["features"]["shape"]
        return np.full(shape, feeds["image"].mean() * self.scale, np.float32)


def encode(face, encoder, store) -> np.ndarray:
    renderer = EdgeRenderer(face.image, face.landmarks, EdgeModels(None, encoder, None, None), store)
    renderer._encode()
    return renderer.identity["features"]


@pytest.fixture
def store(tmp_path) -> ArrayStore:
    return ArrayStore(tmp_path / "features")


def test_the_same_artifact_skips_the_encoder(grace_hopper_prepared, store):
    first = encode(grace_hopper_prepared, Encoder(), store)
    again = Encoder(scale=-1.0)  # would give other features if it ran
    assert np.array_equal(encode(grace_hopper_prepared, again, store), first)
    assert again.calls == 0


@pytest.mark.parametrize(
    "other",
    [{"digest": "2" * 64}, {"precision": "int8"}, {"name": "onnxruntime:cuda"}],
    ids=["another file", "another precision", "another device"],
)
def test_another_encoder_encodes_again(grace_hopper_prepared, store, other):
    encode(grace_hopper_prepared, Encoder(), store)
    encoder = Encoder(**other, scale=2.0)
    features = encode(grace_hopper_prepared, encoder, store)
    assert encoder.calls == 1 and np.allclose(features, 2 * encode(grace_hopper_prepared, Encoder(), store))
    assert len(list(store.folder.glob("*.npz"))) == 2


def test_another_face_encodes_again(grace_hopper_prepared, store):
    encode(grace_hopper_prepared, Encoder(), store)
    flipped = replace(grace_hopper_prepared, image=grace_hopper_prepared.image[:, ::-1].copy())
    encoder = Encoder()
    encode(flipped, encoder, store)
    assert encoder.calls == 1


@pytest.mark.parametrize("damage", ["garbage", "wrong shape"])
def test_a_damaged_entry_is_rebuilt(grace_hopper_prepared, store, damage):
    want = encode(grace_hopper_prepared, Encoder(), store)
    (entry,) = store.folder.glob("*.npz")
    if damage == "garbage":
        entry.write_bytes(os.urandom(4096))
    else:
        np.savez(entry, key=np.array(entry.stem), features=np.zeros((1, 16, 64, 64), np.float32))
    encoder = Encoder()
    assert np.array_equal(encode(grace_hopper_prepared, encoder, store), want) and encoder.calls == 1
    again = Encoder(scale=-1.0)
    assert np.array_equal(encode(grace_hopper_prepared, again, store), want) and again.calls == 0


def test_without_a_store_nothing_is_kept(grace_hopper_prepared, tmp_path):
    for _ in range(2):
        encoder = Encoder()
        encode(grace_hopper_prepared, encoder, None)
        assert encoder.calls == 1
    assert not list(tmp_path.rglob("*.npz"))


class FallsBackWhileEncoding:
    """Models whose current backend fails during the encoder call: the next one answers."""

    def __init__(self, first: EdgeModels, second: EdgeModels):
        self.current, self.second = first, second

    def run(self, network: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        self.current = self.second
        return self.second.run(network, feeds)


def test_a_fallback_mid_call_files_nothing_under_the_failed_backend(grace_hopper_prepared, store):
    failed, answered = Encoder(name="openvino:cpu"), Encoder(scale=3.0)
    second = EdgeModels(None, answered, None, None)
    models = FallsBackWhileEncoding(EdgeModels(None, failed, None, None), second)
    renderer = EdgeRenderer(grace_hopper_prepared.image, grace_hopper_prepared.landmarks, models, store)
    renderer._encode()
    assert renderer.encoded_by is second and answered.calls == 1
    assert not list(store.folder.glob("*.npz"))  # the features were the fallback's, keyed as the failed one's
