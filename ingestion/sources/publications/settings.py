"""The publications config (``publications.yml``) as typed, validated objects."""

from __future__ import annotations

import codecs
import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ingestion import paths
from ingestion.errors import ConfigError
from ingestion.sources.publications.calendar import Calendar, Frequency, PeriodError

DEFAULT_CONFIG = Path(__file__).with_name("publications.yml")
# Entries that archive tools add and that are never data.
DEFAULT_JUNK = ("__MACOSX/*", ".DS_Store", "*/.DS_Store", "._*", "*/._*", "Thumbs.db", "*/Thumbs.db", "*/")
DEFAULT_NOTES = ("readme*", "*/readme*", "README*", "*/README*")
ROLES = ("table", "cover", "notes", "ignore")
RESERVED_TABLES = ("publication_manifest", "quarantine")  # written beside the tables by the publish step
FORMATS = ("xlsx", "csv", "zip")
# The settings each kind of entry may have; anything else is a typo or a setting this version does not know.
_TABLE_KEYS = ("table", "keys", "max_quarantined")
FILE_KEYS = {
    "csv": ("name", "format", *_TABLE_KEYS, "header_row", "types", "encoding"),
    "xlsx": ("name", "format", "sheets", "junk", "notes"),
    "zip": ("name", "format", "members", "junk", "notes", "max_member_bytes", "encoding"),
}
PART_KEYS = {
    "sheets": ("match", "role", *_TABLE_KEYS, "header_row"),
    "members": ("match", "role", *_TABLE_KEYS, "header_row", "types", "encoding"),
}
# A DuckDB type name as a column type may be pinned: BIGINT, DECIMAL(18, 3), TIMESTAMP WITH TIME ZONE, VARCHAR[]
TYPE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*( [A-Za-z][A-Za-z0-9_]*)*(\(\s*\d+\s*(,\s*\d+\s*)?\))?(\[\])?$")


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


DEFAULT_QUARANTINE = QuarantineLimit(share=0.01)


@dataclass(frozen=True)
class TableSpec:
    """A bronze table and how to read it from a sheet, CSV file or ZIP member."""

    table: str
    keys: tuple[str, ...] = ()
    header_row: int | None = None  # 1-based; None = detect
    types: dict[str, str] = field(default_factory=dict)  # CSV column -> DuckDB type, to pin inference
    encoding: str | None = None  # CSV text encoding (a Python codec name); None = UTF-8
    max_quarantined: QuarantineLimit = DEFAULT_QUARANTINE


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
    name: str  # template with {period}
    format: str
    parts: tuple[PartSpec, ...] = ()  # sheets (xlsx) or members (zip)
    spec: TableSpec | None = None  # csv
    junk: tuple[str, ...] = DEFAULT_JUNK
    notes: tuple[str, ...] = DEFAULT_NOTES
    max_member_bytes: int = 4 * 1024**3

    def file_name(self, period: str, calendar: Calendar | None = None) -> str:
        """The name for ``period``: ``{period}`` and the calendar's parts (``{yyyy}``, ``{fy_short}`` ...) filled."""
        return self.name.format(period=period, **(calendar or Calendar()).parts(period))


@dataclass(frozen=True)
class Publication:
    name: str
    title: str
    dataset: str
    first_period: str
    last_period: str
    location: str  # template with {data_dir}, {publication} and {period}: a folder or an http(s) URL
    suppression_markers: tuple[str, ...]
    files: tuple[FileSpec, ...]
    calendar: Calendar = field(default_factory=Calendar)
    listed: tuple[str, ...] = ()  # an explicit list of periods, instead of every period from first to last

    def periods(self, first: str | None = None, last: str | None = None) -> list[str]:
        """The periods from ``first`` to ``last`` inclusive (in the calendar's notation), within the declared range
        (or list) by default."""
        try:
            if self.listed:
                low, high = first or self.listed[0], last or self.listed[-1]
                self.calendar.range(low, high)  # checks the notation, and that --from is not after --to
                start = self.calendar.start
                return [period for period in self.listed if start(low) <= start(period) <= start(high)]
            return self.calendar.range(first or self.first_period, last or self.last_period)
        except PeriodError as error:
            raise ConfigError(str(error)) from None

    def location_for(self, period: str) -> str:
        return _expand_env(self.location).format(data_dir=paths.data_dir(), publication=self.name, period=period,
                                                 **self.calendar.parts(period))

    def tables(self) -> list[TableSpec]:
        """Every bronze table the publication declares, in declaration order, each once."""
        seen: dict[str, TableSpec] = {}
        for file in self.files:
            for spec in [file.spec] + [part.spec for part in file.parts]:
                if spec is not None:
                    seen.setdefault(spec.table, spec)
        return list(seen.values())


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


def _check_keys(raw: object, allowed: tuple[str, ...], where: str, what: str) -> dict:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: {what} must be a mapping of settings, not {raw!r}")
    unknown = [key for key in raw if key not in allowed]
    if unknown:
        raise ConfigError(f"{where}: unknown setting {', '.join(map(repr, unknown))} for {what}; the allowed ones "
                          f"are {', '.join(allowed)}")
    return raw


def _quarantine_limit(value: object, where: str) -> QuarantineLimit:
    """``0`` / ``25`` (rows) or ``"2%"`` (a share of the period's rows)."""
    problem = (f"{where}.max_quarantined must be a row count (0, 25) or a share of the period's rows like \"2%\", "
               f"not {value!r}")
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ConfigError(problem)
        return QuarantineLimit(rows=value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*%\s*", value):
        share = float(value.strip().rstrip("%")) / 100
        if share > 1:
            raise ConfigError(problem)
        return QuarantineLimit(share=share)
    raise ConfigError(problem)


def _encoding(value: object, where: str) -> str:
    """A text encoding Python knows (``utf-8``, ``cp1252``, ``latin-1``, ``utf-16``), by its canonical name."""
    problem = f"{where}.encoding: {value!r} is not a known text encoding (for example utf-8, cp1252, latin-1, utf-16)"
    if not isinstance(value, str):
        raise ConfigError(problem)
    try:
        info = codecs.lookup(value)
    except LookupError:
        raise ConfigError(problem) from None
    if not getattr(info, "_is_text_encoding", True):
        raise ConfigError(problem)
    return info.name


def _types(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ConfigError(f"{where}.types must map column names to DuckDB type names, not {value!r}")
    for column, kind in value.items():
        if not TYPE_NAME.match(kind.strip()):
            raise ConfigError(f"{where}.types.{column}: {kind!r} is not a DuckDB type name (BIGINT, DOUBLE, DATE ...)")
    return dict(value)


def _table_spec(raw: dict, where: str, csv: bool = False, encoding: str | None = None) -> TableSpec:
    header = raw.get("header_row", "auto")
    if header != "auto" and not (isinstance(header, int) and header >= 1):
        raise ConfigError(f"{where}: header_row must be 'auto' or a row number from 1, not {header!r}")
    if csv and header not in ("auto", 1):
        raise ConfigError(f"{where}: header_row of a CSV file must be 'auto' or 1 (the header is its first line), "
                          f"not {header!r}")
    table = raw.get("table")
    if not isinstance(table, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", table):
        raise ConfigError(f"{where}: table must be a lower_snake_case name, not {table!r}")
    if table in RESERVED_TABLES:
        raise ConfigError(f"{where}: table {table!r} is the name of a table every publication dataset has "
                          f"({', '.join(RESERVED_TABLES)}); choose another")
    if "encoding" in raw:
        encoding = _encoding(raw["encoding"], where)
    limit = _quarantine_limit(raw["max_quarantined"], where) if "max_quarantined" in raw else DEFAULT_QUARANTINE
    return TableSpec(table=table, keys=tuple(raw.get("keys", ())),
                     header_row=None if csv or header == "auto" else header,
                     types=_types(raw.get("types", {}), where), encoding=encoding, max_quarantined=limit)


def _part(raw: object, where: str, parts_key: str, encoding: str | None) -> PartSpec:
    what = "a sheet" if parts_key == "sheets" else "a member"
    raw = _check_keys(raw, PART_KEYS[parts_key], where, what)
    if "match" not in raw:
        raise ConfigError(f"{where}: every sheet or member needs 'match'")
    role = raw.get("role", "table")
    if role not in ROLES:
        raise ConfigError(f"{where}: role must be one of {', '.join(ROLES)}, not {role!r}")
    if role != "table":
        _check_keys(raw, ("match", "role"), where, f"{what} with role {role}")
        return PartSpec(match=str(raw["match"]), role=role, spec=None)
    return PartSpec(match=str(raw["match"]), role=role,
                    spec=_table_spec(raw, where, csv=parts_key == "members", encoding=encoding))


def _file(raw: object, where: str) -> FileSpec:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a file entry must be a mapping of settings, not {raw!r}")
    fmt = raw.get("format") or Path(str(raw.get("name", ""))).suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ConfigError(f"{where}: format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    _check_keys(raw, FILE_KEYS[fmt], where, f"a {fmt} file")
    if "name" not in raw or not re.search(r"\{[a-z_]+\}", str(raw["name"])):
        raise ConfigError(f"{where}: name must be a file name template with the period in it: {{period}}, or its "
                          "parts {yyyy}, {yy}, {mm}, {q}, {fy_short}")
    encoding = _encoding(raw["encoding"], where) if "encoding" in raw else None
    parts_key = {"xlsx": "sheets", "zip": "members"}.get(fmt)
    parts = tuple(_part(item, f"{where}.{parts_key}[{i}]", parts_key, encoding)
                  for i, item in enumerate(raw.get(parts_key, []) or [])) if parts_key else ()
    if fmt != "csv" and not any(part.role == "table" for part in parts):
        raise ConfigError(f"{where}: declares no {parts_key} with a table")
    max_member_bytes = raw.get("max_member_bytes", 4 * 1024**3)
    if not isinstance(max_member_bytes, int) or isinstance(max_member_bytes, bool) or max_member_bytes < 1:
        raise ConfigError(f"{where}: max_member_bytes must be a positive number of bytes, not {max_member_bytes!r}")
    return FileSpec(
        name=raw["name"], format=fmt, parts=parts,
        spec=_table_spec(raw, where, csv=True, encoding=encoding) if fmt == "csv" else None,
        junk=tuple(raw.get("junk", DEFAULT_JUNK)), notes=tuple(raw.get("notes", DEFAULT_NOTES)),
        max_member_bytes=max_member_bytes,
    )


PERIOD_KEYS = ("frequency", "first", "last", "start_month", "list")


def _periods(raw: object, where: str) -> tuple[Calendar, str, str, tuple[str, ...]]:
    """``periods: {frequency, first, last, start_month}`` or ``{frequency, list: [...]}``, or a plain list of
    periods (monthly unless ``frequency`` says otherwise): the calendar, the first and last period, the list."""
    if isinstance(raw, list):
        raw = {"list": raw}
    raw = _check_keys(raw, PERIOD_KEYS, where, "periods")
    frequency = raw.get("frequency", "monthly")
    if frequency not in tuple(Frequency):
        raise ConfigError(f"{where}.frequency must be one of {', '.join(Frequency)}, not {frequency!r}")
    try:
        calendar = Calendar(Frequency(frequency), int(raw.get("start_month", 4)))
        listed = tuple(calendar.check(str(period)) for period in raw.get("list") or ())
    except (PeriodError, ValueError) as error:
        raise ConfigError(f"{where}: {error}") from None
    if listed:
        if "first" in raw or "last" in raw:
            raise ConfigError(f"{where}: give either list or first and last, not both")
        if list(listed) != sorted(listed, key=calendar.start) or len(set(listed)) != len(listed):
            raise ConfigError(f"{where}.list must name each period once, in order")
        return calendar, listed[0], listed[-1], listed
    missing = [key for key in ("first", "last") if key not in raw]
    if missing:
        raise ConfigError(f"{where}: missing setting {' and '.join(missing)} (or give a list of periods)")
    try:
        return calendar, calendar.check(str(raw["first"])), calendar.check(str(raw["last"])), ()
    except PeriodError as error:
        raise ConfigError(f"{where}: {error}") from None


def load_publications(path: Path | None = None) -> dict[str, Publication]:
    """Read and validate the publications config (``PUBLICATIONS_CONFIG`` overrides the default file)."""
    path = Path(path or os.environ.get("PUBLICATIONS_CONFIG") or DEFAULT_CONFIG)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read publications config {path}: {error}") from error
    dataset = raw.get("dataset", "bronze_publications")
    for name, item in [("dataset", dataset)] + [(f"publications.{n}.dataset", i.get("dataset"))
                                                for n, i in (raw.get("publications") or {}).items()
                                                if isinstance(i, dict) and "dataset" in i]:
        if not isinstance(item, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", item):
            raise ConfigError(f"{path.name}: {name} must be a lower_snake_case schema name, not {item!r}")
    publications: dict[str, Publication] = {}
    owner: dict[str, str] = {}
    for name, item in (raw.get("publications") or {}).items():
        where = f"{path.name}: publications.{name}"
        calendar, first, last, listed = _periods(item.get("periods"), f"{where}.periods")
        try:
            publication = Publication(
                name=name, title=item.get("title", name), dataset=item.get("dataset", dataset),
                first_period=first, last_period=last, location=item["location"],
                suppression_markers=tuple(item.get("suppression_markers", ())),
                files=tuple(_file(f, f"{where}.files[{i}]") for i, f in enumerate(item.get("files", []))),
                calendar=calendar, listed=listed,
            )
        except KeyError as missing:
            raise ConfigError(f"{where}: missing setting {missing}") from None
        publication.periods()  # validates the range
        for index, file in enumerate(publication.files):  # every name template fits the calendar
            try:
                file.file_name(first, calendar)
            except (KeyError, IndexError, ValueError) as error:
                parts = ", ".join("{" + part + "}" for part in ("period", *calendar.parts(first)))
                article = "an" if calendar.frequency[0] in "aeiou" else "a"
                raise ConfigError(f"{where}.files[{index}].name: {file.name!r} uses {error} which {article} "
                                  f"{calendar.frequency} period does not have; it may use {parts}") from None
        for spec in publication.tables():
            if owner.setdefault(spec.table, name) != name:
                raise ConfigError(f"{where}: table {spec.table} is already loaded by publication {owner[spec.table]}")
        publications[name] = publication
    if not publications:
        raise ConfigError(f"{path} declares no publications")
    return publications
