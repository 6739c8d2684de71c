"""Pulse: Grafana-first real-time analytics for a social network."""

__version__ = "0.1.0"
