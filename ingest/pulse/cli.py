"""The one operator CLI: ``pulse <command>``. Each area registers its own sub-commands."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from pulse.errors import PulseError

app = typer.Typer(
    name="pulse",
    help="Pulse: real-time social analytics (collectors -> Kafka -> ClickHouse -> Grafana).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    # Imported here so `pulse --help` stays fast and each area owns its own module.
    from pulse.access.cli import register as register_access
    from pulse.api.cli import app as api_app
    from pulse.archive.cli import app as archive_app
    from pulse.archive.cli import register as register_archive
    from pulse.bench.cli import app as bench_app
    from pulse.bench.collector import register as register_bench_collector
    from pulse.chaos.cli import register as register_chaos
    from pulse.chdb_server.cli import app as warehouse_app
    from pulse.collector.admin_cli import dims_app, keys_app
    from pulse.collector.cli import app as collector_app
    from pulse.collector.tracking_cli import tracking_app
    from pulse.generator.cli import register as register_generator
    from pulse.grafana.cli import register as register_grafana
    from pulse.hot.cli import app as hot_app
    from pulse.loader.cli import app as loader_app
    from pulse.metrics.cli import app as metrics_app
    from pulse.pipeline.up import register as register_run
    from pulse.queries.cli import register as register_queries
    from pulse.stack.cli import app as stack_app
    from pulse.warehouse.cli import register as register_warehouse

    app.add_typer(stack_app, name="stack")
    app.add_typer(warehouse_app, name="warehouse")
    app.add_typer(collector_app, name="collector")
    app.add_typer(api_app, name="api")
    app.add_typer(keys_app, name="keys")
    app.add_typer(dims_app, name="dims")
    app.add_typer(tracking_app, name="tracking")
    app.add_typer(loader_app, name="loader")
    app.add_typer(metrics_app, name="metrics")
    register_bench_collector(bench_app)
    app.add_typer(bench_app, name="bench")
    app.add_typer(hot_app, name="hot")
    app.add_typer(archive_app, name="archive")
    register_archive(app)
    register_warehouse(app)
    register_generator(app)
    register_run(app)
    register_queries(app)
    register_grafana(app, bench_app)
    register_access(app)
    register_chaos(app)


def main() -> None:
    """Entry point: run the CLI, turning operator-facing errors into one clear line."""
    _register()
    try:
        app()
    except PulseError as error:
        # soft_wrap: one line even on a narrow terminal or a pipe; escape: messages may hold [brackets].
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(str(error))}")
        sys.exit(2)
