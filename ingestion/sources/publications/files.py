"""Find a period's release files, locally or over http(s), and fingerprint them (sha256) without loading them;
and hand the readers a CSV's text as UTF-8, checked, transcoded from its declared encoding, or bounded in size when
it comes out of an archive.
"""

from __future__ import annotations

import codecs
import hashlib
import itertools
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

import requests

from ingestion import paths
from ingestion.errors import FileMissing, IngestionError, Where

CHUNK = 1024 * 1024
SAMPLE_BYTES = 64 * 1024  # what the encoding and format checks look at first
OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")  # an OLE2 compound file: .xls, or an encrypted workbook
_UTF8 = ("utf-8", "utf-8-sig")
GLOB = re.compile(r"[*?\[]")  # a file name rule with one of these is a glob


@dataclass(frozen=True)
class ReleaseFile:
    """A release file available on local disk."""

    name: str
    location: str  # where it came from: a path or a URL
    path: Path  # where it is now
    sha256: str
    size_bytes: int


def is_url(location: str) -> bool:
    return urlparse(location).scheme in ("http", "https")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(
    location: str, name: str, cache_dir: Path, *, publication: str, period: str, timeout: float = 60.0
) -> ReleaseFile:
    """The file ``name`` in folder or URL ``location``; a URL is streamed into ``cache_dir`` first."""
    where: Where = {"publication": publication, "period": period, "file": name}
    if not is_url(location):
        path = paths.resolve(location) / name
        if not path.is_file():
            present = sorted(p.name for p in path.parent.iterdir() if p.is_file()) if path.parent.is_dir() else []
            holds = (
                f"; the folder holds: {', '.join(present)}"
                if present
                else ("; the folder is empty" if path.parent.is_dir() else "; the folder does not exist")
            )
            raise FileMissing(f"file not found at {path}{holds}", **where)
        return ReleaseFile(name, str(path), path, sha256_of(path), path.stat().st_size)

    url = location.rstrip("/") + "/" + name
    target = cache_dir / publication / period / name
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    digest, size = hashlib.sha256(), 0
    try:
        with requests.get(url, stream=True, timeout=timeout) as response:
            if response.status_code in (404, 410):
                raise FileMissing(f"file not found: GET {url} answered HTTP {response.status_code}", **where)
            if response.status_code != 200:
                raise IngestionError(f"GET {url} answered HTTP {response.status_code}", **where)
            with partial.open("wb") as handle:
                for chunk in response.iter_content(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    handle.write(chunk)
    except requests.RequestException as error:
        raise IngestionError(f"GET {url} failed: {error}", **where) from error
    shutil.move(partial, target)
    return ReleaseFile(name, url, target, digest.hexdigest(), size)


def local_folder_names(location: str) -> list[str]:
    """Every file in a local period folder (empty for a URL), so that undeclared files show in the manifest."""
    if is_url(location):
        return []
    folder = paths.resolve(location)
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


# ------------------------------------------------------------------------------------------------- CSV text


def utf8_file(
    chunks: Iterator[bytes], where: Where, encoding: str | None, stack: ExitStack, original: Path | None
) -> Path:
    """A UTF-8 file with the text of ``chunks``: ``original`` itself when it is UTF-8 already, else a temporary file
    written chunk by chunk (transcoded from ``encoding``). Refuses an empty or binary file, and a file that is not
    UTF-8 when no encoding is declared (naming the likely one)."""
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= SAMPLE_BYTES:
            break
    complete = len(head) < SAMPLE_BYTES
    if not head:
        raise IngestionError("file is empty (0 bytes)", **where)
    if head.startswith((b"PK\x03\x04", OLE2_MAGIC)):
        kind = "a ZIP archive or .xlsx workbook" if head.startswith(b"PK") else "an OLE2 file (an .xls workbook?)"
        raise IngestionError(f"cannot parse CSV: the file is {kind}, not CSV text", **where)
    codec = _codec(encoding, where) if encoding else None
    rest = itertools.chain([head], chunks)
    if codec is None or codec in _UTF8:
        _check_utf8(head, complete, where, declared=codec)
        if original is not None:
            return original
        return _write(stack, rest, None, where)
    wide = codec.startswith(("utf-16", "utf-32"))
    if wide and b"\x00" not in head:
        raise IngestionError(
            f"the file is declared as encoding {encoding} but it is not: its text has no zero "
            "bytes, which UTF-16 and UTF-32 text always has; check `encoding` for this file in "
            "publications.yml",
            **where,
        )
    if not wide and _is_utf8(head):
        raise IngestionError(
            f"the file is declared as encoding {encoding} but its text is UTF-8 (with non-ASCII "
            "characters that would be misread): remove `encoding` from its entry in "
            "publications.yml",
            **where,
        )
    return _write(stack, rest, codec, where)


def _write(stack: ExitStack, chunks: Iterable[bytes], codec: str | None, where: Where) -> Path:
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="release-csv-")))
    target = folder / "text.csv"
    decoder = codecs.getincrementaldecoder(codec)("strict") if codec else None
    line, first = 1, True
    with target.open("wb") as sink:
        for chunk in itertools.chain(chunks, [b""]):
            if decoder is None:
                sink.write(chunk)
                continue
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:
                at = line + chunk[: max(error.start, 0)].count(b"\n")
                raise IngestionError(
                    f"cannot decode the file as its declared encoding {codec}: byte "
                    f"{chunk[error.start : error.start + 1].hex()} near line {at} is not {codec}; "
                    "check `encoding` for this file in publications.yml",
                    **where,
                ) from error
            if first and text:
                text, first = text.removeprefix("\ufeff"), False
            line += text.count("\n")
            sink.write(text.encode("utf-8"))
    return target


def bounded(stream: IO[bytes], limit: int, where: Where) -> Iterator[bytes]:
    """The stream's chunks, stopping with an error as soon as more than ``limit`` bytes came out of it."""
    total = 0
    while chunk := stream.read(CHUNK):
        total += len(chunk)
        if total > limit:
            raise IngestionError(
                f"member inflates past the limit of {limit:,} bytes (max_member_bytes); reading "
                f"stopped after {total:,} bytes",
                **where,
            )
        yield chunk


def _codec(encoding: str, where: Where) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise IngestionError(f"unknown encoding {encoding!r} declared for this file", **where) from None


def _is_utf8(sample: bytes) -> bool:
    """Valid UTF-8 with at least one non-ASCII character (an ASCII sample fits any encoding)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return not sample.isascii()


def _check_utf8(head: bytes, complete: bool, where: Where, declared: str | None) -> None:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
    except UnicodeDecodeError as error:
        raise encoding_error(head, head[: error.start].count(b"\n") + 1, where, declared) from error
    if b"\x00" in head:
        import charset_normalizer

        names = _likely_encodings(charset_normalizer.from_bytes(head))
        line = head[: head.index(b"\x00")].count(b"\n") + 1
        if names and names[0].startswith(("utf-16", "utf-32")):
            raise encoding_error(head, line, where, declared)
        raise zero_byte_error(line, where)


def zero_byte_error(line: int, where: Where) -> IngestionError:
    """A NUL byte in UTF-8 text: text never has one, so the file is binary or broken; never loaded as a value."""
    return IngestionError(
        f"the file has a zero (NUL) byte on line {line}, which text never has: is it binary "
        "data, or text in another encoding?",
        row=line,
        **where,
    )


def encoding_error(sample: bytes, line: int, where: Where, declared: str | None) -> IngestionError:
    """The file is not UTF-8: name the likely encoding (charset-normalizer) and how to declare it."""
    import charset_normalizer

    names = _likely_encodings(charset_normalizer.from_bytes(sample), sample)
    said = f"declared as {declared} but " if declared else ""
    if names:
        guess = f"its encoding looks like {names[0]}" + (
            f" (other candidates: {', '.join(names[1:4])})" if len(names) > 1 else ""
        )
        how = f"declare it with `encoding: {names[0]}`"
    else:
        guess, how = "its encoding could not be detected", "declare it with `encoding: <name>`"
    return IngestionError(
        f"the file is {said}not UTF-8 text (the first byte that is not is on line {line}); "
        f"{guess}: {how} on this file's entry in publications.yml (for a ZIP member, on the zip "
        "file's entry)",
        **where,
    )


_PREFERRED = ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp1252", "iso8859-1", "iso8859-15", "cp1250")


def _likely_encodings(matches: Iterable, sample: bytes = b"") -> list[str]:
    """Detected encodings, most likely first. A short sample of single-byte text cannot tell the Windows and ISO
    code pages apart (é is 0xE9 in all of cp1250, cp1252 and iso8859-2, while £ is 0xA3 in cp1252 but Ł in
    cp1250); when the sample reads as cp1252, the most common of them, it is named first."""
    results = list(matches)
    if not results:
        return []
    names = _ranked(results)
    single_byte = names and not any(n.startswith("utf") for n in names)
    if single_byte and "cp1252" not in names and _decodes(sample, "cp1252"):
        names.insert(0, "cp1252")
    return names


def _decodes(sample: bytes, encoding: str) -> bool:
    try:
        sample.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _ranked(results: list) -> list[str]:
    best = results[0]
    tied = [m for m in results if m.chaos == best.chaos and m.coherence == best.coherence] or [best]
    names: list[str] = []
    for match in tied:
        for name in [match.encoding, *getattr(match, "could_be_from_charset", [])]:
            try:
                name = codecs.lookup(name).name
            except LookupError:
                continue
            if name not in names:
                names.append(name)
    return sorted(names, key=lambda n: _PREFERRED.index(n) if n in _PREFERRED else len(_PREFERRED))
