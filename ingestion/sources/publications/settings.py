"""The publications config (``publications.yml``) as the typed objects the pipeline runs on.

The config's shape and rules are stated once, in :mod:`ingestion.sources.publications.schema` (pydantic, with the
JSON Schema editors use generated from it); this module turns a checked config into these runtime objects: the
period calendar, the file name rules of each file, the table specs and sheet layouts the readers take.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from ingestion import paths
from ingestion.errors import ConfigError
from ingestion.sources.publications import files, schema
from ingestion.sources.publications.calendar import Calendar, Frequency, PeriodError
from ingestion.sources.publications.readers.layout import SheetLayout, TableEnd

DEFAULT_CONFIG = Path(__file__).with_name("publications.yml")
# Entries that archive tools add and that are never data.
DEFAULT_JUNK = ("__MACOSX/*", ".DS_Store", "*/.DS_Store", "._*", "*/._*", "Thumbs.db", "*/Thumbs.db", "*/")
DEFAULT_NOTES = ("readme*", "*/readme*", "README*", "*/README*")
DEFAULT_NOTE_MARKERS = r"\[note \d+\]"
RESERVED_TABLES = schema.RESERVED_TABLES


@dataclass(frozen=True)
class QuarantineLimit:
    """How many rows of a table may be quarantined (rejected) in one period before the load fails: a row count, or
    a share of the period's rows (``max_quarantined: 25`` / ``"2%"``)."""

    rows: int | None = None
    share: float | None = None  # 0.02 for 2%

    def exceeded(self, quarantined: int, total: int) -> bool:
        """Whether ``quarantined`` rows out of ``total`` (every data row read for the table, quarantined included)
        are more than allowed."""
        if self.rows is not None:
            return quarantined > self.rows
        return quarantined > (self.share or 0.0) * total

    def __str__(self) -> str:
        if self.rows is not None:
            return "1 row" if self.rows == 1 else f"{self.rows} rows"
        return f"{(self.share or 0.0) * 100:g}% of rows"

    @classmethod
    def parse(cls, value: int | str | None) -> QuarantineLimit:
        if value is None:
            return DEFAULT_QUARANTINE
        if isinstance(value, int):
            return cls(rows=value)
        return cls(share=float(value.strip().rstrip("%")) / 100)


DEFAULT_QUARANTINE = QuarantineLimit(share=0.01)


@dataclass(frozen=True)
class TableSpec:
    """A bronze table and how to read it from a sheet, CSV file or ZIP member."""

    table: str
    keys: tuple[str, ...] = ()
    header_row: int | None = None  # 1-based; None = detect (sheets only)
    types: dict[str, str] = field(default_factory=dict)  # CSV column -> DuckDB type, to pin inference
    encoding: str | None = None  # CSV text encoding (a Python codec name); None = UTF-8
    max_quarantined: QuarantineLimit = DEFAULT_QUARANTINE
    layout: SheetLayout = field(default_factory=SheetLayout)  # sheets only


@dataclass(frozen=True)
class PartSpec:
    """A sheet of a workbook or a member of an archive, matched by name (glob, case-insensitive)."""

    match: str
    role: str
    spec: TableSpec | None

    def matches(self, name: str) -> bool:
        return fnmatch.fnmatch(name.lower(), self.match.lower())


@dataclass(frozen=True)
class FileSpec:
    """A release file: the rules its name follows (templates, globs, alternatives) and what it holds."""

    names: tuple[str, ...]  # name rules: templates with {period} or its parts, each possibly a glob
    format: str
    parts: tuple[PartSpec, ...] = ()  # sheets (xlsx) or members (zip)
    spec: TableSpec | None = None  # csv
    junk: tuple[str, ...] = DEFAULT_JUNK
    notes: tuple[str, ...] = DEFAULT_NOTES
    max_member_bytes: int = 4 * 1024**3
    optional: bool = False
    overrides: dict[str, FileSpec] = field(default_factory=dict)  # period -> this file as that release has it

    @property
    def name(self) -> str:
        """The first name rule: how the file is named in messages."""
        return self.names[0]

    def for_period(self, period: str) -> FileSpec:
        """This file as ``period``'s release has it (a per-period override applied)."""
        return self.overrides.get(period, self)

    def file_names(self, period: str, calendar: Calendar | None = None) -> list[str]:
        """Each name rule for ``period``: ``{period}`` and the calendar's parts (``{yyyy}``, ``{fy_short}`` ...)
        filled; a rule may still be a glob."""
        parts = (calendar or Calendar()).parts(period)
        return [rule.format(period=period, **parts) for rule in self.for_period(period).names]

    def file_name(self, period: str, calendar: Calendar | None = None) -> str:
        return self.file_names(period, calendar)[0]

    def tables(self) -> list[TableSpec]:
        specs = [self.spec] + [part.spec for part in self.parts]
        for override in self.overrides.values():
            specs += [override.spec] + [part.spec for part in override.parts]
        return [spec for spec in specs if spec is not None]


@dataclass(frozen=True)
class Publication:
    name: str
    title: str
    dataset: str
    first_period: str
    last_period: str
    location: str  # template with {data_dir}, {publication} and {period}: a folder or an http(s) URL
    files: tuple[FileSpec, ...]
    calendar: Calendar = field(default_factory=Calendar)
    listed: tuple[str, ...] = ()  # an explicit list of periods, instead of every period from first to last

    def periods(self, first: str | None = None, last: str | None = None) -> list[str]:
        """The periods from ``first`` to ``last`` inclusive (in the calendar's notation), within the declared range
        (or list) by default."""
        try:
            if any(bound is not None and not self._own(bound) for bound in (first, last)):
                return self._overlapping(first, last)
            if self.listed:
                low, high = first or self.listed[0], last or self.listed[-1]
                self.calendar.range(low, high)  # checks the notation, and that --from is not after --to
                start = self.calendar.start
                return [period for period in self.listed if start(low) <= start(period) <= start(high)]
            return self.calendar.range(first or self.first_period, last or self.last_period)
        except PeriodError as error:
            raise ConfigError(str(error)) from None

    def _own(self, period: str) -> bool:
        try:
            self.calendar.check(period)
            return True
        except PeriodError:
            return False

    def _overlapping(self, first: str | None, last: str | None) -> list[str]:
        """``--from``/``--to`` in another publication's notation (a month, for an annual publication): this
        publication's periods that overlap the days from the start of ``first`` to the end of ``last``."""
        low = _days(first)[0] if first else None
        high = _days(last)[1] if last else None
        if low and high and low > high:
            raise PeriodError(f"--from {first} is after --to {last}")
        calendar = self.calendar
        return [
            period
            for period in self.periods()
            if (low is None or calendar.end(period) >= low) and (high is None or calendar.start(period) <= high)
        ]

    def location_for(self, period: str) -> str:
        return _expand_env(self.location).format(
            data_dir=paths.data_dir(), publication=self.name, period=period, **self.calendar.parts(period)
        )

    def tables(self) -> list[TableSpec]:
        """Every bronze table the publication declares, in declaration order, each once."""
        seen: dict[str, TableSpec] = {}
        for file in self.files:
            for spec in file.tables():
                seen.setdefault(spec.table, spec)
        return list(seen.values())


def _days(period: str) -> tuple[dt.date, dt.date]:
    """The first and last day of ``period`` in whichever notation it is written (2025-03, 2025-Q1, 2025, 2016-17)."""
    for frequency in Frequency:
        calendar = Calendar(frequency)
        try:
            return calendar.start(period), calendar.end(period)
        except PeriodError:
            continue
    notations = ", ".join(
        f"{calendar} ({example})"
        for calendar, example in (
            ("YYYY-MM", "2025-03"),
            ("YYYY-Qn", "2025-Q1"),
            ("YYYY", "2025"),
            ("YYYY-YY", "2016-17"),
        )
    )
    raise PeriodError(f"period {period!r} is in none of the notations {notations}")


_ENV = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def _expand_env(text: str) -> str:
    """``${NAME}`` and ``${NAME:-default}`` from the environment."""

    def value(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        if name in os.environ:
            return os.environ[name]
        if default is None:
            raise ConfigError(f"environment variable {name} is not set and has no default in {text!r}")
        return default

    return _ENV.sub(value, text)


def _table_end(text: str) -> TableEnd:
    match = schema.TABLE_END.match(text)
    assert match is not None  # the schema checked it
    if match["blank"]:
        return TableEnd("blank_rows", blank_rows=int(match["blank"]))
    if match["marker"]:
        return TableEnd("marker", marker=match["marker"].strip())
    return TableEnd("last_row" if text == "last_row" else "auto")


def _layout(sheet: schema.SheetEntry) -> SheetLayout:
    markers = sheet.note_markers
    return SheetLayout(
        header_row=None if sheet.header_row == "auto" else sheet.header_row,
        header_rows=sheet.header_rows,
        header_text=sheet.header_text,
        range=sheet.range,
        units_row=None if sheet.units_row == "auto" else sheet.units_row,
        skip_hidden_columns=sheet.skip_hidden_columns,
        skip_hidden_rows=sheet.skip_hidden_rows,
        fill_down=tuple(sheet.fill_down),
        table_end=_table_end(sheet.table_end),
        note_markers=DEFAULT_NOTE_MARKERS if markers is True else (markers or None),
    )


def _table_spec(
    entry: schema.CsvFile | schema.SheetEntry | schema.MemberEntry, encoding: str | None = None
) -> TableSpec:
    assert entry.table is not None
    sheet = entry if isinstance(entry, schema.SheetEntry) else None
    return TableSpec(
        table=entry.table,
        keys=tuple(entry.keys),
        header_row=sheet.header_row if sheet is not None and sheet.header_row != "auto" else None,
        types=dict(getattr(entry, "types", {})),
        encoding=getattr(entry, "encoding", None) or encoding,
        max_quarantined=QuarantineLimit.parse(entry.max_quarantined),
        layout=_layout(sheet) if sheet is not None else SheetLayout(),
    )


def _file(entry: schema.CsvFile | schema.XlsxFile | schema.ZipFile) -> FileSpec:
    names = (entry.name,) if isinstance(entry.name, str) else tuple(entry.name)
    if isinstance(entry, schema.CsvFile):
        spec = FileSpec(names, "csv", spec=_table_spec(entry), optional=entry.optional)
    else:
        declared = entry.sheets if isinstance(entry, schema.XlsxFile) else entry.members
        encoding = getattr(entry, "encoding", None)
        parts = tuple(
            PartSpec(item.match, item.role, _table_spec(item, encoding) if item.role == "table" else None)
            for item in declared
        )
        spec = FileSpec(
            names,
            entry.format,
            parts=parts,
            junk=tuple(entry.junk or DEFAULT_JUNK),
            notes=tuple(entry.notes or DEFAULT_NOTES),
            max_member_bytes=getattr(entry, "max_member_bytes", 4 * 1024**3),
            optional=entry.optional,
        )
    overrides: dict[str, FileSpec] = {}
    for period, override in entry.overrides.items():
        changed = override.model_dump(exclude_none=True, exclude_unset=True)
        overrides[period] = _file(type(entry).model_validate({**entry.model_dump(exclude={"overrides"}), **changed}))
    return replace(spec, overrides=overrides)


def _calendar(periods: schema.Periods, where: str) -> tuple[Calendar, str, str, tuple[str, ...]]:
    calendar = Calendar(Frequency(periods.frequency), periods.start_month)
    try:
        if periods.listed is not None:
            listed = tuple(calendar.check(str(period)) for period in periods.listed)
            if list(listed) != sorted(listed, key=calendar.start) or len(set(listed)) != len(listed):
                raise ConfigError(f"{where}.list must name each period once, in order")
            return calendar, listed[0], listed[-1], listed
        return calendar, calendar.check(str(periods.first)), calendar.check(str(periods.last)), ()
    except PeriodError as error:
        raise ConfigError(f"{where}: {error}") from None


def _check_names(publication: Publication, where: str) -> None:
    """Every name rule fits the calendar, every override names a period of it, and a glob needs a folder."""
    calendar, first = publication.calendar, publication.first_period
    declared = set(publication.periods())
    for index, file in enumerate(publication.files):
        for period in file.overrides:
            if period not in declared:
                raise ConfigError(
                    f"{where}.files[{index}].overrides: {period!r} is not one of the publication's "
                    f"periods ({calendar.notation}, {publication.first_period} to "
                    f"{publication.last_period})"
                )
        for period in [first, *file.overrides]:
            try:
                names = file.file_names(period, calendar)
            except (KeyError, IndexError, ValueError) as error:
                parts = ", ".join("{" + part + "}" for part in ("period", *calendar.parts(first)))
                article = "an" if calendar.frequency[0] in "aeiou" else "a"
                raise ConfigError(
                    f"{where}.files[{index}].name: {file.for_period(period).names!r} uses {error} "
                    f"which {article} {calendar.frequency} period does not have; it may use "
                    f"{parts}"
                ) from None
            if any(files.GLOB.search(name) for name in names) and re.match(r"^https?://", publication.location):
                raise ConfigError(
                    f"{where}.files[{index}].name: a glob needs a folder location to list; over "
                    "http(s) give the exact name, or a list of alternatives"
                )


def load_publications(path: Path | None = None) -> dict[str, Publication]:
    """Read and validate the publications config (``PUBLICATIONS_CONFIG`` overrides the default file)."""
    path = Path(path or os.environ.get("PUBLICATIONS_CONFIG") or DEFAULT_CONFIG)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read publications config {path}: {error}") from error
    config = schema.validate(raw, path.name)
    publications: dict[str, Publication] = {}
    owner: dict[str, str] = {}
    for name, item in config.publications.items():
        where = f"{path.name}: publications.{name}"
        calendar, first, last, listed = _calendar(item.periods, f"{where}.periods")
        publication = Publication(
            name=name,
            title=item.title or name,
            dataset=paths.schema(item.dataset or config.dataset),
            first_period=first,
            last_period=last,
            location=item.location,
            files=tuple(_file(entry) for entry in item.files),
            calendar=calendar,
            listed=listed,
        )
        publication.periods()  # validates the range
        _check_names(publication, where)
        for spec in publication.tables():
            if owner.setdefault(spec.table, name) != name:
                raise ConfigError(f"{where}: table {spec.table} is already loaded by publication {owner[spec.table]}")
        publications[name] = publication
    return publications
