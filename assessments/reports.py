"""Reports of one completed assessment: the context of the HTML and PDF report, the PDF itself,
and the findings as spreadsheet rows (CSV and XLSX); the same rows for the organisation's
findings list.

An assessment has at most ~150 findings, so its builders are bounded and cheap enough to run
inside a request. The organisation's list can hold 100,000 findings and more: it is only ever
streamed, read through a server-side cursor, in constant memory.
"""

import csv
import datetime as dt
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any, TypeVar

import xlsxwriter
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import ImproperlyConfigured
from django.db.models import (
    Case,
    IntegerField,
    Prefetch,
    QuerySet,
    Value,
    When,
    prefetch_related_objects,
)
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from governance.models import ROLES, Jurisdiction, Obligation

from . import selectors, xlsx_stream
from .models import Assessment, Evidence, Finding, FindingStatus

REPORT_CSS = "css/report.css"
JURISDICTION_ORDER = ("EU", "JP", "INTL")
T = TypeVar("T")

# --- The HTML and PDF report -------------------------------------------------------------------


@dataclass
class CountRow:
    label: str
    counts: list[int]  # one per FindingStatus, in its order
    total: int
    gaps: int


def _count_rows(findings: list[Finding]) -> tuple[list[CountRow], CountRow]:
    """Findings counted by jurisdiction (rows) and status (columns), and the totals row."""
    statuses = list(FindingStatus)
    labels = dict(Jurisdiction.choices)
    present = sorted(
        {f.jurisdiction for f in findings},
        key=lambda j: (JURISDICTION_ORDER.index(j) if j in JURISDICTION_ORDER else 9, j),
    )

    def row(label: str, rows: list[Finding]) -> CountRow:
        return CountRow(
            label=str(label),
            counts=[sum(1 for f in rows if f.status == s) for s in statuses],
            total=len(rows),
            gaps=sum(1 for f in rows if f.is_gap),
        )

    by_jurisdiction = [
        row(labels.get(j, j), [f for f in findings if f.jurisdiction == j]) for j in present
    ]
    return by_jurisdiction, row(gettext("Total"), findings)


def report_context(assessment: Assessment) -> dict[str, Any]:
    """Everything the HTML page and the PDF show about a completed assessment: its
    classification, its findings grouped by regulation with their evidence, and the counts.

    A fixed number of queries whatever the number of findings."""
    groups = selectors.findings_by_regulation(assessment)
    findings = [f for group in groups for f in group.findings]
    prefetch_related_objects(
        findings, Prefetch("evidence", queryset=Evidence.objects.order_by("added_at", "id"))
    )
    count_rows, count_total = _count_rows(findings)
    return {
        "assessment": assessment,
        "system": assessment.system,
        "classification": selectors.classification(assessment),
        "groups": groups,
        "status_labels": [s.label for s in FindingStatus],
        "count_rows": count_rows,
        "count_total": count_total,
        "generated_at": timezone.now(),
    }


def report_css_path() -> str:
    """static/css/report.css on disk: from the source tree, else from collectstatic's output."""
    path = finders.find(REPORT_CSS)
    if not path and (Path(settings.STATIC_ROOT) / REPORT_CSS).is_file():
        path = Path(settings.STATIC_ROOT) / REPORT_CSS
    if not path:
        raise ImproperlyConfigured(f"The report stylesheet static/{REPORT_CSS} is missing.")
    return str(path)


def report_pdf_html(assessment: Assessment) -> str:
    """The standalone HTML that WeasyPrint turns into the PDF, in the active language."""
    context = {**report_context(assessment), "language": translation.get_language() or "en"}
    return render_to_string("assessments/report_pdf.html", context)


def pdf_from_html(html: str, base_url: str) -> bytes:
    """Print standalone HTML to PDF with the report stylesheet.

    `base_url` makes relative links absolute. WeasyPrint may fetch nothing: the stylesheet is
    read from disk here and the fonts come from the system (Noto Sans CJK for Japanese), so
    user text in a report can never make the server request a URL."""
    # Imported here: WeasyPrint takes about a second to import, which only PDFs should pay for,
    # not every web, worker and management process that loads the URL configuration.
    from weasyprint import CSS, HTML
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols=())
    document = HTML(string=html, base_url=base_url, url_fetcher=fetcher)
    stylesheet = CSS(filename=report_css_path(), url_fetcher=fetcher)
    return document.write_pdf(stylesheets=[stylesheet])


def report_pdf(assessment: Assessment, base_url: str) -> bytes:
    """The report as a PDF, in the active language and time zone."""
    return pdf_from_html(report_pdf_html(assessment), base_url)


# --- The findings as a spreadsheet -------------------------------------------------------------

# (header, column width in characters)
COLUMNS = [
    (_("System"), 24),
    (_("Assessment"), 38),
    (_("Catalogue release"), 18),
    (_("Jurisdiction"), 12),
    (_("Regulation"), 14),
    (_("Obligation"), 22),
    (_("Obligation title"), 50),
    (_("Provision"), 18),
    (_("Our roles"), 28),
    (_("Legal force"), 16),
    (_("Applies from"), 12),
    (_("Due"), 12),
    (_("Status"), 16),
    (_("Justification"), 40),
    (_("Notes"), 40),
    (_("Risk accepted by"), 26),
    (_("Evidence"), 50),
]


# What a row shows, in the order `finding_table` unpacks it: plain values, not model instances,
# which would cost several objects per row (a finding, its system, assessment, release,
# obligation, provision and approver) for a list that can run to 100,000 rows.
EXPORT_VALUES = (
    "id",
    "system__name",
    "assessment__code",
    "assessment__release__code",
    "jurisdiction",
    "regulation_code",
    "obligation_code",
    "obligation__title_en",
    "obligation__title_ja",
    "obligation__provision__reference",
    "roles",
    "legal_force",
    "applies_from",
    "due_date",
    "status",
    "justification",
    "notes",
    "risk_approved_by__email",
)
# Findings read per round trip of the server-side cursor; each chunk's evidence is one more
# query, and a chunk is all the export holds at a time.
EXPORT_CHUNK = 500


def _chunks(findings: QuerySet[Finding]) -> Iterator[list[tuple[Any, ...]]]:
    """`findings` as `EXPORT_VALUES` tuples, in their order, `EXPORT_CHUNK` at a time, read
    through a server-side cursor: memory stays flat whatever the number of rows."""
    rows = findings.values_list(*EXPORT_VALUES).iterator(chunk_size=EXPORT_CHUNK)
    while chunk := list(islice(rows, EXPORT_CHUNK)):
        yield chunk


def _evidence_urls(finding_ids: list[int]) -> dict[int, list[str]]:
    urls: dict[int, list[str]] = {}
    rows = (
        Evidence.objects.filter(finding_id__in=finding_ids)
        .order_by("finding_id", "added_at", "id")
        .values_list("finding_id", "url")
    )
    for finding_id, url in rows:
        urls.setdefault(finding_id, []).append(url)
    return urls


def finding_table(findings: QuerySet[Finding]) -> Iterator[list[Any]]:
    """The header, then one row per finding of `findings` (in its order), in the active
    language. Dates stay dates."""
    yield [str(header) for header, _width in COLUMNS]
    # Labels looked up once, not per row: a model's get_FOO_display() rebuilds its choices.
    forces = {value: str(label) for value, label in Obligation.LegalForce.choices}
    statuses = {value: str(label) for value, label in FindingStatus.choices}
    roles = {value: str(label) for value, label in ROLES}
    # Obligation.title's rule (Bilingual.text): the Japanese title when reading Japanese.
    japanese = (translation.get_language() or "en")[:2] == "ja"
    for chunk in _chunks(findings):
        evidence = _evidence_urls([row[0] for row in chunk])
        for (
            finding_id,
            system,
            assessment,
            release,
            jurisdiction,
            regulation,
            obligation,
            title_en,
            title_ja,
            provision,
            finding_roles,
            legal_force,
            applies_from,
            due_date,
            status,
            justification,
            notes,
            approver,
        ) in chunk:
            yield [
                system,
                str(assessment),
                release,
                jurisdiction,
                regulation,
                obligation,
                (title_ja if japanese else "") or title_en,
                provision,
                ", ".join(roles.get(role, role) for role in finding_roles),
                forces.get(legal_force, legal_force),
                applies_from,
                due_date,
                statuses.get(status, status),
                justification,
                notes,
                approver or "",
                # URLs hold no spaces, so a space separates them unambiguously.
                " ".join(evidence.get(finding_id, ())),
            ]


def findings_rows(assessment: Assessment) -> Iterator[list[Any]]:
    """The header, then one row per finding of `assessment`, by jurisdiction, regulation and
    provision, in the active language. Dates stay dates."""
    order = Case(
        *[When(jurisdiction=j, then=Value(i)) for i, j in enumerate(JURISDICTION_ORDER)],
        default=Value(len(JURISDICTION_ORDER)),
        output_field=IntegerField(),
    )
    return finding_table(
        Finding.objects.filter(assessment=assessment).order_by(
            order, "regulation_code", "obligation__provision__position", "id"
        )
    )


# A spreadsheet runs a cell that starts with one of these as a formula ("CSV injection"), and
# notes and justifications are free text: such cells are prefixed with an apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A value as a CSV cell: dates in ISO form, times to the minute (in the active zone,
    as given), and free text kept from running as a formula."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


class Echo:
    """A file-like object whose write() hands the line back, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def kept_language(stream: Callable[[], Iterator[T]]) -> Iterator[T]:
    """The items of `stream()`, made in the language active now.

    The server consumes a streamed response after the view has returned, when the request's
    language is no longer active: it is captured here and kept for the whole stream."""
    language = translation.get_language() or "en"

    def items() -> Iterator[T]:
        with translation.override(language):
            yield from stream()

    return items()


# CSV lines are sent in batches of about this many characters, not one write per row.
CSV_BATCH_CHARS = 32 * 1024


def csv_lines(rows: Iterable[list[Any]]) -> Iterator[str]:
    """`rows` as CSV for a StreamingHttpResponse: UTF-8 with a byte-order mark, which Excel
    needs to read Japanese correctly, cells through `csv_cell`."""
    writer = csv.writer(Echo())
    batch, size = ["\ufeff"], 1
    for row in rows:
        line = writer.writerow([csv_cell(v) for v in row])
        batch.append(line)
        size += len(line)
        if size >= CSV_BATCH_CHARS:
            yield "".join(batch)
            batch, size = [], 0
    if batch:
        yield "".join(batch)


def findings_csv(assessment: Assessment) -> Iterator[str]:
    """The findings of `assessment` as CSV lines for a StreamingHttpResponse, in the language
    active now."""
    return kept_language(lambda: csv_lines(findings_rows(assessment)))


def finding_list_csv(findings: QuerySet[Finding]) -> Iterator[str]:
    """`findings` (the organisation's findings list, filtered) as CSV, streamed in the
    language active now."""
    return kept_language(lambda: csv_lines(finding_table(findings)))


def finding_list_xlsx(findings: QuerySet[Finding]) -> Iterator[bytes]:
    """`findings` as an XLSX workbook, streamed (assessments/xlsx_stream.py) in the language
    active now."""
    return kept_language(
        lambda: xlsx_stream.xlsx_chunks(
            sheet_name=gettext("Findings"),
            widths=[width for _header, width in COLUMNS],
            rows=finding_table(findings),
        )
    )


def _sheet_name(name: str) -> str:
    for char in "[]:*?/\\":
        name = name.replace(char, " ")
    return name[:31] or "Findings"


def write_xlsx(
    path: str | os.PathLike[str] | IO[bytes],
    *,
    sheet_name: str,
    widths: list[int],
    rows: Iterable[list[Any]],
    frozen_columns: int = 0,
) -> None:
    """Write a header row and data rows as one sheet of an XLSX workbook, in constant memory.

    Dates and times stay dates and times; text is written with write_string, never write(),
    so free text starting with "=" stays text and is never turned into a formula."""
    workbook = xlsxwriter.Workbook(path, {"constant_memory": True})
    try:
        sheet = workbook.add_worksheet(_sheet_name(sheet_name))
        bold = workbook.add_format({"bold": True})
        date = workbook.add_format({"num_format": "yyyy-mm-dd"})
        moment = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        for column, width in enumerate(widths):
            sheet.set_column(column, column, width)
        sheet.freeze_panes(1, frozen_columns)
        last_row = 0
        for row_number, row in enumerate(rows):
            for column, value in enumerate(row):
                if row_number == 0:
                    sheet.write_string(row_number, column, value, bold)
                elif isinstance(value, dt.datetime):
                    sheet.write_datetime(row_number, column, value, moment)
                elif isinstance(value, dt.date):
                    sheet.write_datetime(row_number, column, value, date)
                elif value in (None, ""):
                    sheet.write_blank(row_number, column, None)
                else:
                    sheet.write_string(row_number, column, str(value))
            last_row = row_number
        sheet.autofilter(0, 0, last_row, len(widths) - 1)
    finally:
        workbook.close()


def findings_xlsx(assessment: Assessment, path: str | os.PathLike[str] | IO[bytes]) -> None:
    """Write the findings as an XLSX workbook to `path` (a file name or a binary file)."""
    write_xlsx(
        path,
        sheet_name=gettext("Findings"),
        widths=[width for _header, width in COLUMNS],
        rows=findings_rows(assessment),
    )
