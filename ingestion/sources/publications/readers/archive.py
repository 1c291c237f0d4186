"""ZIP archives: safe member names, members streamed with a size bound into the CSV reader."""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path, PurePosixPath

import pyarrow as pa

from ingestion.errors import IngestionError, Where
from ingestion.sources.publications import files
from ingestion.sources.publications.readers.common import (
    CSV_BATCH_ROWS,
    Rejection,
)
from ingestion.sources.publications.readers.delimited import read_text_csv


def read_zip_member_batches(
    archive_path: Path,
    member: str,
    max_bytes: int,
    types: dict[str, str],
    where: Where,
    *,
    encoding: str | None = None,
    rejections: list[Rejection] | None = None,
) -> Iterator[tuple[pa.Table, int]]:
    """Like :func:`read_csv_batches` for the CSV ``member`` of a ZIP archive.

    The member is streamed out of the archive in chunks into a private temporary file (transcoded to UTF-8 on the
    way when an encoding is declared) while its inflated size is counted: past ``max_bytes`` the copy stops at once.
    """
    where = {**where, "part": member}
    check_member_name(member, where)
    with ExitStack() as stack:
        with open_zip(archive_path, where) as archive:
            try:
                info = archive.getinfo(member)
            except KeyError:
                raise IngestionError("the archive has no such member", **where) from None
            _check_member_info(info, max_bytes, where)
            try:
                with archive.open(info) as stream:
                    chunks = files.bounded(stream, max_bytes, where)
                    utf8 = files.utf8_file(chunks, where, encoding, stack, original=None)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, RuntimeError) as error:
                raise IngestionError(f"cannot read member ({error})", **where) from error
        yield from read_text_csv(utf8, types, where, rejections, CSV_BATCH_ROWS)


def _check_member_info(info: zipfile.ZipInfo, max_bytes: int, where: Where) -> None:
    if info.flag_bits & 0x1:
        raise IngestionError("member is encrypted (password-protected): it cannot be read", **where)
    if info.file_size > max_bytes:
        raise IngestionError(
            f"member is {info.file_size:,} bytes uncompressed, over the limit of {max_bytes:,} (max_member_bytes)",
            **where,
        )


# ----------------------------------------------------------------------------------------------------------- ZIP


def open_zip(path: Path, where: Where) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise IngestionError(f"cannot open the archive ({error})", **where) from error


def check_member_name(name: str, where: Where) -> None:
    """Refuse names that would escape an extraction folder: absolute paths, drive letters, ``..``."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or re.match(r"^[A-Za-z]:", name):
        member: Where = {**where, "part": name}
        raise IngestionError("unsafe member name (absolute path or '..'): refusing to read the archive", **member)


def extract_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, folder: Path, max_bytes: int, where: Where) -> Path:
    """Copy one member to ``folder``, stopping at ``max_bytes`` whatever the archive claims its size is."""
    where = {**where, "part": info.filename}
    check_member_name(info.filename, where)
    _check_member_info(info, max_bytes, where)
    target = folder / PurePosixPath(info.filename.replace("\\", "/")).name
    try:
        with archive.open(info) as source, target.open("wb") as sink:
            for chunk in files.bounded(source, max_bytes, where):
                sink.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, RuntimeError) as error:
        raise IngestionError(f"cannot extract member ({error})", **where) from error
    except IngestionError:
        target.unlink(missing_ok=True)
        raise
    return target
