"""`pulse loader` commands."""

import typer

app = typer.Typer(help="loader commands.", no_args_is_help=True)
