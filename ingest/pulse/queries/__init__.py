"""The named query layer: every dashboard and alert query, one SQL file each, run by name."""
