"""Atomic output files: written under a temp name beside the target, renamed only when complete."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from edge_vasa.core.errors import EdgeVasaError


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temp path beside ``path``; rename it to ``path`` on success, remove it on any failure.

    The temp file is claimed before the body runs, so an unwritable folder fails before any work is
    done; it keeps the target's extension for writers that choose the format by name (OpenCV).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise EdgeVasaError(f"{path} is a folder; give an output file name")
    folder, name = os.path.split(os.path.abspath(path))
    stem, ext = os.path.splitext(name)
    tmp = os.path.join(folder, f".{stem}.{uuid.uuid4().hex[:8]}.tmp{ext}")
    try:
        open(tmp, "xb").close()
    except OSError as e:
        raise EdgeVasaError(
            f"cannot write to {folder} ({e.strerror}); choose a writable output folder"
        ) from None
    try:
        yield tmp  # errors raised by the caller's writing pass through unchanged
        try:
            os.replace(tmp, path)
        except OSError as e:
            raise EdgeVasaError(f"cannot write {path} ({e.strerror}); check the output folder") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def cache_dir() -> Path:
    """Where edge-vasa keeps what it can rebuild (artifacts, timings, prepared faces): $EDGE_VASA_CACHE, else
    $XDG_CACHE_HOME/edge-vasa, else ~/.cache/edge-vasa."""
    if os.environ.get("EDGE_VASA_CACHE"):
        return Path(os.environ["EDGE_VASA_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edge-vasa"


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file: what weight and artifact manifests record and check."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: str | os.PathLike, data, **dumps) -> None:
    """Save DATA as indented JSON, atomically (keyword arguments go to json.dumps)."""
    with atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(data, indent=1, **dumps))


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike) -> None:
    """Lay out a matplotlib figure, save it as PNG atomically, and free it."""
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png")
    pyplot().close(fig)


def write_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Save an RGB uint8 image as PNG, atomically."""
    with atomic_output(path) as tmp:
        if not cv2.imwrite(tmp, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise EdgeVasaError(f"cannot encode {path} as PNG; use a .png file name")
