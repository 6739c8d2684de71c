"""`pulse collector` commands."""

import typer

app = typer.Typer(help="collector commands.", no_args_is_help=True)
