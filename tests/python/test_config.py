"""The publications config: a schema with paths and suggestions in its errors, and file names that drift."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from ingestion.errors import ConfigError, FileMissing, IngestionError, NotPublished
from ingestion.sources.publications import plan_period
from ingestion.sources.publications.schema import SCHEMA_FILE, json_schema
from ingestion.sources.publications.settings import DEFAULT_CONFIG, load_publications

PERIODS = "{frequency: financial_year, first: '2021-22', last: '2023-24'}"


def _config(tmp_path: Path, files: str, periods: str = PERIODS, extra: str = "") -> Path:
    path = tmp_path / "publications.yml"
    path.write_text(
        f"publications:\n  annual:\n    periods: {periods}\n    location: '{tmp_path}/{{period}}'\n"
        f"{extra}    files:\n{files}"
    )
    return path


def _release(tmp_path: Path, period: str, *names: str) -> None:
    folder = tmp_path / period
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("code,value\na,1\nb,2\n")


def test_the_committed_json_schema_is_in_step_with_the_config_models() -> None:
    assert SCHEMA_FILE.read_text() == json_schema(), "run `make schema` and commit publications.schema.json"
    assert DEFAULT_CONFIG.read_text().startswith("# yaml-language-server: $schema=./publications.schema.json")


def test_the_shipped_config_is_valid_against_the_json_schema_editors_use() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    jsonschema.validate(config, schema)
    config["publications"]["practice_payments"]["files"][0]["optionl"] = True
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, schema)


@pytest.mark.parametrize(
    ("files", "extra", "expected"),
    [
        (
            "      - {name: 'a-{period}.csv', table: a, optionl: true}\n",
            "",
            r"publications\.annual\.files\[0\]\.optionl: unknown setting 'optionl'; did you mean 'optional'\?",
        ),
        (
            "      - {name: 'a-{period}.csv', table: a, name_pattern: 'a*'}\n",
            "",
            r"files\[0\]\.name_pattern: unknown setting 'name_pattern'; did you mean 'name'\?",
        ),
        (
            "      - name: 'b-{period}.xlsx'\n        sheets:\n          - {match: T, table: t, fill_dwon: [a]}\n",
            "",
            r"files\[0\]\.sheets\[0\]\.fill_dwon: unknown setting 'fill_dwon'; did you mean 'fill_down'\?",
        ),
        (
            "      - {name: 'a-{period}.csv', table: a}\n",
            "    titel: x\n",
            r"publications\.annual\.titel: unknown setting 'titel'; did you mean 'title'\?",
        ),
        (
            "      - {name: 'a-{period}.csv', table: a}\n",
            "    suppression_markers: ['[c]']\n",
            r"suppression_markers: suppression markers are a dbt setting.*dbt_project\.yml",
        ),
        (
            "      - name: 'b-{period}.xlsx'\n        sheets:\n"
            "          - {match: T, table: t, table_end: 'blank(2)'}\n",
            "",
            r"sheets\[0\]\.table_end: 'blank\(2\)' is not a table end: use auto, blank_rows\(N\), marker\(text\)",
        ),
        (
            "      - name: 'b-{period}.xlsx'\n        sheets:\n          - {match: T, table: t, header_rows: 9}\n",
            "",
            r"sheets\[0\]\.header_rows: Input should be less than or equal to 5 \(got 9\)",
        ),
        (
            "      - name: 'b-{period}.xlsx'\n        sheets:\n          - {match: T, table: t, range: 'A1-F9'}\n",
            "",
            r"sheets\[0\]\.range: 'A1-F9' is not a cell range like A5:F40",
        ),
        (
            "      - name: 'b-{period}.xlsx'\n        sheets:\n"
            "          - {match: T, table: t, note_markers: '[note'}\n",
            "",
            r"sheets\[0\]\.note_markers: '\[note' is not a regular expression",
        ),
        (
            "      - {name: 'a-{period}.csv', table: a, overrides: {'2030-31': {name: 'x-{period}.csv'}}}\n",
            "",
            r"files\[0\]\.overrides: '2030-31' is not one of the publication's periods",
        ),
        (
            "      - {name: 'a-{period}.csv', table: a, overrides: {'2022-23': {table: b}}}\n",
            "",
            r"files\[0\]\.overrides\.2022-23\.table: unknown setting 'table'",
        ),
        (
            "      - {name: ['a-{period}.csv', 'a-{mm}.csv'], table: a}\n",
            "",
            r"files\[0\]\.name: .* uses 'mm' which a financial_year period does not have",
        ),
        ("      - {name: 'data.csv', table: a}\n", "", r"files\[0\]\.name: 'data\.csv' must be a file name template"),
        ("      - {name: 'a-{period}.txt', table: a}\n", "", r"files\[0\]: format must be one of csv, xlsx, zip"),
    ],
)
def test_config_mistakes_name_the_yaml_path_and_suggest_the_setting_meant(
    tmp_path: Path, files: str, extra: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected) as error:
        load_publications(_config(tmp_path, files, extra=extra))
    assert str(error.value).startswith("publications.yml: ")


def test_a_glob_needs_a_folder_to_list(tmp_path: Path) -> None:
    path = tmp_path / "publications.yml"
    path.write_text(
        "publications:\n  annual:\n    periods: {frequency: annual, first: '2021', last: '2022'}\n"
        "    location: 'https://example.org/releases/{period}'\n"
        "    files:\n      - {name: 'report*-{period}.csv', table: a}\n"
    )
    with pytest.raises(ConfigError, match="a glob needs a folder location"):
        load_publications(path)


DRIFTING = (
    "      - name: ['annual-report*-{period}.csv', 'report-{fy_short}.csv']\n        table: rows\n"
    "      - name: 'extra-{period}.csv'\n        table: extra\n        optional: true\n"
    "      - name: 'detail-{period}.csv'\n        table: detail\n"
    "        overrides: {'2022-23': {name: 'detail-{period}-revised.csv'}}\n"
)


def test_file_names_that_drift_are_matched_by_alternatives_globs_and_overrides(tmp_path: Path) -> None:
    _release(tmp_path, "2021-22", "annual-report-2021-22.csv", "extra-2021-22.csv", "detail-2021-22.csv")
    _release(tmp_path, "2022-23", "annual-reports-2022-23.csv", "detail-2022-23-revised.csv", "notes.txt")
    _release(tmp_path, "2023-24", "report-2324.csv", "detail-2023-24.csv")
    publication = load_publications(_config(tmp_path, DRIFTING))["annual"]
    matched = {}
    for period in publication.periods():
        plan = plan_period(publication, period, tmp_path / "cache")
        matched[period] = [(part.name, part.classification, part.rule) for part in plan.parts]
        if period == "2022-23":
            assert plan.unexpected_files == ["notes.txt"]
            assert [spec.table for spec in plan.tables()] == ["rows", "detail"]  # no extra file that year
    assert matched == {
        "2021-22": [
            ("annual-report-2021-22.csv", "table", "annual-report*-2021-22.csv"),
            ("extra-2021-22.csv", "table", "extra-2021-22.csv"),
            ("detail-2021-22.csv", "table", "detail-2021-22.csv"),
        ],
        "2022-23": [
            ("extra-2022-23.csv", "absent", "extra-2022-23.csv"),
            ("annual-reports-2022-23.csv", "table", "annual-report*-2022-23.csv"),
            ("detail-2022-23-revised.csv", "table", "detail-2022-23-revised.csv"),
        ],
        "2023-24": [
            ("extra-2023-24.csv", "absent", "extra-2023-24.csv"),
            ("report-2324.csv", "table", "report-2324.csv"),
            ("detail-2023-24.csv", "table", "detail-2023-24.csv"),
        ],
    }
    manifest = (
        plan_period(publication, "2022-23", tmp_path / "cache")
        .parts[0]
        .manifest_row("r", "annual", "2022-23", "loaded")
    )
    assert (manifest["classification"], manifest["file_sha256"], manifest["name_rule"]) == (
        "absent",
        None,
        "extra-2022-23.csv",
    )


def test_several_files_matching_one_declared_file_is_an_error_naming_them(tmp_path: Path) -> None:
    _release(tmp_path, "2021-22", "annual-report-2021-22.csv", "annual-reports-2021-22.csv", "detail-2021-22.csv")
    publication = load_publications(_config(tmp_path, DRIFTING))["annual"]
    with pytest.raises(
        IngestionError,
        match=r"2 files match the one declared file 'annual-report\*-2021-22.csv': "
        r"annual-report-2021-22.csv \(by .*\), annual-reports-2021-22.csv",
    ):
        plan_period(publication, "2021-22", tmp_path / "cache")


def test_a_required_file_no_rule_matches_is_missing_naming_the_rules_and_the_folder(tmp_path: Path) -> None:
    _release(tmp_path, "2021-22", "annual-rep-2021-22.csv", "detail-2021-22.csv")
    publication = load_publications(_config(tmp_path, DRIFTING))["annual"]
    with pytest.raises(
        FileMissing,
        match=r"no file matches 'annual-report\*-2021-22.csv' or 'report-2122.csv' in "
        r".*; the folder holds: annual-rep-2021-22.csv, detail-2021-22.csv",
    ):
        plan_period(publication, "2021-22", tmp_path / "cache")


def test_a_period_with_only_optional_files_missing_is_still_published_but_none_at_all_is_not(tmp_path: Path) -> None:
    publication = load_publications(_config(tmp_path, DRIFTING))["annual"]
    (tmp_path / "2021-22").mkdir()
    with pytest.raises(NotPublished):
        plan_period(publication, "2021-22", tmp_path / "cache")
