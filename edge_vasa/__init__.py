"""edge-vasa: one photo + speech -> a talking-face video, on edge hardware."""

import os

# One BLAS thread for the OpenBLAS copies that numpy and OpenCV each load, set before either loads (it is
# read then). Their work here is small matrices (a thin-plate solve, a resize as two gemms) between the
# runtimes' own thread pools, and multi-threaded OpenBLAS workers spin (sched_yield) between calls: a live
# session at 25 FPS used 83 % of two cores with them, 49 % without, at the same FPS. (Numpy's once hung
# for minutes beside OpenVINO's and PyTorch's pools.) OMP_NUM_THREADS is left alone: it would also hold
# PyTorch's networks to one core.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
