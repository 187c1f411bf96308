"""``--report-html FILE``: one self-contained page for a person to open after a night run:
the summary, throughput over time (an inline SVG chart), the failures and the largest transfers.

The page has no scripts and loads nothing: styles are inline and the chart is SVG, so it opens
the same from a mail attachment, a file share or an air-gapped machine. Every figure comes from
the run's JSON report (`fssync.report_document`), and every text is HTML-escaped.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import fssync

MAX_FAILURES = 1000  # rows on the page; the JSON report (--report) has them all
CHART_W, CHART_H, PAD, LEFT = 720, 220, 40, 84  # LEFT: room for the rate labels

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:960px;color:#1d2330;padding:0 1em}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.6em 0 .5em}
.route{color:#55607a;word-break:break-all}
.badge{display:inline-block;padding:.15em .6em;border-radius:1em;font-weight:600;color:#fff}
.ok{background:#2e7d32}.bad{background:#c62828}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3em .6em;
border-bottom:1px solid #e3e6ee;vertical-align:top}th{color:#55607a;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(130px,1fr));gap:.6em}
.card{border:1px solid #e3e6ee;border-radius:.5em;padding:.6em .8em}
.card .v{font-size:1.35em;font-weight:600}.card .k{color:#55607a;font-size:.85em}
.err{color:#c62828}code{word-break:break-all}svg text{font:11px system-ui,sans-serif;fill:#55607a}
"""


def _figure(name: str, label: str, value: str) -> str:
    from html import escape

    return (
        f'<div class="card"><div class="v" data-figure="{name}">{escape(value)}</div>'
        f'<div class="k">{escape(label)}</div></div>'
    )


def _rates(timeline: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """(time, bytes per second) for each step of the timeline."""
    out = []
    for a, b in zip(timeline, timeline[1:], strict=False):
        span = b["seconds"] - a["seconds"]
        if span > 0:
            out.append((b["seconds"], (b["bytes"] - a["bytes"]) / span))
    return out


def chart(doc: dict[str, Any]) -> str:
    """Throughput over time as an inline SVG: a step area of bytes per second."""
    rates = _rates(doc["timeline"])
    if not rates or not doc["bytes"]:
        return '<p data-figure="chart-empty">Nothing was transferred, so there is no chart.</p>'
    end = max(doc["seconds"], rates[-1][0]) or 1.0
    peak = max(r for _, r in rates) or 1.0
    inner_w, inner_h = CHART_W - LEFT - PAD, CHART_H - 2 * PAD

    def x(t: float) -> float:
        return LEFT + inner_w * t / end

    def y(r: float) -> float:
        return PAD + inner_h * (1 - r / peak)

    points = [(x(0), y(0))]
    last_t = 0.0
    for t, r in rates:
        points += [(x(last_t), y(r)), (x(t), y(r))]
        last_t = t
    points.append((x(last_t), y(0)))
    path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
    average = doc["bytes_per_second"]
    avg_y = y(min(average, peak))
    return f"""<svg xmlns="http://www.w3.org/2000/svg" role="img" width="100%"
 viewBox="0 0 {CHART_W} {CHART_H}" aria-labelledby="chart-title" data-figure="chart">
<title id="chart-title">Throughput over time: peak {fssync.human_bytes(peak)}/s,
 average {fssync.human_bytes(average)}/s over {fssync.human_seconds(end)}</title>
<line x1="{LEFT}" y1="{PAD + inner_h}" x2="{LEFT + inner_w}" y2="{PAD + inner_h}" stroke="#9aa3b5"/>
<line x1="{LEFT}" y1="{PAD}" x2="{LEFT}" y2="{PAD + inner_h}" stroke="#9aa3b5"/>
<polygon points="{path}" fill="#90caf9" stroke="#1565c0" stroke-width="1.5"/>
<line x1="{LEFT}" y1="{avg_y:.1f}" x2="{LEFT + inner_w}" y2="{avg_y:.1f}" stroke="#ef6c00"
 stroke-dasharray="5 4"/>
<text x="{LEFT - 4}" y="{PAD + 4}" text-anchor="end">{fssync.human_bytes(peak)}/s</text>
<text x="{LEFT - 4}" y="{PAD + inner_h}" text-anchor="end">0</text>
<text x="{LEFT}" y="{PAD + inner_h + 16}">0 s</text>
<text x="{LEFT + inner_w}" y="{PAD + inner_h + 16}" text-anchor="end">{fssync.human_seconds(end)}</text>
<text x="{LEFT + inner_w}" y="{avg_y - 5:.1f}" text-anchor="end" fill="#ef6c00"
 data-figure="chart-average">average {fssync.human_bytes(average)}/s</text>
<text x="{LEFT}" y="{PAD - 12}" data-figure="chart-peak">peak {fssync.human_bytes(peak)}/s</text>
</svg>"""


def render(doc: dict[str, Any]) -> str:
    """The page for one report document."""
    from html import escape  # here, not at the top: a run without --report-html never needs it

    ok = doc["exit_code"] == 0
    badge = (
        '<span class="badge ok" data-figure="status">OK</span>'
        if ok
        else f'<span class="badge bad" data-figure="status">FAILED, exit code {doc["exit_code"]}'
        "</span>"
    )
    c = doc["counts"]
    cards = [
        _figure("copied", "copied", f"{c['copied']:,}"),
        _figure("updated", "updated", f"{c['updated']:,}"),
        _figure("deleted", "deleted", f"{c['deleted']:,}"),
        _figure("skipped", "unchanged", f"{c['skipped']:,}"),
        _figure("failed", "failed", f"{c['failed']:,}"),
        _figure("bytes", f"written ({doc['bytes']:,} bytes)", fssync.human_bytes(doc["bytes"])),
        _figure("seconds", "time", fssync.human_seconds(doc["seconds"])),
        _figure("rate", "average rate", f"{fssync.human_bytes(doc['bytes_per_second'])}/s"),
    ]
    if c["excluded"]:
        cards.append(_figure("excluded", "excluded", f"{c['excluded']:,}"))
    if doc["retries"]:
        cards.append(_figure("retries", "retries", f"{doc['retries']:,}"))
    notes = []
    if doc["dry_run"]:
        p = doc["plan"]
        notes.append(
            '<p data-figure="dry-run"><strong>Dry run:</strong> nothing was changed; the plan '
            f"would copy {p['copy']:,}, update {p['update']:,}, move {p['move']:,} and delete "
            f"{p['delete']:,} file(s), transferring {fssync.human_bytes(p['bytes'])}.</p>"
        )
    if doc["error"]:
        notes.append(
            f'<p class="err" data-figure="error"><strong>Stopped early:</strong> '
            f"{escape(doc['error'])}</p>"
        )
    if doc["deletes_held"]:
        notes.append(
            f'<p class="err" data-figure="deletes-held"><strong>Deletions not run:</strong> '
            f"{escape(doc['deletes_held'])}</p>"
        )
    failures = doc["failures"]
    if failures:
        rows = "".join(
            f"<tr><td><code>{escape(f['key'])}</code></td><td>{escape(f['kind'])}</td>"
            f'<td class="err">{escape(f["error"])}</td></tr>'
            for f in failures[:MAX_FAILURES]
        )
        more = (
            f"<p>… and {len(failures) - MAX_FAILURES:,} more in the JSON report.</p>"
            if len(failures) > MAX_FAILURES
            else ""
        )
        failure_html = (
            '<table data-figure="failures"><tr><th>file</th><th>action</th><th>error</th></tr>'
            f"{rows}</table>{more}"
        )
    else:
        failure_html = '<p data-figure="failures">None.</p>'
    if doc["largest"]:
        rows = "".join(
            f"<tr><td><code>{escape(t['key'])}</code></td><td>{escape(t['kind'])}</td>"
            f'<td class="num">{fssync.human_bytes(t["bytes"])}</td>'
            f'<td class="num">{fssync.human_seconds(t["seconds"])}</td>'
            f'<td class="num">{_rate(t)}</td></tr>'
            for t in doc["largest"]
        )
        largest_html = (
            '<table data-figure="largest"><tr><th>file</th><th>action</th>'
            '<th class="num">size</th><th class="num">time</th><th class="num">rate</th></tr>'
            f"{rows}</table>"
        )
    else:
        largest_html = '<p data-figure="largest">No transfers.</p>'
    options = "".join(
        f"<tr><td>{escape(k)}</td><td><code>{escape(str(v))}</code></td></tr>"
        for k, v in doc["options"].items()
        if v not in (None, False, [], "")
    )
    title = f"fssync {doc['command']}: {doc['src']} → {doc['dst']}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{escape(title)}</title><style>{STYLE}</style></head>
<body>
<h1>fssync {escape(doc["command"])} {badge}</h1>
<p class="route"><code data-figure="src">{escape(doc["src"])}</code> →
<code data-figure="dst">{escape(doc["dst"])}</code><br>
started <span data-figure="started">{escape(str(doc["started"]))}</span>, finished
<span data-figure="finished">{escape(str(doc["finished"]))}</span>, fssync
{escape(doc["fssync_version"])}</p>
{"".join(notes)}
<h2>Summary</h2>
<div class="grid">{"".join(cards)}</div>
<h2>Throughput over time</h2>
{chart(doc)}
<h2>Failures ({len(failures):,})</h2>
{failure_html}
<h2>Largest transfers</h2>
{largest_html}
<h2>Options</h2>
<details><summary>options of this run (secrets redacted)</summary>
<table>{options}</table></details>
</body></html>
"""


def _rate(t: dict[str, Any]) -> str:
    return f"{fssync.human_bytes(t['bytes'] / t['seconds'])}/s" if t["seconds"] > 0 else "–"


@fssync.hookimpl(trylast=True)
def fssync_add_options(parser: argparse.ArgumentParser, command: str) -> None:
    if command not in ("sync", "bisync"):
        return
    group = parser.add_argument_group("HTML report")
    group.add_argument(
        "--report-html",
        metavar="FILE",
        help="write a self-contained HTML page of the run to FILE: summary, throughput chart, "
        "failures, largest transfers",
    )


@fssync.hookimpl(trylast=True)
def fssync_configure(config: fssync.Config) -> None:
    if config.get("report_html"):
        fssync.check_output_path("--report-html", config.get("report_html"))


@fssync.hookimpl(trylast=True)
def fssync_run_finished(report: fssync.Report, config: fssync.Config) -> None:
    path = config.get("report_html")
    if not path:
        return
    try:
        fssync.write_atomically(path, render(fssync.report_document(report, config)))
    except OSError as exc:
        print(f"fssync: could not write --report-html {path!r}: {exc}", file=sys.stderr)
