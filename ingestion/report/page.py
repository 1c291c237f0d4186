"""The run report as one static HTML page: charts drawn as Vega-Lite (altair) and rendered to SVG in this process
(vl-convert), inlined with the page's own styles, so the file opens from disk with no script and no network."""

from __future__ import annotations

import html
import json
import textwrap

import altair as alt
import vl_convert as vlc

from ingestion.report.data import ReportData, Rows

WIDTH = 300  # a drawing's own width: readable on a phone (the page scales it down further only below that)
STATUS_COLOURS = {  # run statuses and validation results: green, grey, red, orange, blue
    "SUCCESS": "#2e7d32",
    "NO_WORK": "#78909c",
    "FAILED": "#c62828",
    "INCOMPLETE": "#ef6c00",
    "RUNNING": "#1565c0",
    "passed": "#2e7d32",
    "warned": "#ef6c00",
    "failed": "#c62828",
}
DRIFT_COLOURS = {"added": "#ef6c00", "removed": "#c62828", "retyped": "#6a1b9a", "accepted": "#2e7d32"}
QUARANTINE_COLOURS = {"rejected": "#c62828", "flagged": "#ef6c00"}
FRESHNESS_COLOURS = {"pass": "#2e7d32", "warn": "#ef6c00", "error": "#c62828", "runtime error": "#c62828"}


def _scale(colours: dict[str, str], shown: Rows, field_name: str) -> alt.Scale:
    """A colour scale fixed per value (the same status is the same colour in every chart), listing only the values
    the chart draws, so the legend does not name what is not there."""
    present = [value for value in colours if any(row.get(field_name) == value for row in shown)]
    return alt.Scale(domain=present, range=[colours[value] for value in present])


def _svg(chart: alt.TopLevelMixin) -> str:
    """The chart as SVG. Its text is set in DejaVu Sans, which vl-convert measures with (from the system's fonts)
    and a browser on Debian draws with: in a font wider than the one measured, labels would run off the drawing's
    edge (DejaVu is a wide one, so where it is missing the fallback fits too)."""
    spec = chart.to_dict()
    spec.setdefault("config", {})["font"] = "DejaVu Sans"
    return str(vlc.vegalite_to_svg(spec))


def _frame(rows: Rows) -> alt.Data:
    return alt.Data(values=json.loads(json.dumps(rows, default=str)))


def runs_chart(rows: Rows) -> alt.TopLevelMixin:
    return (
        alt.Chart(_frame(rows), title="Runs: duration and status")
        .mark_bar()
        .encode(
            x=alt.X("label:O", title="run started (UTC)", sort=None, axis=alt.Axis(labelAngle=-45)),
            y=alt.Y("seconds:Q", title="seconds"),
            color=alt.Color("status:N", scale=_scale(STATUS_COLOURS, rows, "status"), title="status"),
            tooltip=["run_id:N", "command:N", "status:N", "seconds:Q", "rows:Q"],
        )
        .properties(width=WIDTH, height=180)
    )


def stages_chart(rows: Rows) -> alt.TopLevelMixin:
    return (
        alt.Chart(_frame(rows), title="Time per stage, run by run")
        .mark_bar()
        .encode(
            x=alt.X("label:O", title="run started (UTC)", sort=None, axis=alt.Axis(labelAngle=-45)),
            y=alt.Y("sum(seconds):Q", title="seconds", stack="zero"),
            color=alt.Color("stage:N", title="stage"),
            tooltip=["run_id:N", "stage:N", "sum(seconds):Q"],
        )
        .properties(width=WIDTH, height=200)
    )


def volumes_chart(rows: Rows) -> alt.TopLevelMixin:
    base = alt.Chart().encode(  # no data of its own: the facet splits the layer's data by table
        x=alt.X("period:O", title="period", sort=None),
        y=alt.Y("rows:Q", title="rows", scale=alt.Scale(zero=False)),
        tooltip=["table:N", "period:N", "rows:Q", "previous_rows:Q", "warning:N"],
    )
    line = base.mark_line(point=True)
    warned = base.transform_filter(alt.datum.warned).mark_point(shape="triangle-up", size=140, color="#c62828")
    return (
        alt.layer(line, warned, data=_frame(rows))
        .properties(width=120, height=90)
        .facet(facet=alt.Facet("table:N", title=None), columns=2)
        .resolve_scale(y="independent", x="independent")
        .properties(title="Rows per period (red triangle: plausibility warning)")
    )


def drift_chart(rows: Rows) -> alt.TopLevelMixin:
    return (
        alt.Chart(_frame(rows), title="Schema drift by period")
        .mark_point(filled=True)
        .encode(
            x=alt.X("period:O", title="period", sort="ascending"),
            y=alt.Y("table:N", title=None),
            color=alt.Color("change:N", scale=_scale(DRIFT_COLOURS, rows, "change"), title="change"),
            size=alt.Size("column_count:Q", title="columns", scale=alt.Scale(range=[80, 400])),
            tooltip=["table:N", "period:N", "change:N", "columns:N"],
        )
        .properties(width=WIDTH, height=alt.Step(28))
    )


def validation_chart(rows: Rows) -> alt.TopLevelMixin:
    return (
        alt.Chart(_frame(rows), title="Validation (latest result per table and period)")
        .mark_rect(stroke="white")
        .encode(
            x=alt.X("period:O", title="period", sort="ascending"),
            y=alt.Y("table:N", title=None),
            color=alt.Color("status:N", scale=_scale(STATUS_COLOURS, rows, "status"), title="result"),
            tooltip=["table:N", "period:N", "status:N", "message:N"],
        )
        .properties(width=WIDTH, height=alt.Step(22))
    )


def quarantine_chart(rows: Rows) -> alt.TopLevelMixin:
    base = alt.Chart(_frame(rows), title="Rows rejected or flagged, all periods")
    bars = base.mark_bar().encode(
        x=alt.X("rows:Q", title="rows"),
        y=alt.Y("table:N", title=None),
        color=alt.Color(
            "disposition:N",
            scale=alt.Scale(domain=list(QUARANTINE_COLOURS), range=list(QUARANTINE_COLOURS.values())),
            title="disposition",
        ),
        yOffset="disposition:N",
        tooltip=["table:N", "disposition:N", "rows:Q"],
    )
    labels = base.mark_text(align="left", dx=3).encode(x="rows:Q", y="table:N", yOffset="disposition:N", text="rows:Q")
    return alt.layer(bars, labels).properties(width=WIDTH, height=alt.Step(14))


def freshness_chart(rows: Rows) -> alt.TopLevelMixin:
    return (
        alt.Chart(_frame(rows), title="Freshness: hours since each source's newest load")
        .mark_bar()
        .encode(
            x=alt.X("hours:Q", title="hours"),
            y=alt.Y("source:N", title=None, sort="-x"),
            color=alt.Color(
                "status:N",
                scale=_scale(FRESHNESS_COLOURS, rows, "status"),
                title="status",
            ),
            tooltip=["source:N", "status:N", "hours:Q", "max_loaded_at:N"],
        )
        .properties(width=WIDTH, height=alt.Step(18))
    )


CHARTS = (
    ("runs", "Runs over time", "runs", runs_chart),
    ("stages", "Duration per stage", "stages", stages_chart),
    ("volumes", "Rows per table and period", "volumes", volumes_chart),
    ("drift", "Schema drift", "drift", drift_chart),
    ("validation", "Validation results", "validation", validation_chart),
    ("quarantine", "Quarantined rows", "quarantine", quarantine_chart),
    ("freshness", "Source freshness", "freshness", freshness_chart),
)

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 0 1rem 3rem; color: #222; }
h1 { font-size: 1.5rem; margin: 1.2rem 0 .2rem; } h2 { font-size: 1.15rem; margin: 2rem 0 .4rem; }
nav { display: flex; flex-wrap: wrap; gap: .2rem .8rem; } nav a { white-space: nowrap; }
.scroll { overflow-x: auto; max-width: 100%; }
.charts { display: flex; flex-wrap: wrap; gap: 0 2.5rem; } .charts > section { flex: 1 1 380px; min-width: 0; }
figure { margin: .5rem 0 1rem; overflow-x: auto; } figure svg { max-width: 100%; height: auto; }
.status { display: inline-block; padding: .1rem .5rem; border-radius: .3rem; color: #fff; font-weight: 600; }
.SUCCESS { background: #2e7d32; } .NO_WORK { background: #78909c; } .FAILED { background: #c62828; }
.INCOMPLETE, .RUNNING { background: #ef6c00; }
table { border-collapse: collapse; font-size: .85rem; margin: .3rem 0; } td, th { padding: .15rem .5rem;
  border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
details { margin: .3rem 0 1rem; } code { background: #f3f3f3; padding: 0 .25rem; word-break: break-all; }
.empty { color: #666; font-style: italic; } .muted { color: #666; }
"""


def _table(rows: Rows, columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(str(r.get(c, '') if r.get(c) is not None else ''))}</td>" for c in columns)
        + "</tr>"
        for r in rows
    )
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def _latest(data: ReportData) -> str:
    latest = data.latest
    if latest is None:
        return "<p class='empty'>No run recorded yet: <code>ingestion run</code> records one.</p>"
    parts = [
        f"<p><span class='status {html.escape(latest.status)}' id='latest-status'>{html.escape(latest.status)}"
        f"</span> run <code>{html.escape(latest.run_id)}</code>, started {html.escape(latest.started_at)}, "
        f"{latest.seconds:.1f} s: <code>{html.escape(latest.command)}</code></p>"
    ]
    if latest.failure:
        parts.append(f"<p id='failure-point'><b>Failure point:</b> {html.escape(latest.failure)}</p>")
    if latest.error:
        parts.append(f"<p><b>Error:</b> {html.escape(latest.error)}</p>")
    if latest.resume:
        parts.append(
            f"<p id='resume'><b>Resume with:</b> <code>{html.escape(latest.resume)}</code> (or <code>ingestion runs "
            f"resume {html.escape(latest.run_id)} --execute</code>)</p>"
        )
    parts.append(
        f"<p class='muted'>Every stage and event: <code>ingestion runs show {html.escape(latest.run_id)} "
        f"--target {html.escape(data.target)}</code></p>"
    )
    return "".join(parts)


def _exports(data: ReportData) -> str:
    """The export's catalog, model by model, linked to the catalog file and each model's folder."""
    parts = ["<h2 id='exports'>Exports</h2>"]
    if not data.exports:
        return "".join(parts) + "<p class='empty'>Nothing exported yet: a run's export stage writes it.</p>"
    rows = "".join(
        f"<tr><td><a href='{html.escape(e['path'])}/'>{html.escape(e['model'])}</a></td><td>{e['files']}</td>"
        f"<td>{e['rows']:,}</td><td>{html.escape(e['periods'])}</td><td>{html.escape(str(e['last_updated']))}</td>"
        f"<td>{html.escape(e['built_from'])}</td><td>{e['release_files']}</td></tr>"
        for e in data.exports
    )
    parts.append(
        f"<p>Gold as Parquet by period, described by a Frictionless Data Package: <a href='"
        f"{html.escape(data.export_catalog or '')}'>datapackage.json</a> (rows, sha256 and load ids per file; "
        "lineage per model).</p><div class='scroll' id='exports-table'><table><thead><tr><th>model</th><th>files</th>"
        "<th>rows</th><th>periods</th><th>last updated</th><th>built from (bronze)</th><th>release files</th></tr>"
        f"</thead><tbody>{rows}</tbody></table></div>"
    )
    return "".join(parts)


def _links(data: ReportData) -> str:
    parts = ["<h2 id='links'>Documentation</h2>"]
    if data.models:
        items = "".join(
            f"<tr><td><a href='../static_index.html#!/{m['resource_type']}/{html.escape(m['unique_id'])}'>"
            f"{html.escape(m['name'])}</a></td><td>{html.escape(m['layer'])}</td>"
            f"<td>{html.escape(textwrap.shorten(m['description'], 160, placeholder=' ...'))}</td></tr>"
            for m in data.models
        )
        parts.append(
            "<details open><summary>dbt models (<a href='../static_index.html'>dbt docs and lineage</a>)</summary>"
            "<div class='scroll'><table><thead><tr><th>model</th><th>layer</th><th>description</th></tr></thead>"
            f"<tbody>{items}</tbody></table></div></details>"
        )
    else:
        parts.append("<p class='empty'>No dbt docs yet: a run's docs stage writes them.</p>")
    if data.gx_pages:
        items = "".join(
            f"<li><a href='../{html.escape(p['path'])}'>{html.escape(p['title'])}</a></li>" for p in data.gx_pages
        )
        parts.append(
            "<details><summary>Great Expectations results (<a href='../gx_docs/index.html'>GX Data Docs</a>)"
            f"</summary><ul>{items}</ul></details>"
        )
    return "".join(parts)


def render(data: ReportData) -> str:
    """The whole page. Each chart is a ``figure`` with ``data-chart`` (its name) and ``data-rows`` (the rows drawn),
    the rows under it as a table; a chart with no rows says so instead of drawing axes over nothing."""
    nav = "".join(f"<a href='#{key}'>{html.escape(title)}</a>" for key, title, _, _ in CHARTS)
    sections = []
    for key, title, field_name, chart in CHARTS:  # each in a section of its own: two abreast in a wide window
        rows: Rows = getattr(data, field_name)
        body = f"<h2 id='{key}'>{html.escape(title)}</h2>"
        if not rows:
            body += f"<p class='empty' data-chart='{key}' data-rows='0'>Nothing recorded yet.</p>"
        else:
            body += f"<figure data-chart='{key}' data-rows='{len(rows)}'>{_svg(chart(rows))}</figure>"
            body += f"<details><summary>the {len(rows)} rows</summary>{_table(rows, list(rows[0]))}</details>"
        sections.append(f"<section>{body}</section>")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Run report: {html.escape(data.target)}</title><style>{STYLE}</style></head><body>"
        f"<h1>Run report</h1><p class='muted'>{html.escape(data.warehouse)}; written {html.escape(data.generated_at)}"
        f"</p><nav>{nav}<a href='#exports'>Exports</a><a href='#links'>Documentation</a></nav>"
        f"<h2 id='latest'>Latest run</h2>{_latest(data)}<div class='charts'>{''.join(sections)}</div>"
        f"{_exports(data)}{_links(data)}"
        "</body></html>"
    )
