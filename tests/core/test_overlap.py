"""An iterator run ahead on a worker thread: the same items in the same order, the worker's errors raised
where the items are used, and no thread left behind when the caller stops early."""

from __future__ import annotations

import threading

import pytest

from edge_vasa.core.overlap import ahead


def workers(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


def test_the_same_items_in_order_on_another_thread():
    seen = []

    def source():
        for i in range(50):
            seen.append(threading.current_thread().name)
            yield i

    assert list(ahead(source(), 3, "worker-order")) == list(range(50))
    assert set(seen) == {"worker-order"}
    assert not workers("worker-order")


def test_the_workers_error_is_raised_to_the_caller_after_the_items_before_it():
    def source():
        yield 1
        yield 2
        raise KeyError("broken frame")

    got = []
    with pytest.raises(KeyError, match="broken frame"):
        for item in ahead(source(), 1, "worker-error"):
            got.append(item)
    assert got == [1, 2]
    assert not workers("worker-error")


def test_stopping_early_stops_the_worker_and_closes_the_source():
    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    items = ahead(endless(), 2, "worker-early")
    assert [next(items) for _ in range(5)] == [0, 1, 2, 3, 4]
    items.close()
    assert closed.is_set()
    assert not workers("worker-early")


def test_an_iterator_never_used_starts_no_thread():
    ahead(iter(range(3)), 1, "worker-unused")
    assert not workers("worker-unused")


def test_depth_below_one_is_refused():
    with pytest.raises(ValueError, match="depth"):
        ahead([], 0)
