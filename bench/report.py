"""Tables and JSON: absolute numbers, and ratios to the best anchor in the same run.

Ratios are the numbers to compare across machines: every tool ran against the same server on
the same cores minutes apart, so the machine cancels out; the absolute seconds do not travel.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from bench.scenarios import SCENARIO_IDS, Outcome, Row
from bench.verify import Check

METRICS = ("wall_s", "cpu_s", "rss_mib")
JSON_EXAMPLES = 20


@attrs.frozen
class Best:
    """The lowest value of one metric among the anchors that ran correctly."""

    tool: str
    value: float


def best_anchors(rows: Iterable[Row]) -> dict[tuple[str, str], Best]:
    """(scenario, metric) -> best anchor; only correct rows count."""
    best: dict[tuple[str, str], Best] = {}
    for row in rows:
        if not row.is_anchor or row.status != "ok":
            continue
        for metric in METRICS:
            value = getattr(row, metric)
            key = (row.scenario, metric)
            if value is not None and (key not in best or value < best[key].value):
                best[key] = Best(row.tool, value)
    return best


def ratio(row: Row, metric: str, best: dict[tuple[str, str], Best]) -> float | None:
    """``row``'s metric over the best anchor's; None when either side is not a correct run."""
    b = best.get((row.scenario, metric))
    value = getattr(row, metric)
    if b is None or value is None or row.status != "ok" or b.value <= 0:
        return None
    return value / b.value


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _markdown(header: list[str], lines: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in lines)) if lines else len(h) for i, h in enumerate(header)
    ]

    def fmt(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(header), rule, *(fmt(r) for r in lines)])


def _ordered(rows: list[Row], tools: list[str]) -> list[Row]:
    order = {t: i for i, t in enumerate(tools)}
    return sorted(rows, key=lambda r: (SCENARIO_IDS.index(r.scenario), order.get(r.tool, 99)))


def results_table(rows: list[Row], tools: list[str], titles: dict[str, str]) -> str:
    """Every tool in every scenario: medians, ratios to the best anchor, status."""
    best = best_anchors(rows)
    header = ["scenario", "tool", "wall s", "CPU s", "RSS MiB", "requests", "wall/best",
              "CPU/best", "RSS/best", "runs", "status"]  # fmt: skip
    lines = []
    for row in _ordered(rows, tools):
        status = row.status if row.status == "ok" else f"{row.status}: {row.detail}"[:110]
        lines.append(
            [
                row.scenario,
                row.tool,
                _num(row.wall_s),
                _num(row.cpu_s),
                _num(row.rss_mib, 0),
                _num(row.requests, 0),
                *(_x(ratio(row, m, best)) for m in METRICS),
                str(row.runs),
                status,
            ]
        )
    present = {r.scenario for r in rows}
    legend = "\n".join(f"- {sid}: {titles[sid]}" for sid in SCENARIO_IDS if sid in present)
    return _markdown(header, lines) + "\n\n" + legend


def fssync_summary(rows: list[Row], tools: list[str]) -> str:
    """fssync (and fssync-before, when it ran) against the best anchor of each metric, one line
    per scenario and fssync row."""
    best = best_anchors(rows)
    header = ["scenario", "tool", "wall", "CPU", "RSS"]
    lines = []
    for row in _ordered([r for r in rows if not r.is_anchor], tools):
        cells = [row.scenario, row.tool]
        for metric in METRICS:
            r = ratio(row, metric, best)
            b = best.get((row.scenario, metric))
            cells.append(f"{_x(r)} vs {b.tool}" if r is not None and b else row.status)
        lines.append(cells)
    return _markdown(header, lines) if lines else ""


def _outcome_json(o: Outcome) -> dict[str, Any]:
    run = o.run
    return {
        "scenario": o.scenario,
        "tool": o.tool,
        "status": o.status,
        "detail": o.detail,
        "wall_s": run.wall_s if run else None,
        "cpu_s": run.cpu_s if run else None,
        "user_s": run.user_s if run else None,
        "sys_s": run.sys_s if run else None,
        "rss_mib": run.rss_mib if run else None,
        "exit_code": run.exit_code if run else None,
        "requests": attrs.asdict(run.requests) if run and run.requests else None,
        "check": _check_json(o.check),
    }


def _check_json(check: Check | None) -> dict[str, Any] | None:
    """Counts in full, key lists cut short: a run that lost every file must not bloat the file."""
    if check is None:
        return None
    data = attrs.asdict(check)
    for name, value in data.items():
        if isinstance(value, tuple | list):
            data[name] = {"count": len(value), "examples": list(value[:JSON_EXAMPLES])}
    return data


def to_json(meta: dict[str, Any], rows: list[Row], outcomes: list[Outcome]) -> dict[str, Any]:
    """Everything a later comparison needs: settings, versions, medians, ratios, every run."""
    best = best_anchors(rows)
    return {
        "meta": meta,
        "rows": [
            {
                **attrs.asdict(row),
                "ratio_to_best_anchor": {m: ratio(row, m, best) for m in METRICS},
                "best_anchor": {
                    m: attrs.asdict(best[(row.scenario, m)])
                    for m in METRICS
                    if (row.scenario, m) in best
                },
            }
            for row in rows
        ],
        "runs": [_outcome_json(o) for o in outcomes],
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
