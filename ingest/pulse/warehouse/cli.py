"""`pulse warehouse serve` and `pulse migrate` (placeholder until the warehouse module lands)."""

import typer

app = typer.Typer(help="The embedded warehouse (chDB behind ClickHouse's HTTP interface).", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    """Add top-level warehouse commands (`pulse migrate`)."""
