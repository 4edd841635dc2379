"""The edge models at run time: three networks on one backend, and fallback to the next backend.

models = FallbackModels(rank_candidates())      # fastest usable backend; the next ones on failure
frame = models.run("decoder_student", feeds)    # any network by name, on whichever backend is current
step = ArtifactStep(models)                     # the motion student's streaming step (motion_stream)
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.pipeline.motion_stream import StepShape
from edge_vasa.runtimes.selector import Candidate, Ranked, open_backend


class EdgeModels:
    """The appearance encoder, motion step and decoder of one candidate, loaded. Call ``run``."""

    def __init__(self, candidate: Candidate | None, encoder, motion_step, decoder):
        self.candidate = candidate
        self.networks = {
            "appearance_encoder": encoder,
            "motion_step": motion_step,
            "decoder_student": decoder,
        }

    @classmethod
    def open(cls, ranked: Ranked) -> EdgeModels:
        c, paths = ranked.candidate, {n: Path(p) for n, p in ranked.artifacts.items()}
        # the motion step is small and runs beside the decoder: one thread, the decoder gets the cores
        return cls(
            c,
            open_backend(c, "appearance_encoder", paths["appearance_encoder"]),
            open_backend(c, "motion_step", paths["motion_step"], threads=1),
            open_backend(c, "decoder_student", paths["decoder_student"]),
        )

    @property
    def current(self) -> EdgeModels:
        return self

    def run(self, network: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.networks[network](feeds)


class FallbackModels:
    """The fastest usable candidate of a ranking; when it fails to load or raises while running, the next
    one takes over (with a warning) and the call is repeated, so a session never drops for a backend."""

    def __init__(self, ranking: list[Ranked], warn: Callable[[str], None] | None = None):
        self.queue = [r for r in ranking if r.usable]
        if not self.queue:
            reasons = "; ".join(f"{r.candidate}: {r.status}" for r in ranking)
            raise EdgeVasaError(f"no usable backend here ({reasons}); run `edge-vasa doctor`")
        self.warn = warn or (lambda message: warnings.warn(message, RuntimeWarning, stacklevel=3))
        self.lock = threading.Lock()
        self.fallbacks: list[str] = []  # what happened, for status pages and notes
        self.active: EdgeModels | None = None
        self._next(None)

    def _next(self, reason: str | None) -> None:
        while self.queue:
            ranked = self.queue.pop(0)
            try:
                models = EdgeModels.open(ranked)
            except Exception as e:
                reason = f"{ranked.candidate} failed to load ({type(e).__name__}: {e})"
                self.warn(reason)
                continue
            if reason:
                message = f"{reason}; falling back to {ranked.candidate}"
                self.fallbacks.append(message)
                self.warn(message)
            self.active, self.ranked = models, ranked
            return
        raise EdgeVasaError(f"every backend failed; the last: {reason}")

    @property
    def current(self) -> EdgeModels:
        return self.active

    @property
    def candidate(self) -> Candidate:
        return self.active.candidate

    @property
    def artifacts(self) -> dict[str, Path]:
        """The current backend's artifact file per network."""
        return {network: Path(path) for network, path in self.ranked.artifacts.items()}

    def skip(self, reason: str) -> None:
        """Move to the next backend now (the current one hangs, say)."""
        with self.lock:
            self._next(reason)

    def run(self, network: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        while True:
            models = self.active
            try:
                return models.run(network, feeds)
            except EdgeVasaError:
                raise  # bad inputs: the next backend would refuse them too
            except Exception as e:
                with self.lock:
                    if self.active is models:  # another thread may have moved on already
                        self._next(f"{models.candidate} raised {type(e).__name__} in {network}: {e}")


class ArtifactStep:
    """The motion student's streaming step run by the edge models (a step for pipeline.motion_stream). Its
    shape comes from the artifact's manifest: past and noise inputs, committed motion output."""

    def __init__(self, models: EdgeModels | FallbackModels):
        self.models = models
        backend = models.current.networks["motion_step"]
        ((chunk, _),) = (v["shape"] for v in backend.manifest["outputs"].values())
        self.shape = StepShape(backend.shapes["past"][0], backend.shapes["noise"][0], chunk)

    def __call__(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.models.run("motion_step", feeds)
