"""The edge models as the apps open them: exported on demand where the export tools are installed, taken
as they are on the torch-free edge install."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from edge_vasa.core.face_cache import ArrayStore
from edge_vasa.runtimes.assembler import EdgeStudio
from edge_vasa.runtimes.selector import Builder


def artifact_builder() -> Builder | None:
    """conversion.export.ensure_artifact where torch and the exporters are installed (missing fp32
    artifacts are exported in seconds), else None: the edge install runs what was exported before. Torch is
    looked for, not imported: the check that built artifacts are current is torch-free (a warm start)."""
    try:
        if importlib.util.find_spec("torch") is None:  # the exporters need it: the edge install
            return None
        from edge_vasa.conversion.export import ensure_artifact
    except ImportError:
        return None
    return ensure_artifact


def open_studio(
    backend: str | None = None,
    precision: str | None = None,
    warn: Callable[[str], None] | None = None,
    features: ArrayStore | None = None,
) -> EdgeStudio:
    """An EdgeStudio on BACKEND ("auto" or None: the fastest here) at PRECISION; FEATURES: EdgeStudio's."""
    return EdgeStudio(backend, precision, artifact_builder(), warn=warn, features=features)
