"""The publications config (``publications.yml``) as typed, validated objects."""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ingestion import paths
from ingestion.errors import ConfigError

DEFAULT_CONFIG = Path(__file__).with_name("publications.yml")
PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
# Entries that archive tools add and that are never data.
DEFAULT_JUNK = ("__MACOSX/*", ".DS_Store", "*/.DS_Store", "._*", "*/._*", "Thumbs.db", "*/Thumbs.db", "*/")
DEFAULT_NOTES = ("readme*", "*/readme*", "README*", "*/README*")
ROLES = ("table", "cover", "notes", "ignore")
FORMATS = ("xlsx", "csv", "zip")


@dataclass(frozen=True)
class TableSpec:
    """A bronze table and how to read it from a sheet, CSV file or ZIP member."""

    table: str
    keys: tuple[str, ...] = ()
    header_row: int | None = None  # 1-based; None = detect
    types: dict[str, str] = field(default_factory=dict)  # CSV column -> DuckDB type, to pin inference


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

    def file_name(self, period: str) -> str:
        return self.name.format(period=period)


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

    def periods(self, first: str | None = None, last: str | None = None) -> list[str]:
        """Monthly periods from ``first`` to ``last`` inclusive, within the declared range by default."""
        first, last = first or self.first_period, last or self.last_period
        for value in (first, last):
            if not PERIOD.match(value):
                raise ConfigError(f"period {value!r} is not of the form YYYY-MM")
        if first > last:
            raise ConfigError(f"--from {first} is after --to {last}")
        year, month = (int(part) for part in first.split("-"))
        periods = []
        while f"{year:04d}-{month:02d}" <= last:
            periods.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return periods

    def location_for(self, period: str) -> str:
        return _expand_env(self.location).format(data_dir=paths.data_dir(), publication=self.name, period=period)

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


def _table_spec(raw: dict, where: str) -> TableSpec:
    header = raw.get("header_row", "auto")
    if header != "auto" and not (isinstance(header, int) and header >= 1):
        raise ConfigError(f"{where}: header_row must be 'auto' or a row number from 1, not {header!r}")
    table = raw.get("table")
    if not isinstance(table, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", table):
        raise ConfigError(f"{where}: table must be a lower_snake_case name, not {table!r}")
    return TableSpec(table=table, keys=tuple(raw.get("keys", ())),
                     header_row=None if header == "auto" else header, types=dict(raw.get("types", {})))


def _part(raw: dict, where: str) -> PartSpec:
    if "match" not in raw:
        raise ConfigError(f"{where}: every sheet or member needs 'match'")
    role = raw.get("role", "table")
    if role not in ROLES:
        raise ConfigError(f"{where}: role must be one of {', '.join(ROLES)}, not {role!r}")
    return PartSpec(match=str(raw["match"]), role=role, spec=_table_spec(raw, where) if role == "table" else None)


def _file(raw: dict, where: str) -> FileSpec:
    fmt = raw.get("format") or Path(str(raw.get("name", ""))).suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ConfigError(f"{where}: format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if "name" not in raw or "{period}" not in raw["name"]:
        raise ConfigError(f"{where}: name must be a file name template containing {{period}}")
    parts_key = {"xlsx": "sheets", "zip": "members"}.get(fmt)
    parts = tuple(_part(item, f"{where}.{parts_key}[{i}]") for i, item in enumerate(raw.get(parts_key, []) or []))
    if fmt != "csv" and not any(part.role == "table" for part in parts):
        raise ConfigError(f"{where}: declares no {parts_key} with a table")
    return FileSpec(
        name=raw["name"], format=fmt, parts=parts, spec=_table_spec(raw, where) if fmt == "csv" else None,
        junk=tuple(raw.get("junk", DEFAULT_JUNK)), notes=tuple(raw.get("notes", DEFAULT_NOTES)),
        max_member_bytes=int(raw.get("max_member_bytes", 4 * 1024**3)),
    )


def load_publications(path: Path | None = None) -> dict[str, Publication]:
    """Read and validate the publications config (``PUBLICATIONS_CONFIG`` overrides the default file)."""
    path = Path(path or os.environ.get("PUBLICATIONS_CONFIG") or DEFAULT_CONFIG)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read publications config {path}: {error}") from error
    dataset = raw.get("dataset", "bronze_publications")
    publications: dict[str, Publication] = {}
    owner: dict[str, str] = {}
    for name, item in (raw.get("publications") or {}).items():
        where = f"{path.name}: publications.{name}"
        periods = item.get("periods") or {}
        try:
            publication = Publication(
                name=name, title=item.get("title", name), dataset=item.get("dataset", dataset),
                first_period=str(periods["first"]), last_period=str(periods["last"]), location=item["location"],
                suppression_markers=tuple(item.get("suppression_markers", ())),
                files=tuple(_file(f, f"{where}.files[{i}]") for i, f in enumerate(item.get("files", []))),
            )
        except KeyError as missing:
            raise ConfigError(f"{where}: missing setting {missing}") from None
        publication.periods()  # validates the range
        for spec in publication.tables():
            if owner.setdefault(spec.table, name) != name:
                raise ConfigError(f"{where}: table {spec.table} is already loaded by publication {owner[spec.table]}")
        publications[name] = publication
    if not publications:
        raise ConfigError(f"{path} declares no publications")
    return publications
