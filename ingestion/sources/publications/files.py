"""Find a period's release files, locally or over http(s), and fingerprint them (sha256) without loading them."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import requests

from ingestion import paths
from ingestion.errors import IngestionError

CHUNK = 1024 * 1024


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


def fetch(location: str, name: str, cache_dir: Path, *, publication: str, period: str,
          timeout: float = 60.0) -> ReleaseFile:
    """The file ``name`` in folder or URL ``location``; a URL is streamed into ``cache_dir`` first."""
    where = {"publication": publication, "period": period, "file": name}
    if not is_url(location):
        path = paths.resolve(location) / name
        if not path.is_file():
            raise IngestionError(f"file not found at {path}", **where)
        return ReleaseFile(name, str(path), path, sha256_of(path), path.stat().st_size)

    url = location.rstrip("/") + "/" + name
    target = cache_dir / publication / period / name
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    digest, size = hashlib.sha256(), 0
    try:
        with requests.get(url, stream=True, timeout=timeout) as response:
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
