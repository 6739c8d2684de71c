"""What Grafana does with a panel link, and what Explore reads from the URL it opens.

Grafana fills a panel link's references in the browser (``sceneGraph.interpolate`` on the panel:
dashboard variables with their formats, ``${__from}``/``${__to}`` as the panel's range in epoch ms)
and follows the href; Explore takes its ``panes`` parameter, decoded once (``decodeURIComponent``,
no ``+`` to space), as JSON: one entry per pane with its data source, queries and range.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from pulse.grafana.emulation.macros import TimeRange
from pulse.grafana.emulation.variables import VariableState, interpolate


@dataclass(frozen=True)
class ExplorePane:
    """One pane of an Explore URL."""

    datasource: str
    queries: Sequence[Mapping[str, Any]]
    time_range: TimeRange


def render_link(url: str, variables: Mapping[str, VariableState], panel_range: TimeRange) -> str:
    """The href Grafana builds from a panel link's URL for a view."""
    return interpolate(url, variables, {"__from": str(panel_range.from_ms), "__to": str(panel_range.to_ms)})


def query_params(href: str) -> dict[str, str]:
    """Grafana's ``urlUtil.parseKeyValue``: ``&``-separated pairs, each side ``decodeURIComponent``-ed."""
    _, _, query = href.partition("?")
    pairs = (part.partition("=") for part in query.split("&") if part)
    return {unquote(key, errors="strict"): unquote(value, errors="strict") for key, _, value in pairs}


def explore_panes(href: str) -> dict[str, ExplorePane]:
    """The panes an Explore URL opens (``schemaVersion=1``); ranges given as epoch milliseconds."""
    params = query_params(href)
    if not href.startswith("/explore?") or params.get("schemaVersion") != "1":
        raise ValueError(f"not an Explore URL of schema version 1: {href[:80]}")
    panes: dict[str, Any] = json.loads(params["panes"])
    return {
        key: ExplorePane(
            pane["datasource"],
            pane["queries"],
            TimeRange(int(pane["range"]["from"]), int(pane["range"]["to"])),
        )
        for key, pane in panes.items()
    }
