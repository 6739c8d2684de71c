"""Metrics as code: ``metrics/<unit>.yaml`` definitions rendered to rollups, named queries, panels and alerts."""
