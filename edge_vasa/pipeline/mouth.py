"""Explicit mouth interior: cavity, tongue and individual teeth, drawn inside the inner lip line of a frame.

A layer rather than learned pixels for the same reason as the eyes (pipeline.eyes): the decoders blur the
teeth into one pale band. Anatomy it keeps:

- upper teeth are fixed to the skull: their edge follows the head pose only (the inner lip line of the
  expression-free face), so a raised upper lip shows more of them and a dropped jaw does not move them;
- lower teeth ride on the jaw: the same line moved by the chin's displacement (x 0.85: the incisors are
  nearer the jaw's hinge than the chin is);
- teeth sit at fixed places on a dental arch that turns away from the camera (narrower and darker toward
  the corners), with dark gaps between them, so the same mouth shape shows the same teeth every time;
- a tongue rests low behind the lower teeth; the cavity darkens toward the back and the corners;
- nothing is painted outside the inner lip line, so the lips and their corners stay as the decoder drew them;
- a photo whose mouth is wide open (a laugh) keeps its own interior: the decoders carry its real teeth.

Colours come from the photo (lip and skin brightness, and its saturation: a grayscale photo gets gray
teeth).
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_vasa.pipeline.shapes import LUMA, corner_cut, face_box, poly_mask

UPPER_INNER = [60, 61, 62, 63, 64]
LOWER_INNER = [60, 67, 66, 65, 64]  # both corner 60 -> corner 64
CHIN = 8
MIN_GAP = 0.02  # of the inter-ocular distance: thinner openings are left as drawn
OWN_INTERIOR = 0.3  # of the IOD: a photo whose lips are this far apart shows its own teeth and tongue, which
# the decoders carry; a drawn interior over them blacked out a laughing child's teeth (held-out hard set)
UPPER_SHOW = 0.08  # of the IOD: how far the upper teeth reach below the upper lip at rest (a photo that
# shows its own teeth: 0.8 of its lips' gap, when more, up to nearly the incisors' height)
OWN_TEETH = 40.0  # gray levels above the lips' mean: a pixel of the photo's own teeth between its lips
OWN_TEETH_PIXELS = 30  # fewer such pixels and the drawn teeth keep the default colour
# (arch share, height) from the middle outward: central incisor, lateral, canine, premolars; heights in IOD
UPPER_TEETH = ((1.0, 0.16), (0.8, 0.14), (0.85, 0.15), (0.72, 0.12), (0.68, 0.11))
LOWER_TEETH = ((0.62, 0.11), (0.66, 0.11), (0.78, 0.12), (0.72, 0.10), (0.68, 0.09))
ARCH_TURN = np.radians(78)  # the last premolar faces this far from the camera
ARCH_HALF_WIDTH = 0.42  # of the rest mouth's corner-to-corner width
GAP = 0.1  # of a tooth's width, dark between neighbours
SMILE_LINE = 0.05  # of the IOD: how much the biting edges rise from the middle to the corners


def _arch(teeth: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Teeth of one half arch -> (N, 4) rows of (x0, x1, height, light) for both halves, left to right, x in
    -1..1 of the arch's apparent half width: a tooth's apparent width shrinks with the cosine of the turn."""
    shares = np.array([t[0] for t in teeth])
    edges = np.concatenate([[0], np.cumsum(shares)]) / shares.sum() * ARCH_TURN
    out = []
    for i, (_, height) in enumerate(teeth):
        x0, x1 = np.sin(edges[i]) / np.sin(ARCH_TURN), np.sin(edges[i + 1]) / np.sin(ARCH_TURN)
        light = 0.5 + 0.5 * np.cos((edges[i] + edges[i + 1]) / 2)
        out += [(x0, x1, height, light), (-x1, -x0, height, light)]
    return np.array(sorted(out))


UPPER_ARCH, LOWER_ARCH = _arch(UPPER_TEETH), _arch(LOWER_TEETH)


def lip_colour(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The mean RGB of the lips: between the outer and the inner lip line."""
    lips = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(lips, [np.round(landmarks[48:60]).astype(np.int32)], 1)
    cv2.fillPoly(lips, [np.round(landmarks[60:68]).astype(np.int32)], 0)
    return image[lips > 0].astype(np.float32).mean(0) if lips.any() else np.array([170.0, 100.0, 100.0])


def own_teeth(image: np.ndarray, landmarks: np.ndarray, lip: np.ndarray) -> np.ndarray | None:
    """The colour of the photo's own teeth where its lips part over them (a smile showing teeth): the lit
    ones (85th percentile of luma) among the pixels inside the inner lip line at least OWN_TEETH brighter
    than the lips (of colour LIP); None where fewer than OWN_TEETH_PIXELS are. Drawn in a fixed off-white,
    the teeth of a smile whose own teeth are yellower showed as a second row under the photo's (cruise)."""
    inner = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(inner, [np.round(landmarks[60:68]).astype(np.int32)], 1)
    pixels = image[inner > 0].reshape(-1, 3).astype(np.float32)
    luma = pixels @ LUMA
    bright = pixels[luma >= float(lip @ LUMA) + OWN_TEETH]
    if len(bright) < OWN_TEETH_PIXELS:
        return None
    lit = bright @ LUMA
    return bright[lit >= np.percentile(lit, 85)].mean(0)


def palette(
    image: np.ndarray, landmarks: np.ndarray, lip: np.ndarray, teeth: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Mouth colours matched to the photo: cavity and tongue from its lip colour LIP, brightness and
    saturation; the teeth TEETH (the photo's own, where they show) or an off-white matched the same way."""
    img = image.astype(np.float32)
    face = img[
        int(landmarks[29, 1]) - 4 : int(landmarks[29, 1]) + 4,
        int(landmarks[29, 0]) - 4 : int(landmarks[29, 0]) + 4,
    ]
    skin = face.reshape(-1, 3).mean(0) if face.size else lip
    # exposure: the skin's brightness, or the face's brightest parts (eye whites, teeth, glints) where the
    # skin is dark: teeth are white on dark skin too (a laughing child's teeth came out gray from the skin)
    inner = face_box(img, landmarks).reshape(-1, 3) @ LUMA
    bright = float(np.percentile(inner, 97)) / 230 if inner.size else 0.0
    light = float(np.clip(max(skin @ LUMA / 170, bright), 0.5, 1.15))
    saturation = float(np.clip((lip.max() - lip.min()) / max(lip.max(), 1.0) / 0.25, 0, 1))
    colours = {
        "teeth": np.array([226.0, 218.0, 198.0]) * light,
        "cavity": lip * 0.22 + np.array([8.0, 0.0, 0.0]),
        "tongue": (0.55 * lip + 0.45 * np.array([190.0, 95.0, 100.0])) * 0.62 * light,
    }
    for name, c in colours.items():  # a grayscale photo gets gray teeth and tongue
        gray = float(c @ LUMA)
        colours[name] = np.clip(gray + saturation * (c - gray), 0, 255)
    if teeth is not None:
        colours["teeth"] = teeth
    return colours


class Mouth:
    """One identity's mouth interior, drawn for any posed landmarks."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray, iod: float, soften: float = 0.0):
        """SOFTEN: how much blurrier than a sharp photo this one is (Gaussian sigma, px): the teeth match."""
        lip = lip_colour(image, landmarks)
        teeth = own_teeth(image, landmarks, lip)
        self.colours, self.iod = palette(image, landmarks, lip, teeth), iod
        # a smile showing its teeth shows them from its upper lip most of the way to its lower one
        photo_gap = float(np.linalg.norm(landmarks[66] - landmarks[62]))
        own_show = min(0.8 * photo_gap, 0.95 * UPPER_ARCH[:, 2].max() * iod) if teeth is not None else 0.0
        self.upper_show = max(UPPER_SHOW * iod, own_show)  # no deeper than the teeth are tall
        self.own = photo_gap >= OWN_INTERIOR * iod
        self.soften = soften

    def draw(self, frame: np.ndarray, lm: np.ndarray, rest: np.ndarray) -> None:
        """Paint inside FRAME's inner lip line (posed landmarks LM) in place. REST: the same head pose with
        no expression, where the skull (upper teeth) and the jaw at rest (lower teeth) are."""
        if self.own:
            return
        upper, lower = corner_cut(lm[UPPER_INNER]), corner_cut(lm[LOWER_INNER])
        if float(np.max(np.linalg.norm(lower - upper, axis=1))) < MIN_GAP * self.iod:
            return
        outline = np.concatenate([upper, lower[::-1]])
        lo = np.maximum(np.floor(outline.min(0)).astype(int) - 2, 0)
        hi = np.minimum(np.ceil(outline.max(0)).astype(int) + 3, [frame.shape[1], frame.shape[0]])
        if np.any(hi - lo < 3):
            return
        shape = (hi[1] - lo[1], hi[0] - lo[0])
        mask = poly_mask(shape, outline, lo.astype(np.float64))
        # the lip's own shadow on the teeth: the mask's edge is darkened rather than cut
        shade = cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=max(1, round(0.012 * self.iod)))
        layer = self._interior(shape, lo.astype(np.float64), lm, rest, upper, lower)
        layer *= (0.55 + 0.45 * shade)[..., None]
        layer = cv2.GaussianBlur(layer, (0, 0), 0.6)
        region = frame[lo[1] : hi[1], lo[0] : hi[0]].astype(np.float32)
        alpha = mask[..., None]
        if self.soften > 0.3:  # a blurred photo: the interior, and its edge on the lips, as blurred
            layer = cv2.GaussianBlur(region * (1 - alpha) + layer * alpha, (0, 0), self.soften)
        frame[lo[1] : hi[1], lo[0] : hi[0]] = (region * (1 - alpha) + layer * alpha + 0.5).astype(np.uint8)

    def _interior(
        self,
        shape: tuple[int, int],
        lo: np.ndarray,
        lm: np.ndarray,
        rest: np.ndarray,
        upper: np.ndarray,
        lower: np.ndarray,
    ) -> np.ndarray:
        c = self.colours
        ys, xs = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
        centre = (upper[len(upper) // 2] + lower[len(lower) // 2]) / 2 - lo
        half = max(float(np.linalg.norm(lm[64] - lm[60])) / 2, 1.0)
        r = np.sqrt(((xs - centre[0]) / half) ** 2 + ((ys - centre[1]) / (0.6 * half)) ** 2)
        layer = c["cavity"] * np.clip(0.55 + 0.6 * r, 0.55, 1.2)[..., None]
        axis = (rest[64] - rest[60]) / max(float(np.linalg.norm(rest[64] - rest[60])), 1e-6)
        down = np.array([-axis[1], axis[0]])
        gap = float(np.linalg.norm(lower[len(lower) // 2] - upper[len(upper) // 2]))
        tongue_c = lower[len(lower) // 2] - lo + down * 0.05 * gap
        cv2.ellipse(
            layer,
            (tuple(np.round(tongue_c * 16).astype(int).tolist())),
            (int(0.62 * half * 16), int(max(0.5 * gap, 1) * 16)),
            float(np.degrees(np.arctan2(axis[1], axis[0]))),
            180,
            360,
            c["tongue"].tolist(),
            -1,
            cv2.LINE_AA,
            4,
        )
        mid_rest = (rest[62] + rest[66]) / 2
        arch_half = ARCH_HALF_WIDTH * float(np.linalg.norm(rest[64] - rest[60]))
        jaw = 0.85 * (lm[CHIN] - rest[CHIN])
        upper_edge = corner_cut(rest[UPPER_INNER])[len(upper) // 2] + self.upper_show * down
        lower_edge = corner_cut(rest[LOWER_INNER])[len(lower) // 2] - 0.01 * self.iod * down + jaw
        upper_edge = mid_rest + ((upper_edge - mid_rest) @ down) * down
        lower_edge = mid_rest + ((lower_edge - mid_rest) @ down) * down + (jaw @ axis) * axis
        for arch, edge, light, root in ((LOWER_ARCH, lower_edge, 0.8, 1), (UPPER_ARCH, upper_edge, 1.0, -1)):
            self._teeth(layer, arch, (xs, ys), edge - lo, axis, down, arch_half, light, root)
        return layer

    def _teeth(
        self,
        layer: np.ndarray,
        arch: np.ndarray,
        grid: tuple[np.ndarray, np.ndarray],
        edge: np.ndarray,
        axis: np.ndarray,
        down: np.ndarray,
        half: float,
        light: float,
        root: int,
    ) -> None:
        """One row of teeth into LAYER: their biting edge at EDGE (rising toward the corners), growing
        toward ROOT (-1: up, the upper row; +1: down). Each tooth is lit in its middle, darker at its sides
        and toward its root, with a dark gap to its neighbours and rounded tip corners."""
        xs, ys = grid
        u = ((xs - edge[0]) * axis[0] + (ys - edge[1]) * axis[1]) / max(half, 1.0)
        v = (xs - edge[0]) * down[0] + (ys - edge[1]) * down[1]
        depth = root * (
            v + SMILE_LINE * self.iod * u**2
        )  # pixels from the (smile-curved) biting edge to the root
        near = (depth >= 0) & (depth <= arch[:, 2].max() * self.iod) & (np.abs(u) <= 1)
        u, depth = u[near], depth[near]
        k = np.clip(np.searchsorted(arch[:, 0], u) - 1, 0, len(arch) - 1)
        a, b = arch[k, 0], arch[k, 1]
        s = (u - a) / np.maximum(b - a, 1e-6)
        height = arch[k, 2] * self.iod
        corner = np.abs(2 * s - 1) ** 4 * 0.35 * (b - a) * half  # rounded tip corners
        inside = (s >= GAP / 2) & (s <= 1 - GAP / 2) & (depth >= corner) & (depth <= height) & (u <= b)
        inside &= (b - a) * half >= 0.8  # teeth narrower than a pixel are hidden by the arch's turn
        tone = (
            light * (0.45 + 0.55 * arch[k, 3]) * (0.8 + 0.2 * np.sin(np.pi * s)) * (1 - 0.3 * depth / height)
        )
        rows, cols = np.nonzero(near)
        layer[rows[inside], cols[inside]] = self.colours["teeth"] * tone[inside, None]
