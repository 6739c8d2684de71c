"""``pulse grafana preview``: each dashboard's panels drawn from real query results (matplotlib).

Not Grafana's rendering: a reviewer's check that every panel is populated and labelled.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from clickhouse_connect.driver.client import Client

from pulse.grafana.datasources import CLICKHOUSE
from pulse.grafana.emulation.macros import TimeRange
from pulse.grafana.emulation.render import expand, panels, resolve_variables


def _elsewhere(board: dict[str, Any]) -> list[tuple[str, str]]:
    """Panels whose data source cannot run here (Prometheus, Redis): title and what they ask."""
    out = []
    for panel in panels(board):
        targets = panel.get("targets") or []
        if targets and all(t.get("datasource", {}).get("uid") != CLICKHOUSE["uid"] for t in targets):
            asks = "\n".join(
                str(t.get("expr") or f"{t.get('command', '').upper()} {t.get('keyName', '')}")[:90] for t in targets
            )
            out.append((panel["title"], f"{panel['datasource']['type']} (not run here)\n{asks}"))
    return out


def render(board: dict[str, Any], client: Client, window: TimeRange, out: Path) -> Path:
    queries = expand(board, window, resolve_variables(board, client, window))
    others = _elsewhere(board)
    cols = 3
    rows = math.ceil((len(queries) + len(others)) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(18, 3.6 * rows), squeeze=False)
    for ax, query in zip(axes.flat, queries, strict=False):
        result = client.query(query.sql)
        names, data = list(result.column_names), [tuple(r) for r in result.result_rows]
        ax.set_title(f"{query.title}\n[{query.named or 'sql'}]", fontsize=9)
        if not data:
            ax.text(0.5, 0.5, "no data", ha="center", va="center")
        elif query.panel_type == "timeseries":
            series: dict[str, tuple[list[Any], list[float]]] = {}
            for row in data:
                key = str(row[1]) if len(row) > 2 else names[1]
                xs, ys = series.setdefault(key, ([], []))
                xs.append(row[0])
                ys.append(float(row[-1]))
            for key, (xs, ys) in list(series.items())[:12]:
                ax.plot(xs, ys, label=key, marker="o" if len(xs) < 3 else None)
            ax.legend(fontsize=6, ncol=2)
            ax.tick_params(axis="x", labelsize=6, rotation=30)
        elif query.panel_type in ("bargauge", "barchart", "piechart") and len(names) >= 2:
            labels = [str(r[0]) for r in data][:15]
            ax.barh(labels, [float(r[1] or 0) for r in data][:15])
            ax.set_xlabel(names[1], fontsize=7)
            ax.tick_params(labelsize=7)
        elif query.panel_type == "stat" and len(data) == 1:
            ax.axis("off")
            cells = [(n, v) for n, v in zip(names, data[0], strict=True) if isinstance(v, int | float)]
            for i, (name, value) in enumerate(cells[:4]):
                ax.text(
                    (i + 0.5) / max(len(cells[:4]), 1),
                    0.5,
                    f"{value:,.4g}\n{name}",
                    ha="center",
                    va="center",
                    fontsize=13,
                    color="tab:green",
                )
        else:
            ax.axis("off")
            shown = [[f"{v:.4g}" if isinstance(v, float) else str(v)[:18] for v in r] for r in data[:8]]
            table = ax.table(cellText=shown, colLabels=[n[:14] for n in names], loc="center")
            table.auto_set_font_size(False)
            table.set_fontsize(6)
    spare = list(axes.flat)[len(queries) :]
    for ax, (title, text) in zip(spare, others, strict=False):
        ax.axis("off")
        ax.set_title(title, fontsize=9)
        ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=7, wrap=True, color="dimgray")
    for ax in spare[len(others) :]:
        ax.axis("off")
    fig.suptitle(board["title"], fontsize=14)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out
