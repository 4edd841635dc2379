"""Generation options: one definition, torch-free, so the CLI builds its parser from these defaults."""

from __future__ import annotations

from dataclasses import dataclass

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.motion import EMOTIONS, INDEX, RANGES

OUTPUT_FPS = (25, 30, 40)
RENDERERS = ("decoder", "analytic")  # the learned decoder, or the corpus renderer it learned from
MODELS = ("teacher", "student")  # the reference models, or the distilled edge pair; the first is the default
# Live motion: commit 2 frames per student step and wait for no look-ahead beyond the audio encoder's one
# frame of margin. Measured on held-out speech (hello_en, the held-out alsa recordings, a vi sentence), the
# correlation of jaw opening with voiced energy was 0.728 vs 0.695 with the trained chunk of 10 and 8
# frames of look-ahead; frame-to-frame head jerk rose from 0.0064 to 0.0078. Audio then waits 120-160 ms
# instead of 370-770 ms.
LIVE_HOP, LIVE_LOOKAHEAD = 2, 0


@dataclass
class GenerateOptions:
    emotion: str = "neutral"
    gaze: tuple[float, float] = (0.0, 0.0)  # -1..1: + looks toward image right / down
    distance: float = 1.0  # head scale: > 1 closer to the camera
    motion_scale: float = 1.0  # head-motion amplitude; 0 = still head (eyes and blinks stay alive)
    seed: int = 0
    steps: int = 20  # diffusion sampling steps
    cfg_audio: float = 2.0
    cfg_control: float = 1.5
    fps: int = 25

    def check(self) -> None:
        """One-line errors for out-of-range options, naming the valid range."""
        lo, hi = RANGES[INDEX["scale"]]
        problems = [
            (self.emotion not in EMOTIONS, f"emotion must be one of {', '.join(EMOTIONS)}"),
            (not all(-1 <= g <= 1 for g in self.gaze), "gaze values must be within -1..1"),
            (not lo <= self.distance <= hi, f"distance must be within {lo:.2f}..{hi:.2f}"),
            (not 0 <= self.motion_scale <= 2, "motion scale must be within 0..2"),
            (not 1 <= self.steps <= 200, "steps must be within 1..200"),
            (
                not (0 <= self.cfg_audio <= 10 and 0 <= self.cfg_control <= 10),
                "guidance scales must be 0..10",
            ),
            (self.fps not in OUTPUT_FPS, f"fps must be one of {', '.join(map(str, OUTPUT_FPS))}"),
        ]
        for bad, message in problems:
            if bad:
                raise EdgeVasaError(message)
