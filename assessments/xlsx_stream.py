"""A one-sheet XLSX workbook written as a stream of bytes, row by row, in constant memory.

An XLSX file is a ZIP archive of XML parts (ECMA-376, SpreadsheetML). zipfile writes to a
stream it cannot seek by putting each part's sizes in a data descriptor after its data, so the
archive can be sent while it grows: `xlsx_chunks` yields the bytes as the rows come, and holds
at most one chunk of them. XlsxWriter, which the per-assessment export uses, needs a file it can
seek in, hence this writer for the exports that are too big for a temporary file in a request.

The parts are the minimum Excel needs: [Content_Types].xml, _rels/.rels, xl/workbook.xml and its
relationships, xl/styles.xml (a bold header, a date and a date-time format) and the sheet.
Strings are written inline (t="inlineStr"), so there is no shared-string table to keep in
memory; the sheet's part is written before the workbook's, which needs the last row for the
autofilter's defined name.

Cells follow the rules of `reports.write_xlsx`: the first row is a bold header; dates and
date-times are serial numbers with a date format; None and "" are blank; anything else is text
and never a formula.

Limit: the parts are plain ZIP, not ZIP64 (which some spreadsheet programs report as damaged), so
the sheet's XML must stay under 2 GiB, about two million rows of the findings export (~1 KB of
XML each); past that, zipfile raises at the end of the sheet and the download is cut short.
"""

import datetime as dt
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"

# Bytes held before they are handed on, and rows turned into XML before they are compressed.
CHUNK_BYTES = 64 * 1024
ROWS_PER_WRITE = 200
# Excel refuses a cell holding more characters than this (counted in UTF-16 code units).
MAX_CELL_CHARS = 32_767

# Cell styles: indexes into cellXfs of styles.xml.
STYLE_HEADER, STYLE_DATE, STYLE_MOMENT = 1, 2, 3

# Characters XML 1.0 does not allow (most C0 controls, lone surrogates, U+FFFE and U+FFFF).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Excel reads "_x0041_" in a string as an escaped character ("A"); a literal one is kept by
# escaping its underscore.
_EXCEL_ESCAPE = re.compile(r"_(x[0-9A-Fa-f]{4}_)")
_EPOCH = dt.datetime(1899, 12, 31)
_FORBIDDEN_IN_SHEET_NAME = re.compile(r"[\[\]:*?/\\]")

CONTENT_TYPES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="{CT_NS}">\
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>\
<Default Extension="xml" ContentType="application/xml"/>\
<Override PartName="/xl/workbook.xml" ContentType="{CT}.sheet.main+xml"/>\
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{CT}.worksheet+xml"/>\
<Override PartName="/xl/styles.xml" ContentType="{CT}.styles+xml"/>\
</Types>"""

PACKAGE_RELS = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{PKG_REL_NS}">\
<Relationship Id="rId1" Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/>\
</Relationships>"""

WORKBOOK_RELS = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{PKG_REL_NS}">\
<Relationship Id="rId1" Type="{REL_NS}/worksheet" Target="worksheets/sheet1.xml"/>\
<Relationship Id="rId2" Type="{REL_NS}/styles" Target="styles.xml"/>\
</Relationships>"""

STYLES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="{MAIN_NS}">\
<numFmts count="2">\
<numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>\
<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm"/>\
</numFmts>\
<fonts count="2">\
<font><sz val="11"/><name val="Calibri"/><family val="2"/></font>\
<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font>\
</fonts>\
<fills count="2">\
<fill><patternFill patternType="none"/></fill>\
<fill><patternFill patternType="gray125"/></fill>\
</fills>\
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>\
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>\
<cellXfs count="4">\
<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>\
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>\
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>\
<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>\
</cellXfs>\
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>\
</styleSheet>"""


def sheet_title(name: str) -> str:
    """A name Excel accepts for a sheet: none of []:*?/\\, no apostrophe at either end, at
    most 31 characters."""
    return _FORBIDDEN_IN_SHEET_NAME.sub(" ", name)[:31].strip("'") or "Sheet1"


def column_letter(index: int) -> str:
    """The letters of the 0-based column `index`: 0 is A, 26 is AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def escape_text(value: str) -> str:
    """`value` as the content of an XML element: characters XML 1.0 forbids removed, cut to
    what a cell may hold, Excel's own escapes kept literal, and &, < and > escaped."""
    value = _NOT_XML.sub("", value)
    if len(value) > MAX_CELL_CHARS // 2 and len(value.encode("utf-16-le")) > 2 * MAX_CELL_CHARS:
        value = value.encode("utf-16-le")[: 2 * MAX_CELL_CHARS].decode("utf-16-le", "ignore")
    if "_x" in value:
        value = _EXCEL_ESCAPE.sub(r"_x005F_\1", value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _serial(value: dt.date) -> float | None:
    """Excel's serial number of a date or date-time (the 1900 date system, which counts the
    29 February 1900 that never was), or None before 1900, which Excel cannot show.

    A date-time is taken as the wall-clock time it reads: spreadsheets have no time zones."""
    if isinstance(value, dt.datetime):
        moment = value.replace(tzinfo=None)
    else:
        moment = dt.datetime(value.year, value.month, value.day)
    delta = moment - _EPOCH
    days = delta.days + delta.seconds / 86_400 + delta.microseconds / 86_400_000_000
    if days < 1:
        return None
    return days + 1 if days >= 60 else days


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def _row(number: int, values: Sequence[Any], letters: Sequence[str], header: bool) -> str:
    """Row `number` of the sheet (1-based), its blank cells left out."""
    cells = []
    text_style = f' s="{STYLE_HEADER}"' if header else ""
    for letter, value in zip(letters, values, strict=False):
        if value is None or value == "":
            continue
        if not header and isinstance(value, dt.date):
            serial = _serial(value)
            if serial is not None:
                style = STYLE_MOMENT if isinstance(value, dt.datetime) else STYLE_DATE
                cells.append(f'<c r="{letter}{number}" s="{style}"><v>{_number(serial)}</v></c>')
                continue
            value = value.isoformat()
        text = escape_text(value if type(value) is str else str(value))
        if not text:
            continue
        space = ' xml:space="preserve"' if text[0].isspace() or text[-1].isspace() else ""
        cells.append(
            f'<c r="{letter}{number}"{text_style} t="inlineStr"><is><t{space}>{text}</t></is></c>'
        )
    return f'<row r="{number}">{"".join(cells)}</row>'


def _sheet_head(widths: Sequence[int], frozen_columns: int) -> str:
    if frozen_columns:
        corner = f"{column_letter(frozen_columns)}2"
        pane = (
            f'<pane xSplit="{frozen_columns}" ySplit="1" topLeftCell="{corner}"'
            ' activePane="bottomRight" state="frozen"/>'
            f'<selection pane="bottomRight" activeCell="{corner}" sqref="{corner}"/>'
        )
    else:
        pane = (
            '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
        )
    columns = "".join(
        f'<col min="{n}" max="{n}" width="{width}" customWidth="1"/>'
        for n, width in enumerate(widths, start=1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">'
        f'<sheetViews><sheetView tabSelected="1" workbookViewId="0">{pane}</sheetView>'
        "</sheetViews>"
        '<sheetFormatPr defaultRowHeight="15"/>'
        f"{f'<cols>{columns}</cols>' if columns else ''}"
        "<sheetData>"
    )


def _workbook(sheet_name: str, filter_range: str) -> str:
    quoted = "'" + sheet_name.replace("'", "''") + "'"
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">'
        "<bookViews><workbookView/></bookViews>"
        f'<sheets><sheet name="{escape_text(sheet_name).replace(chr(34), "&quot;")}"'
        ' sheetId="1" r:id="rId1"/></sheets>'
        '<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
        f"{escape_text(quoted)}!{filter_range}</definedName></definedNames>"
        "</workbook>"
    )


class _Pipe:
    """Where zipfile writes: it has no tell() or seek(), so zipfile streams (data descriptors),
    and `take` hands on what has been written so far."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        self.size = 0
        return data


def xlsx_chunks(
    *,
    sheet_name: str,
    widths: Sequence[int],
    rows: Iterable[Sequence[Any]],
    frozen_columns: int = 0,
) -> Iterator[bytes]:
    """An XLSX workbook of one sheet, as chunks of bytes of about `CHUNK_BYTES`: the first of
    `rows` is the header (bold, frozen, with an autofilter), the rest are data.

    `rows` is consumed as the chunks are: a generator over a database cursor streams from the
    database to the client without holding more than a chunk of either."""
    name = sheet_title(sheet_name)
    pipe = _Pipe()
    archive = zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED)
    archive.writestr("[Content_Types].xml", CONTENT_TYPES)
    archive.writestr("_rels/.rels", PACKAGE_RELS)
    archive.writestr("xl/styles.xml", STYLES)
    width = max(len(widths), 1)
    letters = [column_letter(i) for i in range(width)]
    last_row = 1
    with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
        sheet.write(_sheet_head(widths, frozen_columns).encode())
        batch: list[str] = []
        for number, row in enumerate(rows, start=1):
            if len(row) > len(letters):
                letters.extend(column_letter(i) for i in range(len(letters), len(row)))
            batch.append(_row(number, row, letters, header=number == 1))
            last_row = number
            if len(batch) >= ROWS_PER_WRITE:
                sheet.write("".join(batch).encode())
                batch.clear()
                if pipe.size >= CHUNK_BYTES:
                    yield pipe.take()
        filter_range = f"$A$1:${letters[width - 1]}${last_row}"
        batch.append(f'</sheetData><autoFilter ref="A1:{letters[width - 1]}{last_row}"/>')
        batch.append("</worksheet>")
        sheet.write("".join(batch).encode())
    archive.writestr("xl/workbook.xml", _workbook(name, filter_range))
    archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
    archive.close()
    yield pipe.take()
