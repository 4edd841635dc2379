"""Calibration data recipes and INT8 quantization per backend. Installed as ``edge_vasa.calibration``."""
