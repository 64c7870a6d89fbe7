"""Reading the contact files people have: CSV as spreadsheets export it, in whatever
encoding (UTF-8 with or without a BOM, UTF-16 "Unicode text", or a legacy code page such as
Excel's Windows-1252), separated by commas, semicolons or tabs, with Excel's quoting."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# What Excel writes as "CSV" on Windows in the Americas and western Europe; its printable
# characters include all of Latin-1's. A file that is not UTF-8 is read as this when it
# decodes as well as anything else (a short file seldom tells code pages apart).
EXCEL_CODE_PAGE = "cp1252"
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_DELIMITERS = (",", ";", "\t", "|")
# How much of the file's non-ASCII text the encoding is guessed from.
_SAMPLE_BYTES = 256 * 1024

REQUIRED_COLUMN = "phone"
NAME_COLUMN = "name"


class ContactFileError(Exception):
    """The file cannot be read as contacts at all; str() says why and what to do."""


@dataclass(frozen=True)
class Row:
    """A record of the file: the line it starts on, its phone and name fields (a name
    may be missing), or why it cannot be read."""

    line: int
    phone: str = ""
    name: str | None = None
    problem: str | None = None


class ContactFile:
    """A contact file ready to read row by row, with its encoding, delimiter and columns.
    It is decoded as it is read; `position` of `size` bytes tells how far."""

    def __init__(self, path: Path, *, encoding: str | None = None):
        self.path = path
        self._data = _read(path)
        self.size = len(self._data)
        self.encoding = encoding or guess_encoding(self._data)
        _check_decodes(path, self._data, self.encoding)
        self.delimiter, self._columns = _header(path, self._text_stream().readline())
        self._raw = io.BytesIO()

    @property
    def position(self) -> int:
        return self._raw.tell()

    def rows(self) -> Iterator[Row]:
        """Each record after the header; blank records are left out."""
        stream = self._text_stream()
        stream.readline()  # the header
        reader = csv.reader(stream, dialect="excel", delimiter=self.delimiter)
        phone_at = self._columns.index(REQUIRED_COLUMN)
        name_at = self._columns.index(NAME_COLUMN) if NAME_COLUMN in self._columns else None
        width = len(self._columns)
        while True:
            line = reader.line_num + 2  # the header was line 1
            try:
                fields = next(reader, None)
            except csv.Error as exc:
                yield Row(line, problem=f"cannot be read as CSV ({exc})")
                continue
            if fields is None:
                return
            while fields and not fields[-1].strip():
                fields.pop()  # spreadsheets pad short rows with empty cells
            if not fields:
                continue
            if len(fields) > width:
                if name_at != width - 1:
                    yield Row(line, problem=_too_many_fields(len(fields), width))
                    continue
                # A name with an unquoted comma, e.g. `+12025550123,Smith, John`.
                fields = [*fields[:name_at], self.delimiter.join(fields[name_at:])]
            phone = fields[phone_at] if phone_at < len(fields) else ""
            name = fields[name_at] if name_at is not None and name_at < len(fields) else None
            yield Row(line, phone=phone, name=name)

    def _text_stream(self) -> io.TextIOWrapper:
        self._raw = io.BytesIO(self._data)
        # newline="": the csv module reads line ends itself (a quoted name may hold one).
        # Kept: the wrapper closes the bytes under it when it goes.
        self._stream = io.TextIOWrapper(self._raw, encoding=self.encoding, newline="")
        return self._stream


def guess_encoding(data: bytes) -> str:
    """The file's encoding: from its byte order mark, UTF-8 when it decodes as UTF-8,
    else a guess from its non-ASCII lines (charset-normalizer), Windows-1252 among equals."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    sample = b"\n".join(line for line in data.splitlines() if not line.isascii())
    matches = list(from_bytes(sample[:_SAMPLE_BYTES]))
    if not matches:
        raise ContactFileError("cannot tell the file's encoding: pass --encoding (e.g. cp1252)")
    least_chaos = min(match.chaos for match in matches)
    if any(
        match.chaos == least_chaos and EXCEL_CODE_PAGE in match.could_be_from_charset
        for match in matches
    ):
        return EXCEL_CODE_PAGE
    return str(matches[0].encoding)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ContactFileError(f"cannot read {path} ({exc.strerror})") from None


def _check_decodes(path: Path, data: bytes, encoding: str) -> None:
    """Refuse the file up front when it is not in `encoding`, rather than half-way."""
    try:
        decoder = codecs.getincrementaldecoder(encoding)()
    except LookupError:
        raise ContactFileError(f"{encoding!r} is not an encoding Python knows") from None
    chunk = 1 << 20
    for start in range(0, len(data) + 1, chunk):
        try:
            decoder.decode(data[start : start + chunk], final=start + chunk >= len(data))
        except UnicodeDecodeError as exc:
            line = data[: start + max(exc.start, 0)].count(b"\n") + 1
            raise ContactFileError(
                f"{path} is not {encoding} (line {line} has bytes it cannot have): pass the "
                "file's encoding with --encoding, e.g. --encoding cp1252"
            ) from None


def _header(path: Path, first_line: str) -> tuple[str, list[str]]:
    """The delimiter and the column names: the delimiter is the one that makes a `phone`
    column of the first line."""
    first_line = first_line.removeprefix("\ufeff")  # a BOM read as UTF-8 without -sig
    for delimiter in _DELIMITERS:
        columns = next(csv.reader([first_line], dialect="excel", delimiter=delimiter), [])
        names = [column.strip().lower() for column in columns]
        if REQUIRED_COLUMN in names:
            return delimiter, names
    raise ContactFileError(f"{path} has no 'phone' column; the first row must be: phone,name")


def _too_many_fields(count: int, width: int) -> str:
    return (
        f"has {count} fields where the header has {width} (quote a name that holds a comma, "
        'e.g. "Smith, John")'
    )
