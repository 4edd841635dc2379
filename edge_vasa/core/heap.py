"""Handing freed memory back to the system.

glibc keeps freed heap pages in its arenas, so a long-running process (a live session, a kiosk) shows
the peak of its start-up (face detection, backend selection, model loading) as resident memory for good.
``malloc_trim`` returns those pages; elsewhere (macOS, musl) this does nothing.
"""

import ctypes
import gc


def trim_heap(collect: bool = True) -> None:
    """COLLECT first runs Python's garbage collector (it holds the interpreter lock for a while: not in the
    middle of a live session)."""
    if collect:
        gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: freed memory is reused by the process instead
        pass
