"""The organisation's findings list exported as CSV and XLSX, streamed: rows per second, time to
first byte, size, and the peak of Python memory as the rows grow.

Each size of `scale.export_rows` is reached with the filters the findings page offers, not a
row limit the page does not have: of the jurisdiction, regulation, status (or any gap) and "due
on or after" filters and their combinations, the one selecting the fewest current findings at or
above the size (counted from one aggregate query; the export's own count is then taken from the
app's list). When the large organisation has fewer current findings than a size, the whole list
is exported and the notes say so.

Every export is requested through django.test.Client as the large organisation's admin (the full
middleware stack, DEBUG off) and its streaming_content consumed, twice: once timed, once under
tracemalloc for the peak of Python allocations (tracemalloc slows allocation, so it is never
timed). The row count of each export is checked on the memory run's output, which goes to a
temporary file and is read back (CSV with csv.reader, XLSX by parsing the sheet's XML) after the
measured block.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import IO, Any

from django.db.models import Count
from django.urls import reverse
from django.utils.http import urlencode

from bench.core import Bench, Goal, Outcome
from bench.measure import python_peak, rss_peak

FORMATS = ("csv", "xlsx")
FLAT = 1.5  # the peak at the largest size ÷ the peak at the smallest
SHEET = "xl/worksheets/sheet1.xml"
ROW_TAG = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}row"


@dataclass
class Export:
    size: int  # the size asked for
    rows: int  # the rows the filter selects
    query: dict[str, str]


@dataclass
class Run:
    seconds: float
    first_byte_ms: float
    bytes: int
    peak_mb: float = 0.0
    rss_growth_mb: float = 0.0


def run(bench: Bench) -> list[Outcome]:
    exports = _exports(bench)
    client = bench.web_client()
    # Warm-up (untimed): the session's organisation, the catalogue, the database's buffers.
    for kind in FORMATS:
        _timed(client, _url(bench.org, kind, exports[0].query))
    metrics: dict[str, Any] = {}
    goals = []
    notes = [
        "GET /o/<org>/findings/export/?format=csv|xlsx&<filters> as the large organisation's "
        "admin (django.test.Client, the full middleware stack, DEBUG off), the streamed body "
        "consumed in full. For each size, `<format>_<size>_filter` is the combination of the "
        "findings page's filters (jurisdiction, regulation, status, due on or after) that selects "
        "the fewest current findings at or above the size, `<format>_<size>_rows` how many it "
        "selects, checked against the rows in the file.",
        "rows/s: rows ÷ the time from the request to the last byte (one timed run). First "
        "byte: from the request to the first non-empty chunk; the rows are read through a "
        "server-side cursor, which PostgreSQL (autocommit, so WITH HOLD) fills with the whole "
        "result before the first row comes back, so the first byte waits for the query.",
        "Peak memory: tracemalloc's peak of Python allocations during a second, untimed run "
        "(the request and the whole stream; psycopg's and zlib's C buffers are not traced). "
        "RSS growth: the process's resident size during the timed run over its size before "
        "(informative: freed memory is not returned to the system, so only growth shows).",
    ]
    for export in exports:
        if export.rows < export.size:
            notes.append(
                f"Size {export.size:,}: the large organisation has {export.rows:,} current "
                "findings, all of them exported."
            )
    for kind in FORMATS:
        peaks = []
        for export in exports:
            url = _url(bench.org, kind, export.query)
            timed = _timed(client, url)
            timed.peak_mb, written = _peak(client, url, kind)
            peaks.append(timed.peak_mb)
            if written != export.rows:
                raise RuntimeError(f"{url}: {written} rows in the file, {export.rows} expected")
            prefix = f"{kind}_{export.size}"
            metrics[f"{prefix}_rows"] = export.rows
            metrics[f"{prefix}_filter"] = urlencode(export.query) or "(none)"
            metrics[f"{prefix}_rows_per_s"] = round(export.rows / timed.seconds)
            metrics[f"{prefix}_seconds"] = round(timed.seconds, 2)
            metrics[f"{prefix}_first_byte_ms"] = round(timed.first_byte_ms, 1)
            metrics[f"{prefix}_mb"] = round(timed.bytes / 1024**2, 2)
            metrics[f"{prefix}_peak_mb"] = round(timed.peak_mb, 2)
            metrics[f"{prefix}_rss_growth_mb"] = round(timed.rss_growth_mb, 1)
        smallest, largest = exports[0], exports[-1]
        ratio = peaks[-1] / max(peaks[0], 1e-6)
        goals.append(
            Goal(
                f"{kind}: peak memory at {largest.size:,} rows ÷ at {smallest.size:,}",
                round(ratio, 2),
                "<=",
                FLAT,
                "×",  # noqa: RUF001 (the unit, as the report prints it)
            )
        )
    return [
        Outcome(
            key="export",
            title="Findings export, streamed (CSV and XLSX)",
            metrics=metrics,
            goals=goals,
            notes=notes,
        )
    ]


# --- Choosing the exports ----------------------------------------------------------------------


def _exports(bench: Bench) -> list[Export]:
    """For each size, the filter of the findings page selecting the fewest current findings at
    or above it, and the count the app's own list gives for it."""
    from assessments import dashboard
    from assessments.actions import today_for

    org = bench.org
    today = today_for(org)
    candidates = _candidates(org)
    exports = []
    for size in sorted(bench.scale.export_rows):
        above = [c for c in candidates if c[0] >= size]
        _count, query = min(above, key=lambda c: (c[0], len(c[1]))) if above else (0, {})
        filters: dict[str, Any] = dict(query)
        if "due_from" in filters:
            filters["due_from"] = dt.date.fromisoformat(filters["due_from"])
        rows = dashboard.finding_rows(org, today=today, **filters).count()
        exports.append(Export(size=size, rows=rows, query=query))
    return exports


def _candidates(org) -> list[tuple[int, dict[str, str]]]:
    """(current findings, filters) for filters of the findings page: a jurisdiction, a
    regulation, a status (or every gap), a jurisdiction or a regulation with a status, each
    alone and with every "due on or after" day; counted from one aggregate query."""
    from assessments import dashboard
    from assessments.models import GAP_STATUSES

    groups = (
        dashboard.current_findings(org)
        .values_list("jurisdiction", "regulation_code", "status", "due_date")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_subset: dict[tuple[tuple[str, str], ...], Counter] = defaultdict(Counter)
    for jurisdiction, regulation, status, due, n in groups:
        statuses = [status, dashboard.GAP] if status in GAP_STATUSES else [status]
        subsets: list[tuple[tuple[str, str], ...]] = [
            (),
            (("jurisdiction", jurisdiction),),
            (("regulation", regulation),),
        ]
        for value in statuses:
            subsets += [
                (("status", value),),
                (("jurisdiction", jurisdiction), ("status", value)),
                (("regulation", regulation), ("status", value)),
            ]
        for subset in subsets:
            by_subset[subset][due] += n
    candidates = []
    for subset, by_due in by_subset.items():
        base = dict(subset)
        candidates.append((sum(by_due.values()), base))
        running = 0
        for day in sorted((day for day in by_due if day is not None), reverse=True):
            running += by_due[day]
            candidates.append((running, {**base, "due_from": day.isoformat()}))
    return candidates


def _url(org, kind: str, query: dict[str, str]) -> str:
    path = reverse("finding_export", kwargs={"org_code": org.code})
    return f"{path}?{urlencode({'format': kind, **query})}"


# --- Measuring ---------------------------------------------------------------------------------


def _stream(client, url: str, out: IO[bytes] | None = None) -> Run:
    started = time.perf_counter()
    response = client.get(url)
    if response.status_code != 200 or not response.streaming:
        raise RuntimeError(f"GET {url}: {response.status_code}")
    first = None
    size = 0
    for chunk in response.streaming_content:  # the client closes the response at the end
        if chunk and first is None:
            first = time.perf_counter()
        size += len(chunk)
        if out is not None:
            out.write(chunk)
    ended = time.perf_counter()
    return Run(
        seconds=ended - started, first_byte_ms=((first or ended) - started) * 1000, bytes=size
    )


def _timed(client, url: str) -> Run:
    with rss_peak() as rss:
        result = _stream(client, url)
    result.rss_growth_mb = rss.growth_mb
    return result


def _peak(client, url: str, kind: str) -> tuple[float, int]:
    """tracemalloc's peak (MB) while `url` is requested and streamed, and the data rows of
    what it sent."""
    with tempfile.TemporaryFile() as out:
        with python_peak() as peak:
            _stream(client, url, out)
        out.seek(0)
        return peak.mb, _csv_rows(out) if kind == "csv" else _xlsx_rows(out)


def _csv_rows(out: IO[bytes]) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
    try:
        return sum(1 for _row in csv.reader(text)) - 1
    finally:
        text.detach()


def _xlsx_rows(out: IO[bytes]) -> int:
    rows = 0
    with zipfile.ZipFile(out) as archive, archive.open(SHEET) as sheet:
        # Our own output, read back to count its rows.
        for _event, element in ET.iterparse(sheet):  # noqa: S314
            if element.tag == ROW_TAG:
                rows += 1
                element.clear()
    return rows - 1
