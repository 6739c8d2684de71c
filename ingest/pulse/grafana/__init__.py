"""Grafana as code: dashboards (grafanalib), provisioning files, and the harness that proves them.

The harness expands every panel and alert query the way Grafana and the ClickHouse plugin would
(:mod:`pulse.grafana.emulation.variables`, :mod:`pulse.grafana.emulation.macros`) and runs it on the real engine.
"""
