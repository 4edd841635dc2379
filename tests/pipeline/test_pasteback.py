"""Paste-back: the rendered crop returns to the whole photo, seamless where nothing moved, and nothing
outside the crop's footprint changes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_vasa.core.face import CROP_SIZE, alignment_transform, detect_faces, detect_landmarks, warp_crop
from edge_vasa.pipeline.pasteback import MAX_SIDE, PasteBack, feather_mask, output_scale


@pytest.fixture(scope="module")
def hopper_transform(grace_hopper, face_models) -> np.ndarray:
    box = detect_faces(grace_hopper)[0]
    return alignment_transform(detect_landmarks(grace_hopper, box))


def test_the_unchanged_crop_gives_back_the_photo(grace_hopper, hopper_transform):
    """A crop that did not move pastes back invisibly: the frame is the photo (resampling error only), so the
    feathered seam cannot show on a still face."""
    paste = PasteBack(grace_hopper, hopper_transform, CROP_SIZE)
    frame = paste(warp_crop(grace_hopper, hopper_transform, CROP_SIZE))
    assert frame.shape[:2] == paste.size == paste.background.shape[:2]
    diff = np.abs(frame.astype(int) - paste.background.astype(int))
    assert np.percentile(diff, 99) <= 12 and diff.mean() < 1.5, (np.percentile(diff, 99), diff.mean())


def test_only_the_crops_footprint_changes(grace_hopper, hopper_transform):
    paste = PasteBack(grace_hopper, hopper_transform, CROP_SIZE)
    crop = warp_crop(grace_hopper, hopper_transform, CROP_SIZE)
    crop[300:360, 200:320] = 0  # a dark mouth
    frame = paste(crop)
    changed = np.abs(frame.astype(int) - paste.background.astype(int)).max(axis=2) > 40
    ys, xs = np.nonzero(changed)
    assert len(ys) > 1000  # the mouth shows
    (rows, cols) = paste.roi
    assert rows.start <= ys.min() and ys.max() < rows.stop and cols.start <= xs.min() and xs.max() < cols.stop
    outside = frame.copy()
    outside[paste.roi] = paste.background[paste.roi]
    assert np.array_equal(outside, paste.background)


def test_a_face_at_the_top_edge_gets_no_smeared_stripes(grace_hopper, face_models):
    """The crop reaches above the photo; those pixels fall outside the frame, so the top rows of the output
    are the photo's own (replicated-border stripes would differ from it)."""
    cut = np.ascontiguousarray(grace_hopper[150:])  # the hair and forehead cut off at the top
    m = alignment_transform(detect_landmarks(cut, detect_faces(cut)[0]))
    paste = PasteBack(cut, m, CROP_SIZE)
    frame = paste(warp_crop(cut, m, CROP_SIZE))
    top = np.abs(frame[:20].astype(int) - paste.background[:20].astype(int))
    assert top.mean() < 2 and frame.shape[:2] == paste.size


def test_output_size_follows_the_photo():
    assert output_scale((3000, 4000, 3), crop_scale=0.5) == MAX_SIDE / 4000  # big photo: scaled down
    assert output_scale((600, 800, 3), crop_scale=0.8) == 1.0  # face larger than the crop: kept
    assert output_scale((400, 300, 3), crop_scale=2.0) == 2.0  # small face: scaled up to the crop's detail
    assert output_scale((1000, 1500, 3), crop_scale=4.0) == MAX_SIDE / 1500  # ... within MAX_SIDE


def test_sides_are_even_and_the_mask_fades_to_nothing(grace_hopper, hopper_transform):
    odd = np.ascontiguousarray(grace_hopper[:511, :599])
    paste = PasteBack(odd, hopper_transform, CROP_SIZE)
    assert all(s % 2 == 0 for s in paste.size)
    mask = feather_mask(64)
    assert mask[32, 32] == 1 and mask[0, 0] < 0.01 and mask[0, 32] < 0.05
    assert np.allclose(mask, mask.T) and np.allclose(mask, mask[::-1])


def test_a_big_photo_is_scaled_down_and_the_crop_area_resized(grace_hopper, hopper_transform):
    big = cv2.resize(grace_hopper, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)  # 2400x2048
    m = hopper_transform.copy()
    m[:, :2] /= 4
    paste = PasteBack(big, m, CROP_SIZE)
    assert max(paste.size) == MAX_SIDE
    frame = paste(warp_crop(big, m, CROP_SIZE))
    diff = np.abs(frame.astype(int) - paste.background.astype(int))
    assert diff.mean() < 1.5


def test_a_1280x720_photo_keeps_its_size_its_far_pixels_and_a_seam_without_a_step(grace_hopper, face_models):
    """Issue 20's paste-back check on a 1280x720 photo (Grace Hopper at 1.5x, framed wide): the frame is
    1280x720, everything outside the crop's footprint is the photo's own pixel, and where the rendered face
    differs from the photo (here by 40 gray levels everywhere, a strong relight) the difference fades in over
    the feathered band: no step between neighbouring pixels above a tenth of it (pasted hard: 33 in one)."""
    tall = cv2.resize(grace_hopper, None, fx=1.5, fy=1.5, interpolation=cv2.INTER_CUBIC)[90:810]
    photo = cv2.copyMakeBorder(tall, 0, 0, 256, 1280 - 256 - tall.shape[1], cv2.BORDER_REFLECT)
    m = alignment_transform(detect_landmarks(photo, detect_faces(photo)[0]))
    paste = PasteBack(photo, m, CROP_SIZE)
    assert paste.size == (720, 1280)
    crop = np.minimum(warp_crop(photo, m, CROP_SIZE), 215)
    frame = paste(crop + 40)
    outside = np.ones(paste.size, bool)
    outside[paste.roi] = False
    assert np.array_equal(frame[outside], photo[outside])
    rows, cols = paste.roi
    row = (rows.start + rows.stop) // 2, slice(cols.start - 5, cols.stop + 5)
    lift = frame[row].astype(int) - paste(crop)[row]  # what the relit face adds, across the whole crop
    assert lift.max() >= 39  # the relit face shows
    assert np.abs(np.diff(lift, axis=0)).max() <= 4
