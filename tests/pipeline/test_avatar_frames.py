"""Avatar.frames, which every command renders with (decoder on a worker thread, face layers on the
caller's): the same frames as the renderer draws them in one thread."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import motion

from edge_vasa.core.motion import INDEX, FaceGeometry
from edge_vasa.pipeline.avatar import Avatar
from edge_vasa.pipeline.face_layers import LayeredRenderer


class Shifting:
    """The renderer contract: the photo, shifted by the frame's jaw opening, so every frame differs."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray):
        self.image, self.size = image, image.shape[0]
        self.geometry = FaceGeometry.from_landmarks(landmarks, self.size)

    def render(self, batch: np.ndarray) -> np.ndarray:
        return np.stack([np.roll(self.image, int(20 * m[INDEX["jaw_open"]]), axis=1) for m in batch])


@pytest.fixture(scope="module")
def talking() -> np.ndarray:
    """21 frames (not a whole number of render batches): jaw and blinks moving, head turning."""
    t = np.linspace(0, 1, 21)
    return np.stack([motion(jaw_open=float(a), yaw=0.2 * float(a), blink_left=float(a > 0.8)) for a in t])


def frames(face, renderer, motion: np.ndarray) -> np.ndarray:
    return np.stack(list(Avatar(face, generator=None, renderer=renderer).frames(motion)))


def test_the_frames_are_the_layered_renderers(grace_hopper_prepared, talking):
    face = grace_hopper_prepared
    layered = LayeredRenderer(Shifting(face.image, face.landmarks), face.image, face.landmarks)
    expected = layered.render(talking)
    got = frames(face, layered, talking)
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)


def test_a_renderer_without_layers_is_drawn_as_it_is(grace_hopper_prepared, talking):
    face = grace_hopper_prepared
    plain = Shifting(face.image, face.landmarks)
    assert np.array_equal(frames(face, plain, talking), plain.render(talking))
