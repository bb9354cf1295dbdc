"""DynamicBatcher: gathering, splitting, order, the bounded queue, cancellation, errors, batching off; and
TrainedApp.predict from several threads."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tlsuite_core.serving import DynamicBatcher, QueueFull


class Model:
    def __init__(self, delay: float = 0.0, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.delay = delay
        self.fail_on = fail_on

    def __call__(self, texts: list[str]) -> list[str]:
        self.calls.append(list(texts))
        time.sleep(self.delay)
        if self.fail_on is not None and self.fail_on in texts:
            raise ValueError(f"cannot read {self.fail_on}")
        return [t.upper() for t in texts]


def test_concurrent_requests_share_batches_and_get_their_own_results_in_order():
    model = Model(delay=0.02)
    batcher = DynamicBatcher(model, max_batch_size=16, max_wait=0.05)
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda i: batcher.predict([f"r{i}-{j}" for j in range(3)]), range(12)))
    batcher.close()
    assert results == [[f"R{i}-{j}" for j in range(3)] for i in range(12)]
    assert max(len(c) for c in model.calls) == 16 and sum(len(c) for c in model.calls) == 36
    assert len(model.calls) < 12 and batcher.stats.texts == 36


def test_a_request_larger_than_a_batch_is_split_across_batches():
    model = Model()
    batcher = DynamicBatcher(model, max_batch_size=4, max_wait=0)
    assert batcher.predict([str(i) for i in range(10)]) == [str(i) for i in range(10)]
    batcher.close()
    assert [len(c) for c in model.calls] == [4, 4, 2]


def test_batching_off_runs_one_request_per_call():
    model = Model(delay=0.01)
    batcher = DynamicBatcher(model, max_batch_size=32, max_wait=0.05, batching=False)
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda i: batcher.predict([f"{i}a", f"{i}b"]), range(6)))
    batcher.close()
    assert sorted(len(c) for c in model.calls) == [2] * 6
    assert all(c[0][:-1] == c[1][:-1] for c in model.calls)


def test_a_full_queue_refuses_with_a_retry_after_instead_of_growing():
    release = threading.Event()
    batcher = DynamicBatcher(lambda texts: release.wait(5) and texts, max_batch_size=2, max_wait=0, max_queue=4)
    first = batcher.submit(["a", "b"])  # taken by the worker, blocked in the model
    time.sleep(0.1)
    queued = batcher.submit(["c", "d", "e", "f"])
    assert batcher.depth == 4
    with pytest.raises(QueueFull) as refused:
        batcher.submit(["g"])
    assert refused.value.retry_after >= 1 and refused.value.depth == 4
    release.set()
    assert first.result(5) == ["a", "b"] and queued.result(5) == ["c", "d", "e", "f"]
    batcher.close()


def test_a_timed_out_request_leaves_the_queue():
    release = threading.Event()
    model = Model()
    batcher = DynamicBatcher(lambda t: release.wait(5) and model(t), max_batch_size=1, max_wait=0)
    blocking = batcher.submit(["first"])
    time.sleep(0.05)
    with pytest.raises(TimeoutError):
        batcher.predict(["given up"], timeout=0.05)
    assert batcher.depth == 0
    release.set()
    blocking.result(5)
    batcher.close()
    assert ["given up"] not in model.calls


def test_a_model_error_reaches_the_requests_of_its_batch_and_the_worker_goes_on():
    batcher = DynamicBatcher(Model(fail_on="bad"), max_batch_size=8, max_wait=0)
    with pytest.raises(ValueError, match="cannot read bad"):
        batcher.predict(["ok", "bad"])
    assert batcher.predict(["fine"]) == ["FINE"]
    batcher.close()


def test_close_finishes_what_is_queued():
    batcher = DynamicBatcher(Model(delay=0.02), max_batch_size=1, max_wait=0)
    futures = [batcher.submit([str(i)]) for i in range(5)]
    batcher.close()
    assert [f.result(0) for f in futures] == [[str(i)] for i in range(5)]
    with pytest.raises(RuntimeError):
        batcher.submit(["late"])


def test_trained_app_predict_is_thread_safe(tiny_run):
    from tlsuite_core import load_app

    app = load_app(tiny_run, threads=1)
    texts = [f"the company said profit rose w{i} " * (1 + i % 7) for i in range(40)]
    expected = [p.label for p in app.predict(texts)]
    with ThreadPoolExecutor(8) as pool:
        chunks = list(pool.map(lambda i: app.predict(texts[i::8], batch_size=3), range(8)))
    got = {t: p.label for i, chunk in enumerate(chunks) for t, p in zip(texts[i::8], chunk)}
    assert [got[t] for t in texts] == expected
