"""GX Data Docs, offline: Great Expectations' page templates load jQuery, Bootstrap, bootstrap-table (which builds
the index's list of results), Font Awesome and Vega from public CDNs, so a page opened without network shows an
empty index. The same packages, at the versions the templates name (npm, pinned by
``expectations/docs_assets/package-lock.json``, installed by ``make venv``), are copied beside the pages and the
links rewritten to them after each build. Nothing here downloads anything."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from ingestion import paths

ASSETS = paths.PROJECT_ROOT / "expectations" / "docs_assets"
VENDOR = Path("static") / "vendor"  # under the docs folder

# the CDN address (a regular expression) -> the file of the npm package that serves the same thing
LINKS: dict[str, str] = {
    r"https://cdn\.jsdelivr\.net/npm/vega@5": "vega/build/vega.min.js",
    r"https://cdn\.jsdelivr\.net/npm/vega-lite@5": "vega-lite/build/vega-lite.min.js",
    r"https://cdn\.jsdelivr\.net/npm/vega-embed@6": "vega-embed/build/vega-embed.min.js",
    r"https://cdnjs\.cloudflare\.com/ajax/libs/font-awesome/[\d.]+/css/all\.min\.css": (
        "@fortawesome/fontawesome-free/css/all.min.css"
    ),
    r"https://code\.jquery\.com/jquery-3\.7\.1\.min\.js": "jquery/dist/jquery.min.js",
    r"https://cdnjs\.cloudflare\.com/ajax/libs/popper\.js/[\d.]+/umd/popper\.min\.js": (
        "popper.js/dist/umd/popper.min.js"
    ),
    r"https://stackpath\.bootstrapcdn\.com/bootstrap/4\.3\.1/js/bootstrap\.min\.js": (
        "bootstrap/dist/js/bootstrap.min.js"
    ),
    r"https://maxcdn\.bootstrapcdn\.com/bootstrap/4\.3\.1/css/bootstrap\.min\.css": (
        "bootstrap/dist/css/bootstrap.min.css"
    ),
    r"https://unpkg\.com/bootstrap-table@[\d.]+/dist/bootstrap-table\.min\.js": (
        "bootstrap-table/dist/bootstrap-table.min.js"
    ),
    r"https://unpkg\.com/bootstrap-table@[\d.]+/dist/bootstrap-table\.min\.css": (
        "bootstrap-table/dist/bootstrap-table.min.css"
    ),
    r"https://unpkg\.com/bootstrap-table@[\d.]+/dist/extensions/filter-control/"
    r"bootstrap-table-filter-control\.min\.js": (
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.js"
    ),
    r"https://unpkg\.com/bootstrap-table@[\d.]+/dist/extensions/filter-control/"
    r"bootstrap-table-filter-control(\.min)?\.css": (
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css"
    ),
    r"https://cdnjs\.cloudflare\.com/ajax/libs/bootstrap-datepicker/[\d.]+/js/bootstrap-datepicker\.min\.js": (
        "bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js"
    ),
    r"https://cdnjs\.cloudflare\.com/ajax/libs/bootstrap-datepicker/[\d.]+/css/bootstrap-datepicker\.min\.css": (
        "bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css"
    ),
    r"https://cdn\.jsdelivr\.net/npm/@forevolve/bootstrap-dark@[\d.]+/dist/css/bootstrap-prefers-dark\.css": (
        "@forevolve/bootstrap-dark/dist/css/bootstrap-prefers-dark.css"
    ),
}
FOLDERS = ("@fortawesome/fontawesome-free/webfonts",)  # what a copied stylesheet loads by a relative path
# GX's logo, from its S3 bucket: the same image ships in the docs' own static/images
LOGO = re.compile(r"https://great-expectations-web-assets\.s3\.[\w.-]+\.amazonaws\.com/[\w_-]+\.png(\?[^\"']*)?")
# a script tag's subresource-integrity check names the CDN's file: a local copy is checked by being ours
INTEGRITY = re.compile(r"\s+(integrity=\"[^\"]*\"|crossorigin=\"[^\"]*\")")


class AssetsMissing(RuntimeError):
    """The npm packages are not installed (``make venv`` installs them)."""


def node_modules() -> Path:
    return Path(os.environ.get("ANALYTICS_DOCS_ASSETS", ASSETS / "node_modules"))


def make_offline(docs: Path, since: float = 0.0) -> int:
    """Copy the packages' files into ``docs/static/vendor`` and point the pages of ``docs`` written at or after
    ``since`` (a time stamp: a build's own pages; the kept pages of earlier builds were rewritten then) at them;
    the number of pages rewritten. Raises :class:`AssetsMissing` when the packages are not installed."""
    modules = node_modules()
    missing = [file for file in LINKS.values() if not (modules / file).is_file()]
    if missing:
        raise AssetsMissing(
            f"GX Data Docs need {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''} under {modules} to work "
            "offline; `make venv` installs them (npm ci in expectations/docs_assets)"
        )
    vendor = docs / VENDOR
    for file in dict.fromkeys(LINKS.values()):
        target = vendor / file
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.stat().st_size != (modules / file).stat().st_size:
            shutil.copyfile(modules / file, target)
    for folder in FOLDERS:
        if not (vendor / folder).is_dir():
            shutil.copytree(modules / folder, vendor / folder)
    logo = docs / "static" / "images" / "logo-long.png"
    patterns = [(re.compile(pattern), vendor / file) for pattern, file in LINKS.items()]
    rewritten = 0
    for page in docs.rglob("*.html"):
        if page.stat().st_mtime < since:
            continue
        text = page.read_text(encoding="utf-8")
        new = text
        for pattern, copied in patterns:
            new = pattern.sub(os.path.relpath(copied, page.parent).replace(os.sep, "/"), new)
        new = LOGO.sub(os.path.relpath(logo, page.parent).replace(os.sep, "/"), new)
        new = re.sub(r"<(script|link)\b[^>]*>", lambda tag: INTEGRITY.sub("", tag.group(0)), new)
        if new != text:
            partial = page.with_name(page.name + ".partial")
            partial.write_text(new, encoding="utf-8")
            partial.replace(page)
            rewritten += 1
    return rewritten
