"""Helpers for tests that run the command line in-process (imported as `helpers`: pytest puts tests/ on
sys.path)."""

from __future__ import annotations

import socket

import cv2
import numpy as np

from edge_vasa.apps.cli import main
from edge_vasa.core.motion import INDEX, NEUTRAL, motion_to_landmarks


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """main(ARGV) -> (exit status, stdout, stderr)."""
    try:
        rc = main(list(argv))
    except SystemExit as e:  # argparse: --help, --version, usage errors
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_error_line(rc: int, err: str, *words: str) -> str:
    """Exit status 2 and exactly one `error: ...` line on stderr that names every one of WORDS."""
    assert rc == 2, f"exit code {rc}, stderr {err!r}"
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for w in words:
        assert w.lower() in lines[0].lower(), f"{w!r} not in {lines[0]!r}"
    return lines[0]


def motion(**kw: float) -> np.ndarray:
    """The neutral motion frame with the named channels set, e.g. ``motion(jaw_open=0.9)``."""
    m = NEUTRAL.copy()
    for k, v in kw.items():
        m[INDEX[k]] = v
    return m


def polygon_mask(points: np.ndarray, size: int = 512) -> np.ndarray:
    """(size, size) bool mask of the polygon through POINTS (pixel coordinates)."""
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask.astype(bool)


def rendered(renderer, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(frames, the landmarks they are meant to show) of any renderer under (T, MOTION_DIM) motion."""
    motion = np.asarray(motion)
    return renderer.render(motion), motion_to_landmarks(motion, renderer.geometry)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LOOPBACK = ("http://127.0.0.1", "data:", "blob:")


def loopback_only(page):
    """PAGE (Playwright) may only talk to this machine: other requests are blocked and listed in
    page.external, so a test can assert that nothing left it."""
    page.external = []

    def route(r):
        if r.request.url.startswith(LOOPBACK):
            r.continue_()
        else:
            page.external.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return page
