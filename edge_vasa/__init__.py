"""edge-vasa: one photo + speech -> a talking-face video, on edge hardware."""

__version__ = "0.1.0"
