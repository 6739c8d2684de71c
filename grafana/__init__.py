"""Grafana content as code, shipped in the package as ``pulse.grafana.content``: dashboards (grafanalib)."""
