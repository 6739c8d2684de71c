"""`pulse stack up | down | status | install` (placeholder until the stack module lands)."""

import typer

app = typer.Typer(help="Start, stop and inspect the local stack (Kafka, Redis, S3, warehouse).", no_args_is_help=True)
