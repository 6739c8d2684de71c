"""Metric definitions, one YAML file per business unit (docs/metrics.md); shipped as ``pulse.metrics.definitions``."""
