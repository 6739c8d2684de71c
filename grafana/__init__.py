"""Grafana content as code, shipped in the package as ``pulse.grafana.content``: one place per kind.

``config.py`` (every tunable), ``dashboards/`` (grafanalib, one file per dashboard), ``alerts/`` (rule
groups, one file per subject), ``routing.py`` (contact points, policies, mute timings). The builders
they use live in ``pulse.grafana``; ``pulse grafana generate`` writes them to ``provisioning/``.
"""
