"""Deterministic generator for the sample monthly publication.

The release imitates an official-statistics publication about GP practice submissions. Per period it writes:

* ``practice-submissions-YYYY-MM.xlsx``: Cover, Notes, ``Table 1`` (national summary) and ``Table 2``
  (practice level), with title rows above each header, a footnote below, and suppression markers;
* ``practice-detail-YYYY-MM.csv``: practice x day x channel detail, the large file;
* ``regional-extracts-YYYY-MM.zip``: one CSV per region plus junk (``__MACOSX/``, ``.DS_Store``, a readme).

From ``DRIFT_PERIOD`` on, the practice-level data (Table 2 and the CSV) carry five more columns. Every value
comes from a generator seeded with the period, so the same call always writes the same files.
"""

from __future__ import annotations

import calendar
import datetime as dt
import io
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import xlsxwriter

SEED = 20250201
DEFAULT_PERIODS = ("2025-02", "2025-03", "2025-04", "2025-05", "2025-06")
DRIFT_PERIOD = "2025-06"
CHANNELS = ("Online", "Paper", "Phone")
SUPPRESSED, NOT_AVAILABLE, UNRELIABLE = "[c]", "[x]", "*"

REGIONS = (
    ("E40000003", "London"),
    ("E40000005", "South East"),
    ("E40000006", "South West"),
    ("E40000007", "East of England"),
    ("E40000010", "North West"),
    ("E40000011", "Midlands"),
    ("E40000012", "North East and Yorkshire"),
)
_SUB_REGION_SUFFIXES = ("North", "South", "Central")
_NAME_STEMS = (
    "Abbey",
    "Beech",
    "Castle",
    "Dale",
    "Elm",
    "Field",
    "Grove",
    "Harbour",
    "Meadow",
    "Park",
    "Riverside",
    "Station",
    "Valley",
    "Willow",
    "Oak",
    "Market",
    "Church",
    "Bridge",
    "Mill",
    "Green",
)
_NAME_KINDS = ("Surgery", "Medical Centre", "Health Centre", "Practice", "Family Practice")


@dataclass(frozen=True)
class Practice:
    code: str
    name: str
    region_code: str
    region_name: str
    sub_region_code: str
    sub_region_name: str
    base_patients: int
    opens: str | None = None  # first period it appears in
    closes: str | None = None  # first period it no longer appears in


def _sub_regions() -> list[tuple[str, str, str, str]]:
    """(region_code, region_name, sub_region_code, sub_region_name), two or three per region."""
    out = []
    for index, (code, name) in enumerate(REGIONS):
        for offset, suffix in enumerate(_SUB_REGION_SUFFIXES[: 2 + index % 2]):
            out.append((code, name, f"Q{index + 1}{offset + 1}", f"{name} {suffix}"))
    return out


def practices(count: int) -> list[Practice]:
    """The practice register shared by every period (changes per period are applied in :func:`practice_rows`)."""
    rng = np.random.default_rng(SEED)
    sub_regions = _sub_regions()
    result = []
    for number in range(count):
        region_code, region_name, sub_code, sub_name = sub_regions[number % len(sub_regions)]
        stem = _NAME_STEMS[number % len(_NAME_STEMS)]
        kind = _NAME_KINDS[(number // len(_NAME_STEMS)) % len(_NAME_KINDS)]
        result.append(
            Practice(
                code=f"{chr(65 + number // 10000 % 26)}{81000 + number % 10000:05d}",
                name=f"{stem} {kind}" if number < len(_NAME_STEMS) else f"{stem} {kind} {number}",
                region_code=region_code,
                region_name=region_name,
                sub_region_code=sub_code,
                sub_region_name=sub_name,
                base_patients=int(rng.integers(1500, 16000)),
                opens="2025-04" if number == count - 1 else None,
                closes="2025-04" if number == count - 2 else None,
            )
        )
    return result


def practice_rows(register: list[Practice], period: str) -> list[Practice]:
    """The practices published for ``period``: openings, closures, a rename and a boundary move over time."""
    rows = []
    for number, practice in enumerate(register):
        if (practice.opens and period < practice.opens) or (practice.closes and period >= practice.closes):
            continue
        if number == 2 and period >= "2025-05":
            practice = replace(practice, name=f"{practice.name} (merged)")
        if number == 4 and period >= "2025-05":
            other = next(s for s in _sub_regions() if s[0] == practice.region_code and s[2] != practice.sub_region_code)
            practice = replace(practice, sub_region_code=other[2], sub_region_name=other[3])
        rows.append(practice)
    return rows


def _period_rng(period: str, salt: int) -> np.random.Generator:
    year, month = (int(part) for part in period.split("-"))
    return np.random.default_rng(SEED + year * 100 + month + salt * 1_000_003)


def _month_days(period: str) -> list[dt.date]:
    year, month = (int(part) for part in period.split("-"))
    return [dt.date(year, month, day) for day in range(1, calendar.monthrange(year, month)[1] + 1)]


@dataclass
class PracticeFigures:
    patients: np.ndarray
    submissions: np.ndarray


def _figures(rows: list[Practice], period: str) -> PracticeFigures:
    rng = _period_rng(period, 1)
    patients = np.array([p.base_patients for p in rows]) + rng.integers(-60, 60, size=len(rows))
    submissions = rng.poisson(patients / 40)
    small = rng.random(len(rows)) < 0.06
    submissions[small] = rng.integers(0, 5, size=int(small.sum()))
    return PracticeFigures(patients=patients, submissions=submissions)


def write_workbook(path: Path, period: str, rows: list[Practice], figures: PracticeFigures) -> None:
    """The XLSX release: Cover, Notes, Table 1 (national) and Table 2 (practices)."""
    month_name = dt.date.fromisoformat(f"{period}-01").strftime("%B %Y")
    drift = period >= DRIFT_PERIOD
    rng = _period_rng(period, 2)
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    workbook.set_properties({"created": dt.datetime(2025, 1, 1)})  # a fixed date keeps the file byte-identical
    bold = workbook.add_format({"bold": True})
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})

    cover = workbook.add_worksheet("Cover")
    cover.write(0, 0, f"Practice Submissions, {month_name}", bold)
    cover.write(2, 0, "Publication date")
    cover.write_datetime(2, 1, dt.datetime.fromisoformat(f"{period}-01") + dt.timedelta(days=40), date_format)
    cover.write(3, 0, "Status")
    cover.write(3, 1, "Official statistics (sample data generated for this project)")
    cover.write(4, 0, "Contact")
    cover.write(4, 1, "statistics@example.org")

    notes = workbook.add_worksheet("Notes")
    notes.write(0, 0, "Notes", bold)
    for index, note in enumerate(
        (
            "[c] Suppressed: fewer than five submissions, or a rate derived from such a count.",
            "[x] Not available: the practice did not return its patient list.",
            "* Unreliable: the rate is based on a patient list under review.",
            "Figures are provisional and may be revised in a later release.",
        )
    ):
        notes.write(index + 2, 0, note)

    national = workbook.add_worksheet("Table 1")
    national.write(0, 0, f"Table 1: National summary, {month_name}", bold)
    national.write(1, 0, "Source: Practice Submissions Collection (sample)")
    national.write_row(3, 0, ["Measure", "Value", "Unit"], bold)
    total_patients, total_submissions = int(figures.patients.sum()), int(figures.submissions.sum())
    summary = [
        ("Practices submitting", len(rows), "count"),
        ("Registered patients", total_patients, "count"),
        ("Submissions", total_submissions, "count"),
        ("Rate per 1,000 patients", round(total_submissions / total_patients * 1000, 2), "rate"),
    ]
    for index, row in enumerate(summary):
        national.write_row(4 + index, 0, row)
    national.write(5 + len(summary), 0, "Totals may not sum because of rounding.")

    table = workbook.add_worksheet("Table 2")
    table.write(0, 0, f"Table 2: Submissions by practice, {month_name}", bold)
    table.write(1, 0, "Source: Practice Submissions Collection (sample)")
    table.write(2, 0, "[c] suppressed, [x] not available, * unreliable: see Notes.")
    header = [
        "Region code",
        "Region name",
        "Sub-region code",
        "Sub-region name",
        "Practice code",
        "Practice name",
        "Registered patients",
        "Submissions",
        "Rate per 1,000 patients",
    ]
    if drift:
        header += ["Online submissions", "Urgent submissions", "Median wait (days)", "PCN code", "Dispensing practice"]
    table.write_row(4, 0, header, bold)
    marks = rng.random(len(rows))
    for index, practice in enumerate(rows):
        patients, submissions = int(figures.patients[index]), int(figures.submissions[index])
        rate: object = round(submissions / patients * 1000, 2)
        patients_cell: object = patients
        submissions_cell: object = submissions
        if submissions < 5:
            submissions_cell = rate = SUPPRESSED
        elif marks[index] < 0.03:
            patients_cell = rate = NOT_AVAILABLE
        elif marks[index] < 0.05:
            rate = UNRELIABLE
        cells = [
            practice.region_code,
            practice.region_name,
            practice.sub_region_code,
            practice.sub_region_name,
            practice.code,
            practice.name,
            patients_cell,
            submissions_cell,
            rate,
        ]
        if drift:
            online = int(submissions * 0.6)
            cells += [
                online if submissions >= 5 else SUPPRESSED,
                int(submissions * 0.1),
                round(float(rng.uniform(0.5, 9.0)), 1),
                f"U{index % 40 + 1:05d}",
                "Y" if index % 7 == 0 else "N",
            ]
        table.write_row(5 + index, 0, cells)
    table.write(6 + len(rows), 0, "Source data are provisional.")
    workbook.close()


def detail_table(rows: list[Practice], period: str) -> pa.Table:
    """Practice x day x channel detail; built with numpy so that 1.4 million rows take seconds."""
    rng = _period_rng(period, 3)
    days = _month_days(period)
    codes = np.array([p.code for p in rows])
    n = len(rows) * len(days) * len(CHANNELS)
    practice_index = np.repeat(np.arange(len(rows)), len(days) * len(CHANNELS))
    day_index = np.tile(np.repeat(np.arange(len(days)), len(CHANNELS)), len(rows))
    channel_index = np.tile(np.arange(len(CHANNELS)), len(rows) * len(days))
    counts = rng.poisson(3.0, size=n)
    missing = rng.random(n) < 0.01
    columns = {
        "practice_code": pa.array(codes[practice_index]),
        "submission_date": pa.array(np.array(days, dtype="datetime64[D]")[day_index]),
        "channel": pa.array(np.array(CHANNELS)[channel_index]),
        "submission_count": pa.array(counts, mask=missing),
        "mean_processing_days": pa.array(np.round(rng.gamma(2.0, 1.5, size=n), 2), mask=missing),
    }
    if period >= DRIFT_PERIOD:
        urgent = rng.binomial(counts, 0.2)
        columns |= {
            "urgent_count": pa.array(urgent, mask=missing),
            "routine_count": pa.array(counts - urgent, mask=missing),
            "median_wait_days": pa.array(np.round(rng.uniform(0.5, 12.0, size=n), 1)),
            "staff_role": pa.array(np.array(["GP", "Nurse", "Pharmacist", "Admin"])[rng.integers(0, 4, size=n)]),
            "is_extended_hours": pa.array(rng.random(n) < 0.15),
        }
    return pa.table(columns)


def write_detail_csv(path: Path, table: pa.Table) -> None:
    with pacsv.CSVWriter(str(path), table.schema) as writer:
        for batch in table.to_batches(max_chunksize=200_000):
            writer.write_batch(batch)


def write_regional_zip(path: Path, period: str, rows: list[Practice], figures: PracticeFigures) -> None:
    """One CSV per region, as a Mac user would zip them: AppleDouble files, .DS_Store and a readme included."""
    aggregates: dict[tuple[str, str, str], list[int]] = {}
    for index, practice in enumerate(rows):
        key = (practice.region_code, practice.sub_region_code, practice.sub_region_name)
        totals = aggregates.setdefault(key, [0, 0, 0])
        totals[0] += 1
        totals[1] += int(figures.patients[index])
        totals[2] += int(figures.submissions[index])
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        archive = _FixedTimeZip(zipped)
        archive.writestr("readme.txt", f"Regional extracts for {period}. One CSV per region.\n")
        for region_code, _ in REGIONS:
            buffer = io.StringIO()
            buffer.write(
                "region_code,sub_region_code,sub_region_name,practice_count,registered_patients,submission_count\n"
            )
            for (code, sub_code, sub_name), (count, patients, submissions) in sorted(aggregates.items()):
                if code == region_code:
                    buffer.write(f'{code},{sub_code},"{sub_name}",{count},{patients},{submissions}\n')
            member = f"extracts/region_{region_code}.csv"
            archive.writestr(member, buffer.getvalue())
            apple_double = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X"
            archive.writestr(f"__MACOSX/extracts/._region_{region_code}.csv", apple_double)
        archive.writestr("extracts/.DS_Store", b"\x00\x00\x00\x01Bud1")


class _FixedTimeZip:
    """Writes members with a fixed timestamp, so that the same data always gives the same archive bytes."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive

    def writestr(self, name: str, data: str | bytes) -> None:
        info = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        self.archive.writestr(info, data)


def practices_for_rows(rows_per_period: int) -> int:
    """How many practices give about ``rows_per_period`` detail rows (30.4 days x 3 channels each)."""
    return max(8, round(rows_per_period / (30.4 * len(CHANNELS))))


def generate(
    root: Path,
    periods: tuple[str, ...] | list[str] = DEFAULT_PERIODS,
    practice_count: int = 40,
    publication: str = "practice_submissions",
) -> list[Path]:
    """Write every period's files under ``root/<publication>/<period>/`` and return the folders written."""
    register = practices(practice_count)
    folders = []
    for period in periods:
        folder = root / publication / period
        folder.mkdir(parents=True, exist_ok=True)
        rows = practice_rows(register, period)
        figures = _figures(rows, period)
        write_workbook(folder / f"practice-submissions-{period}.xlsx", period, rows, figures)
        write_detail_csv(folder / f"practice-detail-{period}.csv", detail_table(rows, period))
        write_regional_zip(folder / f"regional-extracts-{period}.zip", period, rows, figures)
        folders.append(folder)
    return folders
