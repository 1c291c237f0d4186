"""Deterministic generator for the sample annual publication "Payments to general practice".

The release imitates an official-statistics publication of what the NHS paid each GP practice in a financial year
(April to March). Periods are financial years written ``YYYY-YY`` (``2021-22`` ... ``2024-25``); each period's
files go to ``<root>/practice_payments/<period>/``. The practices are those of the monthly sample publication
(:func:`ingestion.devtools.sample.publications.practices`: same codes, names and regions), so gold can join the two.
Practices open and close between years: each practice of the register gets a lifetime (a year it opens or a year
it closes, or neither) from the seeded generator, so a year publishes 30 to 40 of the default 40 practices, a
different count each year: 34, 31, 33 and 36 for 2021-22 to 2024-25 (:func:`year_practices`).

Per period it writes two files, whose names drift between releases as real ones do, so that a loader cannot rely on
one fixed name: a pattern has to cover the workbook's three spellings, and the odd 2022-23 extract needs a
per-period override (:func:`workbook_name`, :func:`extract_name`)::

    period   workbook                                        extract
    2021-22  nhs-payments-to-general-practice-2021-22.xlsx   practice-payments-extract-2021-22.zip
    2022-23  nhs-payment-to-general-practice-2022-23.xlsx    practice-payments-extract-2022-23-revised.zip
    2023-24  payments-to-general-practice-2324.xlsx          practice-payments-extract-2023-24.zip
    2024-25  payments-to-general-practice-2425.xlsx          practice-payments-extract-2024-25.zip

The 2022-23 workbook drops the "s" of "payments" (a typo the publisher kept), the 2022-23 extract was re-issued
as a revision, and from 2023-24 the publisher dropped the "nhs-" prefix and shortened the year (``fy_short``,
``2324``). A later year follows the 2023-24 rule.

The workbook has four sheets:

* ``Cover``: one cell per row: the title, the publication date, the status and a contact line.
* ``Notes``: a heading, then one note per row, ``[note 1]`` to ``[note 3]`` and the ``[c]`` marker explained.
* ``Table 1``, regional summary, presentation style (rows are Excel's, 1-based)::

      1  Table 1: Payments to general practice by region and payment type   (merged A1:E1)
      2  Financial year 2021-22, England
      3  (blank)
      4  Region | Payment type | Practices | Total payments | Payment per registered patient | Unrounded (F, hidden)
      5         |              | (number)  | (£ thousands)  | (£)                            | (£ thousands)
      6  London | Global sum           | 4 | 3181.1 | 104.07 | 3181.0999
      7         | Quality and outcomes | 4 |  648.4 |  21.21 |  648.41449
      8         | Enhanced services    | 4 |  241.7 |   7.91 |  241.72076
      9  (blank)
     10  South East | Global sum ...   (7 regions x 3 payment types = 21 data rows, a blank row between regions)
     ..
     32         | Check total | ... (hidden row inside the last region, after its second row: not data)
     ..
     34  (blank)
     35  Notes:
     36  1. Figures are rounded to the nearest £100.
     37  Source: sample generator, not real data.

  The region name is written on the first row of its group only. ``Practices`` counts the practices of the region
  paid that type (some have no enhanced services); ``Total payments`` is in £ thousands, rounded to 1 decimal;
  the payment per registered patient divides by all the region's registered patients and is rounded to 2
  decimals; hidden column F holds the total payments unrounded. One ``Total payments`` cell a year is text with a
  note marker, ``"<value> [note 3]"`` (which cell is drawn per year).
* ``Table 2``, practice level, with a two-row header::

      1  Table 2: Payments by practice, financial year 2021-22
      2  (blank)
      3  Practice (merged A3:B3) | Payments (£) (merged C3:E3)
      4  Code | Name | Global sum | Quality and outcomes | Total
      5  A81000 | Abbey Surgery | 186000.38 | 43069.43 | 245284.76     (one row per practice of the year)
      ..
         (blank)
         Source: sample generator.

  ``Total`` includes enhanced services, which have no column of their own. For one or two practices a year the
  ``Quality and outcomes`` cell is suppressed, ``[c]``.

The extract is a ZIP of one CSV per region, ``payments_<region_code>.csv`` (UTF-8, header
``practice_code,payment_type,amount_gbp,registered_patients``, one row per practice of the region and payment
type, amounts with 2 decimals, a practice with no enhanced services has ``0.00``; nothing is suppressed), a
``readme.txt`` and one AppleDouble file ``__MACOSX/._payments_E40000003.csv`` of a few bytes, as a Mac zips it.

Bronze row counts per period are :func:`expected_rows`: ``regional_payments`` 21 (Table 1 without the hidden
row), ``practice_payments`` the year's practices (Table 2) and ``practice_payment_lines`` three times that (the
CSV rows of every member). Every value comes from a generator seeded with the period, the workbook's creation
date and the ZIP members' timestamps are fixed, so the same call always writes byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import io
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xlsxwriter
from xlsxwriter.format import Format

from ingestion.devtools.sample.publications import REGIONS, SUPPRESSED, Practice, practices

SEED = 20210401
PUBLICATION = "practice_payments"
DEFAULT_PERIODS = ("2021-22", "2022-23", "2023-24", "2024-25")
REVISED_PERIOD = "2022-23"  # its extract was re-issued as "...-revised.zip"
PAYMENT_TYPES = ("Global sum", "Quality and outcomes", "Enhanced services")
NOTE_MARKER = "[note 3]"
FIXED_TIME = dt.datetime(2025, 1, 1)  # workbook creation date and ZIP member time: keeps the bytes identical
_FIRST_YEAR = 2021  # the first financial year of the register's lifetimes
_LIFETIME_SALT = 10  # chosen so that the default years publish 34, 31, 33 and 36 of 40 practices
_HIDDEN_COLUMN = 5  # F
_CSV_HEADER = "practice_code,payment_type,amount_gbp,registered_patients\n"


def start_year(period: str) -> int:
    """``"2021-22"`` -> 2021; fails naming the period if it is not a financial year ``YYYY-YY``."""
    first, _, second = period.partition("-")
    if not (
        first.isdigit()
        and len(first) == 4
        and second.isdigit()
        and len(second) == 2
        and (int(first) + 1) % 100 == int(second)
    ):
        raise ValueError(f"payments sample: period {period!r} is not a financial year like '2021-22'")
    return int(first)


def fy_short(period: str) -> str:
    """``"2023-24"`` -> ``"2324"``, the short year of the later file names."""
    year = start_year(period)
    return f"{year % 100:02d}{(year + 1) % 100:02d}"


def workbook_name(period: str) -> str:
    """The workbook's file name, which drifts between releases (see the module docstring)."""
    year = start_year(period)
    if year < 2022:
        return f"nhs-payments-to-general-practice-{period}.xlsx"
    if year == 2022:
        return f"nhs-payment-to-general-practice-{period}.xlsx"
    return f"payments-to-general-practice-{fy_short(period)}.xlsx"


def extract_name(period: str) -> str:
    """The ZIP extract's file name; the 2022-23 one was re-issued as a revision."""
    start_year(period)
    suffix = "-revised" if period == REVISED_PERIOD else ""
    return f"practice-payments-extract-{period}{suffix}.zip"


def _lifetimes(count: int) -> list[tuple[int | None, int | None]]:
    """(first year open, first year closed) per practice of the register, start years, ``None`` when always."""
    rng = np.random.default_rng([SEED, _LIFETIME_SALT])
    kinds, years = rng.random(count), rng.integers(1, 4, size=count)
    lifetimes: list[tuple[int | None, int | None]] = []
    for kind, offset in zip(kinds, years, strict=True):
        year = _FIRST_YEAR + int(offset)
        lifetimes.append((year, None) if kind < 0.12 else (None, year) if kind < 0.24 else (None, None))
    return lifetimes


def year_practices(period: str, practice_count: int = 40) -> list[Practice]:
    """The practices published for a financial year: the register less those not yet open or already closed."""
    year = start_year(period)
    register = practices(practice_count)
    return [
        practice
        for practice, (opens, closes) in zip(register, _lifetimes(practice_count), strict=True)
        if (opens is None or year >= opens) and (closes is None or year < closes)
    ]


def expected_rows(period: str, practice_count: int = 40) -> dict[str, int]:
    """The data rows each bronze table holds for ``period`` once loaded (hidden, blank and note rows excluded)."""
    published = len(year_practices(period, practice_count))
    return {
        "regional_payments": len(REGIONS) * len(PAYMENT_TYPES),
        "practice_payments": published,
        "practice_payment_lines": published * len(PAYMENT_TYPES),
    }


def _rng(period: str, salt: int) -> np.random.Generator:
    return np.random.default_rng([SEED, start_year(period), salt])


@dataclass(frozen=True)
class YearFigures:
    """One financial year: the practices, their registered patients and amounts (£, 2 decimals) per type."""

    period: str
    practices: list[Practice]
    patients: np.ndarray  # one per practice
    amounts: np.ndarray  # practices x payment types, in PAYMENT_TYPES order


def figures(period: str, practice_count: int = 40) -> YearFigures:
    """The year's practices, patients and payments, drawn from a generator seeded with the period."""
    rows = year_practices(period, practice_count)
    rng = _rng(period, 1)
    growth = 1 + 0.015 * (start_year(period) - _FIRST_YEAR)
    base = np.array([practice.base_patients for practice in rows], dtype=float)
    patients = np.round(base * growth + rng.integers(-200, 200, size=len(rows))).astype(np.int64)
    rates = np.column_stack(
        [
            rng.uniform(95.0, 110.0, size=len(rows)) * growth,
            rng.uniform(15.0, 25.0, size=len(rows)),
            rng.uniform(5.0, 20.0, size=len(rows)),
        ]
    )
    amounts = np.round(patients[:, None] * rates, 2)
    amounts[rng.random(len(rows)) < 0.1, 2] = 0.0  # a few practices offer no enhanced services
    return YearFigures(period=period, practices=rows, patients=patients, amounts=amounts)


def write_workbook(path: Path, year: YearFigures) -> None:
    """The XLSX release: Cover, Notes, Table 1 (regions x payment types) and Table 2 (practices)."""
    workbook = xlsxwriter.Workbook(str(path))
    workbook.set_properties({"created": FIXED_TIME})  # a fixed date keeps the file byte-identical
    bold = workbook.add_format({"bold": True})
    _write_cover(workbook, year.period, bold)
    _write_notes(workbook, bold)
    _write_regional_table(workbook, year, bold)
    _write_practice_table(workbook, year, bold)
    workbook.close()


def _write_cover(workbook: xlsxwriter.Workbook, period: str, bold: Format) -> None:
    published = dt.date(start_year(period) + 1, 10, 12)
    cover = workbook.add_worksheet("Cover")
    cover.write(0, 0, f"Payments to General Practice, England, financial year {period}", bold)
    cover.write(2, 0, f"Publication date: {published.day} {published:%B %Y}")
    cover.write(3, 0, "Status: official statistics (sample data generated for this project, not real data)")
    cover.write(4, 0, "Contact: statistics@example.org")


def _write_notes(workbook: xlsxwriter.Workbook, bold: Format) -> None:
    notes = workbook.add_worksheet("Notes")
    notes.write(0, 0, "Notes", bold)
    for index, note in enumerate(
        (
            "[note 1] Payments are those made in the financial year, April to March, whatever period they relate to.",
            "[note 2] Registered patients are the practice list size on 1 January of the financial year.",
            "[note 3] This figure includes a late adjustment and may be revised in the next release.",
            f"{SUPPRESSED} Suppressed to protect confidentiality.",
        )
    ):
        notes.write(index + 2, 0, note)


def _write_regional_table(workbook: xlsxwriter.Workbook, year: YearFigures, bold: Format) -> None:
    sheet = workbook.add_worksheet("Table 1")
    sheet.merge_range(0, 0, 0, 4, "Table 1: Payments to general practice by region and payment type", bold)
    sheet.write(1, 0, f"Financial year {year.period}, England")
    sheet.write_row(
        3,
        0,
        ["Region", "Payment type", "Practices", "Total payments", "Payment per registered patient", "Unrounded"],
        bold,
    )
    sheet.write_row(4, 2, ["(number)", "(£ thousands)", "(£)", "(£ thousands)"])
    sheet.set_column(0, 1, 26)
    sheet.set_column(2, 4, 16)
    sheet.set_column(_HIDDEN_COLUMN, _HIDDEN_COLUMN, None, None, {"hidden": True})
    marked = int(_rng(year.period, 2).integers(0, len(REGIONS) * len(PAYMENT_TYPES)))
    region_codes = np.array([practice.region_code for practice in year.practices])
    row = 5
    for region_index, (region_code, region_name) in enumerate(REGIONS):
        members = region_codes == region_code
        patients = int(year.patients[members].sum())
        for type_index, payment_type in enumerate(PAYMENT_TYPES):
            paid = year.amounts[members, type_index]
            unrounded = float(paid.sum()) / 1000
            total: object = round(unrounded, 1)
            if region_index * len(PAYMENT_TYPES) + type_index == marked:
                total = f"{total} {NOTE_MARKER}"
            per_patient = round(float(paid.sum()) / patients, 2) if patients else 0.0
            sheet.write_row(
                row,
                0,
                [
                    region_name if type_index == 0 else None,
                    payment_type,
                    int((paid > 0).sum()),
                    total,
                    per_patient,
                    unrounded,
                ],
            )
            row += 1
            if region_index == len(REGIONS) - 1 and type_index == 1:  # a check row the publisher hid
                checked = year.amounts[members].sum()
                sheet.write_row(
                    row,
                    1,
                    ["Check total", int(members.sum()), round(float(checked) / 1000, 1), None, float(checked) / 1000],
                )
                sheet.set_row(row, None, None, {"hidden": True})
                row += 1
        row += 1  # a blank row after each region, the last one before the footnotes
    for offset, footnote in enumerate(
        ("Notes:", "1. Figures are rounded to the nearest £100.", "Source: sample generator, not real data.")
    ):
        sheet.write(row + offset, 0, footnote)


def _write_practice_table(workbook: xlsxwriter.Workbook, year: YearFigures, bold: Format) -> None:
    sheet = workbook.add_worksheet("Table 2")
    sheet.write(0, 0, f"Table 2: Payments by practice, financial year {year.period}", bold)
    sheet.merge_range(2, 0, 2, 1, "Practice", bold)
    sheet.merge_range(2, 2, 2, 4, "Payments (£)", bold)
    sheet.write_row(3, 0, ["Code", "Name", "Global sum", "Quality and outcomes", "Total"], bold)
    sheet.set_column(1, 1, 32)
    sheet.set_column(2, 4, 18)
    rng = _rng(year.period, 3)
    count = len(year.practices)
    suppressed = set(rng.choice(count, size=min(count, int(rng.integers(1, 3))), replace=False).tolist())
    for index, practice in enumerate(year.practices):
        global_sum, quality, _enhanced = (float(value) for value in year.amounts[index])
        total = round(float(year.amounts[index].sum()), 2)
        sheet.write_row(
            4 + index,
            0,
            [practice.code, practice.name, global_sum, SUPPRESSED if index in suppressed else quality, total],
        )
    sheet.write(5 + count, 0, "Source: sample generator.")


def write_extract(path: Path, year: YearFigures) -> None:
    """One CSV per region, zipped on a Mac: an AppleDouble file and a readme come along."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for region_code, _ in REGIONS:
            buffer = io.StringIO()
            buffer.write(_CSV_HEADER)
            for index, practice in enumerate(year.practices):
                if practice.region_code != region_code:
                    continue
                for type_index, payment_type in enumerate(PAYMENT_TYPES):
                    buffer.write(
                        f"{practice.code},{payment_type},{year.amounts[index, type_index]:.2f},"
                        f"{int(year.patients[index])}\n"
                    )
            _write_member(archive, f"payments_{region_code}.csv", buffer.getvalue().encode("utf-8"))
            if region_code == REGIONS[0][0]:
                _write_member(archive, f"__MACOSX/._payments_{region_code}.csv", b"\x00\x05\x16\x07\x00\x02\x00\x00")
        readme = (
            f"Payments to general practice, financial year {year.period}: one CSV per region, "
            "one row per practice and payment type.\n"
        )
        _write_member(archive, "readme.txt", readme.encode("utf-8"))


def _write_member(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def generate(
    root: Path, periods: tuple[str, ...] | list[str] = DEFAULT_PERIODS, practice_count: int = 40
) -> list[Path]:
    """Write every period's workbook and extract under ``root/practice_payments/<period>/``; return the folders."""
    folders = []
    for period in periods:
        folder = root / PUBLICATION / period
        folder.mkdir(parents=True, exist_ok=True)
        year = figures(period, practice_count)
        write_workbook(folder / workbook_name(period), year)
        write_extract(folder / extract_name(period), year)
        folders.append(folder)
    return folders


if __name__ == "__main__":
    for written in generate(Path(sys.argv[1] if len(sys.argv) > 1 else "data/publications")):
        print(written)
