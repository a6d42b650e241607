"""Measuring helpers for the workloads: timings, percentiles, captured SQL, memory.

Times are wall-clock milliseconds (time.perf_counter). Percentiles interpolate linearly between
the two nearest ranks (numpy's default), so p50 of [1, 2, 3, 4] is 2.5.
"""

from __future__ import annotations

import math
import resource
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


def timed(fn: Callable[[], Any], n: int, warmup: int = 3) -> list[float]:
    """Call `fn` `warmup` times untimed, then `n` times; each call's milliseconds."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0 <= p <= 100), interpolated between the nearest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must lie in [0, 100], not {p}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, float]:
    """{p50, p95, mean, n} of `values` (milliseconds, rounded to a microsecond)."""
    return {
        "p50": round(percentile(values, 50), 3),
        "p95": round(percentile(values, 95), 3),
        "mean": round(sum(values) / len(values), 3),
        "n": len(values),
    }


def queries_of(fn: Callable[[], Any], *, using: str = "default") -> list[str]:
    """The SQL statements `fn` runs on the Django connection, as PostgreSQL received them
    (parameters bound), in order."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connections[using]) as captured:
        fn()
    return [query["sql"] for query in captured.captured_queries]


def raw_sql_ms(
    sql: str, n: int, *, warmup: int = 3, org_id: int | None = None, using: str = "default"
) -> list[float]:
    """Run `sql` on the Django connection's own psycopg connection (no ORM, no Django cursor
    wrapper), fetching every row; each run's milliseconds.

    The connection keeps its role (the app role) and row-level security scope, so the database
    applies the same policies as for the app. A request runs inside its organisation's scope:
    pass `org_id` to measure in that scope too (otherwise the process's scope applies, the
    system scope in the bench).
    """
    from django.db import connections

    from governance import rls

    connection = connections[using]
    scope = rls.Scope(org_id=org_id) if org_id is not None else rls.current()
    with rls.scoped(scope):
        connection.ensure_connection()
        raw = connection.connection

        def run() -> None:
            with raw.cursor() as cursor:
                cursor.execute(sql)
                cursor.fetchall()

        return timed(run, n, warmup=warmup)


def peak_rss_mb() -> float:
    """The process's peak resident memory since it started (MB; getrusage's ru_maxrss)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / (1024 * 1024)


@dataclass
class Peak:
    """Filled in when the measuring block ends."""

    mb: float = 0.0
    baseline_mb: float = 0.0

    @property
    def growth_mb(self) -> float:
        return self.mb - self.baseline_mb


@contextmanager
def python_peak() -> Iterator[Peak]:
    """Peak memory allocated by Python code during the block (tracemalloc): `mb` is the peak of
    traced memory, `baseline_mb` what was traced when the block began, `growth_mb` the
    difference (when tracing starts here, the baseline is zero). Counts Python allocations only
    (not psycopg's or zlib's C buffers) and slows allocation-heavy code: do not time inside it."""
    peak = Peak()
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    try:
        yield peak
    finally:
        _, top = tracemalloc.get_traced_memory()
        peak.baseline_mb = before / (1024 * 1024)
        peak.mb = top / (1024 * 1024)
        if started_here:
            tracemalloc.stop()


@contextmanager
def rss_peak(interval: float = 0.01) -> Iterator[Peak]:
    """Peak resident memory of the whole process during the block (C allocations included),
    sampled every `interval` seconds by a thread: `mb` is the peak, `baseline_mb` the resident
    size when the block began, `growth_mb` the difference."""
    peak = Peak(baseline_mb=rss_mb())
    peak.mb = peak.baseline_mb
    done = threading.Event()

    def sample() -> None:
        while not done.wait(interval):
            peak.mb = max(peak.mb, rss_mb())

    thread = threading.Thread(target=sample, name="rss-peak", daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()
        peak.mb = max(peak.mb, rss_mb())
