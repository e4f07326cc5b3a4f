"""Read an uploaded CSV or XLSX file as (row number, cells) without loading it whole.

Row numbers are the ones a person sees in Excel: the header is row 1.
"""

import codecs
import csv
import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass

from django.utils.translation import gettext as _

CSV_EXTENSIONS = {".csv", ".txt"}
XLSX_EXTENSIONS = {".xlsx"}
_SNIFF_BYTES = 8192
_DECODE_CHUNK = 1 << 20


class FileProblem(Exception):
    """The file as a whole cannot be read: wrong type, too big, undecodable, empty."""


@dataclass(frozen=True)
class SizeLimits:
    csv_bytes: int
    xlsx_bytes: int


@dataclass
class Table:
    """A readable file: its header and an iterator over its data rows."""

    file_type: str  # "csv" or "xlsx"
    encoding: str | None
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    close: callable


def open_table(path: str, *, file_name: str, limits: SizeLimits) -> Table:
    """Check type and size before parsing anything, then open the file for streaming."""
    extension = os.path.splitext(file_name)[1].lower()
    if extension not in CSV_EXTENSIONS | XLSX_EXTENSIONS:
        raise FileProblem(
            _("wrong file type %(ext)s: expected .csv or .xlsx") % {"ext": extension or "(none)"}
        )
    size = os.path.getsize(path)
    file_type = "xlsx" if extension in XLSX_EXTENSIONS else "csv"
    limit = limits.xlsx_bytes if file_type == "xlsx" else limits.csv_bytes
    if size > limit:
        raise FileProblem(
            _("the file is %(size)s bytes, over the %(limit)s-byte limit for %(type)s files")
            % {"size": size, "limit": limit, "type": file_type.upper()}
        )
    if size == 0:
        raise FileProblem(_("the file is empty"))
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if file_type == "xlsx":
        if not head.startswith(b"PK\x03\x04"):
            raise FileProblem(_("not an XLSX workbook (an .xlsx file is a zip archive)"))
        return _open_xlsx(path)
    if head.startswith(b"PK\x03\x04") or b"\x00" in head:
        raise FileProblem(_("not a text CSV file (it looks like a binary or Excel file)"))
    return _open_csv(path)


def detect_encoding(path: str) -> str:
    """Strict UTF-8 (a BOM allowed) first, then GB18030; never guess with replacement chars."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        try:
            with open(path, "rb") as handle:
                while chunk := handle.read(_DECODE_CHUNK):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    raise FileProblem(_("the file is neither UTF-8 nor GB18030/GBK text"))


def _open_csv(path: str) -> Table:
    encoding = detect_encoding(path)
    handle = open(path, encoding=encoding, newline="")  # noqa: SIM115 - closed by Table.close
    reader = csv.reader(handle, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        handle.close()
        raise FileProblem(_("row 1 is not valid CSV: %(error)s") % {"error": error}) from None
    if header is None:
        handle.close()
        raise FileProblem(_("the file is empty"))
    if not any(cell.strip() for cell in header):
        handle.close()
        raise FileProblem(_("row 1, the header row, is empty"))

    def rows():
        number = 1
        try:
            for cells in reader:
                number += 1
                yield number, cells
        except csv.Error as error:
            raise FileProblem(
                _("row %(row)s is not valid CSV: %(error)s") % {"row": number + 1, "error": error}
            ) from None

    return Table("csv", encoding, header, rows(), handle.close)


def _open_xlsx(path: str) -> Table:
    import openpyxl  # imported here: only XLSX imports pay for it

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many types for a damaged workbook
        raise FileProblem(
            _("the workbook cannot be opened: %(error)s") % {"error": error}
        ) from None
    sheet = workbook.worksheets[0]
    iterator = sheet.iter_rows(values_only=True)
    first = next(iterator, None)
    header = _xlsx_cells(first) if first is not None else []
    if not any(header):
        workbook.close()
        raise FileProblem(_("the first sheet is empty"))

    def rows():
        for number, values in enumerate(iterator, start=2):
            yield number, _xlsx_cells(values)

    return Table("xlsx", None, header, rows(), workbook.close)


def _xlsx_cells(values) -> list[str]:
    cells = [_xlsx_text(value) for value in values]
    while cells and cells[-1] == "":
        cells.pop()
    return cells


def _xlsx_text(value) -> str:
    """Excel cell -> the text a person would have typed; dates as YYYY-MM-DD."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() else repr(value)
    return str(value)
