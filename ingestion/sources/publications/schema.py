"""The schema of ``publications.yml``: what may be written where, typed, with the rules each value follows.

The pydantic models here are the one statement of the config's shape. :func:`validate` reads a parsed YAML document
into them, and turns pydantic's errors into messages that name the YAML path (``publications.x.files[0].sheets[1]``)
and, for a setting this version does not know, the nearest one it does ("did you mean 'encoding'?").
``publications.schema.json`` beside the config is generated from them (``make schema``) so
that editors can complete and check the file; a test keeps it in step.
"""

from __future__ import annotations

import codecs
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictInt,
    StrictStr,
    Tag,
    field_validator,
    model_validator,
)

from ingestion import config_schema
from ingestion.config_schema import Strict

SNAKE = r"^[a-z][a-z0-9_]*$"
# A DuckDB type name as a column type may be pinned: BIGINT, DECIMAL(18, 3), TIMESTAMP WITH TIME ZONE, VARCHAR[]
TYPE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*( [A-Za-z][A-Za-z0-9_]*)*(\(\s*\d+\s*(,\s*\d+\s*)?\))?(\[\])?$")
TABLE_END = re.compile(r"^(auto|last_row|blank_rows\(\s*(?P<blank>[1-9]\d*)\s*\)|marker\((?P<marker>.+)\))$")
CELL_RANGE = re.compile(r"^\$?[A-Za-z]{1,3}\$?[1-9]\d*:\$?[A-Za-z]{1,3}\$?[1-9]\d*$")
SCHEMA_FILE = Path(__file__).with_name("publications.schema.json")
RESERVED_TABLES = ("publication_manifest", "quarantine", "publication_periods")  # written by the publish step
# Settings that only mean something for a sheet or member whose role is table.
TABLE_SETTINGS = (
    "table",
    "keys",
    "max_quarantined",
    "header_row",
    "header_rows",
    "header_text",
    "range",
    "units_row",
    "skip_hidden_columns",
    "skip_hidden_rows",
    "fill_down",
    "table_end",
    "note_markers",
    "types",
    "encoding",
)
MOVED = {
    "suppression_markers": "suppression markers are a dbt setting: the var suppression_markers in "
    "dbt_project.yml, used by the staging models that cast published text"
}

TableName = Annotated[str, Field(pattern=SNAKE, description="the bronze table (lower_snake_case)")]
Quarantine = Annotated[
    StrictInt | StrictStr,
    Field(
        description="rows of the table that may be quarantined in one period before the load fails: "
        'a row count (0, 25) or a share of the period\'s rows ("2%"); default "1%"'
    ),
]


def _check_quarantine(value: int | str | None) -> int | str | None:
    problem = f'must be a row count (0, 25) or a share of the period\'s rows like "2%", not {value!r}'
    if value is None:
        return value
    if isinstance(value, bool) or (isinstance(value, int) and value < 0):
        raise ValueError(problem)
    if isinstance(value, str) and not (
        re.fullmatch(r"\s*\d+(\.\d+)?\s*%\s*", value) and float(value.strip().rstrip("%")) <= 100
    ):
        raise ValueError(problem)
    return value


def _check_encoding(value: str | None) -> str | None:
    """A text encoding Python knows, by its canonical name (``latin-1`` -> ``iso8859-1``)."""
    if value is None:
        return value
    problem = f"{value!r} is not a known text encoding (for example utf-8, cp1252, latin-1, utf-16)"
    try:
        info = codecs.lookup(value)
    except LookupError:
        raise ValueError(problem) from None
    if not getattr(info, "_is_text_encoding", True):
        raise ValueError(problem)
    return info.name


def _check_types(value: dict[str, str]) -> dict[str, str]:
    for column, kind in value.items():
        if not TYPE_NAME.match(kind.strip()):
            raise ValueError(f"{column}: {kind!r} is not a DuckDB type name (BIGINT, DOUBLE, DATE ...)")
    return value


class _TablePart(Strict):
    """What every table entry has: a sheet or member with role table, or a CSV file."""

    table: TableName | None = None
    keys: list[str] = Field(default_factory=list, description="the columns that identify a row within a period")
    max_quarantined: Quarantine | None = None

    _quarantine = field_validator("max_quarantined")(_check_quarantine)

    @field_validator("table")
    @classmethod
    def _not_reserved(cls, value: str | None) -> str | None:
        if value in RESERVED_TABLES:
            raise ValueError(
                f"{value!r} is the name of a table every publication dataset has "
                f"({', '.join(RESERVED_TABLES)}); choose another"
            )
        return value


class _Part(_TablePart):
    match: str = Field(description="sheet or member name, a glob (case-insensitive)")
    role: Literal["table", "cover", "notes", "ignore"] = "table"

    @model_validator(mode="after")
    def _role_settings(self) -> _Part:
        if self.role != "table":
            extra = [name for name in TABLE_SETTINGS if name in self.model_fields_set]
            if extra:
                raise ValueError(
                    f"{', '.join(map(repr, extra))}: only a table entry has "
                    f"{'this setting' if len(extra) == 1 else 'these settings'}; this one has role "
                    f"{self.role}"
                )
        elif self.table is None:
            raise ValueError("a table entry needs 'table' (or role: cover, notes or ignore)")
        return self


class SheetEntry(_Part):
    """A sheet of a workbook; the layout settings say where its table is (each detected when not given)."""

    header_row: Literal["auto"] | Annotated[StrictInt, Field(ge=1)] = Field(
        "auto", description="the 1-based (first) header row, or auto: detected"
    )
    header_rows: StrictInt = Field(1, ge=1, le=5, description="rows the header spans; their texts join into one name")
    header_text: str | None = Field(None, description="the header is the first row with a cell equal to this text")
    range: str | None = Field(
        None,
        pattern=CELL_RANGE.pattern,
        description="only these cells are the table: A5:F40",
        json_schema_extra={"form": "a cell range like A5:F40"},
    )
    units_row: Literal["auto"] | bool = Field(
        "auto", description="the row under the header holds units (auto: detected); kept in the manifest, never as data"
    )
    skip_hidden_columns: bool = True
    skip_hidden_rows: bool = True
    fill_down: list[str] = Field(
        default_factory=list,
        description="columns whose blanks take the value above (group labels written once per group)",
    )
    table_end: str = Field(
        "auto",
        pattern=TABLE_END.pattern,
        description=("auto (a blank row followed only by notes), blank_rows(N), marker(text) or last_row"),
        json_schema_extra={"form": "a table end: use auto, blank_rows(N), marker(text) or last_row"},
    )
    note_markers: bool | str = Field(
        False,
        description="cut note markers such as [note 3] out of cell values into "
        "the row's _notes column: true, or a regex",
    )

    @field_validator("note_markers")
    @classmethod
    def _regex(cls, value: bool | str) -> bool | str:
        if isinstance(value, str):
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"{value!r} is not a regular expression: {error}") from None
        return value


class MemberEntry(_Part):
    """A CSV member of a ZIP archive."""

    header_row: Literal["auto", 1] = Field("auto", description="a CSV's header is its first line")
    types: dict[str, str] = Field(default_factory=dict, description="pin a column's type (DuckDB type names)")
    encoding: str | None = Field(None, description="text encoding, a Python codec name; default the archive's")

    _types = field_validator("types")(_check_types)
    _encoding = field_validator("encoding")(_check_encoding)


FileName = Annotated[
    str | list[str],
    Field(
        description=(
            "the file name: a template with {period} or its parts {yyyy} {yy} {mm} {q} {fy_short}, which may be a glob "
            "(* ?), or a list of such alternatives for names that change between releases"
        )
    ),
]


class Override(Strict):
    """What differs for one period's release (a renamed file, a file missing that year, a renamed sheet)."""

    name: FileName | None = None
    optional: bool | None = None
    sheets: list[SheetEntry] | None = None
    members: list[MemberEntry] | None = None


class _File(Strict):
    name: FileName
    optional: bool = Field(False, description="a missing file is recorded as absent, not an error")
    overrides: dict[str, Override] = Field(default_factory=dict, description="per period: what differs")

    @field_validator("name")
    @classmethod
    def _templates(cls, value: str | list[str]) -> str | list[str]:
        names = [value] if isinstance(value, str) else value
        if not names:
            raise ValueError("give at least one file name")
        for name in names:
            if not re.search(r"\{[a-z_]+\}", name):
                raise ValueError(
                    f"{name!r} must be a file name template with the period in it: {{period}}, or its "
                    "parts {yyyy}, {yy}, {mm}, {q}, {fy_short}"
                )
        return value


class CsvFile(_File, _TablePart):
    format: Literal["csv"] = "csv"
    header_row: Literal["auto", 1] = Field("auto", description="a CSV's header is its first line")
    types: dict[str, str] = Field(default_factory=dict, description="pin a column's type (DuckDB type names)")
    encoding: str | None = Field(None, description="text encoding, a Python codec name; default UTF-8")

    _types = field_validator("types")(_check_types)
    _encoding = field_validator("encoding")(_check_encoding)

    @model_validator(mode="after")
    def _has_table(self) -> CsvFile:
        if self.table is None:
            raise ValueError("a CSV file entry needs 'table'")
        return self


JUNK = Field(None, description="globs of archive entries that are never data (default: __MACOSX/*, .DS_Store ...)")
NOTES = Field(None, description="globs of sheets or members that are notes (default: readme*)")


class XlsxFile(_File):
    format: Literal["xlsx"] = "xlsx"
    sheets: list[SheetEntry]
    junk: list[str] | None = JUNK
    notes: list[str] | None = NOTES

    @model_validator(mode="after")
    def _has_table(self) -> XlsxFile:
        if not any(sheet.role == "table" for sheet in self.sheets):
            raise ValueError("declares no sheets with a table")
        return self


class ZipFile(_File):
    format: Literal["zip"] = "zip"
    members: list[MemberEntry]
    junk: list[str] | None = JUNK
    notes: list[str] | None = NOTES
    max_member_bytes: StrictInt = Field(4 * 1024**3, ge=1, description="largest member that is read (bytes)")
    encoding: str | None = Field(None, description="text encoding of the CSV members, a Python codec name")

    _encoding = field_validator("encoding")(_check_encoding)

    @model_validator(mode="after")
    def _has_table(self) -> ZipFile:
        if not any(member.role == "table" for member in self.members):
            raise ValueError("declares no members with a table")
        return self


def _file_format(raw: Any) -> str | None:
    """The format of a file entry: as declared, else from its (first) name's suffix."""
    if isinstance(raw, BaseModel):
        return getattr(raw, "format", None)
    if not isinstance(raw, dict):
        return None
    if "format" in raw:
        return str(raw["format"])
    name = raw.get("name")
    name = name[0] if isinstance(name, list) and name else name
    suffix = str(name or "").rsplit(".", 1)[-1].lower()
    return suffix if suffix in ("csv", "xlsx", "zip") else None


FileEntry = Annotated[
    Union[  # noqa: UP007
        Annotated[CsvFile, Tag("csv")],
        Annotated[XlsxFile, Tag("xlsx")],
        Annotated[ZipFile, Tag("zip")],
    ],
    Discriminator(
        _file_format,
        custom_error_type="format_kind",
        custom_error_message="format must be one of csv, xlsx, zip (or a name ending so)",
    ),
]


class Periods(Strict):
    frequency: Literal["monthly", "quarterly", "annual", "financial_year"] = "monthly"
    first: str | None = Field(
        None, description="the first period, in the frequency's notation (2025-03, 2025-Q1, 2025, 2016-17)"
    )
    last: str | None = None
    start_month: StrictInt = Field(4, ge=1, le=12, description="the month a financial year starts in")
    listed: list[str] | None = Field(None, alias="list", description="the periods published, instead of first and last")

    @field_validator("first", "last", mode="before")
    @classmethod
    def _year_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value  # first: 2024

    @field_validator("listed", mode="before")
    @classmethod
    def _years_as_text(cls, value: Any) -> Any:
        return [cls._year_as_text(item) for item in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _range_or_list(self) -> Periods:
        if self.listed is not None:
            if self.first is not None or self.last is not None:
                raise ValueError("give either list or first and last, not both")
            if not self.listed:
                raise ValueError("list names no periods")
        else:
            missing = [key for key in ("first", "last") if getattr(self, key) is None]
            if missing:
                raise ValueError(f"missing setting {' and '.join(missing)} (or give a list of periods)")
        return self


class PublicationEntry(Strict):
    title: str | None = None
    dataset: str | None = Field(None, pattern=SNAKE, description="the bronze schema (default: the top-level one)")
    periods: Periods
    location: str = Field(
        description="a folder or an http(s) URL; {data_dir}, {publication}, {period} and its "
        "parts, ${VAR} and ${VAR:-default} are filled in"
    )
    files: list[FileEntry] = Field(min_length=1)

    @field_validator("periods", mode="before")
    @classmethod
    def _plain_list(cls, value: Any) -> Any:
        return {"list": value} if isinstance(value, list) else value


class PublicationsConfig(Strict):
    """``publications.yml``: the file-based publications loaded into bronze."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="publications.yml",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    dataset: str = Field("bronze_publications", pattern=SNAKE, description="the bronze schema of every publication")
    publications: dict[Annotated[str, Field(pattern=SNAKE)], PublicationEntry] = Field(min_length=1)


def json_schema() -> str:
    """The JSON Schema of ``publications.yml``, as committed beside it."""
    return json.dumps(PublicationsConfig.model_json_schema(), indent=2, sort_keys=False) + "\n"


def write_schema(path: Path = SCHEMA_FILE) -> Path:
    """Rewrite the committed JSON Schema (``make schema``) after a change to the models above."""
    path.write_text(json_schema())
    return path


def validate(raw: Any, source: str) -> PublicationsConfig:
    """``raw`` (parsed YAML) as a checked config; ConfigError naming ``source`` and the YAML path otherwise."""
    return config_schema.validate(PublicationsConfig, raw, source, moved=MOVED, discriminators={"format": _file_format})


__all__ = [
    "RESERVED_TABLES",
    "TABLE_END",
    "CsvFile",
    "MemberEntry",
    "PublicationEntry",
    "PublicationsConfig",
    "SheetEntry",
    "XlsxFile",
    "ZipFile",
    "json_schema",
    "validate",
]
