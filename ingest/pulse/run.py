"""`pulse up`: the main job (placeholder)."""

import typer


def register(root: typer.Typer) -> None:
    """Add `pulse up`."""
