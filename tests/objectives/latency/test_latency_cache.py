"""The persistent SQLite latency cache: keys, hits, concurrent writers, opting out."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from accelsearch.objectives import latency
from accelsearch.objectives.latency import Protocol
from accelsearch.objectives.latency.cache import LatencyCache, key_digest, open_cache
from accelsearch.objectives.latency.result import LatencyResult

#: a protocol short enough for CPU tests (timings are not asserted, only behaviour)
FAST = Protocol(warmup=1, min_reps=3, max_reps=6, max_seconds=0.5, batch_reps=3)


def _result(ms: float, batch: int = 1) -> LatencyResult:
    return LatencyResult(
        median_ms=ms,
        p10_ms=ms,
        p90_ms=ms,
        mean_ms=ms,
        cv=0.0,
        n=3,
        backend="torch",
        device="cpu",
        device_name="test cpu",
        precision="fp32",
        batch_size=batch,
        resolution=32,
    )


def _writer(path: str, worker: int, count: int) -> None:
    cache = LatencyCache(path)
    for i in range(count):
        key = key_digest({"worker": worker, "i": i})
        cache.put(key, {"worker": worker}, _result(float(worker * 1000 + i)))
        assert cache.get(key) is not None


def test_put_get_marks_cached(tmp_path):
    cache = LatencyCache(tmp_path / "c.sqlite")
    key = key_digest({"a": 1})
    assert cache.get(key) is None
    cache.put(key, {"a": 1}, _result(2.5))
    hit = cache.get(key)
    assert hit.cached and hit.median_ms == 2.5
    assert len(cache) == 1 and cache.integrity_ok()


def test_concurrent_writers_lose_nothing(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    LatencyCache(path)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 25)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    cache = LatencyCache(path)
    assert len(cache) == 100
    assert cache.integrity_ok()
    values = sorted(r.median_ms for r in cache.results())
    assert values == sorted(float(w * 1000 + i) for w in range(4) for i in range(25))


def test_repeated_measurement_comes_from_the_cache(tiny_arch):
    kw = dict(batch_size=2, backend="torch", device="cpu", protocol=FAST, threads=1)
    first = latency.measure(tiny_arch, **kw)
    second = latency.measure(tiny_arch, **kw)
    assert not first.cached and second.cached
    assert second.median_ms == first.median_ms and second.n == first.n
    # the module built from the arch shares the arch's entry
    from accelsearch.core.builder import build_model

    third = latency.measure(build_model(tiny_arch), resolution=tiny_arch.resolution, **kw)
    assert third.cached and third.median_ms == first.median_ms
    # anything that changes the number is part of the key
    assert not latency.measure(tiny_arch, **{**kw, "batch_size": 3}).cached
    assert not latency.measure(tiny_arch, **{**kw, "threads": 2}).cached
    assert not latency.measure(tiny_arch, **kw, channels_last=True).cached
    assert not latency.measure(tiny_arch.replace(resolution=64), **kw).cached
    refreshed = latency.measure(tiny_arch, **kw, refresh=True)
    assert not refreshed.cached
    assert latency.measure(tiny_arch, **kw).median_ms == refreshed.median_ms


def test_cache_can_be_turned_off(tiny_arch, monkeypatch, tmp_path):
    kw = dict(batch_size=1, backend="torch", device="cpu", protocol=FAST, threads=1)
    assert not latency.measure(tiny_arch, cache=False, **kw).cached
    assert not latency.measure(tiny_arch, cache=False, **kw).cached
    monkeypatch.setenv("ACCELSEARCH_LATENCY_CACHE", "off")
    assert open_cache(True) is None
    latency.measure(tiny_arch, **kw)
    assert not latency.measure(tiny_arch, **kw).cached
    monkeypatch.setenv("ACCELSEARCH_LATENCY_CACHE", str(tmp_path / "mine.sqlite"))
    latency.measure(tiny_arch, **kw)
    assert latency.measure(tiny_arch, **kw).cached
    assert len(LatencyCache(tmp_path / "mine.sqlite")) == 1


def test_bad_cache_option():
    from accelsearch.core.errors import ConfigError

    with pytest.raises(ConfigError, match="cache"):
        open_cache(42)
