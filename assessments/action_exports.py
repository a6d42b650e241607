"""The remediation list as CSV and XLSX: the same rows as the page, with its filters.

An organisation can have thousands of actions, so rows are read in chunks and written as they
come: CSV is streamed, and XlsxWriter writes to a temporary file in constant memory.
"""

import csv
import datetime as dt
from collections.abc import Iterator
from typing import IO, Any

from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .models import RemediationAction
from .reports import Echo, csv_cell, write_xlsx

# (header, column width in characters)
COLUMNS = [
    (_("Code"), 38),
    (_("Title"), 50),
    (_("AI system"), 24),
    (_("Owner"), 28),
    (_("Status"), 14),
    (_("Priority"), 10),
    (_("Due"), 12),
    (_("Overdue"), 9),
    (_("Obligations"), 40),
    (_("Created"), 18),
    (_("Completed by"), 28),
    (_("Completed at"), 18),
    (_("Verified by"), 28),
    (_("Verified at"), 18),
]


def _local(value: dt.datetime | None) -> dt.datetime | None:
    # Spreadsheets have no time zones: times are written as the organisation reads them.
    return timezone.localtime(value).replace(tzinfo=None, microsecond=0) if value else None


def action_rows(rows: QuerySet[RemediationAction], today: dt.date) -> Iterator[list[Any]]:
    """The header, then one row per action, in the active language and time zone.

    `rows` comes from `action_selectors.actions_for_export`; `today` from `actions.today_for`."""
    yield [str(header) for header, _width in COLUMNS]
    yes, no = gettext("yes"), gettext("no")
    for action in rows.iterator(chunk_size=500):
        overdue = action.is_active and action.due_date is not None and action.due_date < today
        yield [
            str(action.code),
            action.title,
            action.system.name,
            action.owner.email if action.owner else "",
            action.get_status_display(),
            action.get_priority_display(),
            action.due_date,
            yes if overdue else no,
            # Codes hold no spaces, so a space separates them unambiguously.
            " ".join(sorted({f.obligation_code for f in action.findings.all()})),
            _local(action.created_at),
            action.done_by.email if action.done_by else "",
            _local(action.done_at),
            action.verified_by.email if action.verified_by else "",
            _local(action.verified_at),
        ]


def actions_csv(rows: QuerySet[RemediationAction], today: dt.date) -> Iterator[str]:
    """CSV lines for a StreamingHttpResponse, UTF-8 with a byte-order mark (for Excel).

    The server reads the stream after the view has returned, so the language and time zone
    active now are captured here and kept for the whole stream."""
    language = translation.get_language() or "en"
    zone = timezone.get_current_timezone()

    def lines() -> Iterator[str]:
        with translation.override(language), timezone.override(zone):
            writer = csv.writer(Echo())
            yield "\ufeff"
            for row in action_rows(rows, today):
                yield writer.writerow([csv_cell(value) for value in row])

    return lines()


def actions_xlsx(rows: QuerySet[RemediationAction], today: dt.date, path: IO[bytes]) -> None:
    """Write the actions as an XLSX workbook, in constant memory, the titles frozen."""
    write_xlsx(
        path,
        sheet_name=gettext("Actions"),
        widths=[width for _header, width in COLUMNS],
        rows=action_rows(rows, today),
        frozen_columns=1,
    )
