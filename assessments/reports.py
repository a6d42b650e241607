"""Reports of one completed assessment: the context of the HTML and PDF report, the PDF itself,
and the findings as spreadsheet rows (CSV and XLSX).

An assessment has at most ~150 findings, so every builder here is bounded and cheap enough to
run inside a request.
"""

import csv
import datetime as dt
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import xlsxwriter
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Case, IntegerField, Prefetch, Value, When, prefetch_related_objects
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from governance.models import Jurisdiction, Obligation

from . import selectors
from .models import Assessment, Evidence, Finding, FindingStatus

REPORT_CSS = "css/report.css"
JURISDICTION_ORDER = ("EU", "JP", "INTL")

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


def _export_findings(assessment: Assessment) -> Iterator[Finding]:
    evidence = Evidence.objects.order_by("added_at", "id").only("finding", "url")
    order = Case(
        *[When(jurisdiction=j, then=Value(i)) for i, j in enumerate(JURISDICTION_ORDER)],
        default=Value(len(JURISDICTION_ORDER)),
        output_field=IntegerField(),
    )
    return (
        Finding.objects.filter(assessment=assessment)
        .select_related("obligation", "obligation__provision", "risk_approved_by")
        .prefetch_related(Prefetch("evidence", queryset=evidence))
        .order_by(order, "regulation_code", "obligation__provision__position", "id")
        .iterator(chunk_size=200)
    )


def findings_rows(assessment: Assessment) -> Iterator[list[Any]]:
    """The header, then one row per finding, in the active language. Dates stay dates."""
    yield [str(header) for header, _width in COLUMNS]
    system = assessment.system.name
    release = assessment.release.code
    forces = dict(Obligation.LegalForce.choices)
    for finding in _export_findings(assessment):
        obligation = finding.obligation
        yield [
            system,
            str(assessment.code),
            release,
            finding.jurisdiction,
            finding.regulation_code,
            finding.obligation_code,
            obligation.title,
            obligation.provision.reference,
            ", ".join(finding.role_labels),
            str(forces.get(finding.legal_force, finding.legal_force)),
            finding.applies_from,
            finding.due_date,
            finding.get_status_display(),
            finding.justification,
            finding.notes,
            finding.risk_approved_by.email if finding.risk_approved_by else "",
            # URLs hold no spaces, so a space separates them unambiguously.
            " ".join(e.url for e in finding.evidence.all()),
        ]


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


def findings_csv(assessment: Assessment) -> Iterator[str]:
    """The findings as CSV lines for a StreamingHttpResponse: UTF-8 with a byte-order mark,
    which Excel needs to read Japanese correctly.

    The server consumes the stream after the view has returned, so the language active now is
    captured here and kept for the whole stream."""
    language = translation.get_language() or "en"

    def lines() -> Iterator[str]:
        with translation.override(language):
            writer = csv.writer(Echo())
            yield "\ufeff"
            for row in findings_rows(assessment):
                yield writer.writerow([csv_cell(v) for v in row])

    return lines()


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
