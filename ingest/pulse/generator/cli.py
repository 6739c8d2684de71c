"""`pulse generate` (placeholder until the generator module lands)."""

import typer


def register(root: typer.Typer) -> None:
    """Add `pulse generate`."""
