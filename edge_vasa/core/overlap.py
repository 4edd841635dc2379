"""Run an iterator's work on its own thread, so that what consumes it overlaps with what produces it.

    drawn = ahead((decoder.render(batch) for batch in batches), depth=2)   # on a worker thread
    for frames in drawn:                                   # face layers, paste-back, H.264 here
        ...

Offline generation is a chain of stages (decoder, face layers, paste-back, watermark, encoder) that run one
after the other on one thread: the decoder's runtime uses the cores while it runs, and the rest waits for
it. Most stages release the GIL (OpenVINO, onnxruntime, OpenCV, PyAV's encoder), so two threads keep two
cores busy. The worker stops when the consumer stops early or fails, and its errors reach the consumer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()
_POLL_S = 0.1  # how often a blocked worker looks whether the consumer has gone


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


def ahead(items: Iterable[T], depth: int, name: str = "ahead") -> Iterator[T]:
    """ITEMS, produced on a worker thread at most DEPTH items ahead of the caller (bounded memory)."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    return _run(items, depth, name)


def _run(items: Iterable[T], depth: int, name: str) -> Iterator[T]:
    """The worker starts at the first item asked for, so an iterator never used leaves no thread behind."""
    ready: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:  # a generator source left here is closed as the thread lets it go
        try:
            for item in items:
                if not offer(item):
                    return
            offer(_END)
        except BaseException as e:  # handed to the consumer, which raises it
            offer(_Failed(e))

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join()
